package fraud

import (
	"net/netip"
	"testing"
	"time"

	"adnet/models"
)

func TestNetworkOf(t *testing.T) {
	same := [][]string{
		{"192.0.2.1", "192.0.2.254", "::ffff:192.0.2.7"},                // one /24, IPv4-mapped is IPv4
		{"2001:db8:aa::1", "2001:db8:aa:ffff:1:2:3:4", "2001:db8:aa::"}, // one /48
	}
	for _, g := range same {
		want := NetworkOf(netip.MustParseAddr(g[0]))
		for _, ip := range g[1:] {
			if got := NetworkOf(netip.MustParseAddr(ip)); got != want {
				t.Errorf("%s and %s: %x != %x", g[0], ip, got, want)
			}
		}
	}
	seen := map[uint32]string{}
	for _, ip := range []string{"192.0.2.1", "192.0.3.1", "193.0.2.1", "10.0.0.1", "2001:db8:aa::1", "2001:db8:ab::1",
		"2001:db9:aa::1", "::c000:201" /* the IPv4 bytes in IPv6: not the IPv4 network */} {
		n := NetworkOf(netip.MustParseAddr(ip))
		if n == 0 {
			t.Errorf("%s: fingerprint 0 (means unknown)", ip)
		}
		if prev, dup := seen[n]; dup {
			t.Errorf("%s and %s share a fingerprint", ip, prev)
		}
		seen[n] = ip
	}
	if NetworkOf(netip.Addr{}) != 0 {
		t.Error("an invalid address must be unknown (0)")
	}
	ip := netip.MustParseAddr("2001:db8::1")
	if n := testing.AllocsPerRun(100, func() { NetworkOf(ip) }); n != 0 {
		t.Errorf("NetworkOf: %v allocs", n)
	}
}

func TestUAFamily(t *testing.T) {
	const (
		chromeWin   = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
		chromeWinUp = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/132.0.6834.83 Safari/537.36"
		firefoxWin  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
		edgeWin     = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86"
		operaWin    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0"
		chromeMac   = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
		safariMac   = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"
		safariIOS   = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
		safariIOSUp = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Mobile/15E148 Safari/604.1"
		chromeIOS   = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1"
		fbIOS       = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/22B83 [FBAN/FBIOS;FBAV/490.0.0.42.73]"
		chromeAnd   = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
		samsungAnd  = "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36"
		chromeLinux = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
		chromeOS    = "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
		ie11        = "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko"
	)
	// Versions do not matter; browser and OS do.
	if UAFamily(chromeWin) != UAFamily(chromeWinUp) || UAFamily(safariIOS) != UAFamily(safariIOSUp) {
		t.Error("a version bump changed the family")
	}
	if UAFamily(safariIOS) != UAFamily(fbIOS) {
		t.Error("an iOS in-app view is WebKit on iOS, like Safari")
	}
	distinct := []string{chromeWin, firefoxWin, edgeWin, operaWin, chromeMac, safariMac, safariIOS, chromeIOS, chromeAnd,
		samsungAnd, chromeLinux, chromeOS, ie11, "curl/8.5.0"}
	seen := map[uint8]string{}
	for _, ua := range distinct {
		f := UAFamily(ua)
		if f == 0 {
			t.Errorf("%q: family 0 (means unknown)", ua)
		}
		if prev, dup := seen[f]; dup {
			t.Errorf("same family %#x:\n %q\n %q", f, ua, prev)
		}
		seen[f] = ua
	}
	if UAFamily("") != 0 || UAFamily("   ") != 0 {
		t.Error("an empty User-Agent must be unknown (0)")
	}
	if n := testing.AllocsPerRun(100, func() { UAFamily(samsungAnd) }); n != 0 {
		t.Errorf("UAFamily: %v allocs", n)
	}
	c := NewUAClassifier(UAOptions{CacheSize: 10})
	if v := c.Classify(edgeWin); v.Family != UAFamily(edgeWin) {
		t.Errorf("cached verdict family %#x, want %#x", v.Family, UAFamily(edgeWin))
	}
	if v := c.Classify(edgeWin); v.Family != UAFamily(edgeWin) {
		t.Errorf("cache hit family %#x, want %#x", v.Family, UAFamily(edgeWin))
	}
}

func TestSignalsAutomated(t *testing.T) {
	for mask, want := range map[uint32]bool{
		0:                              false,
		SigWebdriver:                   true,
		SigHeadlessUA:                  true,
		SigNoPlugins:                   false, // Chrome on Android
		SigNoPlugins | SigNoChromeObj:  false, // an Android WebView
		sigWeak &^ SigNoLanguages:      false,
		sigWeak &^ SigZeroWindow:       false,
		sigWeak:                        true,  // old headless Chrome
		1 << 31:                        false, // bits this build does not know
		sigWeak | SigWebdriver | 1<<30: true,
	} {
		if got := (Signals{Present: true, Mask: mask}).Automated(); got != want {
			t.Errorf("mask %#x: %v, want %v", mask, got, want)
		}
	}
}

