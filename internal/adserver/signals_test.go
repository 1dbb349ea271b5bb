package adserver_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"adnet/internal/adserver"
	"adnet/internal/fraud"
	"adnet/models"
)

const (
	chromeWin  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"
	chromeWin2 = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.86 Safari/537.36"
	firefoxWin = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
	chromeMac  = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"
)

// newFilteredFixture is newFixture with the worker's request filter (bot UAs, referrer, the
// serve's binding, the tags' signals), adnet's own host being ads.example.
func newFilteredFixture(t *testing.T) *fixture {
	f := newFixture(t, true)
	f.opt.Filter = &fraud.RequestFilter{UA: fraud.NewUAClassifier(fraud.UAOptions{CacheSize: 100}), AdHost: "ads.example"}
	f.svc = adserver.NewService(f.opt)
	return f
}

func person(ip, ua string) *adserver.Visit {
	return &adserver.Visit{IP: netip.MustParseAddr(ip), UserAgent: ua, Referer: "https://www.news.example/article"}
}

func (f *fixture) serveTo(t *testing.T, v *adserver.Visit, integ adserver.Integration) *adserver.Served {
	t.Helper()
	var s adserver.Served
	if err := f.svc.Serve(v, &adserver.AdRequest{ZoneID: 5, Integration: integ}, &s); err != nil || !s.Filled {
		t.Fatalf("serve: filled %v, %v", s.Filled, err)
	}
	if r := f.events.events[len(f.events.events)-1].Reason; r != models.ReasonValid {
		t.Fatalf("serve to %v: %v", v, r)
	}
	return &s
}

func (f *fixture) last() models.Event { return f.events.events[len(f.events.events)-1] }

