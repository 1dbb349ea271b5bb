package decision

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin for the DST pacing test, whatever the machine has installed

	"adnet/models"
)

// capInv returns a zone 1 with campaign 1 (remnant, CPM 2.000000 per mille = 2000 micros per
// impression) modified by mod, and the given totals.
func capInv(mod func(*models.Campaign), tot models.CampaignTotals) *models.Inventory {
	inv := newInv()
	addZone(inv, 1, 300, 250)
	mod(addCampaign(inv, 1, models.TierRemnant, 1, 1))
	tot.CampaignID = 1
	inv.Totals = []models.CampaignTotals{tot}
	return inv
}

// serveUntilStop counts consecutive serves at time at, up to limit.
func serveUntilStop(e *Engine, at time.Time, limit int) int {
	r := req(1)
	r.Time = at
	rng := newRNG(1)
	for i := range limit {
		if _, ok := e.Decide(r, rng); !ok {
			return i
		}
	}
	return limit
}

func TestServedLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*models.Campaign)
		tot  models.CampaignTotals
		want int
	}{
		{"unlimited", func(c *models.Campaign) {}, models.CampaignTotals{}, 500},
		{"lifetime impressions", func(c *models.Campaign) { c.Lifetime.Impressions = 10 },
			models.CampaignTotals{Lifetime: models.Counts{Impressions: 4}}, 6},
		{"daily impressions", func(c *models.Campaign) { c.Daily.Impressions = 10 },
			models.CampaignTotals{Today: models.Counts{Impressions: 4}, Lifetime: models.Counts{Impressions: 400}}, 6},
		{"lifetime already over", func(c *models.Campaign) { c.Lifetime.Impressions = 10 },
			models.CampaignTotals{Lifetime: models.Counts{Impressions: 12}}, 0},
		// 6000 spent + 7 × 2000 = 20000 reaches the budget exactly; an 8th would pass it.
		{"lifetime spend CPM", func(c *models.Campaign) { c.Lifetime.SpendMicros = 20_000 },
			models.CampaignTotals{Lifetime: models.Counts{SpendMicros: 6000}}, 7},
		{"daily spend CPM", func(c *models.Campaign) { c.Daily.SpendMicros = 20_000 },
			models.CampaignTotals{Today: models.Counts{SpendMicros: 6000}}, 7},
		{"daily spend CPM rounding", func(c *models.Campaign) { c.RateMicros = 1500; c.Daily.SpendMicros = 10 },
			models.CampaignTotals{}, 7}, // spend = floor(n × 1.5): 7 → 10, 8 → 12; not 10 serves at 1 each
		{"CPC spend is not priced per serve", func(c *models.Campaign) { c.Pricing = models.PricingCPC; c.Lifetime.SpendMicros = 20_000 },
			models.CampaignTotals{Lifetime: models.Counts{SpendMicros: 6000}}, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := mustEngine(t, capInv(tc.mod, tc.tot))
			if got := serveUntilStop(e, testNow, 500); got != tc.want {
				t.Fatalf("served %d, want %d", got, tc.want)
			}
		})
	}
}

// TestEventLimits covers measures that arrive after the serve: clicks, conversions and CPC/CPA
// spend, from snapshot totals and from RecordClick/RecordConversion.
func TestEventLimits(t *testing.T) {
	click := func(e *Engine) { e.RecordClick(1, testNow) }
	conv := func(e *Engine) { e.RecordConversion(1, testNow) }
	for _, tc := range []struct {
		name   string
		mod    func(*models.Campaign)
		tot    models.CampaignTotals
		record func(*Engine)
		events int // events recorded before the campaign must stop
	}{
		{"lifetime clicks", func(c *models.Campaign) { c.Lifetime.Clicks = 5 }, models.CampaignTotals{Lifetime: models.Counts{Clicks: 3}}, click, 2},
		{"daily clicks", func(c *models.Campaign) { c.Daily.Clicks = 5 }, models.CampaignTotals{Today: models.Counts{Clicks: 4}}, click, 1},
		{"lifetime conversions", func(c *models.Campaign) { c.Lifetime.Conversions = 2 }, models.CampaignTotals{}, conv, 2},
		{"daily conversions", func(c *models.Campaign) { c.Daily.Conversions = 3 }, models.CampaignTotals{Today: models.Counts{Conversions: 1}}, conv, 2},
		{"lifetime spend CPC", func(c *models.Campaign) {
			c.Pricing, c.RateMicros, c.Lifetime.SpendMicros = models.PricingCPC, 500_000, 2_000_000
		}, models.CampaignTotals{Lifetime: models.Counts{SpendMicros: 1_000_000}}, click, 2},
		{"daily spend CPC", func(c *models.Campaign) {
			c.Pricing, c.RateMicros, c.Daily.SpendMicros = models.PricingCPC, 500_000, 2_000_000
		}, models.CampaignTotals{Today: models.Counts{SpendMicros: 500_000}}, click, 3},
		{"lifetime spend CPA", func(c *models.Campaign) {
			c.Pricing, c.RateMicros, c.Lifetime.SpendMicros = models.PricingCPA, 10_000_000, 30_000_000
		}, models.CampaignTotals{}, conv, 3},
		{"daily spend CPA", func(c *models.Campaign) {
			c.Pricing, c.RateMicros, c.Daily.SpendMicros = models.PricingCPA, 10_000_000, 30_000_000
		}, models.CampaignTotals{Today: models.Counts{SpendMicros: 20_000_000}}, conv, 1},
		{"CPA spend one conversion", func(c *models.Campaign) {
			c.Pricing, c.RateMicros, c.Lifetime.SpendMicros = models.PricingCPA, 10_000_000, 10_000_000
		}, models.CampaignTotals{}, conv, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := mustEngine(t, capInv(tc.mod, tc.tot))
			for i := range tc.events {
				if got := serveUntilStop(e, testNow, 3); got != 3 {
					t.Fatalf("after %d events: stopped after %d serves, want serving", i, got)
				}
				tc.record(e)
			}
			if got := serveUntilStop(e, testNow, 3); got != 0 {
				t.Fatalf("after %d events: served %d, want stopped", tc.events, got)
			}
		})
	}
	// Recording clicks of a CPA campaign must not stop it.
	e := mustEngine(t, capInv(func(c *models.Campaign) {
		c.Pricing, c.RateMicros, c.Lifetime.SpendMicros = models.PricingCPA, 10_000_000, 10_000_000
	}, models.CampaignTotals{}))
	for range 5 {
		e.RecordClick(1, testNow)
	}
	if serveUntilStop(e, testNow, 3) != 3 {
		t.Fatal("clicks counted as CPA spend")
	}
}

