package manage_test

import (
	"context"
	"testing"
	"time"

	"adnet/internal/manage"
	"adnet/models"
)

// TestConfirmRestatesThePeriod: confirming a flag restates the hours from the scan window that
// raised it (creation − the lookback) up to the confirmation, and no other; the confirmation
// and each top-up are audited; late events of the period are restated by a top-up only; an
// account's report shows only its own adjustment.
func TestConfirmRestatesThePeriod(t *testing.T) {
	t.Parallel()
	svc, st, clk := newService(t)
	ctx := context.Background()
	cli := manage.CommandLine()
	at := func(h, m int) time.Time { return time.Date(2026, 3, 10, h, m, 0, 0, time.UTC) }
	row := func(hour time.Time, zone, adv int64, imps, spend int64) models.StatsDelta {
		return models.StatsDelta{Hour: hour, Day: at(0, 0), ZoneID: zone, SiteID: zone * 10, PublisherID: zone * 100, CampaignID: adv * 10,
			AdvertiserID: adv, CreativeID: adv * 100, Impressions: imps, Served: imps, Requests: imps, SpendNanos: spend, RevenueNanos: spend / 2}
	}
	flush := func(rows ...models.StatsDelta) {
		if err := st.FlushBatch(ctx, &models.Batch{Stats: rows}); err != nil {
			t.Fatal(err)
		}
	}
	// Zone 9 (advertiser 50) from 10:00 to 13:00; zone 8 (advertiser 70) at 11:00.
	flush(row(at(10, 0), 9, 50, 1, 1_000_001), row(at(11, 0), 9, 50, 2, 2_000_002), row(at(12, 0), 9, 50, 3, 3_000_003),
		row(at(13, 0), 9, 50, 4, 4_000_004), row(at(11, 0), 8, 70, 5, 5_000_005))
	flag := &models.FraudFlag{EntityKind: models.FlagZone, EntityID: 9, Metric: "invalid_rate", Value: 0.5, Baseline: 0.02, Z: 12,
		Volume: 900, LastSeenAt: at(12, 0)}
	if _, err := st.UpsertFraudFlag(ctx, flag); err != nil {
		t.Fatal(err)
	}
	clk.t = at(12, 20)
	rv, err := svc.ReviewFraudFlag(ctx, cli, flag.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	// Period [11:00, 12:20): the 11:00 and 12:00 buckets, 5 impressions, 5_000_005 nanos.
	r := rv.Restatement
	if r == nil || r.Entries != 2 || r.Impressions != -5 || r.SpendNanos != -5_000_005 || r.SpendMicros != -5000 ||
		!r.Period.From.Equal(at(11, 0)) || !r.Period.To.Equal(at(12, 20)) {
		t.Fatalf("restatement: %+v", r)
	}
	if _, err := svc.ReviewFraudFlag(ctx, cli, flag.ID, true); models.ErrorCode(err) != models.ECONFLICT {
		t.Fatalf("confirming twice: %v", err)
	}
	entries, _ := st.ListAdjustments(ctx, flag.ID)
	if len(entries) != 2 || entries[0].ConfirmedBy != "(command line)" || entries[0].Reason != "fraud_flag:invalid_rate" {
		t.Fatalf("ledger after two confirmations: %+v", entries)
	}

	report := func(a *models.Actor, group ...string) *models.Report {
		rep, err := svc.Report(ctx, a, models.ReportQuery{From: at(0, 0), To: at(23, 0), GroupBy: group})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	// Hour grouping: 10:00 and 13:00 untouched, 11:00 and 12:00 restated to zero.
	for _, row := range report(cli, "hour", "zone").Rows {
		restated := row.Period.Equal(at(11, 0)) || row.Period.Equal(at(12, 0))
		if row.ZoneID == 9 && restated != (row.Restated.Impressions == 0 && row.Restated.SpendMicros == 0 && row.Adjustment.SpendMicros < 0) {
			t.Errorf("zone 9 at %v: %+v", row.Period, row.ReportMetrics)
		}
		if row.ZoneID == 8 && row.Adjustment.Impressions != 0 {
			t.Errorf("zone 8 restated: %+v", row.ReportMetrics)
		}
	}
	// A late event of the period: a top-up restates exactly it; another writes nothing.
	flush(row(at(11, 0), 9, 50, 1, 999))
	clk.t = at(12, 40)
	top, err := svc.RestateFraudFlag(ctx, cli, flag.ID)
	if err != nil || top.Entries != 1 || top.Impressions != -1 || top.SpendNanos != -999 || !top.Period.To.Equal(at(12, 20)) {
		t.Fatalf("top-up: %+v, %v", top, err)
	}
	if again, err := svc.RestateFraudFlag(ctx, cli, flag.ID); err != nil || again.Entries != 0 {
		t.Fatalf("second top-up: %+v, %v", again, err)
	}
	audit, err := svc.ListAudit(ctx, cli, models.AuditFilter{Entity: "fraud_flag", EntityID: flag.ID})
	// The confirmation and the top-up that wrote something; the one that did not is no change.
	if err != nil || len(audit) != 2 || audit[1].Action != models.FlagConfirmed || audit[0].Action != "restate" {
		t.Fatalf("audit: %+v, %v", audit, err)
	}

	// Ownership: advertiser 50 sees its adjustment, 70 none; the totals are the same for every
	// grouping (original 10_000_010 + 999 nanos, restated 5_000_005).
	adv50 := &models.Actor{UserID: 1, Role: models.RoleAdvertiser, AdvertiserID: 50}
	adv70 := &models.Actor{UserID: 2, Role: models.RoleAdvertiser, AdvertiserID: 70}
	for _, g := range [][]string{nil, {"hour"}, {"day", "zone"}, {"campaign", "country"}} {
		tot := report(adv50, g...).Totals
		if tot.SpendMicros != 10001 || tot.Restated.SpendMicros != 5000 || tot.Adjustment.SpendMicros != -5001 ||
			tot.Adjustment.Impressions != -6 || tot.Restated.PublisherRevenueMicros != 0 {
			t.Errorf("advertiser 50 by %v: %+v", g, tot)
		}
		if tot := report(adv70, g...).Totals; tot.Adjustment.SpendMicros != 0 || tot.Restated.SpendMicros != 5000 {
			t.Errorf("advertiser 70 by %v: %+v", g, tot)
		}
	}
	pub := &models.Actor{UserID: 3, Role: models.RolePublisher, PublisherID: 900}
	if tot := report(pub).Totals; tot.Restated.PublisherRevenueMicros != 2500 || tot.Restated.SpendMicros != 0 || tot.Adjustment.Impressions != -6 {
		t.Errorf("publisher 900: %+v", tot)
	}
	if _, err := svc.RestateFraudFlag(ctx, adv50, flag.ID); models.ErrorCode(err) != models.EFORBIDDEN {
		t.Errorf("advertiser restating: %v", err)
	}
	if _, err := svc.WithdrawFraudConfirmation(ctx, adv50, flag.ID); models.ErrorCode(err) != models.EFORBIDDEN {
		t.Errorf("advertiser un-confirming: %v", err)
	}

	// Un-confirming appends the reverse of the flag's entries: restated = original again.
	un, err := svc.WithdrawFraudConfirmation(ctx, cli, flag.ID)
	if err != nil || un.Flag.Status != models.FlagDismissed || un.Restatement.Kind != models.AdjustReverse ||
		un.Restatement.Impressions != 6 || un.Restatement.SpendNanos != 5_001_004 || un.Restatement.Entries != 2 {
		t.Fatalf("un-confirm: %+v, %v", un, err)
	}
	for _, g := range [][]string{nil, {"hour", "zone"}} {
		tot := report(cli, g...).Totals
		if tot.Adjustment.SpendMicros != 0 || tot.Adjustment.Impressions != 0 || tot.Restated.SpendMicros != tot.SpendMicros || tot.SpendMicros != 15001 { // 15_001_014 nanos
			t.Errorf("after un-confirming, by %v: %+v", g, tot)
		}
	}
	if entries, _ := st.ListAdjustments(ctx, flag.ID); len(entries) != 5 {
		t.Errorf("ledger after the reversal: %d entries, want 5 (2 + 1 top-up + 2 reversed buckets)", len(entries))
	}
	if _, err := svc.WithdrawFraudConfirmation(ctx, cli, flag.ID); models.ErrorCode(err) != models.ECONFLICT {
		t.Errorf("un-confirming twice: %v", err)
	}
	if _, err := svc.RestateFraudFlag(ctx, cli, flag.ID); models.ErrorCode(err) != models.ECONFLICT {
		t.Errorf("restating an un-confirmed flag: %v", err)
	}
	if audit, _ := svc.ListAudit(ctx, cli, models.AuditFilter{Entity: "fraud_flag", EntityID: flag.ID}); len(audit) != 3 || audit[0].Action != "unconfirm" {
		t.Errorf("audit after un-confirming: %+v", audit)
	}
}
