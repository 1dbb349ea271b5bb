package decision

import (
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"adnet/internal/token"
	"adnet/models"
)

func TestTierPrecedence(t *testing.T) {
	inv := newInv()
	addZone(inv, 1, 300, 250)
	addCampaign(inv, 1, models.TierHouse, 1000, 1)
	addCampaign(inv, 2, models.TierRemnant, 1, 1)
	addCampaign(inv, 3, models.TierContract, 1, 1).Targeting = models.Targeting{Countries: []string{"FR"}}
	addCampaign(inv, 4, models.TierOverride, 1, 1).Targeting = models.Targeting{Devices: []string{"mobile"}}
	e := mustEngine(t, inv)
	rng := newRNG(7)
	for _, tc := range []struct {
		country string
		device  string
		want    int64
		tier    models.Tier
	}{
		{"DE", "desktop", 2, models.TierRemnant}, // override and contract not eligible; remnant beats house despite weight
		{"FR", "desktop", 3, models.TierContract},
		{"FR", "mobile", 4, models.TierOverride},
		{"DE", "mobile", 4, models.TierOverride},
	} {
		r := req(1)
		copy(r.Country[:], tc.country)
		r.UA = NewUA(tc.device, "android", "chrome")
		for range 200 {
			d, ok := e.Decide(r, rng)
			if !ok || d.CampaignID != tc.want || d.Tier != tc.tier || d.Fallback != FallbackNone {
				t.Fatalf("%s/%s: got campaign %d tier %v ok=%v, want %d", tc.country, tc.device, d.CampaignID, d.Tier, ok, tc.want)
			}
		}
	}
	// House serves when nothing else can.
	campaignByID(inv, 2).Targeting = models.Targeting{Countries: []string{"US"}}
	e.Swap(mustBuild(t, inv, Options{}))
	if d, ok := e.Decide(req(1), rng); !ok || d.CampaignID != 1 || d.Tier != models.TierHouse {
		t.Fatalf("house: got %d ok=%v", d.CampaignID, ok)
	}
}

func TestDecisionFields(t *testing.T) {
	inv := newInv()
	addZone(inv, 5, 300, 250)
	c := addCampaign(inv, 9, models.TierRemnant, 1, 5)
	c.Pricing, c.RateMicros = models.PricingCPC, 350_000
	s := mustBuild(t, inv, Options{})
	d, ok := NewEngine(s).Decide(req(5), newRNG(1))
	if !ok {
		t.Fatal("nothing served")
	}
	want := Decision{ZoneID: 5, SiteID: 1, PublisherID: 1, ShareBP: 7000, SourceZoneID: 5, CampaignID: 9,
		Tier: models.TierRemnant, Pricing: models.PricingCPC, PriceMicros: 350_000}
	cr := d.Creative
	d.Creative = nil
	if d != want {
		t.Fatalf("got %+v\nwant %+v", d, want)
	}
	if snapCr, _ := s.Creative(90); cr != snapCr {
		t.Fatal("Decision.Creative does not point into the snapshot")
	}
	// Unknown zone: nothing, and no zone data.
	if d, ok := NewEngine(s).Decide(req(6), newRNG(1)); ok || d.SiteID != 0 {
		t.Fatalf("unknown zone: %+v %v", d, ok)
	}
	// Empty engine.
	if _, ok := NewEngine(nil).Decide(req(5), newRNG(1)); ok {
		t.Fatal("engine without snapshot served")
	}
}

