package fraud

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/x-way/crawlerdetect"
)

func TestUAClassifierRealBrowsers(t *testing.T) {
	if len(realBrowserUAs) < 60 {
		t.Fatalf("only %d browser UAs in the table, want >= 60", len(realBrowserUAs))
	}
	c := NewUAClassifier(UAOptions{})
	for _, ua := range realBrowserUAs {
		if v := c.Classify(ua); v.Bot {
			t.Errorf("real browser flagged (%s): %s", v.Reason, ua)
		}
	}
	t.Logf("%d real browser UAs, none flagged", len(realBrowserUAs))
}

func TestUAClassifierBots(t *testing.T) {
	if len(botUAs) < 80 {
		t.Fatalf("only %d bot UAs in the table, want >= 80", len(botUAs))
	}
	c := NewUAClassifier(UAOptions{})
	perLayer := map[string]int{}
	for _, ua := range botUAs {
		v := c.Classify(ua)
		if !v.Bot {
			t.Errorf("bot not flagged: %s", ua)
			continue
		}
		perLayer[v.Reason]++
	}
	layers := make([]string, 0, len(perLayer))
	for l := range perLayer {
		layers = append(layers, l)
	}
	sort.Strings(layers)
	var b strings.Builder
	for _, l := range layers {
		fmt.Fprintf(&b, " %s=%d", l, perLayer[l])
	}
	t.Logf("%d bot UAs flagged, first layer to flag:%s", len(botUAs), b.String())

	// Each layer alone, to show how much they overlap: (d)+(e) catch most bots even
	// without crawlerdetect's list.
	cd := crawlerdetect.New()
	var nb, cdN, sd, nab, withoutCD int
	for _, ua := range botUAs {
		l := strings.ToLower(ua)
		b := false
		for _, tok := range nonBrowserTokens {
			b = b || strings.Contains(l, tok)
		}
		s, e := selfDeclaredBot(l), !validBrowser(l)
		nb, cdN, sd, nab = nb+b2i(b), cdN+b2i(cd.IsCrawler(ua)), sd+b2i(s), nab+b2i(e)
		withoutCD += b2i(b || s || e)
	}
	t.Logf("each layer alone: non_browser=%d crawlerdetect=%d self_declared=%d not_a_browser=%d; all but crawlerdetect=%d/%d",
		nb, cdN, sd, nab, withoutCD, len(botUAs))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestUAClassifierLayers(t *testing.T) {
	c := NewUAClassifier(UAOptions{CacheSize: -1})
	cases := []struct {
		ua     string
		reason string
	}{
		{"", UAReasonEmpty},
		{"   ", UAReasonEmpty},
		{"curl/8.5.0", UAReasonNonBrowser},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.109 Safari/537.36", UAReasonNonBrowser},
		{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", UAReasonCrawlerDetect},
		// Unknown to crawlerdetect, caught by the self-declared markers:
		{"Mozilla/5.0 (compatible; Zqxwv/1.0)", UAReasonSelfDeclared},
		{"Zqxwv/1.0 (+https://zqxwv.example/about)", UAReasonSelfDeclared},
		{"Zqxwv/1.0 (ops@zqxwv.example)", UAReasonSelfDeclared},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 ZqxwvMonitor/2", UAReasonSelfDeclared},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Zqxwv-Scanner", UAReasonSelfDeclared},
		// Plausible shapes that are not current browsers:
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/59.0.0.0 Safari/537.36", UAReasonNotABrowser},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:49.0) Gecko/20100101 Firefox/49.0", UAReasonNotABrowser},
		{"Mozilla/5.0 (Mobile; rv:47.0) Gecko/47.0 Firefox/47.0 KAIOS/2.5", UAReasonNotABrowser},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_6) AppleWebKit/601.7.7 (KHTML, like Gecko) Version/8.0 Safari/601.7.7", UAReasonNotABrowser},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 8_4 like Mac OS X) AppleWebKit/600.1.4 (KHTML, like Gecko) Mobile/12H143", UAReasonNotABrowser},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 11_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)", ""},
		{"Mozilla/5.0 (Linux; Android 7.0; M bot 60 Build/NRD90M; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/67.0.3396.87 Mobile Safari/537.36", ""},
		{"Mozilla/5.0 (Zqxwv 1.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", UAReasonNotABrowser},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0.0.0 Safari/537.36", UAReasonNotABrowser},
		{"Zqxwv/1.0", UAReasonNotABrowser},
		// Boundaries that stay human:
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/60.0.3112.90 Safari/537.36", ""},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:50.0) Gecko/20100101 Firefox/50.0", ""},
		{"Mozilla/5.0 (Linux; Android 12; CUBOT X50) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36", ""},
	}
	for _, tc := range cases {
		v := c.Classify(tc.ua)
		if v.Bot != (tc.reason != "") || v.Reason != tc.reason {
			t.Errorf("Classify(%q) = %+v, want reason %q", tc.ua, v, tc.reason)
		}
	}
}

