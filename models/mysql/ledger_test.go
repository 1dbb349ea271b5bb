package mysql_test

import (
	"context"
	"testing"
	"time"

	"adnet/models"
	"adnet/models/mysql"
)

// confirmedZoneFlag opens and confirms a flag on zone 1 of the report fixture.
func confirmedZoneFlag(t *testing.T, s *mysql.Store) *models.FraudFlag {
	t.Helper()
	ctx := context.Background()
	f := &models.FraudFlag{EntityKind: models.FlagZone, EntityID: 1, Metric: "ctr", Value: 0.4, Baseline: 0.01, Z: 9, Volume: 1000,
		LastSeenAt: time.Date(2025, 1, 15, 0, 30, 0, 0, time.UTC)}
	if _, err := s.UpsertFraudFlag(ctx, f); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReviewFraudFlag(ctx, f.ID, models.FlagConfirmed, time.Time{}); err != nil {
		t.Fatal(err)
	}
	return f
}

// The fixture's zone 1 in January: R1 (6 imps, 2 clicks, 1 conv, 6_500_000 / 4_550_000 nanos)
// and R2 (4 imps, 4_000_001 / 2_800_000 nanos). Restating them reclassifies exactly those.
var janPeriod = models.RestatementPeriod{From: time.Date(2025, 1, 14, 0, 0, 0, 0, time.UTC), To: time.Date(2025, 1, 16, 0, 0, 0, 0, time.UTC)}

func TestRestateFraudFlagLedger(t *testing.T) {
	t.Parallel()
	s, paris := reportFixture(t)
	ctx := context.Background()
	f := confirmedZoneFlag(t, s)

	r, err := s.RestateFraudFlag(ctx, f.ID, janPeriod, "ops@example.com", false)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "restatement", *r, models.Restatement{FlagID: f.ID, Run: 1, Kind: models.AdjustRestate, Period: janPeriod, Entries: 2,
		Impressions: -10, Clicks: -2, Conversions: -1, SpendNanos: -10_500_001, PublisherRevenueNanos: -7_350_000,
		SpendMicros: -10_500, PublisherRevenueMicros: -7_350})

	// Idempotent: nothing more to restate, nothing written.
	again, err := s.RestateFraudFlag(ctx, f.ID, janPeriod, "ops@example.com", false)
	if err != nil {
		t.Fatal(err)
	}
	if again.Run != 0 || again.Entries != 0 {
		t.Fatalf("second restatement wrote %+v", again)
	}
	entries, err := s.ListAdjustments(ctx, f.ID)
	if err != nil || len(entries) != 2 {
		t.Fatalf("ledger: %v entries, %v", len(entries), err)
	}
	e := entries[0]
	if e.Class != "sivt" || e.Reason != "fraud_flag:ctr" || e.ConfirmedBy != "ops@example.com" || e.AdvertiserID != 50 || e.PublisherID != 100 ||
		e.SpendNanos != -6_500_000 || e.Impressions != -6 || !e.Hour.Equal(time.Date(2025, 1, 14, 22, 0, 0, 0, time.UTC)) {
		t.Fatalf("first entry: %+v", e)
	}

	// By day: Jan 14 is R1 only (all reclassified), Jan 15 is R2 (reclassified) + R3 (not).
	from, to := time.Date(2025, 1, 14, 0, 0, 0, 0, paris), time.Date(2025, 2, 2, 0, 0, 0, 0, paris)
	rep := mustReport(t, s, models.ReportQuery{From: from, To: to, GroupBy: []string{"day"}, Location: paris})
	day := func(i int) models.ReportMetrics { return rep.Rows[i].ReportMetrics }
	checkFigures(t, "Jan 14 adjustment", day(0).Adjustment, -6, -2, -1, -6500, -4550)
	checkFigures(t, "Jan 14 restated", day(0).Restated, 0, 0, 0, 0, 0)
	// Jan 15: 4_000_001 + 1_000_999 nanos = 5001 micro-units originally; 1_000_999 restated = 1000.
	checkFigures(t, "Jan 15 adjustment", day(1).Adjustment, -4, 0, 0, -4001, -2800)
	checkFigures(t, "Jan 15 restated", day(1).Restated, 10, 1, 0, 1000, 500)
	if day(0).Adjustment.InvalidByClass["sivt"] != 9 || day(0).Restated.InvalidByClass["sivt"] != 9 ||
		day(0).Restated.InvalidByClass["givt"] != 2 || day(0).InvalidByClass["givt"] != 2 {
		t.Fatalf("Jan 14 classes: %+v, adjustment %+v, restated %+v", day(0).InvalidByClass, day(0).Adjustment, day(0).Restated)
	}
	if day(0).Restated.InvalidImpressions != 7 || day(0).Restated.InvalidClicks != 3 || day(0).Restated.InvalidConversions != 1 {
		t.Fatalf("Jan 14 restated invalid: %+v", day(0).Restated)
	}

	// By zone: zone 1 carries the whole adjustment.
	byZone := mustReport(t, s, models.ReportQuery{From: from, To: to, GroupBy: []string{"zone"}, Location: paris})
	checkFigures(t, "zone 1 adjustment", byZone.Rows[0].Adjustment, -10, -2, -1, -10500, -7350) // 13_500_001 → 3_000_000 nanos
	checkFigures(t, "zone 1 restated", byZone.Rows[0].Restated, 3, 3, 0, 3000, 2100)
	checkFigures(t, "zone 2 adjustment", byZone.Rows[1].Adjustment, 0, 0, 0, 0, 0)

	// Totals from the stored precision: the same for every grouping, original − reclassified
	// to the unit (14_501_000 − 10_500_001 = 4_000_999 nanos → 4000 micro-units).
	for _, g := range [][]string{nil, {"day"}, {"hour"}, {"month"}, {"zone"}, {"campaign", "country"}, {"creative"}, {"advertiser"}, {"publisher", "site"}} {
		rep := mustReport(t, s, models.ReportQuery{From: from, To: to, GroupBy: g, Location: paris})
		tot := rep.Totals
		checkFigures(t, "totals adjustment by "+join(g), tot.Adjustment, -10, -2, -1, -10501, -7350)
		checkFigures(t, "totals restated by "+join(g), tot.Restated, 13, 4, 0, 4000, 2600)
		if tot.SpendMicros != 14501 || tot.PublisherRevenueMicros != 9950 ||
			tot.InvalidByClass["givt"] != 2 || tot.InvalidByClass["sivt"] != 1 || tot.Restated.InvalidByClass["sivt"] != 14 {
			t.Errorf("totals by %v: %+v", g, tot)
		}
	}

	// Ownership filters: advertiser 60 and publisher 200 have no adjustment, 50 and 100 all.
	for _, q := range []models.ReportQuery{{AdvertiserID: 60}, {PublisherID: 200}} {
		q.From, q.To, q.Location = from, to, paris
		checkFigures(t, "foreign totals", mustReport(t, s, q).Totals.Adjustment, 0, 0, 0, 0, 0)
	}
	for _, q := range []models.ReportQuery{{AdvertiserID: 50}, {PublisherID: 100}} {
		q.From, q.To, q.Location = from, to, paris
		checkFigures(t, "own totals", mustReport(t, s, q).Totals.Adjustment, -10, -2, -1, -10500, -7350)
	}
}

