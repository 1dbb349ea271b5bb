package evalmix

import (
	_ "embed"
	"regexp"
	"strings"
)

// The User-Agent lists come from sources the invalid-traffic detector is not built from
// (crawlerdetect's patterns and adnet's own rules): dated copies of two npm packages in
// testdata/, refreshed by scripts/fraudeval-data.sh, whose header lines name the package,
// its version and publication date.
var (
	//go:embed testdata/bot-uas.txt
	botUAFile string
	//go:embed testdata/browser-uas.txt
	browserUAFile string
)

// botUAs are the held-out bots: real crawler, bot and scraper User-Agents from the npm
// package crawler-user-agents. browserUAs are the most common browser User-Agents of the
// moment (npm top-user-agents), most common first: people's browsers.
var (
	botUAs                        = uaLines(botUAFile)
	browserUAs, droppedBrowserUAs = browserShaped(uaLines(browserUAFile))
)

// BotUAs and BrowserUAs return copies of the lists (for reports and tests); DroppedBrowserUAs
// are the top list's entries that are not a browser's (see browserShaped).
func BotUAs() []string            { return append([]string(nil), botUAs...) }
func BrowserUAs() []string        { return append([]string(nil), browserUAs...) }
func DroppedBrowserUAs() []string { return append([]string(nil), droppedBrowserUAs...) }

// browserUA is the shape every browser's User-Agent has (how browsers build the string, not
// the detector's rules): a rendering engine token followed by a browser version token —
// AppleWebKit/… then Chrome/, Version/ (Safari), CriOS/, FxiOS/, EdgiOS/ or an iOS WebView's
// Mobile/; or Gecko/… then Firefox/. The top list also counts a few truncated strings
// ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0.0.0") that no browser sends:
// labelling them people would measure the list's scrapers, not false positives.
var browserUA = regexp.MustCompile(`AppleWebKit/[0-9.]+ .*(Chrome|Version|CriOS|FxiOS|EdgiOS|Mobile)/[0-9A-Z]|Gecko/[0-9.]+ .*Firefox/[0-9]`)

func browserShaped(list []string) (keep, drop []string) {
	for _, ua := range list {
		if browserUA.MatchString(ua) {
			keep = append(keep, ua)
		} else {
			drop = append(drop, ua)
		}
	}
	return keep, drop
}

// uaLines returns the non-comment lines of a list, without those no HTTP client can send
// (control characters).
func uaLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l == "" || strings.HasPrefix(l, "#") || strings.ContainsFunc(l, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			continue
		}
		out = append(out, l)
	}
	return out
}

// appUAs are the WebViews of mobile apps, which fetch ads from /serve/json and send no Referer.
var appUAs = []string{
	"Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.135 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230901.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/130.0.6723.107 Mobile Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
	"Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
}
