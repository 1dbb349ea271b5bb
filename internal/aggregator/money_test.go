package aggregator

import (
	"context"
	"testing"
	"time"

	"adnet/models"
)

// served returns the serve event of impression id on campaign k (0 CPM, 1 CPC, 2 CPA) of the
// test network at t, from a fixed address and viewer, with the terms the worker signs.
func (e *env) served(id models.ImpressionID, k int, t time.Time) models.Event {
	return models.Event{Type: models.EventServe, Time: t, ServedAt: t, ImpressionID: id, ZoneID: e.zone,
		CampaignID: e.camp[k], CreativeID: e.creat[k], PriceMicros: []int64{cpmRate, cpcRate, cpaRate}[k],
		Pricing: []models.PricingModel{models.PricingCPM, models.PricingCPC, models.PricingCPA}[k], ShareBP: shareBP,
		Country: [2]byte{'F', 'R'}, IP: [16]byte{10: 0xff, 11: 0xff, 12: 192, 13: 0, 14: 2, 15: 7}, ViewerID: 42, UAHash: 77}
}

// at returns a copy of ev as an event of type typ at ev.ServedAt+d with reason r.
func at(ev models.Event, typ models.EventType, d time.Duration, r models.Reason) models.Event {
	ev.Type, ev.Time, ev.Reason = typ, ev.ServedAt.Add(d), r
	return ev
}

// aggregate runs a fresh aggregator over the events (appended, in order, to a new worker
// process's log) until the totals are want, then stops it.
func (e *env) aggregate(want totals, events ...models.Event) {
	e.t.Helper()
	w := e.writer(1)
	for i := range events {
		must(e.t, w.Append(events[i]))
	}
	a := e.newAgg(e.options(e.store))
	stop := run(a)
	e.waitTotals(want)
	e.stays(want)
	must(e.t, stop())
}

// TestConversionAfterInvalidClickIsInvalid: a CPA conversion whose only click was invalid is
// not approved (issue 13), whether the click is in the same batch or committed long before.
func TestConversionAfterInvalidClickIsInvalid(t *testing.T) {
	t.Parallel()
	for _, split := range []bool{false, true} {
		e := newEnv(t)
		s := e.served(models.ImpressionID{3, 1}, 2, base)
		imp := at(s, models.EventImpression, 100*time.Millisecond, models.ReasonValid)
		clk := at(s, models.EventClick, 2*time.Second, models.ReasonBotUA)
		conv := at(s, models.EventConversion, time.Hour, models.ReasonValid)
		first := totals{Requests: 1, Served: 1, Imps: 1, InvClicks: 1, ClickRows: 1, DailyRequests: 1, ZoneRequests: 1,
			Invalid: map[string]int64{"click/bot_ua": 1}}
		want := first
		want.InvConvs, want.ConvRows = 1, 1
		want.Invalid = map[string]int64{"click/bot_ua": 1, "conversion/no_click": 1}
		if split {
			e.aggregate(first, s, imp, clk)
			e.aggregate(want, conv)
		} else {
			e.aggregate(want, s, imp, clk, conv)
		}
	}
}

// TestReplayAfterWindowNotBilled replays an impression beacon and a click of a CPM and a CPC
// ad after fraud.click_window, up to the end of the tokens' life: the duplicate filters have
// forgotten them by then, yet each impression id is billed once (issue 13: one pair replayed
// every 11 minutes was billed 130 times a day). The replays are read by the aggregator that
// counted the originals (the batch's own state) and by a later one (the database).
func TestReplayAfterWindowNotBilled(t *testing.T) {
	t.Parallel()
	for _, split := range []bool{false, true} {
		e := newEnv(t)
		var orig, replays []models.Event
		for k := range 2 {
			s := e.served(models.ImpressionID{4, byte(k)}, k, base)
			orig = append(orig, s, at(s, models.EventImpression, time.Second, models.ReasonValid),
				at(s, models.EventClick, 5*time.Second, models.ReasonValid))
			for _, d := range []time.Duration{11 * time.Minute, 22 * time.Minute, 23 * time.Hour} {
				replays = append(replays, at(s, models.EventImpression, d, models.ReasonValid),
					at(s, models.EventClick, d+time.Second, models.ReasonValid))
			}
		}
		first := totals{Requests: 2, Served: 2, Imps: 2, Clicks: 2, Spend: cpmRate + cpcRate*1000,
			Revenue: cpmRate*shareBP/10000 + cpcRate*1000*shareBP/10000, ClickRows: 2, DailyRequests: 2, ZoneRequests: 2,
			Invalid: map[string]int64{}}
		want := first
		want.InvImps, want.InvClicks, want.ClickRows = 6, 6, 8
		want.Invalid = map[string]int64{"impression/expired_token": 6, "click/duplicate_click": 6}
		if split {
			e.aggregate(first, orig...)
			e.aggregate(want, replays...)
		} else {
			e.aggregate(want, append(orig, replays...)...)
		}
	}
}