// TestTokenMismatch: a beacon, a click or a conversion pixel must come from the network
// (IPv4 /24, IPv6 /48) and the User-Agent family the ad was served to; a version bump of the
// browser is the same family, an IPv4-mapped address is its IPv4 address, and the
// server-to-server postback (the advertiser's server) is not compared.
func TestTokenMismatch(t *testing.T) {
	f := newFilteredFixture(t)
	served := person("192.0.2.10", chromeWin)
	cases := []struct {
		name string
		v    *adserver.Visit
		want models.Reason
	}{
		{"same address", person("192.0.2.10", chromeWin), models.ReasonValid},
		{"same /24, browser updated", person("192.0.2.200", chromeWin2), models.ReasonValid},
		{"IPv4-mapped, same /24", person("::ffff:192.0.2.77", chromeWin), models.ReasonValid},
		{"next /24", person("192.0.3.10", chromeWin), models.ReasonTokenMismatch},
		{"IPv4-mapped, other network", person("::ffff:198.51.100.7", chromeWin), models.ReasonTokenMismatch},
		{"Firefox on the same machine", person("192.0.2.10", firefoxWin), models.ReasonTokenMismatch},
		{"Chrome on a Mac", person("192.0.2.10", chromeMac), models.ReasonTokenMismatch},
	}
	for _, c := range cases {
		f.now = f.now.Add(time.Minute)
		s := f.serveTo(t, served, adserver.IntegrationJSON)
		f.now = f.now.Add(5 * time.Second)
		var res adserver.ClickResult
		if err := f.svc.Click(c.v, string(s.ClickToken()), "https://fallback.example/", &res); err != nil {
			t.Fatal(err)
		}
		if got := f.last().Reason; got != c.want {
			t.Errorf("click, %s: %v, want %v", c.name, got, c.want)
		}
		if err := f.svc.Impression(c.v, &adserver.Beacon{Token: string(s.ImpressionToken())}); err != nil {
			t.Fatal(err)
		}
		if got := f.last().Reason; got != c.want {
			t.Errorf("beacon, %s: %v, want %v", c.name, got, c.want)
		}
		if c.want != models.ReasonValid && !strings.HasPrefix(res.Target, "https://shop.example/") {
			t.Errorf("%s: a mismatched click must still land: %q", c.name, res.Target)
		}
	}

	// IPv6: the /48 is the network.
	v6 := person("2001:db8:1:2::1", chromeWin)
	for ip, want := range map[string]models.Reason{"2001:db8:1:ffff::9": models.ReasonValid, "2001:db8:2::1": models.ReasonTokenMismatch} {
		s := f.serveTo(t, v6, adserver.IntegrationJSON)
		var res adserver.ClickResult
		if err := f.svc.Click(person(ip, chromeWin), string(s.ClickToken()), "https://fallback.example/", &res); err != nil {
			t.Fatal(err)
		}
		if got := f.last().Reason; got != want {
			t.Errorf("IPv6 click from %s: %v, want %v", ip, got, want)
		}
	}

	// Conversions: the pixel (the visitor's browser) is compared — its network only within
	// fraud.PixelNetworkWindow of the serve; the postback (the advertiser's server) never.
	convert := func(v *adserver.Visit, c *adserver.Conversion) models.Reason {
		t.Helper()
		var res adserver.ConversionResult
		if err := f.svc.Conversion(v, c, &res); err != nil {
			t.Fatal(err)
		}
		return res.Reason
	}
	s := f.serveTo(t, served, adserver.IntegrationScript)
	click := string(s.ClickToken())
	f.now = f.now.Add(10 * time.Minute)
	if r := convert(person("192.0.2.10", chromeWin), &adserver.Conversion{ClickID: click}); r != models.ReasonValid {
		t.Errorf("pixel from the served browser: %v", r)
	}
	if r := convert(person("198.51.100.7", chromeWin), &adserver.Conversion{ClickID: click}); r != models.ReasonTokenMismatch {
		t.Errorf("pixel from another network 10 min after the serve: %v, want token_mismatch", r)
	}
	if r := convert(person("192.0.2.10", firefoxWin), &adserver.Conversion{ClickID: click}); r != models.ReasonTokenMismatch {
		t.Errorf("pixel from another browser: %v, want token_mismatch", r)
	}
	if r := convert(person("203.0.113.250", "shop-backend/1.0"), &adserver.Conversion{Postback: true, ClickID: click, Secret: f.secret}); r != models.ReasonValid {
		t.Errorf("postback from the advertiser's server: %v, want valid", r)
	}
	f.now = f.now.Add(fraud.PixelNetworkWindow)
	if r := convert(person("198.51.100.7", chromeWin), &adserver.Conversion{ClickID: click}); r != models.ReasonValid {
		t.Errorf("pixel from another network hours later: %v, want valid (people change networks)", r)
	}
	if r := convert(person("198.51.100.7", firefoxWin), &adserver.Conversion{ClickID: click}); r != models.ReasonTokenMismatch {
		t.Errorf("pixel from another browser hours later: %v, want token_mismatch", r)
	}
}

