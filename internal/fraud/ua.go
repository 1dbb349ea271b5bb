package fraud

import (
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/x-way/crawlerdetect"
)

// Reasons a UAVerdict gives, one per classification layer, in the order the layers run.
const (
	UAReasonEmpty         = "empty"         // no User-Agent at all: browsers always send one
	UAReasonNonBrowser    = "non_browser"   // an HTTP library, CLI tool or automation driver
	UAReasonCrawlerDetect = "crawlerdetect" // matched the crawlerdetect pattern list
	UAReasonSelfDeclared  = "self_declared" // declares itself a bot: contact URL/e-mail, "compatible; X", bot words
	UAReasonNotABrowser   = "not_a_browser" // failed the valid-browser pass (not a current real browser)
	UAReasonTooLong       = "too_long"      // longer than any browser's (maxCachedUALen): judged without parsing
)

// defaultUACacheSize is the verdict cache size when UAOptions.CacheSize is 0: real traffic
// has a long tail of UA strings but a small head that carries most requests.
const defaultUACacheSize = 10000

// maxCachedUALen bounds the length of UA strings kept in the cache, so that its memory is
// bounded by CacheSize*maxCachedUALen; real browser UAs are far shorter.
const maxCachedUALen = 1024

// UAOptions configures a UAClassifier.
type UAOptions struct {
	// CacheSize is the number of distinct UA strings whose verdicts are kept (LRU);
	// 0 means 10,000 and a negative value disables the cache.
	CacheSize int
}

// UAVerdict is the classification of one User-Agent string.
type UAVerdict struct {
	Bot    bool   // true: the traffic is general invalid traffic (reason bot_ua)
	Reason string // the UAReason* of the layer that flagged it; "" when not a bot
	Family uint8  // UAFamily of the string, cached with the verdict (0 for an empty or too long one)
}

// UAClassifier tells bots, crawlers and non-browser clients from real browsers by the
// User-Agent header (MRC GIVT: "self-declared bots and spiders, non-browser user agents").
// Layers run in order and the first that flags wins:
//
//	(a) empty UA;
//	(b) non-browser clients: HTTP libraries, CLI tools, headless/automation drivers;
//	(c) github.com/x-way/crawlerdetect, the maintained list of known crawlers;
//	(d) self-declared bots: a contact URL or e-mail, "compatible; X" where X is not MSIE,
//	    a token ending in "bot", or one containing crawl, spider, scrape, fetch, preview,
//	    monitor or scan;
//	(e) the IAB/ABC-style valid-browser pass: what is left must look like a current real
//	    browser (Mozilla/5.0, a known platform, a known engine and a browser token with a
//	    plausible version) or it is flagged.
//
// Verdicts are cached per UA string in a bounded LRU, because crawlerdetect costs about
// 100 µs per call while the cache hit is a map lookup. A UAClassifier is safe for
// concurrent use.
type UAClassifier struct {
	cd    *crawlerdetect.CrawlerDetect
	cache *lru.Cache[string, UAVerdict] // nil when disabled
}

// NewUAClassifier returns a classifier with its own crawlerdetect instance and cache.
func NewUAClassifier(o UAOptions) *UAClassifier {
	c := &UAClassifier{cd: crawlerdetect.New()}
	size := o.CacheSize
	if size == 0 {
		size = defaultUACacheSize
	}
	if size > 0 {
		c.cache, _ = lru.New[string, UAVerdict](size) // errors only for size <= 0
	}
	return c
}

// Classify returns the verdict for ua. On a cache hit it does not allocate.
func (c *UAClassifier) Classify(ua string) UAVerdict {
	if strings.TrimSpace(ua) == "" {
		return UAVerdict{Bot: true, Reason: UAReasonEmpty}
	}
	if c.cache != nil {
		if v, ok := c.cache.Get(ua); ok {
			return v
		}
	}
	if len(ua) > maxCachedUALen {
		// No browser sends a User-Agent this long, and the pattern lists cost time in
		// proportion to it: a client sending fresh long ones (uncached) must not make every
		// request cost a full scan.
		return UAVerdict{Bot: true, Reason: UAReasonTooLong}
	}
	v := c.classify(ua)
	v.Family = UAFamily(ua)
	if c.cache != nil && len(ua) <= maxCachedUALen {
		// Clone: the caller's string may alias a reused request buffer.
		c.cache.Add(strings.Clone(ua), v)
	}
	return v
}

