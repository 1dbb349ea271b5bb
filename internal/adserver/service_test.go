package adserver_test

import (
	"errors"
	"testing"
	"time"

	"adnet/internal/adserver"
	"adnet/internal/decision"
	"adnet/internal/token"
	"adnet/models"
)

// recorder keeps the events it is given, or fails every append when down.
type recorder struct {
	events []models.Event
	down   bool
}

func (r *recorder) Append(ev models.Event) error {
	if r.down {
		return errors.New("disk full")
	}
	r.events = append(r.events, ev)
	return nil
}

// fixture is a one-zone network: campaign 10 (advertiser 1, conversion window 48 h) on zone 5.
type fixture struct {
	svc    *adserver.Service
	events *recorder
	now    time.Time
	secret string
	opt    adserver.Options
}

func newFixture(t *testing.T, viewerCookie bool, campaign ...func(*models.Campaign)) *fixture {
	t.Helper()
	f := &fixture{events: &recorder{}, now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC), secret: "s3cret"}
	inv := &models.Inventory{LoadedAt: f.now,
		Advertisers: []models.Advertiser{{ID: 1, Name: "A", Status: models.StatusActive, PostbackSecret: f.secret}},
		Campaigns: []models.Campaign{{ID: 10, AdvertiserID: 1, Name: "c", Status: models.StatusActive, Tier: models.TierRemnant,
			Weight: 1, Pricing: models.PricingCPC, RateMicros: 200000, Pacing: models.PacingASAP, ConversionWindow: 48 * time.Hour}},
		Creatives: []models.Creative{{ID: 100, CampaignID: 10, Name: "img", Status: models.StatusActive, Kind: models.CreativeImage,
			Width: 300, Height: 250, Weight: 1, ImageURL: "/static/a.svg", ClickURL: "https://shop.example/?c={click_id}"}},
		Publishers: []models.Publisher{{ID: 2, Name: "P", Status: models.StatusActive, RevenueShareBP: 7000}},
		Sites:      []models.Site{{ID: 3, PublisherID: 2, Name: "S", Domain: "news.example", Status: models.StatusActive}},
		Zones:      []models.Zone{{ID: 5, SiteID: 3, Name: "z", Width: 300, Height: 250, Status: models.StatusActive}},
		Links:      []models.ZoneCampaign{{ZoneID: 5, CampaignID: 10, Weight: 1}},
	}
	for _, fn := range campaign {
		fn(&inv.Campaigns[0])
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
	f.opt = adserver.Options{Engine: decision.NewEngine(snap), Signer: signer, Events: f.events,
		ViewerCookie: viewerCookie, HonorGPC: true, Now: func() time.Time { return f.now }}
	f.svc = adserver.NewService(f.opt)
	return f
}

func visit() *adserver.Visit {
	return &adserver.Visit{UserAgent: "Mozilla/5.0 Chrome/130", Referer: "https://news.example/a"}
}

func (f *fixture) serve(t *testing.T) *adserver.Served {
	t.Helper()
	var s adserver.Served
	if err := f.svc.Serve(visit(), &adserver.AdRequest{ZoneID: 5}, &s); err != nil || !s.Filled {
		t.Fatalf("serve: filled %v, %v", s.Filled, err)
	}
	return &s
}

func TestServeRecordsTheServeBeforeAnswering(t *testing.T) {
	f := newFixture(t, true)
	s := f.serve(t)
	if len(f.events.events) != 1 || f.events.events[0].Type != models.EventServe || f.events.events[0].ImpressionID != s.ImpressionID {
		t.Fatalf("events after a serve: %+v", f.events.events)
	}
	if s.ViewerCookie() == nil || len(s.ImpressionToken()) == 0 || len(s.ClickToken()) == 0 {
		t.Fatalf("served without viewer cookie or tokens: %+v", s)
	}

	f.events.down = true
	var s2 adserver.Served
	err := f.svc.Serve(visit(), &adserver.AdRequest{ZoneID: 5}, &s2)
	if models.ErrorCode(err) != models.EUNAVAILABLE || s2.ViewerCookie() != nil {
		t.Fatalf("event log down: %v, cookie %q; want EUNAVAILABLE and no cookie", err, s2.ViewerCookie())
	}
	if err := f.svc.Serve(visit(), &adserver.AdRequest{ZoneID: 0}, &s2); models.ErrorCode(err) != models.EINVALID {
		t.Fatalf("zone 0: %v, want EINVALID", err)
	}
}