// TestPausedStopsBilling: tokens issued before a zone is paused or a campaign archived do not
// bill events after it (issue 13: auto-pause did not stop billing for the tokens' 24 h);
// events before it still bill.
func TestPausedStopsBilling(t *testing.T) {
	t.Parallel()
	for _, what := range []string{"zone", "campaign"} {
		e := newEnv(t)
		ctx := context.Background()
		t0 := time.Now().UTC()
		before := e.served(models.ImpressionID{5, 1}, 0, t0.Add(-time.Minute))
		after := e.served(models.ImpressionID{5, 2}, 0, t0.Add(-time.Minute))
		e.aggregate(totals{Requests: 2, Served: 2, Imps: 1, Spend: cpmRate, Revenue: cpmRate * shareBP / 10000,
			DailyRequests: 2, ZoneRequests: 2, Invalid: map[string]int64{}},
			before, after, at(before, models.EventImpression, time.Second, models.ReasonValid))
		var err error
		if what == "zone" {
			_, err = e.raw.ExecContext(ctx, `UPDATE zones SET status = 'paused' WHERE id = ?`, e.zone)
		} else {
			_, err = e.raw.ExecContext(ctx, `UPDATE campaigns SET status = 'archived' WHERE id = ?`, e.camp[0])
		}
		must(t, err)
		late := after
		late.Type, late.Time = models.EventImpression, time.Now().UTC().Add(time.Millisecond)
		e.aggregate(totals{Requests: 2, Served: 2, Imps: 1, InvImps: 1, Spend: cpmRate, Revenue: cpmRate * shareBP / 10000,
			DailyRequests: 2, ZoneRequests: 2, Invalid: map[string]int64{"impression/paused_" + what: 1}}, late)
	}
}

// TestUnknownZonesCountedOnce: ad requests for zone ids that do not exist are counted under
// zone 0, the one "unknown zone" figure, not as a statistics row per id the caller made up
// (issue 13).
func TestUnknownZonesCountedOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var evs []models.Event
	for i := range 50 {
		ev := models.Event{Type: models.EventServe, Time: base.Add(time.Duration(i) * time.Millisecond), ZoneID: e.zone + 1000 + int64(i)}
		ev.ServedAt = ev.Time
		evs = append(evs, ev)
	}
	known := models.Event{Type: models.EventServe, Time: base.Add(time.Second), ServedAt: base.Add(time.Second), ZoneID: e.zone}
	evs = append(evs, known)
	e.aggregate(totals{Requests: 51, DailyRequests: 51, ZoneRequests: 51, Invalid: map[string]int64{}}, evs...)
	for _, table := range []string{"stats_hourly", "stats_daily", "stats_zone_daily"} {
		rows, err := e.raw.QueryContext(context.Background(), `SELECT zone_id, SUM(requests) FROM `+table+` GROUP BY zone_id ORDER BY zone_id`)
		must(t, err)
		got := map[int64]int64{}
		for rows.Next() {
			var z, n int64
			must(t, rows.Scan(&z, &n))
			got[z] = n
		}
		must(t, rows.Err())
		rows.Close()
		if len(got) != 2 || got[0] != 50 || got[e.zone] != 1 {
			t.Errorf("%s: requests by zone %v; want 50 under zone 0 and 1 under zone %d", table, got, e.zone)
		}
	}
}

// TestTermsFrozenAtServe: a CPM campaign switched to CPC, and its publisher's revenue share
// changed, between the serve and the beacon and click: both bill on the terms in force when the
// ad was served — the impression at the CPM rate, the click not at all (issue 13: the click was
// billed at the CPM rate as a CPC price).
func TestTermsFrozenAtServe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := e.served(models.ImpressionID{7, 1}, 0, base)
	_, err := e.raw.ExecContext(context.Background(), `UPDATE campaigns SET pricing = 'cpc' WHERE id = ?`, e.camp[0])
	must(t, err)
	_, err = e.raw.ExecContext(context.Background(), `UPDATE publishers SET revenue_share_bp = 10000`)
	must(t, err)
	e.aggregate(totals{Requests: 1, Served: 1, Imps: 1, Clicks: 1, Spend: cpmRate, Revenue: cpmRate * shareBP / 10000,
		ClickRows: 1, DailyRequests: 1, ZoneRequests: 1, Invalid: map[string]int64{}},
		s, at(s, models.EventImpression, time.Second, models.ReasonValid), at(s, models.EventClick, 5*time.Second, models.ReasonValid))
}

// TestPauseStopsBillingAtOnce: a running aggregator, whose dimensions were loaded before the
// pause, does not bill an event that follows the pause (it does not wait for its next
// dimension reload, DimsRefresh later).
func TestPauseStopsBillingAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.writer(1)
	a := e.newAgg(e.options(e.store))
	stop := run(a)
	defer stop()
	t0 := time.Now().UTC()
	s := e.served(models.ImpressionID{8, 1}, 0, t0)
	for _, ev := range []models.Event{s, at(s, models.EventImpression, time.Millisecond, models.ReasonValid)} {
		must(t, w.Append(ev))
	}
	e.waitTotals(totals{Requests: 1, Served: 1, Imps: 1, Spend: cpmRate, Revenue: cpmRate * shareBP / 10000,
		DailyRequests: 1, ZoneRequests: 1, Invalid: map[string]int64{}})
	_, err := e.raw.ExecContext(context.Background(), `UPDATE zones SET status = 'paused' WHERE id = ?`, e.zone)
	must(t, err)
	s2 := e.served(models.ImpressionID{8, 2}, 0, t0)
	late := s2
	late.Type, late.Time = models.EventImpression, time.Now().UTC().Add(time.Millisecond)
	must(t, w.Append(late))
	e.waitTotals(totals{Requests: 1, Served: 1, Imps: 1, InvImps: 1, Spend: cpmRate, Revenue: cpmRate * shareBP / 10000,
		DailyRequests: 1, ZoneRequests: 1, Invalid: map[string]int64{"impression/paused_zone": 1}})
	must(t, stop())
}
