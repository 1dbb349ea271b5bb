package handlers

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"adnet/internal/adserver"
	"adnet/internal/fraud"
	"adnet/models"
)

func TestReadBeacon(t *testing.T) {
	cases := []struct {
		q    string
		want adserver.Beacon
	}{
		{"t=abc", adserver.Beacon{Token: "abc"}},
		{"t=abc&sig=0&po=https://news.example&cb=1", adserver.Beacon{Token: "abc", Signals: fraud.Signals{Present: true}, PageOrigin: "https://news.example"}},
		{"sig=33&t=abc&po=https://[2001:db8::1]:8080", adserver.Beacon{Token: "abc", Signals: fraud.Signals{Present: true, Mask: 33}, PageOrigin: "https://[2001:db8::1]:8080"}},
		{"t=abc&sig=4294967295", adserver.Beacon{Token: "abc", Signals: fraud.Signals{Present: true, Mask: 1<<32 - 1}}},
		{"t=abc&sig=4294967296", adserver.Beacon{Token: "abc"}},                                              // over 32 bits: not the tag's
		{"t=abc&sig=1x", adserver.Beacon{Token: "abc"}},                                                      // garbage: not the tag's
		{"t=abc&sig=", adserver.Beacon{Token: "abc"}},                                                        // empty: not the tag's
		{"t=abc&sig=-1", adserver.Beacon{Token: "abc"}},                                                      // signed: not the tag's
		{"t=abc&sig=12345678901", adserver.Beacon{Token: "abc"}},                                             // too long
		{"t=abc&sig=2&sig=0", adserver.Beacon{Token: "abc", Signals: fraud.Signals{Present: true, Mask: 2}}}, // the first counts
		{"t=a&t=b&po=x&po=y", adserver.Beacon{Token: "a", PageOrigin: "x"}},
		{"t=abc&po=https%3A%2F%2Fnews.example", adserver.Beacon{Token: "abc", PageOrigin: "https://news.example"}},
	}
	for _, c := range cases {
		var b adserver.Beacon
		readBeacon(c.q, &b)
		if b != c.want {
			t.Errorf("%q: %+v, want %+v", c.q, b, c.want)
		}
	}
	var b adserver.Beacon
	const q = "t=MYB8FKMiuJFXNgAAAAAAAAABBQpkwJoMgJL278ozAtg2i&sig=0&po=https://www.news.example&cb=1733130000000"
	if n := testing.AllocsPerRun(100, func() { readBeacon(q, &b) }); n != 0 {
		t.Errorf("readBeacon of a tag's beacon: %v allocs", n)
	}
}

var impURLRE = regexp.MustCompile(`/track/imp\?t=[A-Za-z0-9_-]+`)