func TestServeHonoursDoNotTrack(t *testing.T) {
	f := newFixture(t, true)
	v := visit()
	v.NoTrack = true
	var s adserver.Served
	if err := f.svc.Serve(v, &adserver.AdRequest{ZoneID: 5}, &s); err != nil {
		t.Fatal(err)
	}
	if s.ViewerCookie() != nil || f.events.events[0].ViewerID != 0 {
		t.Fatalf("GPC visitor got a viewer id: cookie %q, event viewer %d", s.ViewerCookie(), f.events.events[0].ViewerID)
	}
}

func TestConversionWindowAndPostbackSecret(t *testing.T) {
	f := newFixture(t, true)
	s := f.serve(t)
	click := string(s.ClickToken())

	var res adserver.ConversionResult
	err := f.svc.Conversion(visit(), &adserver.Conversion{Postback: true, ClickID: click, Secret: "wrong"}, &res)
	if models.ErrorCode(err) != models.EUNAUTHORIZED {
		t.Fatalf("wrong secret: %v, want EUNAUTHORIZED", err)
	}
	err = f.svc.Conversion(visit(), &adserver.Conversion{Postback: true, ClickID: "forged", Secret: f.secret}, &res)
	if models.ErrorCode(err) != models.EINVALID {
		t.Fatalf("forged click id: %v, want EINVALID", err)
	}
	err = f.svc.Conversion(visit(), &adserver.Conversion{Postback: true, ClickID: click, Secret: f.secret, Payout: "1.x"}, &res)
	if models.ErrorCode(err) != models.EINVALID {
		t.Fatalf("bad payout: %v, want EINVALID", err)
	}

	// Past the token's TTL (1 h) but within the campaign's 48 h window: approved.
	f.now = f.now.Add(30 * time.Hour)
	if err := f.svc.Conversion(visit(), &adserver.Conversion{Postback: true, ClickID: click, Secret: f.secret, Payout: "2.5"}, &res); err != nil {
		t.Fatal(err)
	}
	last := f.events.events[len(f.events.events)-1]
	if res.Reason != models.ReasonValid || last.PayoutMicros != 2_500_000 || last.ImpressionID != s.ImpressionID {
		t.Fatalf("conversion within the window: %v, event %+v", res.Reason, last)
	}
	// Past the window: recorded, not billable.
	f.now = f.now.Add(20 * time.Hour)
	if err := f.svc.Conversion(visit(), &adserver.Conversion{Postback: true, ClickID: click, Secret: f.secret}, &res); err != nil {
		t.Fatal(err)
	}
	if res.Reason != models.ReasonExpiredToken {
		t.Fatalf("conversion after the window: %v, want expired_token", res.Reason)
	}
	// A pixel without a click cookie has nothing to be attributed to.
	if err := f.svc.Conversion(visit(), &adserver.Conversion{}, &res); err != nil || res.Reason != models.ReasonNoClick {
		t.Fatalf("pixel without a click: %v %v", res.Reason, err)
	}
}

func TestClickGoesToTheSignedLandingPage(t *testing.T) {
	f := newFixture(t, true)
	s := f.serve(t)
	var res adserver.ClickResult
	if err := f.svc.Click(visit(), string(s.ClickToken()), "https://ads.example/safe", &res); err != nil {
		t.Fatal(err)
	}
	if res.Target == "https://ads.example/safe" || res.LastClick != string(s.ClickToken()) {
		t.Fatalf("valid click: %+v", res)
	}
	if err := f.svc.Click(visit(), "forged", "https://ads.example/safe", &res); err != nil {
		t.Fatal(err)
	}
	if res.Target != "https://ads.example/safe" || res.LastClick != "" {
		t.Fatalf("forged click: %+v", res)
	}
	last := f.events.events[len(f.events.events)-1]
	if last.Type != models.EventClick || last.Reason != models.ReasonBadToken {
		t.Fatalf("forged click event: %+v", last)
	}
}