// TestWeightsChiSquare checks 100k decisions against the configured weights (link weight ×
// campaign weight) with a chi-square goodness-of-fit test, with ineligible campaigns mixed in
// to exercise rejection sampling, and creative weights within a campaign.
func TestWeightsChiSquare(t *testing.T) {
	inv := newInv()
	addZone(inv, 1, 300, 250)
	weights := map[int64]float64{}
	for i, cw := range []struct{ camp, link int }{{1, 1}, {2, 1}, {3, 2}, {5, 1}, {1, 7}, {10, 3}} {
		id := int64(10 * (i + 1))
		addCampaign(inv, id, models.TierRemnant, cw.camp)
		inv.Links = append(inv.Links, models.ZoneCampaign{ZoneID: 1, CampaignID: id, Weight: cw.link})
		weights[id] = float64(cw.camp * cw.link)
	}
	// Heavy but ineligible campaigns between them (candidates are ordered by id): draws that
	// land on them must be redrawn without favouring their neighbours.
	for _, id := range []int64{15, 35, 55} {
		addCampaign(inv, id, models.TierRemnant, 50, 1).Targeting = models.Targeting{Countries: []string{"FR"}}
	}
	// Campaign 10 has three creatives weighted 1:2:7 (its default one, 100, has weight 1).
	addCreative(inv, 101, 10, 300, 250, 2)
	addCreative(inv, 102, 10, 300, 250, 7)
	e := mustEngine(t, inv)
	rng := newRNG(20250611)
	const n = 100_000
	obs := map[int64]float64{}
	crObs := map[int64]float64{}
	for range n {
		d, ok := e.Decide(req(1), rng)
		if !ok {
			t.Fatal("nothing served")
		}
		obs[d.CampaignID]++
		if d.CampaignID == 10 {
			crObs[d.Creative.ID]++
		}
	}
	chi, df, p := chiSquare(obs, weights, n)
	t.Logf("campaign weights: chi2 = %.3f, df = %d, p = %.4f, observed %v", chi, df, p, obs)
	if p <= 0.001 {
		t.Fatalf("campaign distribution does not fit the weights: chi2 %.2f p %.5f", chi, p)
	}
	crW := map[int64]float64{100: 1, 101: 2, 102: 7}
	chi, df, p = chiSquare(crObs, crW, obs[10])
	t.Logf("creative weights: chi2 = %.3f, df = %d, p = %.4f, observed %v", chi, df, p, crObs)
	if p <= 0.001 {
		t.Fatalf("creative distribution does not fit the weights: chi2 %.2f p %.5f", chi, p)
	}
	// The test has power: the same sample against slightly wrong weights fails clearly.
	wrong := map[int64]float64{}
	for id, w := range weights {
		wrong[id] = w
	}
	wrong[60], wrong[50] = weights[60]*1.03, weights[50]*0.97
	if _, _, p := chiSquare(obs, wrong, n); p > 0.001 {
		t.Fatalf("chi-square test cannot tell 3%% weight errors apart (p %.4f)", p)
	}
}

// chiSquare returns Pearson's statistic of observed counts against weights, its degrees of
// freedom and the p-value (upper tail of the chi-square distribution).
func chiSquare(obs, weights map[int64]float64, n float64) (float64, int, float64) {
	var total float64
	for _, w := range weights {
		total += w
	}
	var chi float64
	for id, w := range weights {
		exp := n * w / total
		chi += (obs[id] - exp) * (obs[id] - exp) / exp
	}
	for id, o := range obs {
		if _, ok := weights[id]; !ok && o > 0 {
			return math.Inf(1), len(weights) - 1, 0 // a campaign that must never serve did
		}
	}
	df := len(weights) - 1
	return chi, df, gammaQ(float64(df)/2, chi/2)
}

// gammaQ is the regularized upper incomplete gamma function Q(a, x) (Numerical Recipes 6.2:
// series for x < a+1, Lentz continued fraction otherwise).
func gammaQ(a, x float64) float64 {
	if x <= 0 {
		return 1
	}
	lg, _ := math.Lgamma(a)
	if x < a+1 {
		sum, del, ap := 1/a, 1/a, a
		for range 1000 {
			ap++
			del *= x / ap
			sum += del
			if math.Abs(del) < math.Abs(sum)*1e-15 {
				break
			}
		}
		return 1 - sum*math.Exp(-x+a*math.Log(x)-lg)
	}
	const tiny = 1e-300
	b := x + 1 - a
	c, d := 1/tiny, 1/b
	h := d
	for i := 1; i < 1000; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < 1e-15 {
			break
		}
	}
	return math.Exp(-x+a*math.Log(x)-lg) * h
}

func TestGammaQKnownValues(t *testing.T) {
	// Chi-square upper tail: P(X > 11.07 | df 5) ≈ 0.05; P(X > 20.515 | df 5) ≈ 0.001;
	// P(X > 3.841 | df 1) ≈ 0.05.
	for _, tc := range []struct{ df, x, p float64 }{{5, 11.0705, 0.05}, {5, 20.515, 0.001}, {1, 3.8415, 0.05}, {10, 2.558, 0.99}} {
		if got := gammaQ(tc.df/2, tc.x/2); math.Abs(got-tc.p) > tc.p*0.01 {
			t.Errorf("Q(df %v, x %v) = %v, want %v", tc.df, tc.x, got, tc.p)
		}
	}
}