// TestTagBeaconsThroughHTTP: both tags' beacons carry sig and po (the tag's script builds
// them), and the worker reads them and judges on them: a tag-served ad's beacon without sig
// is automation, webdriver is automation, and the iframe tag's page is the origin it reports.
func TestTagBeaconsThroughHTTP(t *testing.T) {
	f := newAdsFixtureWith(t, &fraud.RequestFilter{UA: fraud.NewUAClassifier(fraud.UAOptions{CacheSize: 100}), AdHost: "ads.example"})
	const page = "https://www.news.example/article"
	serve := func(path string, want ...string) string {
		t.Helper()
		w := f.do("GET", path, "Referer", page)
		body := w.Body.String()
		for _, s := range want {
			if !strings.Contains(body, s) {
				t.Fatalf("%s does not contain %q:\n%s", path, s, body)
			}
		}
		imp := impURLRE.FindString(body)
		if imp == "" {
			t.Fatalf("%s: no beacon URL in\n%s", path, body)
		}
		return imp
	}
	beacon := func(target string, hdr ...string) models.Reason {
		t.Helper()
		if w := f.do("GET", target, hdr...); w.Code != http.StatusOK {
			t.Fatalf("%s: %d", target, w.Code)
		}
		evs := f.read()
		return evs[len(evs)-1].Reason
	}
	js := `"+'&sig='+(function(){`
	for _, c := range []struct {
		name, path, query string
		hdr               []string
		want              models.Reason
	}{
		{"script tag, human", "/serve/js?zone=5", "&sig=0&po=https://www.news.example&cb=1", []string{"Referer", page}, models.ReasonValid},
		{"script tag, no Referer, page reported", "/serve/js?zone=5", "&sig=0&po=https://www.news.example&cb=1", nil, models.ReasonValid},
		{"script tag, webdriver", "/serve/js?zone=5", "&sig=1&po=https://www.news.example&cb=1", []string{"Referer", page}, models.ReasonAutomation},
		{"script tag, hand-made beacon", "/serve/js?zone=5", "", []string{"Referer", page}, models.ReasonAutomation},
		{"script tag, no page at all", "/serve/js?zone=5", "&sig=0&cb=1", nil, models.ReasonReferrerMismatch},
		{"iframe tag, human", "/serve/frame?zone=5", "&sig=0&po=https://www.news.example&cb=1",
			[]string{"Referer", "https://ads.example/serve/frame?zone=5"}, models.ReasonValid},
		{"iframe tag on another site", "/serve/frame?zone=5", "&sig=0&po=https://warez.example&cb=1",
			[]string{"Referer", "https://ads.example/serve/frame?zone=5"}, models.ReasonReferrerMismatch},
		{"json, plain pixel", "/serve/json?zone=5", "", nil, models.ReasonValid},
	} {
		var want []string
		switch {
		case strings.HasPrefix(c.path, "/serve/js?"):
			want = []string{js, `+'&po='+clean(location.origin)`}
		case strings.HasPrefix(c.path, "/serve/frame"):
			want = []string{js, `+'&po='+clean(embedder())`, `location.ancestorOrigins`, `document.referrer`}
		}
		imp := serve(c.path, want...)
		if got := beacon(imp+c.query, c.hdr...); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// BenchmarkTrackImpressionTag is a script tag's beacon (sig and po) through a worker with the
// request filter, as production runs it.
func BenchmarkTrackImpressionTag(b *testing.B) {
	f := newAdsFixtureWith(&testing.T{}, &fraud.RequestFilter{UA: fraud.NewUAClassifier(fraud.UAOptions{}), AdHost: "ads.example"})
	imp := impURLRE.FindString(f.do("GET", "/serve/js?zone=5", "Referer", "https://news.example/").Body.String())
	r := httptest.NewRequest("GET", imp+"&sig=0&po=https://news.example&cb=1733130000000", nil)
	r.Header.Set("Referer", "https://news.example/a")
	benchRequestWith(b, f, r)
}

// BenchmarkServeJSFiltered is BenchmarkServeJS with the request filter.
func BenchmarkServeJSFiltered(b *testing.B) {
	f := newAdsFixtureWith(&testing.T{}, &fraud.RequestFilter{UA: fraud.NewUAClassifier(fraud.UAOptions{}), AdHost: "ads.example"})
	r := httptest.NewRequest("GET", "/serve/js?zone=5", nil)
	r.Header.Set("Referer", "https://news.example/a")
	benchRequestWith(b, f, r)
}

// TestTagHTMLCreativeImpURL: in an HTML creative shown by the script or iframe tag, {imp_url}
// is a blank image (the tag fires the beacon with its signals; the creative's copy, loading
// first and without them, would make a person's impression automation); /serve/json keeps
// the signed beacon URL for the app or the creative to fire.
func TestTagHTMLCreativeImpURL(t *testing.T) {
	f := newAdsFixture(t)
	var s adserver.Served
	if err := f.ads.opt.Service.Serve(&adserver.Visit{UserAgent: "Mozilla/5.0"}, &adserver.AdRequest{ZoneID: 5}, &s); err != nil || !s.Filled {
		t.Fatalf("serve: %v", err)
	}
	cr := models.Creative{ID: 10, Kind: models.CreativeHTML, Width: 300, Height: 250, HTML: `<a href="{click_url}">x</a><img src="{imp_url}">`}
	s.Decision.Creative = &cr
	for _, inFrame := range []bool{false, true} {
		html := string(f.ads.appendCreativeHTML(nil, &s, inFrame))
		if strings.Contains(html, "/track/imp") || !strings.Contains(html, "data:image/gif;base64,") {
			t.Errorf("tag (in frame %v): {imp_url} is not the blank image:\n%s", inFrame, html)
		}
		if !strings.Contains(html, "/track/click?t=") {
			t.Errorf("tag (in frame %v): {click_url} lost:\n%s", inFrame, html)
		}
	}
	if json := string(f.ads.appendJSONAd(nil, &s)); !strings.Contains(json, `img src=\"https://ads.example/track/imp?t=`) {
		t.Errorf("/serve/json: {imp_url} is not the beacon URL:\n%s", json)
	}
}