func TestRestateFraudFlagTopUpAndReverse(t *testing.T) {
	t.Parallel()
	s, paris := reportFixture(t)
	ctx := context.Background()
	f := confirmedZoneFlag(t, s)
	if _, err := s.RestateFraudFlag(ctx, f.ID, janPeriod, "ops", false); err != nil {
		t.Fatal(err)
	}
	// A late event of the period: 2 more impressions in R2's bucket, committed after the
	// confirmation. The confirmation's run did not restate them; a top-up restates exactly them.
	late := models.StatsDelta{Hour: time.Date(2025, 1, 14, 23, 0, 0, 0, time.UTC), Day: time.Date(2025, 1, 15, 0, 0, 0, 0, time.UTC),
		ZoneID: 1, SiteID: 10, PublisherID: 100, CampaignID: 5, AdvertiserID: 50, CreativeID: 51, Country: "FR",
		Impressions: 2, SpendNanos: 2_000_000, RevenueNanos: 1_400_000}
	if err := s.FlushBatch(ctx, &models.Batch{Stats: []models.StatsDelta{late}}); err != nil {
		t.Fatal(err)
	}
	top, err := s.RestateFraudFlag(ctx, f.ID, janPeriod, "ops", false)
	if err != nil {
		t.Fatal(err)
	}
	if top.Run != 2 || top.Entries != 1 || top.Impressions != -2 || top.SpendNanos != -2_000_000 || top.PublisherRevenueNanos != -1_400_000 {
		t.Fatalf("top-up: %+v", top)
	}
	if again, err := s.RestateFraudFlag(ctx, f.ID, janPeriod, "ops", false); err != nil || again.Entries != 0 {
		t.Fatalf("after the top-up: %+v, %v", again, err)
	}
	from, to := time.Date(2025, 1, 14, 0, 0, 0, 0, paris), time.Date(2025, 2, 2, 0, 0, 0, 0, paris)
	tot := mustReport(t, s, models.ReportQuery{From: from, To: to, Location: paris}).Totals
	checkFigures(t, "restated after top-up", tot.Restated, 13, 4, 0, 4000, 2600)

	// The reversal appends the opposite of every entry of the flag: restated = original again.
	rev, err := s.RestateFraudFlag(ctx, f.ID, janPeriod, "ops", true)
	if err != nil {
		t.Fatal(err)
	}
	if rev.Run != 3 || rev.Kind != models.AdjustReverse || rev.Entries != 2 || rev.Impressions != 12 || rev.SpendNanos != 12_500_001 {
		t.Fatalf("reversal: %+v", rev)
	}
	tot = mustReport(t, s, models.ReportQuery{From: from, To: to, Location: paris}).Totals
	checkFigures(t, "adjustment after reversal", tot.Adjustment, 0, 0, 0, 0, 0)
	if tot.Restated.SpendMicros != tot.SpendMicros || tot.SpendMicros != 16501 {
		t.Fatalf("after reversal: %+v", tot)
	}
	entries, _ := s.ListAdjustments(ctx, f.ID)
	// Run 1: R1 and R2; run 2: R2's late events; run 3: R1 and R2 reversed, per bucket.
	if len(entries) != 5 {
		t.Fatalf("ledger has %d entries, want 5 (append-only)", len(entries))
	}
}