// TestRequestFilterSignals: the serve's binding, the tags' signals and the page they report,
// as Check and TokenMismatch judge them.
func TestRequestFilterSignals(t *testing.T) {
	f := &RequestFilter{UA: NewUAClassifier(UAOptions{CacheSize: 100}), MinClickDelay: time.Second, AdHost: "ads.example"}
	const (
		chrome  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
		firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
	)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	served := netip.MustParseAddr("192.0.2.1")
	click := RequestFacts{Type: models.EventClick, UA: chrome, Referer: "https://news.example/a", IP: netip.MustParseAddr("192.0.2.99"),
		SiteDomain: "news.example", ServedAt: now.Add(-5 * time.Second), Now: now,
		ServeNetwork: NetworkOf(served), ServeUAFamily: UAFamily(chrome)}
	beacon := click
	beacon.Type, beacon.Referer, beacon.TagBeacon = models.EventImpression, "", true
	beacon.Signals, beacon.PageOrigin = Signals{Present: true}, "https://www.news.example"
	cases := []struct {
		name string
		in   RequestFacts
		mod  func(*RequestFacts)
		want models.Reason
	}{
		{"click, same /24 and family", click, func(*RequestFacts) {}, models.ReasonValid},
		{"click, other network", click, func(r *RequestFacts) { r.IP = netip.MustParseAddr("198.51.100.1") }, models.ReasonTokenMismatch},
		{"click, other family", click, func(r *RequestFacts) { r.UA = firefox }, models.ReasonTokenMismatch},
		{"click, older token: no binding", click, func(r *RequestFacts) {
			r.IP, r.UA, r.ServeNetwork, r.ServeUAFamily = netip.MustParseAddr("198.51.100.1"), firefox, 0, 0
		}, models.ReasonValid},
		{"click, no address", click, func(r *RequestFacts) { r.IP = netip.Addr{} }, models.ReasonValid},
		{"a bot is a bot first", click, func(r *RequestFacts) { r.UA = "curl/8.5.0" }, models.ReasonBotUA},
		{"token mismatch before fast click", click, func(r *RequestFacts) {
			r.IP, r.ServedAt = netip.MustParseAddr("198.51.100.1"), now
		}, models.ReasonTokenMismatch},
		{"tag beacon, human", beacon, func(*RequestFacts) {}, models.ReasonValid},
		{"tag beacon, other network", beacon, func(r *RequestFacts) { r.IP = netip.MustParseAddr("2001:db8::1") }, models.ReasonTokenMismatch},
		{"tag beacon, webdriver", beacon, func(r *RequestFacts) { r.Signals.Mask = SigWebdriver }, models.ReasonAutomation},
		{"tag beacon, no signals", beacon, func(r *RequestFacts) { r.Signals = Signals{} }, models.ReasonAutomation},
		{"tag beacon, no page", beacon, func(r *RequestFacts) { r.PageOrigin = "" }, models.ReasonReferrerMismatch},
		{"tag beacon, adnet's frame, other page", beacon, func(r *RequestFacts) {
			r.Referer, r.PageOrigin = "https://ads.example/serve/frame?zone=1", "https://evil.example"
		}, models.ReasonReferrerMismatch},
		{"other beacon, no page", beacon, func(r *RequestFacts) { r.TagBeacon, r.Signals, r.PageOrigin = false, Signals{}, "" }, models.ReasonValid},
		{"clicks carry no signals", click, func(r *RequestFacts) { r.Referer = "" }, models.ReasonValid},
		{"serves are not bound", click, func(r *RequestFacts) {
			r.Type, r.ServeNetwork, r.ServeUAFamily, r.IP = models.EventServe, 0, 0, netip.MustParseAddr("198.51.100.1")
		}, models.ReasonValid},
	}
	for _, c := range cases {
		in := c.in
		c.mod(&in)
		if got := f.Check(&in); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}

	// Conversion pixels: the family always, the network within PixelNetworkWindow.
	conv := click
	conv.Type, conv.IP = models.EventConversion, netip.MustParseAddr("198.51.100.1")
	if !f.TokenMismatch(&conv) {
		t.Error("pixel from another network 5 s after the serve: not a mismatch")
	}
	conv.Now = conv.ServedAt.Add(PixelNetworkWindow + time.Second)
	if f.TokenMismatch(&conv) {
		t.Error("pixel from another network hours after the serve: a mismatch")
	}
	conv.UA = firefox
	if !f.TokenMismatch(&conv) {
		t.Error("pixel from another browser: not a mismatch")
	}
	// Without a classifier the family is computed directly.
	bare := &RequestFilter{}
	if c := click; !bare.TokenMismatch(func() *RequestFacts { c.UA = firefox; return &c }()) {
		t.Error("filter without a classifier: other family not a mismatch")
	}

	in := beacon
	f.Check(&in)
	if n := testing.AllocsPerRun(100, func() { f.Check(&in) }); n != 0 {
		t.Errorf("Check of a tag beacon: %v allocs", n)
	}
}

func BenchmarkUAFamily(b *testing.B) {
	const ua = "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36"
	b.ReportAllocs()
	for b.Loop() {
		UAFamily(ua)
	}
}

func BenchmarkNetworkOf(b *testing.B) {
	ip := netip.MustParseAddr("2001:db8:aa::1")
	b.ReportAllocs()
	for b.Loop() {
		NetworkOf(ip)
	}
}