func TestFrequencyCapping(t *testing.T) {
	inv := newInv()
	addZone(inv, 1, 300, 250)
	c := addCampaign(inv, 1, models.TierContract, 1, 1)
	c.FreqCap, c.FreqWindow = 3, time.Hour
	addCampaign(inv, 2, models.TierHouse, 1, 1)
	e := mustEngine(t, inv)
	rng := newRNG(3)
	var v token.Viewer
	v.Reset(77)
	r := req(1)
	r.Viewer = &v
	serve := func(at time.Time) Decision {
		t.Helper()
		r.Time = at
		d, ok := e.Decide(r, rng)
		if !ok {
			t.Fatal("nothing served")
		}
		d.RecordFrequency(&v, at)
		return d
	}
	for i := range 3 {
		if d := serve(testNow.Add(time.Duration(i) * time.Minute)); d.CampaignID != 1 || d.FreqWindow != time.Hour {
			t.Fatalf("impression %d: campaign %d window %v", i+1, d.CampaignID, d.FreqWindow)
		}
	}
	for i := range 5 {
		if d := serve(testNow.Add(time.Duration(10+i) * time.Minute)); d.CampaignID != 2 || d.FreqWindow != 0 {
			t.Fatalf("after the cap: campaign %d", d.CampaignID)
		}
	}
	// The window ends an hour after the first impression: the campaign serves again.
	if d := serve(testNow.Add(time.Hour)); d.CampaignID != 1 {
		t.Fatalf("after the window: campaign %d", d.CampaignID)
	}
	// Another viewer is not affected.
	var other token.Viewer
	r.Viewer = &other
	if d := serve(testNow.Add(30 * time.Minute)); d.CampaignID != 1 {
		t.Fatalf("other viewer: campaign %d", d.CampaignID)
	}
	// Privacy: with capping disabled the capped viewer gets the campaign, and nothing is recorded.
	r.Viewer, r.NoFrequencyCap = &v, false
	for range 3 {
		serve(testNow.Add(70 * time.Minute))
	}
	r.NoFrequencyCap = true
	before := v.Count(1, time.Hour, testNow.Add(70*time.Minute))
	if d := serve(testNow.Add(71 * time.Minute)); d.CampaignID != 1 || d.FreqWindow != 0 {
		t.Fatalf("capping disabled: campaign %d window %v", d.CampaignID, d.FreqWindow)
	}
	if after := v.Count(1, time.Hour, testNow.Add(71*time.Minute)); after != before || before != 3 {
		t.Fatalf("capping disabled changed the viewer: %d → %d", before, after)
	}
	r.NoFrequencyCap, r.Viewer = false, nil
	if d := serve(testNow.Add(72 * time.Minute)); d.CampaignID != 1 {
		t.Fatalf("no viewer state: campaign %d", d.CampaignID)
	}
}

func TestSwapUnderConcurrentDecide(t *testing.T) {
	build := func(camp int64) *Snapshot {
		inv := newInv()
		addZone(inv, 1, 300, 250)
		c := addCampaign(inv, camp, models.TierRemnant, 1, 1)
		c.Lifetime.Impressions = 1 << 40
		return mustBuild(t, inv, Options{})
	}
	snaps := []*Snapshot{build(1), build(2), build(3)}
	e := NewEngine(snaps[0])
	var stop atomic.Bool
	var wg sync.WaitGroup
	var served atomic.Int64
	errs := make(chan string, 8)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := newRNG(uint64(g))
			r := req(1)
			for !stop.Load() {
				d, ok := e.Decide(r, rng)
				if !ok || d.Creative == nil || d.Creative.CampaignID != d.CampaignID {
					errs <- "inconsistent decision"
					return
				}
				served.Add(1)
				e.RecordClick(d.CampaignID, testNow)
			}
		}()
	}
	for i := range 300 {
		old := e.Swap(snaps[(i+1)%3])
		if old == nil {
			t.Fatal("Swap returned nil")
		}
		if i%50 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Fatal(msg)
	}
	t.Logf("%d decisions during 300 swaps", served.Load())
}

func TestDecideDoesNotAllocate(t *testing.T) {
	e, reqs := benchEngine(t)
	rng := newRNG(1)
	var v token.Viewer
	v.Reset(5)
	for i := range reqs {
		reqs[i].Viewer = &v
	}
	i := 0
	n := testing.AllocsPerRun(2000, func() {
		e.Decide(&reqs[i%len(reqs)], rng)
		i++
	})
	if n != 0 {
		t.Fatalf("Decide: %v allocs/op", n)
	}
}