func TestRestateFraudFlagNeedsConfirmation(t *testing.T) {
	t.Parallel()
	s, _ := reportFixture(t)
	ctx := context.Background()
	f := &models.FraudFlag{EntityKind: models.FlagZone, EntityID: 1, Metric: "ctr", Value: 0.4, Baseline: 0.01, Z: 9, Volume: 1000}
	if _, err := s.UpsertFraudFlag(ctx, f); err != nil {
		t.Fatal(err)
	}
	_, err := s.RestateFraudFlag(ctx, f.ID, janPeriod, "ops", false)
	wantErr(t, err, models.ECONFLICT, "not confirmed")
	_, err = s.RestateFraudFlag(ctx, 999999, janPeriod, "ops", false)
	wantErr(t, err, models.ENOTFOUND, "not found")
}

func checkFigures(t *testing.T, what string, f models.ReportFigures, imps, clicks, convs, spend, reven int64) {
	t.Helper()
	if f.Impressions != imps || f.Clicks != clicks || f.Conversions != convs || f.SpendMicros != spend || f.PublisherRevenueMicros != reven {
		t.Errorf("%s: got imps %d clicks %d convs %d spend %d revenue %d, want %d %d %d %d %d", what,
			f.Impressions, f.Clicks, f.Conversions, f.SpendMicros, f.PublisherRevenueMicros, imps, clicks, convs, spend, reven)
	}
}

func join(g []string) string {
	if len(g) == 0 {
		return "(none)"
	}
	out := g[0]
	for _, s := range g[1:] {
		out += "," + s
	}
	return out
}

// TestOverlappingFlagsRestateOnce: a zone flag and a publisher flag over the same buckets
// restate them once: the second confirmation finds nothing valid left there and writes only
// the buckets the first did not cover.
func TestOverlappingFlagsRestateOnce(t *testing.T) {
	t.Parallel()
	s, paris := reportFixture(t)
	ctx := context.Background()
	zone := confirmedZoneFlag(t, s)
	if _, err := s.RestateFraudFlag(ctx, zone.ID, janPeriod, "ops", false); err != nil {
		t.Fatal(err)
	}
	// Publisher 100 is zone 1's publisher; in January its only buckets are R1 and R2.
	pub := &models.FraudFlag{EntityKind: models.FlagPublisher, EntityID: 100, Metric: "invalid_rate", Value: 0.4, Baseline: 0.01, Z: 9, Volume: 1000}
	if _, err := s.UpsertFraudFlag(ctx, pub); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReviewFraudFlag(ctx, pub.ID, models.FlagConfirmed, time.Time{}); err != nil {
		t.Fatal(err)
	}
	r, err := s.RestateFraudFlag(ctx, pub.ID, models.RestatementPeriod{From: janPeriod.From, To: time.Date(2025, 2, 2, 0, 0, 0, 0, time.UTC)}, "ops", false)
	if err != nil {
		t.Fatal(err)
	}
	// Only R5 (Feb 1: 3 imps, 3 clicks, 3_000_000 nanos) was still valid.
	if r.Entries != 1 || r.Impressions != -3 || r.Clicks != -3 || r.SpendNanos != -3_000_000 {
		t.Fatalf("second, overlapping restatement: %+v", r)
	}
	from, to := time.Date(2025, 1, 14, 0, 0, 0, 0, paris), time.Date(2025, 2, 2, 0, 0, 0, 0, paris)
	tot := mustReport(t, s, models.ReportQuery{From: from, To: to, PublisherID: 100, Location: paris}).Totals
	checkFigures(t, "publisher 100 restated", tot.Restated, 0, 0, 0, 0, 0)
	checkFigures(t, "publisher 100 adjustment", tot.Adjustment, -13, -5, -1, -13500, -9450)
}