// classify runs layers (b) to (e).
func (c *UAClassifier) classify(ua string) UAVerdict {
	lower := strings.ToLower(ua)
	for _, tok := range nonBrowserTokens {
		if strings.Contains(lower, tok) {
			return UAVerdict{Bot: true, Reason: UAReasonNonBrowser}
		}
	}
	if c.cd.IsCrawler(ua) {
		return UAVerdict{Bot: true, Reason: UAReasonCrawlerDetect}
	}
	if selfDeclaredBot(lower) {
		return UAVerdict{Bot: true, Reason: UAReasonSelfDeclared}
	}
	if !validBrowser(lower) {
		return UAVerdict{Bot: true, Reason: UAReasonNotABrowser}
	}
	return UAVerdict{}
}

// nonBrowserTokens are lower-case substrings of HTTP libraries, command-line tools and
// browser automation. Electron apps are real desktop apps and are not listed.
var nonBrowserTokens = []string{
	"curl/", "libcurl", "wget/", "python-requests", "python-urllib", "python-httpx", "python/",
	"aiohttp", "httpx/", "go-http-client", "java/", "java-http-client", "okhttp", "libwww-perl",
	"lwp::", "apache-httpclient", "commons-httpclient", "axios/", "node-fetch", "undici",
	"postmanruntime", "insomnia/", "httpie/", "guzzlehttp", "rest-client", "faraday v",
	"restsharp", "reqwest/", "dart:io", "deno/", "powershell", "winhttp", "mechanize",
	"headlesschrome", "phantomjs", "slimerjs", "selenium", "webdriver", "puppeteer",
	"playwright", "nightmarejs", "jsdom", "htmlunit", "scrapy", "zgrab", "masscan",
}

// botWords are the stems of self-declared robots, matched within alphanumeric tokens.
var botWords = []string{"crawl", "spider", "scrape", "scrapy", "fetch", "preview", "monitor", "scan"}

// botSuffixExceptions are real product names ending in "bot" (a phone brand).
var botSuffixExceptions = []string{"cubot"}

// selfDeclaredBot implements layer (d) on the lower-cased UA.
func selfDeclaredBot(lower string) bool {
	if strings.Contains(lower, "+http") || strings.Contains(lower, "http://") ||
		strings.Contains(lower, "https://") || hasEmail(lower) {
		return true
	}
	if i := strings.Index(lower, "compatible;"); i >= 0 {
		x := strings.TrimLeft(lower[i+len("compatible;"):], " ")
		if end := strings.IndexAny(x, ";)"); end >= 0 {
			x = x[:end]
		}
		if !strings.HasPrefix(x, "msie ") {
			return true
		}
	}
	for tok := range strings.FieldsFuncSeq(lower, notAlnum) {
		// A bare "bot" token is not enough: Allview sells phones named "M BOT 60".
		if len(tok) > 3 && (strings.HasSuffix(tok, "bot") || strings.HasSuffix(tok, "bots")) &&
			!contains(botSuffixExceptions, tok) {
			return true
		}
		for _, w := range botWords {
			if strings.Contains(tok, w) {
				return true
			}
		}
	}
	return false
}

func notAlnum(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// hasEmail reports whether s contains something shaped like local@domain.tld with an
// alphabetic top-level label (so "android@120.0.6099.144", a version, does not count).
func hasEmail(s string) bool {
	for i := strings.IndexByte(s, '@'); i >= 0; {
		if i > 0 && isEmailLocal(s[i-1]) {
			j := i + 1
			for j < len(s) && (isAlnumByte(s[j]) || s[j] == '.' || s[j] == '-') {
				j++
			}
			domain := strings.TrimRight(s[i+1:j], ".")
			if dot := strings.LastIndexByte(domain, '.'); dot > 0 && len(domain)-dot-1 >= 2 &&
				allLetters(domain[dot+1:]) {
				return true
			}
		}
		next := strings.IndexByte(s[i+1:], '@')
		if next < 0 {
			break
		}
		i += 1 + next
	}
	return false
}

func isAlnumByte(b byte) bool { return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' }

func isEmailLocal(b byte) bool {
	return isAlnumByte(b) || b == '.' || b == '_' || b == '-' || b == '+' || b == '%'
}

func allLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}