// TestTagBeaconSignals: the script and iframe tags' beacons carry the automation signals
// (sig) and the page origin (po). A strong signal, or every weak hint at once, is automation;
// a tag-served ad's beacon without sig was not fired by the tag; a /serve/json ad's beacon
// needs neither. For the page: the Referer when there is one (and it is not adnet's own
// frame), else the reported origin, and a tag beacon with neither is referrer_mismatch.
func TestTagBeaconSignals(t *testing.T) {
	f := newFilteredFixture(t)
	const frameURL = "https://ads.example/serve/frame?zone=5"
	sig := func(m uint32) fraud.Signals { return fraud.Signals{Present: true, Mask: m} }
	cases := []struct {
		name    string
		integ   adserver.Integration
		referer string
		beacon  adserver.Beacon
		want    models.Reason
	}{
		{"script tag, human", adserver.IntegrationScript, "https://news.example/a", adserver.Beacon{Signals: sig(0), PageOrigin: "https://news.example"}, models.ReasonValid},
		{"script tag, weak hints (Android WebView)", adserver.IntegrationScript, "https://news.example/a",
			adserver.Beacon{Signals: sig(fraud.SigNoPlugins | fraud.SigNoChromeObj | fraud.SigZeroWindow), PageOrigin: "https://news.example"}, models.ReasonValid},
		{"script tag, webdriver", adserver.IntegrationScript, "https://news.example/a", adserver.Beacon{Signals: sig(fraud.SigWebdriver), PageOrigin: "https://news.example"}, models.ReasonAutomation},
		{"script tag, HeadlessChrome in navigator.userAgent", adserver.IntegrationScript, "https://news.example/a", adserver.Beacon{Signals: sig(fraud.SigHeadlessUA | 1<<20), PageOrigin: "https://news.example"}, models.ReasonAutomation},
		{"script tag, every weak hint", adserver.IntegrationScript, "https://news.example/a",
			adserver.Beacon{Signals: sig(fraud.SigNoPlugins | fraud.SigNoChromeObj | fraud.SigNoLanguages | fraud.SigZeroWindow), PageOrigin: "https://news.example"}, models.ReasonAutomation},
		{"script tag, no sig", adserver.IntegrationScript, "https://news.example/a", adserver.Beacon{PageOrigin: "https://news.example"}, models.ReasonAutomation},
		{"iframe tag, no sig", adserver.IntegrationFrame, frameURL, adserver.Beacon{PageOrigin: "https://news.example"}, models.ReasonAutomation},
		{"json, no sig, no page", adserver.IntegrationJSON, "", adserver.Beacon{}, models.ReasonValid},
		{"json, webdriver reported", adserver.IntegrationJSON, "", adserver.Beacon{Signals: sig(fraud.SigWebdriver)}, models.ReasonAutomation},

		{"script tag, no Referer, page reported", adserver.IntegrationScript, "", adserver.Beacon{Signals: sig(0), PageOrigin: "https://www.news.example"}, models.ReasonValid},
		{"script tag, no Referer, other page reported", adserver.IntegrationScript, "", adserver.Beacon{Signals: sig(0), PageOrigin: "https://evil.example"}, models.ReasonReferrerMismatch},
		{"script tag, no Referer, no page", adserver.IntegrationScript, "", adserver.Beacon{Signals: sig(0)}, models.ReasonReferrerMismatch},
		{"script tag, Referer wins over the reported page", adserver.IntegrationScript, "https://evil.example/", adserver.Beacon{Signals: sig(0), PageOrigin: "https://news.example"}, models.ReasonReferrerMismatch},
		{"iframe tag, embedding page", adserver.IntegrationFrame, frameURL, adserver.Beacon{Signals: sig(0), PageOrigin: "https://m.news.example"}, models.ReasonValid},
		{"iframe tag, spoofed placement", adserver.IntegrationFrame, frameURL, adserver.Beacon{Signals: sig(0), PageOrigin: "https://evil-news.example"}, models.ReasonReferrerMismatch},
		{"iframe tag, nothing known", adserver.IntegrationFrame, frameURL, adserver.Beacon{Signals: sig(0)}, models.ReasonReferrerMismatch},
		{"iframe tag, sandboxed page (origin null)", adserver.IntegrationFrame, "", adserver.Beacon{Signals: sig(0), PageOrigin: "null"}, models.ReasonReferrerMismatch},
		{"iframe tag, overlong origin", adserver.IntegrationFrame, frameURL,
			adserver.Beacon{Signals: sig(0), PageOrigin: "https://" + strings.Repeat("a.", 150) + "news.example"}, models.ReasonReferrerMismatch},
		{"iframe tag on adnet's demo page", adserver.IntegrationFrame, frameURL, adserver.Beacon{Signals: sig(0), PageOrigin: "https://ads.example"}, models.ReasonValid},
	}
	for _, c := range cases {
		v := person("192.0.2.10", chromeWin)
		s := f.serveTo(t, v, c.integ)
		v.Referer = c.referer
		b := c.beacon
		b.Token = string(s.ImpressionToken())
		if err := f.svc.Impression(v, &b); err != nil {
			t.Fatal(err)
		}
		if got := f.last().Reason; got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