func TestDailyLimitRestartsAtMidnight(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	inv := capInv(func(c *models.Campaign) { c.Daily.Impressions = 5; c.Lifetime.Impressions = 12 },
		models.CampaignTotals{Today: models.Counts{Impressions: 2}, Lifetime: models.Counts{Impressions: 2}})
	// Loaded at 23:00 Berlin time on 11 June.
	inv.LoadedAt = time.Date(2025, 6, 11, 23, 0, 0, 0, berlin)
	e := NewEngine(mustBuild(t, inv, Options{Location: berlin}))
	if got := serveUntilStop(e, time.Date(2025, 6, 11, 23, 30, 0, 0, berlin), 50); got != 3 {
		t.Fatalf("today: served %d, want 3 (5 − 2 counted)", got)
	}
	// 00:30 Berlin is still 11 June in UTC: the day must follow the network time zone.
	if got := serveUntilStop(e, time.Date(2025, 6, 12, 0, 30, 0, 0, berlin), 50); got != 5 {
		t.Fatalf("after midnight: served %d, want 5", got)
	}
	// Lifetime: 2 + 3 + 5 = 10 of 12.
	if got := serveUntilStop(e, time.Date(2025, 6, 13, 9, 0, 0, 0, berlin), 50); got != 2 {
		t.Fatalf("third day: served %d, want the 2 left of the lifetime limit", got)
	}
	life, today, ok := e.Delivered(1, time.Date(2025, 6, 13, 9, 0, 0, 0, berlin))
	if !ok || life.Impressions != 12 || today.Impressions != 2 || life.SpendMicros != 10*2000 {
		t.Fatalf("Delivered = %+v %+v", life, today)
	}
}

func TestCapExactUnderConcurrency(t *testing.T) {
	const limit = 1000
	e := mustEngine(t, capInv(func(c *models.Campaign) { c.Lifetime.Impressions = limit; c.Daily.SpendMicros = 10_000_000 }, models.CampaignTotals{}))
	var served atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := newRNG(uint64(g))
			r := req(1)
			misses := 0
			for misses < 100 {
				if _, ok := e.Decide(r, rng); ok {
					served.Add(1)
				} else {
					misses++
				}
			}
		}()
	}
	wg.Wait()
	if served.Load() != limit {
		t.Fatalf("8 goroutines served %d, want exactly %d", served.Load(), limit)
	}
}

// TestOvershootWithinBound simulates W workers, each with its own Engine, serving r decisions
// per second each to a campaign with a lifetime impression limit. Worker i installs a new
// snapshot every R seconds (staggered by i), built from totals that contain every serve older
// than F seconds. The total served must reach the limit and exceed it by at most the bound in
// the package documentation: r·((W − 1)·R + W·F).
func TestOvershootWithinBound(t *testing.T) {
	for _, tc := range []struct{ w, r, R, F int }{
		{1, 5, 1, 0}, {1, 5, 10, 0}, {1, 5, 10, 3}, {2, 4, 5, 0}, {4, 3, 5, 2}, {8, 2, 10, 5}, {3, 10, 2, 8},
	} {
		t.Run(fmt.Sprintf("W%d_r%d_R%d_F%d", tc.w, tc.r, tc.R, tc.F), func(t *testing.T) {
			const limit = 1000
			got := simulateFleet(t, tc.w, tc.r, tc.R, tc.F, limit)
			bound := int64(tc.r * ((tc.w-1)*tc.R + tc.w*tc.F))
			t.Logf("served %d of limit %d: overshoot %d, bound %d", got, limit, got-limit, bound)
			if got < limit {
				t.Fatalf("served %d, the campaign never reached its limit %d", got, limit)
			}
			if got-limit > bound {
				t.Fatalf("overshoot %d exceeds the bound %d", got-limit, bound)
			}
			if bound == 0 && got != limit {
				t.Fatalf("one worker without delay must be exact: %d", got)
			}
			if tc.w > 1 && got == limit {
				t.Fatalf("no overshoot at all with %d stale workers: the simulation does not model staleness", tc.w)
			}
		})
	}
}