func TestImpressionPrefetchIsNeverCounted(t *testing.T) {
	f := newFixture(t, false)
	s := f.serve(t)
	v := visit()
	v.Prefetch = true
	if err := f.svc.Impression(v, &adserver.Beacon{Token: string(s.ImpressionToken())}); err != nil {
		t.Fatal(err)
	}
	if last := f.events.events[len(f.events.events)-1]; last.Reason != models.ReasonPrefetch {
		t.Fatalf("prefetched beacon: %v, want prefetch", last.Reason)
	}
}

// TestInvalidServesSpendNoDelivery: prefetch, HEAD and bot serves still get an ad (a bot's page
// must look the same) but do not count against the campaign's caps, pacing or the viewer's
// frequency cap (issue 13: they used to spend the campaign's delivery before the verdicts).
func TestInvalidServesSpendNoDelivery(t *testing.T) {
	for name, limit := range map[string]func(*models.Campaign){
		"lifetime cap": func(c *models.Campaign) { c.Lifetime.Impressions = 1 },
		"daily cap":    func(c *models.Campaign) { c.Daily.Impressions = 1 },
		"frequency":    func(c *models.Campaign) { c.FreqCap, c.FreqWindow = 1, time.Hour },
	} {
		f := newFixture(t, true, limit)
		var cookie string
		for i := range 3 {
			v := visit()
			v.Prefetch = true
			v.ViewerCookie = cookie
			var s adserver.Served
			if err := f.svc.Serve(v, &adserver.AdRequest{ZoneID: 5}, &s); err != nil || !s.Filled {
				t.Fatalf("%s: prefetch serve %d: filled %v, %v", name, i, s.Filled, err)
			}
			cookie = string(s.ViewerCookie())
		}
		if life, today, _ := f.svc.Engine().Delivered(10, f.now); life.Impressions != 0 || today.Impressions != 0 {
			t.Errorf("%s: delivered after 3 prefetch serves: %d, today %d impressions; want 0", name, life.Impressions, today.Impressions)
		}
		v := visit()
		v.ViewerCookie = cookie
		var s adserver.Served
		if err := f.svc.Serve(v, &adserver.AdRequest{ZoneID: 5}, &s); err != nil || !s.Filled {
			t.Fatalf("%s: the real serve after the prefetches: filled %v, %v; want the ad", name, s.Filled, err)
		}
	}
}

// TestTrackingCarriesServeTimeAndTerms: the click event carries its serve time to the
// millisecond (fast_click measures milliseconds, not whole seconds) and the terms the ad was
// sold on (pricing model and revenue share at decision time), both from the signed token.
func TestTrackingCarriesServeTimeAndTerms(t *testing.T) {
	f := newFixture(t, true)
	f.now = f.now.Add(900 * time.Millisecond)
	served := f.now
	s := f.serve(t)
	f.now = served.Add(600 * time.Millisecond)
	var res adserver.ClickResult
	if err := f.svc.Click(visit(), string(s.ClickToken()), "https://fallback.example/", &res); err != nil {
		t.Fatal(err)
	}
	ev := f.events.events[len(f.events.events)-1]
	if ev.Type != models.EventClick || ev.Reason != models.ReasonValid || !ev.ServedAt.Equal(served) {
		t.Fatalf("click: %s %s served at %s; want a valid click served at %s", ev.Type, ev.Reason,
			ev.ServedAt.Format(time.StampMilli), served.Format(time.StampMilli))
	}
	if ev.Pricing != models.PricingCPC || ev.ShareBP != 7000 || ev.PriceMicros != 200000 {
		t.Errorf("click terms: %q %d bp at %d µ; want cpc, 7000 bp, 200000 µ", ev.Pricing, ev.ShareBP, ev.PriceMicros)
	}
}
