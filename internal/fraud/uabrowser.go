package fraud

import "strings"

// Oldest majors still counted as current browsers. Anything older is years out of support
// and, in ad traffic, overwhelmingly a scripted client replaying an ancient UA string.
const (
	minChromeMajor  = 60 // 2017; also Chromium, and every Chromium-based browser's Chrome token
	minFirefoxMajor = 50 // 2016
	minKaiOSFirefox = 48 // KaiOS 2.5 feature phones ship Gecko 48 and are still sold
	minSafariMajor  = 9  // 2015, the last Safari on some old iPads
	minIOSMajor     = 9  // in-app WebViews (no Safari version token) on iOS/iPadOS
)

// platformMarkers are lower-case substrings of the first UA comment that name a real
// browser platform: desktop, mobile, ChromeOS, TVs, consoles, VR headsets.
var platformMarkers = []string{
	"windows nt", "macintosh", "x11", "linux", "android", "iphone", "ipad", "ipod", "cros",
	"smart-tv", "smarttv", "web0s", "webos", "tizen", "playstation", "nintendo", "xbox",
	"mobile", "tablet", "kaios", "openharmony", "harmonyos",
}

// tvConsoleMarkers name platforms whose built-in WebKit browsers do not always carry a
// Safari or Chrome version token (PlayStation 4, Nintendo Switch, older Tizen TVs).
var tvConsoleMarkers = []string{
	"smart-tv", "smarttv", "web0s", "webos", "tizen", "netcast", "hbbtv", "playstation",
	"nintendo", "xbox",
}

// validBrowser is layer (e), the valid-browser pass, on the lower-cased UA: to count as a
// person the string must look like a real, current browser.
func validBrowser(ua string) bool {
	const prefix = "mozilla/5.0 ("
	if !strings.HasPrefix(ua, prefix) {
		return false
	}
	end := strings.IndexByte(ua[len(prefix):], ')')
	if end < 0 {
		return false
	}
	platform := ua[len(prefix) : len(prefix)+end]
	if !containsAny(platform, platformMarkers) {
		return false
	}
	rest := ua[len(prefix)+end:]
	webkit := strings.Contains(rest, "applewebkit/")
	gecko := strings.Contains(rest, "gecko/")

	// Chromium family (Chrome, Edge, Opera, Samsung, Yandex, UC, WebViews, Silk's "like
	// Chrome/"): the Chrome token's major decides.
	for _, tok := range []string{"chrome/", "chromium/"} {
		if v, ok := majorAfter(rest, tok); ok {
			return webkit && v >= minChromeMajor
		}
	}
	if v, ok := majorAfter(rest, "firefox/"); ok {
		if !gecko {
			return false
		}
		if strings.Contains(rest, "kaios/") {
			return v >= minKaiOSFirefox
		}
		return v >= minFirefoxMajor
	}
	if !webkit {
		// Internet Explorer 11 (still found behind Edge's IE mode); older MSIE is not current.
		return strings.Contains(platform, "trident/7.0") && strings.Contains(platform, "rv:11.0")
	}
	// iOS and iPadOS: Safari, other browsers (CriOS, FxiOS, EdgiOS…) and in-app WebViews
	// (FBAN, Instagram, GSA…; some omit even the Mobile/ token) all run WebKit; the OS
	// version decides.
	if v, ok := iosMajor(platform); ok {
		return v >= minIOSMajor
	}
	if v, ok := majorAfter(rest, "version/"); ok && strings.Contains(rest, "safari/") {
		return v >= minSafariMajor
	}
	return containsAny(platform, tvConsoleMarkers)
}

// iosMajor returns N of "iPhone OS N_…" or "CPU OS N_…" (iPad) in the platform comment.
func iosMajor(platform string) (int, bool) {
	if !strings.Contains(platform, "iphone") && !strings.Contains(platform, "ipad") &&
		!strings.Contains(platform, "ipod") {
		return 0, false
	}
	for _, tok := range []string{"iphone os ", "cpu os "} {
		if v, ok := majorAfter(platform, tok); ok {
			return v, true
		}
	}
	return 0, false
}

// majorAfter parses the decimal number right after the first occurrence of tok in s.
func majorAfter(s, tok string) (int, bool) {
	i := strings.Index(s, tok)
	if i < 0 {
		return 0, false
	}
	s = s[i+len(tok):]
	n, digits := 0, 0
	for digits < len(s) && digits < 6 && s[digits] >= '0' && s[digits] <= '9' {
		n = n*10 + int(s[digits]-'0')
		digits++
	}
	return n, digits > 0
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