func simulateFleet(t *testing.T, workers, rate, refresh, delay int, limit int64) int64 {
	inv := capInv(func(c *models.Campaign) { c.Lifetime.Impressions = limit }, models.CampaignTotals{})
	engines := make([]*Engine, workers)
	for i := range engines {
		engines[i] = NewEngine(nil)
	}
	var perTick []int64
	var total int64
	ticks := int(limit)/(workers*rate) + 3*(refresh+delay) + 10
	rng := newRNG(1)
	for tick := range ticks {
		now := testNow.Add(time.Duration(tick) * time.Second)
		for i, e := range engines {
			if tick == 0 || (tick+i)%refresh == 0 {
				var seen int64
				for _, n := range perTick[:max(0, tick-delay)] {
					seen += n
				}
				inv.LoadedAt = now
				inv.Totals[0].Lifetime.Impressions = seen
				e.Swap(mustBuild(t, inv, Options{}))
			}
		}
		var served int64
		r := req(1)
		r.Time = now
		for _, e := range engines {
			for range rate {
				if _, ok := e.Decide(r, rng); ok {
					served++
				}
			}
		}
		perTick = append(perTick, served)
		total += served
	}
	return total
}

// TestEvenPacing simulates a day of uniform traffic (one request every 10 s, 8640 in all) to an
// even-paced campaign with a daily limit of 2400, refreshing the snapshot hourly from what was
// served. Delivery must follow the clock (≈100 an hour) and end at the limit, never above it;
// an ASAP campaign with the same limit spends it in the first hours.
func TestEvenPacing(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		pacing models.Pacing
		day    time.Time
	}{
		{"even", models.PacingEven, time.Date(2025, 6, 11, 0, 0, 0, 0, berlin)},
		{"even DST day (23 h)", models.PacingEven, time.Date(2025, 3, 30, 0, 0, 0, 0, berlin)},
		{"asap", models.PacingASAP, time.Date(2025, 6, 11, 0, 0, 0, 0, berlin)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const limit = 2400
			inv := capInv(func(c *models.Campaign) { c.Daily.Impressions = limit; c.Pacing = tc.pacing }, models.CampaignTotals{})
			end := tc.day.AddDate(0, 0, 1)
			hours := int(end.Sub(tc.day) / time.Hour)
			perHour := make([]int, hours)
			var total int64
			e := NewEngine(nil)
			rng := newRNG(1)
			r := req(1)
			for now := tc.day; now.Before(end); now = now.Add(10 * time.Second) {
				if now.Sub(tc.day)%time.Hour == 0 {
					inv.LoadedAt = now
					inv.Totals[0].Today.Impressions, inv.Totals[0].Lifetime.Impressions = total, total
					e.Swap(mustBuild(t, inv, Options{Location: berlin}))
				}
				r.Time = now
				if _, ok := e.Decide(r, rng); ok {
					perHour[int(now.Sub(tc.day)/time.Hour)]++
					total++
				}
			}
			t.Logf("per hour: %v, total %d", perHour, total)
			if total != limit {
				t.Fatalf("delivered %d, want exactly the daily limit %d", total, limit)
			}
			if tc.pacing == models.PacingASAP {
				if perHour[0] != 360 || perHour[hours-1] != 0 {
					t.Fatalf("asap should serve every request until the limit: %v", perHour)
				}
				return
			}
			// Each hour gets its share of the limit, give or take one pacing step's worth.
			want := limit / hours
			tol := limit*int(DefaultPacingStep/time.Second)/(hours*3600) + 2
			for h, n := range perHour {
				if n < want-tol || n > want+tol {
					t.Fatalf("hour %d delivered %d, want %d ± %d (even pacing)", h, n, want, tol)
				}
			}
		})
	}
}

func TestPacedLimits(t *testing.T) {
	s := &Snapshot{pacingStep: 300}
	c := &campaign{daily: models.Limits{Impressions: 2400, SpendMicros: 1 << 60, Clicks: 10}}
	for _, tc := range []struct {
		elapsed int64
		want    models.Limits
	}{
		{0, models.Limits{Impressions: 9, SpendMicros: (1<<60*300 + 86399) / 86400, Clicks: 1}},
		{43200 - 300, models.Limits{Impressions: 1200, SpendMicros: 1 << 59, Clicks: 5}},
		{86400 - 300, c.daily},
		{86399, c.daily},
	} {
		got := c.paced(s, &reqCtx{elapsed: tc.elapsed, dayLen: 86400})
		if got != tc.want {
			t.Errorf("elapsed %d: got %+v, want %+v", tc.elapsed, got, tc.want)
		}
	}
}