func TestUAClassifierCache(t *testing.T) {
	c := NewUAClassifier(UAOptions{CacheSize: 2})
	a, b, d := botUAs[0], realBrowserUAs[0], realBrowserUAs[1]
	for _, ua := range []string{a, b, a, d} {
		c.Classify(ua)
	}
	if c.cache.Len() != 2 || !c.cache.Contains(a) || !c.cache.Contains(d) || c.cache.Contains(b) {
		t.Fatalf("cache holds %v, want the 2 most recently used", c.cache.Keys())
	}
	// The cached verdict is the computed one.
	if v := c.Classify(a); !v.Bot {
		t.Fatalf("cached verdict of a bot is %+v", v)
	}
	long := realBrowserUAs[0] + strings.Repeat(" x", maxCachedUALen)
	c.Classify(long)
	if c.cache.Contains(long) {
		t.Fatal("a UA longer than maxCachedUALen was cached")
	}
	// Cache hits do not allocate.
	if n := testing.AllocsPerRun(100, func() { c.Classify(a) }); n != 0 {
		t.Fatalf("cached Classify allocates %v times", n)
	}
}

func TestUAClassifierConcurrent(t *testing.T) {
	c := NewUAClassifier(UAOptions{CacheSize: 16})
	done := make(chan bool)
	for g := 0; g < 8; g++ {
		go func(g int) {
			ok := true
			for i := 0; i < 200; i++ {
				if c.Classify(botUAs[(g+i)%len(botUAs)]).Bot != true ||
					c.Classify(realBrowserUAs[(g*7+i)%len(realBrowserUAs)]).Bot != false {
					ok = false
				}
			}
			done <- ok
		}(g)
	}
	for g := 0; g < 8; g++ {
		if !<-done {
			t.Error("a concurrent Classify returned a wrong verdict")
		}
	}
}

func TestHasEmail(t *testing.T) {
	yes := []string{"ops@example.com", "(+crawler@dotnetdotcom.org)", "a.b-c+d@mail.example.co.uk"}
	no := []string{"android@120.0.6099.144", "@example.com", "user@localhost", "a@b.c1", "no at sign"}
	for _, s := range yes {
		if !hasEmail(s) {
			t.Errorf("hasEmail(%q) = false", s)
		}
	}
	for _, s := range no {
		if hasEmail(s) {
			t.Errorf("hasEmail(%q) = true", s)
		}
	}
}

// BenchmarkClassifyCached is the hot path: a UA already in the cache.
func BenchmarkClassifyCached(b *testing.B) {
	c := NewUAClassifier(UAOptions{})
	uas := append(append([]string{}, realBrowserUAs...), botUAs...)
	for _, ua := range uas {
		c.Classify(ua)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Classify(uas[i%len(uas)])
	}
}

// BenchmarkClassifyUncached runs every layer on every call (cache disabled).
func BenchmarkClassifyUncached(b *testing.B) {
	c := NewUAClassifier(UAOptions{CacheSize: -1})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c.Classify(realBrowserUAs[i%len(realBrowserUAs)])
	}
}

// BenchmarkCrawlerdetect is crawlerdetect alone, what every request would pay uncached.
func BenchmarkCrawlerdetect(b *testing.B) {
	cd := crawlerdetect.New()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		cd.IsCrawler(realBrowserUAs[i%len(realBrowserUAs)])
	}
}

// TestLongUserAgentsJudgedWithoutParsing: a User-Agent longer than any browser's is a bot at
// once, so that fresh long strings (which are not cached) cannot make every request scan them.
func TestLongUserAgentsJudgedWithoutParsing(t *testing.T) {
	c := NewUAClassifier(UAOptions{CacheSize: 10})
	long := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 " +
		strings.Repeat("x", 8000)
	if v := c.Classify(long); !v.Bot || v.Reason != UAReasonTooLong {
		t.Errorf("an 8 KB User-Agent: %+v, want a too_long bot", v)
	}
	if v := c.Classify(long[:120]); v.Bot {
		t.Errorf("the same browser's real User-Agent: %+v", v)
	}
}

// BenchmarkClassifyLongFreshUA is the cost of a never-seen 8 KB User-Agent, to compare with
// BenchmarkClassifyFreshUA in the same run.
func BenchmarkClassifyLongFreshUA(b *testing.B) {
	c := NewUAClassifier(UAOptions{CacheSize: 10})
	base := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0.0.0 Safari/537.36 " + strings.Repeat("x", 8000)
	for i := 0; b.Loop(); i++ {
		c.Classify(base + strconv.Itoa(i))
	}
}

// BenchmarkClassifyFreshUA is the cost of a never-seen browser-length User-Agent.
func BenchmarkClassifyFreshUA(b *testing.B) {
	c := NewUAClassifier(UAOptions{CacheSize: 10})
	base := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0.0.0 Safari/537.36 "
	for i := 0; b.Loop(); i++ {
		c.Classify(base + strconv.Itoa(i))
	}
}
