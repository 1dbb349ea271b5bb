package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"adnet/internal/manage"
	"adnet/models"
)

// TestRestatementThroughTheAPI: confirming a flag on P's zone restates A's billed events there
// (and only those) in every report and statement; each account sees only its own side: B and
// Q see no adjustment, A its spend's, P its revenue's.
func TestRestatementThroughTheAPI(t *testing.T) {
	t.Parallel()
	w := newAuthzWorld(t)
	f := w.apiFixture
	ctx := context.Background()
	hour := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	delta := func(zone, site, pub, camp, adv, cr int64, imps, spend, reven int64) models.StatsDelta {
		return models.StatsDelta{Hour: hour, Day: hour, ZoneID: zone, SiteID: site, PublisherID: pub, CampaignID: camp, AdvertiserID: adv,
			CreativeID: cr, Requests: imps, Served: imps, Impressions: imps, Clicks: 1, SpendNanos: spend, RevenueNanos: reven}
	}
	// CPM at 1.234567 units: each impression costs 1_234_567 nanos, not a whole micro-unit.
	err := f.store.FlushBatch(ctx, &models.Batch{Stats: []models.StatsDelta{
		delta(w.zoneP, w.siteP, f.pubP, w.campA, f.advA, w.crA, 7, 7*1_234_567, 7*864_196),
		delta(w.zoneQ, w.siteQ, f.pubQ, w.campB, f.advB, w.crB, 5, 5_000_000, 3_500_000)}})
	if err != nil {
		t.Fatal(err)
	}
	flag := &models.FraudFlag{EntityKind: models.FlagZone, EntityID: w.zoneP, Metric: "ctr", Value: 0.3, Baseline: 0.01, Z: 9, Volume: 1000}
	if _, err := f.store.UpsertFraudFlag(ctx, flag); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprint("/api/v1/fraud-flags/", flag.ID, "/confirm")
	resp := f.do("admin", "POST", path, nil)
	rv := decode[manage.FlagReview](t, resp)
	if resp.Code != http.StatusOK || rv.Restatement == nil || rv.Restatement.Entries != 1 || rv.Restatement.Impressions != -7 ||
		rv.Restatement.SpendNanos != -8_641_969 || rv.Restatement.PublisherRevenueNanos != -6_049_372 {
		t.Fatalf("confirm: %d %s", resp.Code, resp.Body)
	}
	// Idempotent: a retried confirmation is refused, a top-up finds nothing to write.
	if resp := f.do("admin", "POST", path, nil); resp.Code != http.StatusConflict {
		t.Fatalf("second confirm: %d %s", resp.Code, resp.Body)
	}
	rs := decode[models.Restatement](t, f.do("admin", "POST", fmt.Sprint("/api/v1/fraud-flags/", flag.ID, "/restate"), nil))
	if rs.Entries != 0 || rs.Run != 0 {
		t.Fatalf("restate after confirm wrote %+v", rs)
	}
	audit := decode[listBody[models.AuditEntry]](t, f.do("admin", "GET", fmt.Sprint("/api/v1/audit?entity=fraud_flag&entity_id=", flag.ID), nil))
	// The confirmation is audited with its restatement; the top-up that wrote nothing is no change.
	if len(audit.Items) != 1 || audit.Items[0].Action != models.FlagConfirmed || audit.Items[0].After == nil ||
		!strings.Contains(*audit.Items[0].After, `"restatement"`) {
		t.Fatalf("audit of the confirmation: %+v", audit.Items)
	}

	totals := func(who string) models.ReportMetrics {
		resp := f.do(who, "GET", "/api/v1/reports?group_by=campaign", nil)
		if resp.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", who, resp.Code, resp.Body)
		}
		return decode[struct {
			Totals models.ReportMetrics `json:"totals"`
		}](t, resp).Totals
	}
	// 7 × 1_234_567 = 8_641_969 nanos: 8641 micro-units billed, all of them reclassified.
	a := totals("advA")
	if a.SpendMicros != 8641 || a.Adjustment.SpendMicros != -8641 || a.Restated.SpendMicros != 0 || a.Adjustment.Impressions != -7 ||
		a.Restated.Impressions != 0 || a.Restated.InvalidImpressions != 7 || a.Restated.InvalidByClass["sivt"] != 8 ||
		a.Adjustment.PublisherRevenueMicros != 0 || a.Restated.PublisherRevenueMicros != 0 {
		t.Errorf("advertiser A: %+v", a)
	}
	if b := totals("advB"); b.Adjustment.Impressions != 0 || b.Adjustment.SpendMicros != 0 || b.Restated.SpendMicros != 5000 {
		t.Errorf("advertiser B sees A's adjustment: %+v", b)
	}
	if p := totals("pubP"); p.Adjustment.PublisherRevenueMicros != -6049 || p.Restated.PublisherRevenueMicros != 0 ||
		p.Adjustment.SpendMicros != 0 || p.Restated.SpendMicros != 0 || p.Adjustment.Clicks != -1 {
		t.Errorf("publisher P: %+v", p)
	}
	if q := totals("pubQ"); q.Adjustment.Impressions != 0 || q.Restated.PublisherRevenueMicros != 3500 {
		t.Errorf("publisher Q sees P's adjustment: %+v", q)
	}
	if adm := totals("admin"); adm.SpendMicros != 13641 || adm.Restated.SpendMicros != 5000 || adm.Adjustment.SpendMicros != -8641 {
		t.Errorf("admin: %+v", adm)
	}

	// Statements are built from the restated figures, each account its own.
	month := hour.In(f.svc.Location()).Format("2006-01")
	stmt := func(who, query string) models.Statement {
		resp := f.do(who, "GET", "/api/v1/statements?month="+month+query, nil)
		if resp.Code != http.StatusOK {
			t.Fatalf("%s statement: %d %s", who, resp.Code, resp.Body)
		}
		return decode[models.Statement](t, resp)
	}
	if s := stmt("advA", fmt.Sprint("&advertiser=", f.advB)); s.AdvertiserID != f.advA || s.Kind != "spend" || s.OriginalMicros != 8641 ||
		s.AdjustmentMicros != -8641 || s.AmountMicros != 0 || len(s.Lines) != 1 || s.Lines[0].CampaignID != w.campA {
		t.Errorf("A's statement: %+v", s)
	}
	if s := stmt("advB", ""); s.AmountMicros != 5000 || s.AdjustmentMicros != 0 {
		t.Errorf("B's statement: %+v", s)
	}
	if s := stmt("pubP", ""); s.Kind != "earnings" || s.OriginalMicros != 6049 || s.AmountMicros != 0 || len(s.Lines) != 1 || s.Lines[0].ZoneID != w.zoneP {
		t.Errorf("P's statement: %+v", s)
	}
	if s := stmt("admin", fmt.Sprint("&publisher=", f.pubQ)); s.PublisherID != f.pubQ || s.AmountMicros != 3500 {
		t.Errorf("Q's statement for the admin: %+v", s)
	}
}
