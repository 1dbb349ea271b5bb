package fraud

import (
	"net/netip"
	"strings"
)

// This file holds the verdicts that tie a tracking event to its serve (token_mismatch) and
// read what the tag saw in the browser (automation, the page origin of referrer_mismatch).

// NetworkOf is the fingerprint of ip's network, signed into the tracking tokens at the serve
// and compared on the beacon, the click and the conversion pixel (token_mismatch): FNV-1a,
// 32 bits, over the IPv4 /24 or the IPv6 /48. An IPv4-mapped IPv6 address is its IPv4
// address. It is 0 only for an invalid address (unknown: the check is skipped); two
// different networks share a fingerprint with probability 2^-32, which lets such a mismatch
// through and never flags a match. It does not allocate.
func NetworkOf(ip netip.Addr) uint32 {
	if !ip.IsValid() {
		return 0
	}
	ip = ip.Unmap()
	h := uint32(2166136261)
	add := func(b byte) { h ^= uint32(b); h *= 16777619 }
	if ip.Is4() {
		a := ip.As4()
		add(4)
		add(a[0])
		add(a[1])
		add(a[2])
	} else {
		a := ip.As16()
		add(6)
		for _, b := range a[:6] {
			add(b)
		}
	}
	if h == 0 {
		h = 1
	}
	return h
}

// User-Agent families: the browser in the high nibble, the OS class in the low one. The values
// are signed into tokens (a token outlives a deploy): never renumber, only append.
const (
	famBrowserOther   = 1
	famBrowserChrome  = 2 // Chrome and Chromium, CriOS on iOS, Chromium-based browsers not listed below
	famBrowserFirefox = 3 // Firefox, FxiOS
	famBrowserSafari  = 4 // Safari and other WebKit-only browsers and in-app views
	famBrowserEdge    = 5 // Edge (Edg/, EdgA/, EdgiOS/)
	famBrowserOpera   = 6 // OPR/, OPT/, Opera
	famBrowserSamsung = 7 // SamsungBrowser/
	famBrowserIE      = 8 // Trident

	famOSOther    = 1
	famOSWindows  = 2
	famOSMacOS    = 3
	famOSLinux    = 4
	famOSAndroid  = 5
	famOSIOS      = 6 // iPhone, iPad (when it does not ask for the desktop site), iPod
	famOSChromeOS = 7
)

// UAFamily is the User-Agent family signed into the tracking tokens and compared on the
// beacon, the click and the conversion pixel (token_mismatch): the browser family (Chrome,
// Firefox, Safari, Edge, Opera, Samsung Internet, Internet Explorer, other) and the OS class
// (Windows, macOS, Linux, Android, iOS, ChromeOS, other) — the same names as targeting's
// (decision.UAParser) and the valid-browser pass's product tokens (uabrowser.go). Versions
// are not part of it: a browser updating itself between the serve and the click is the same
// family, a Chrome click on an impression served to Firefox, or a Windows click on an
// impression served to an iPhone, is not. It returns 0 for an empty User-Agent (unknown: the
// check is skipped; bot_ua flags it anyway). Browsers send their product tokens in one
// spelling, so the tokens are matched case-sensitively: no lower-casing, no allocation
// (about 0.2–0.5 µs; RequestFilter.UAFamily caches it with the bot verdict).
func UAFamily(ua string) uint8 {
	if strings.TrimSpace(ua) == "" {
		return 0
	}
	if len(ua) > maxCachedUALen {
		ua = ua[:maxCachedUALen] // the product tokens are at the front; bounded cost
	}
	return uaBrowser(ua)<<4 | uaOS(ua)
}

func uaBrowser(ua string) uint8 {
	switch {
	case strings.Contains(ua, "Edg/") || strings.Contains(ua, "EdgA/") || strings.Contains(ua, "EdgiOS/") || strings.Contains(ua, "Edge/"):
		return famBrowserEdge
	case strings.Contains(ua, "OPR/") || strings.Contains(ua, "OPT/") || strings.Contains(ua, "Opera"):
		return famBrowserOpera
	case strings.Contains(ua, "SamsungBrowser/"):
		return famBrowserSamsung
	case strings.Contains(ua, "Firefox/") || strings.Contains(ua, "FxiOS/"):
		return famBrowserFirefox
	case strings.Contains(ua, "Chrome/") || strings.Contains(ua, "CriOS/") || strings.Contains(ua, "Chromium/"):
		return famBrowserChrome
	case strings.Contains(ua, "Trident/"):
		return famBrowserIE
	case strings.Contains(ua, "AppleWebKit/"):
		return famBrowserSafari
	}
	return famBrowserOther
}

func uaOS(ua string) uint8 {
	switch {
	case strings.Contains(ua, "Android"):
		return famOSAndroid
	case strings.Contains(ua, "iPhone") || strings.Contains(ua, "iPad") || strings.Contains(ua, "iPod"):
		return famOSIOS
	case strings.Contains(ua, "CrOS"):
		return famOSChromeOS
	case strings.Contains(ua, "Windows"):
		return famOSWindows
	case strings.Contains(ua, "Macintosh") || strings.Contains(ua, "Mac OS X"):
		return famOSMacOS
	case strings.Contains(ua, "Linux") || strings.Contains(ua, "X11"):
		return famOSLinux
	}
	return famOSOther
}

// The automation signals the script and iframe tags report with the impression beacon, as the
// bits of its `sig` parameter (a decimal number). The tags always send it; see Signals.
const (
	// Strong signals: real people's browsers essentially never show them.
	SigWebdriver  = 1 << 0 // navigator.webdriver === true (WebDriver, CDP-driven and headless browsers)
	SigHeadlessUA = 1 << 1 // navigator.userAgent contains "HeadlessChrome" (the header may have been rewritten)
	// Weak hints: each is seen on some real browsers (Chrome on Android has no plugins, an
	// Android WebView has no window.chrome, a prerendered or minimised window may report a zero
	// outer size), so they flag only all together, as old headless Chrome shows them.
	SigNoPlugins   = 1 << 2 // "Chrome/" in navigator.userAgent and navigator.plugins.length === 0
	SigNoChromeObj = 1 << 3 // "Chrome/" in navigator.userAgent and no window.chrome
	SigNoLanguages = 1 << 4 // navigator.languages missing or empty
	SigZeroWindow  = 1 << 5 // window.outerWidth or window.outerHeight is 0

	sigStrong = SigWebdriver | SigHeadlessUA
	sigWeak   = SigNoPlugins | SigNoChromeObj | SigNoLanguages | SigZeroWindow
)

// Signals is what a beacon says about the browser that fired it.
type Signals struct {
	// Present: the beacon carried a well-formed `sig` parameter. A tag-served ad's beacon
	// without one (or with garbage) was not fired by the tag — only a hand-made request
	// lacks it — and is automation.
	Present bool
	Mask    uint32 // the Sig* bits; bits this build does not know are ignored
}

// Automated reports whether the signals show an automated browser: any strong signal, or
// every weak hint at once. Unknown bits are ignored (a newer tag may send more).
func (s Signals) Automated() bool {
	return s.Mask&sigStrong != 0 || s.Mask&sigWeak == sigWeak
}

// MaxPageOriginLen bounds the page origin a tag reports (`po`): scheme, a 253-byte host and
// a port fit in it. A longer one is not an origin, and does not match.
const MaxPageOriginLen = 300
