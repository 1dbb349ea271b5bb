package handlers

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"adnet/internal/adserver"
	"adnet/internal/decision"
	"adnet/internal/eventlog"
	"adnet/internal/fraud"
	"adnet/internal/token"
	"adnet/models"
)

// adsFixture is a one-zone network served by real engines and a real event log on disk.
type adsFixture struct {
	t      *testing.T
	ads    *Ads
	mux    *http.ServeMux
	events *eventlog.Writer
	dir    string
	now    time.Time
	secret string
}

func newAdsFixture(t *testing.T) *adsFixture { return newAdsFixtureWith(t, nil) }

// newAdsFixtureWith is newAdsFixture whose service takes the request filter's verdicts.
func newAdsFixtureWith(t *testing.T, filter *fraud.RequestFilter) *adsFixture {
	t.Helper()
	f := &adsFixture{t: t, dir: t.TempDir(), now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC), secret: "s3cret-postback"}
	inv := &models.Inventory{LoadedAt: f.now,
		Advertisers: []models.Advertiser{{ID: 1, Name: "Acme", Status: models.StatusActive, PostbackSecret: f.secret}},
		Campaigns: []models.Campaign{{ID: 10, AdvertiserID: 1, Name: "c", Status: models.StatusActive, Tier: models.TierRemnant,
			Weight: 1, Pricing: models.PricingCPC, RateMicros: 200000, Pacing: models.PacingASAP, ConversionWindow: 48 * time.Hour}},
		Creatives: []models.Creative{{ID: 100, CampaignID: 10, Name: "img", Status: models.StatusActive, Kind: models.CreativeImage,
			Width: 300, Height: 250, Weight: 1, ImageURL: "/static/creatives/a.svg",
			ClickURL: "https://shop.example/landing?click={click_id}"}},
		Publishers: []models.Publisher{{ID: 2, Name: "P", Status: models.StatusActive, RevenueShareBP: 7000}},
		Sites:      []models.Site{{ID: 3, PublisherID: 2, Name: "S", Domain: "news.example", Status: models.StatusActive}},
		Zones:      []models.Zone{{ID: 5, SiteID: 3, Name: "z", Width: 300, Height: 250, Status: models.StatusActive}},
		Links:      []models.ZoneCampaign{{ZoneID: 5, CampaignID: 10, Weight: 1}},
	}
	snap, err := decision.Build(inv, decision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := token.NewKeys([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := token.NewSigner(keys, token.Options{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	f.events, err = eventlog.OpenWriter(eventlog.WriterOptions{Dir: f.dir, FsyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.events.Close() })
	ua, err := decision.NewUAParser(100)
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.Out = io.Discard
	svc := adserver.NewService(adserver.Options{Engine: decision.NewEngine(snap), Signer: signer, UA: ua, Events: f.events,
		Filter: filter, Logger: log, ViewerCookie: true, HonorGPC: true, Now: func() time.Time { return f.now }})
	f.ads = NewAds(AdsOptions{Service: svc, Logger: log, BaseURL: "https://ads.example", FallbackURL: "https://ads.example/safe"})
	f.mux = http.NewServeMux()
	f.ads.Routes(f.mux)
	return f
}

func (f *adsFixture) do(method, target string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = "203.0.113.7:5555"
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36")
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, r)
	return w
}

// read returns every event written so far.
func (f *adsFixture) read() []models.Event {
	f.t.Helper()
	rd, err := eventlog.OpenReader(f.dir, eventlog.Position{}, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rd.Close()
	var out []models.Event
	for {
		var ev models.Event
		if _, err := rd.Next(&ev); err != nil {
			if !errors.Is(err, io.EOF) {
				f.t.Fatal(err)
			}
			return out
		}
		out = append(out, ev)
	}
}

func (f *adsFixture) serveJSON() ServeJSONAd {
	f.t.Helper()
	w := f.do("GET", "/serve/json?zone=5")
	if w.Code != http.StatusOK {
		f.t.Fatalf("serve/json: %d %s", w.Code, w.Body)
	}
	var ad ServeJSONAd
	if err := json.Unmarshal(w.Body.Bytes(), &ad); err != nil {
		f.t.Fatal(err)
	}
	return ad
}

func pathOf(t *testing.T, u string) string {
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.RequestURI()
}

func TestServeJSONAndEvents(t *testing.T) {
	f := newAdsFixture(t)
	ad := f.serveJSON()
	if ad.CreativeID != 100 || ad.ZoneID != 5 || ad.ImageURL != "https://ads.example/static/creatives/a.svg" ||
		!strings.HasPrefix(ad.ClickURL, "https://ads.example/track/click?t=") || !strings.HasPrefix(ad.ImpressionURL, "https://ads.example/track/imp?t=") {
		t.Fatalf("unexpected ad: %+v", ad)
	}
	if w := f.do("GET", "/serve/json?zone=999"); w.Code != http.StatusNoContent {
		t.Fatalf("unknown zone: want 204, got %d", w.Code)
	}
	if w := f.do("GET", "/serve/json?zone=abc"); w.Code != http.StatusBadRequest {
		t.Fatalf("bad zone: want 400, got %d", w.Code)
	}
	evs := f.read()
	if len(evs) != 2 || evs[0].Type != models.EventServe || evs[0].CreativeID != 100 || evs[0].PriceMicros != 200000 ||
		evs[1].Type != models.EventServe || evs[1].CreativeID != 0 || evs[1].ZoneID != 999 {
		t.Fatalf("serve events: %+v", evs)
	}
	if evs[0].IP[15] != 7 || evs[0].IP[10] != 0xff {
		t.Errorf("client IP not recorded as IPv4-mapped: %v", evs[0].IP)
	}
}

func TestServeJSIsSelfContained(t *testing.T) {
	f := newAdsFixture(t)
	w := f.do("GET", "/serve/js?zone=5")
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(body, "document.currentScript") && !strings.Contains(body, "d.currentScript") {
		t.Fatalf("js: %d %s", w.Code, body)
	}
	if strings.Contains(body, "document.write") || strings.Contains(body, "</script") {
		t.Fatalf("js must not document.write nor contain a closing script tag: %s", body)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") || w.Header().Get("Cache-Control") == "" {
		t.Fatalf("headers: %v", w.Header())
	}
	if empty := f.do("GET", "/serve/js?zone=999").Body.String(); strings.Contains(empty, "insertBefore") {
		t.Fatalf("no ad must render nothing: %s", empty)
	}
}

func TestImpressionBeacon(t *testing.T) {
	f := newAdsFixture(t)
	ad := f.serveJSON()
	imp := pathOf(t, ad.ImpressionURL)
	cases := []struct {
		name   string
		method string
		target string
		hdr    []string
		want   models.Reason
	}{
		{"valid", "GET", imp, nil, models.ReasonValid},
		{"HEAD never counts", "HEAD", imp, nil, models.ReasonPrefetch},
		{"Sec-Purpose prefetch", "GET", imp, []string{"Sec-Purpose", "prefetch;prerender"}, models.ReasonPrefetch},
		{"Purpose prefetch", "GET", imp, []string{"Purpose", "prefetch"}, models.ReasonPrefetch},
		{"X-Moz prefetch", "GET", imp, []string{"X-Moz", "prefetch"}, models.ReasonPrefetch},
		{"X-Purpose preview", "GET", imp, []string{"X-Purpose", "preview"}, models.ReasonPrefetch},
		{"forged", "GET", forge(imp), nil, models.ReasonBadToken},
		{"missing", "GET", "/track/imp", nil, models.ReasonBadToken},
	}
	for _, c := range cases {
		w := f.do(c.method, c.target, c.hdr...)
		if w.Code != 200 || w.Header().Get("Content-Type") != "image/gif" || !strings.Contains(w.Header().Get("Cache-Control"), "no-store") {
			t.Fatalf("%s: %d %v", c.name, w.Code, w.Header())
		}
		if c.method == "GET" && w.Body.Len() != 43 {
			t.Fatalf("%s: GIF is %d bytes", c.name, w.Body.Len())
		}
	}
	evs := f.read()[1:] // after the serve event
	if len(evs) != len(cases) {
		t.Fatalf("want %d impression events, got %d", len(cases), len(evs))
	}
	for i, c := range cases {
		if evs[i].Type != models.EventImpression || evs[i].Reason != c.want {
			t.Errorf("%s: recorded %v/%v, want reason %v", c.name, evs[i].Type, evs[i].Reason, c.want)
		}
	}
	if evs[0].CreativeID != 100 || evs[0].ImpressionID == (models.ImpressionID{}) || evs[6].CreativeID != 0 {
		t.Errorf("claims: valid %+v forged %+v", evs[0], evs[6])
	}
}

func TestClickRedirect(t *testing.T) {
	f := newAdsFixture(t)
	ad := f.serveJSON()
	click := pathOf(t, ad.ClickURL)
	tok := click[len("/track/click?t="):]

	w := f.do("GET", click+"&url=https://evil.example/")
	loc := w.Header().Get("Location")
	if w.Code != http.StatusFound || !strings.HasPrefix(loc, "https://shop.example/landing?click=") || !strings.Contains(loc, tok) {
		t.Fatalf("valid click: %d %q", w.Code, loc)
	}
	// Every single-character change of the token is a forgery: it goes to the safe page only.
	for i := 0; i < len(tok); i++ {
		c := byte('A')
		if tok[i] == 'A' {
			c = 'B'
		}
		forged := tok[:i] + string(c) + tok[i+1:]
		w := f.do("GET", "/track/click?t="+forged)
		if w.Code != http.StatusFound || w.Header().Get("Location") != "https://ads.example/safe" {
			t.Fatalf("forged token (char %d) redirected to %q", i, w.Header().Get("Location"))
		}
	}
	// Expired but authentic: still lands (a person clicked), recorded as not billable.
	f.now = f.now.Add(2 * time.Hour)
	w = f.do("GET", click)
	if w.Code != http.StatusFound || !strings.HasPrefix(w.Header().Get("Location"), "https://shop.example/") {
		t.Fatalf("expired click: %d %q", w.Code, w.Header().Get("Location"))
	}
	evs := f.read()
	last := evs[len(evs)-1]
	if last.Type != models.EventClick || last.Reason != models.ReasonExpiredToken || last.CreativeID != 100 {
		t.Fatalf("expired click event: %+v", last)
	}
	if evs[1].Reason != models.ReasonValid || evs[2].Reason != models.ReasonBadToken {
		t.Fatalf("click verdicts: %v %v", evs[1].Reason, evs[2].Reason)
	}
}

func TestConversionPostbackAndPixel(t *testing.T) {
	f := newAdsFixture(t)
	ad := f.serveJSON()
	clickW := f.do("GET", pathOf(t, ad.ClickURL))
	tok := strings.TrimPrefix(pathOf(t, ad.ClickURL), "/track/click?t=")

	w := f.do("GET", "/track/conv?click_id="+tok+"&secret=wrong")
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), `"code":"unauthorized"`) {
		t.Fatalf("wrong secret: %d %s", w.Code, w.Body)
	}
	w = f.do("GET", "/track/conv?click_id="+tok+"&secret="+f.secret+"&payout=12.5")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"status":"recorded"`) {
		t.Fatalf("postback: %d %s", w.Code, w.Body)
	}
	w = f.do("GET", "/track/conv?click_id="+tok+"&secret="+f.secret+"&payout=1e9")
	if w.Code != http.StatusBadRequest {
		t.Fatalf("bad payout: %d %s", w.Code, w.Body)
	}
	// The pixel finds the click in the cookie set by the redirect.
	var cookie string
	for _, c := range clickW.Result().Cookies() {
		if c.Name == clickCookie {
			cookie = c.Name + "=" + c.Value
		}
	}
	if cookie == "" {
		t.Fatal("the click set no conversion cookie")
	}
	if w := f.do("GET", "/track/conv?type=pixel", "Cookie", cookie); w.Code != 200 || w.Body.Len() != 43 {
		t.Fatalf("pixel: %d", w.Code)
	}
	if w := f.do("GET", "/track/conv?type=pixel"); w.Code != 200 {
		t.Fatalf("pixel without cookie: %d", w.Code)
	}
	evs := f.read()
	convs := evs[len(evs)-3:]
	if convs[0].Type != models.EventConversion || convs[0].PayoutMicros != 12_500_000 || convs[0].Reason != models.ReasonValid ||
		convs[1].Reason != models.ReasonValid || convs[1].CampaignID != 10 || convs[2].Reason != models.ReasonNoClick {
		t.Fatalf("conversions: %+v", convs)
	}
}

func TestPrivacyNoCookie(t *testing.T) {
	f := newAdsFixture(t)
	for _, h := range [][]string{{"Sec-GPC", "1"}, {"DNT", "1"}} {
		w := f.do("GET", "/serve/json?zone=5", h...)
		if len(w.Result().Cookies()) != 0 {
			t.Fatalf("%s: cookie set: %v", h[0], w.Result().Cookies())
		}
	}
	if w := f.do("GET", "/serve/json?zone=5"); len(w.Result().Cookies()) != 1 {
		t.Fatalf("the viewer cookie should be set without GPC/DNT")
	}
	for _, ev := range f.read()[:2] {
		if ev.ViewerID != 0 {
			t.Fatalf("viewer id recorded despite GPC/DNT: %+v", ev)
		}
	}
}

func TestEventLogDownAnswers503(t *testing.T) {
	f := newAdsFixture(t)
	f.events.Close()
	for _, p := range []string{"/serve/js?zone=5", "/serve/json?zone=5", "/track/imp?t=x", "/track/click?t=x"} {
		if w := f.do("GET", p); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
			t.Errorf("%s with the event log down: %d", p, w.Code)
		}
	}
}

// forge changes the last two characters of a tracking URL's token: to "AA", or to "BA" when
// they already are "AA" (one token in 256 ends so, and "forging" it would change nothing).
func forge(u string) string {
	if strings.HasSuffix(u, "AA") {
		return u[:len(u)-2] + "BA"
	}
	return u[:len(u)-2] + "AA"
}
