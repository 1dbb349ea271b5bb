package review

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"adnet/internal/fraud"
	"adnet/models"
)

type fakeLister struct {
	got  models.FraudFlagFilter
	list []models.FraudFlag
}

func (f *fakeLister) ListFraudFlags(_ context.Context, filter models.FraudFlagFilter) ([]models.FraudFlag, error) {
	f.got = filter
	return f.list, nil
}

type fakeScanner struct{ res fraud.ScanResult }

func (f fakeScanner) Scan(context.Context, time.Time) (*fraud.ScanResult, error) { return &f.res, nil }

// TestListFlags: "all" lists every status; the table shows rates as percentages and says
// when a baseline came from peers; an empty list says what was asked for.
func TestListFlags(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	st := &fakeLister{list: []models.FraudFlag{{ID: 7, EntityKind: models.FlagZone, EntityID: 3, EntityName: "top", Metric: fraud.MetricCTR,
		Value: 0.25, Baseline: 0.02, Z: 17.5, Volume: 1200, Status: models.FlagOpen, BaselineSource: models.BaselinePeers,
		CreatedAt: at, LastSeenAt: at, Scans: 2, PausedAt: &at}}}
	var b bytes.Buffer
	if err := ListFlags(ctx, st, Output{W: &b}, "all", "zone", 10); err != nil {
		t.Fatal(err)
	}
	if st.got.Status != "" || st.got.EntityKind != models.FlagZone || st.got.Page.Limit != 10 {
		t.Errorf("filter %+v", st.got)
	}
	for _, want := range []string{"zone 3", "top", "25.00%", "2.00% (peers)", "17.5", "2025-03-01 12:00"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := ListFlags(ctx, &fakeLister{}, Output{W: &b}, models.FlagOpen, "", 10); err != nil || b.String() != "adnet fraud: no open flags\n" {
		t.Errorf("empty list: %v %q", err, b.String())
	}
	b.Reset()
	if err := ListFlags(ctx, st, Output{W: &b, JSON: true}, models.FlagOpen, "", 10); err != nil {
		t.Fatal(err)
	}
	var list []models.FraudFlag
	if err := json.Unmarshal(b.Bytes(), &list); err != nil || len(list) != 1 || list[0].ID != 7 {
		t.Errorf("JSON: %v\n%s", err, b.String())
	}
}

func TestRunScan(t *testing.T) {
	var b bytes.Buffer
	sc := fakeScanner{fraud.ScanResult{Assessed: 4, Flags: []models.FraudFlag{{ID: 1, EntityKind: models.FlagSite}}, Opened: 1}}
	if err := RunScan(context.Background(), sc, Output{W: &b}); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "4 entity metrics judged") || !strings.Contains(out, "1 flagged (1 new") || !strings.Contains(out, "ID  ENTITY") {
		t.Errorf("scan summary:\n%s", out)
	}
}

// TestCloseAndRestateOutput: a confirmation prints what it restated, money exactly in
// currency units; a top-up with nothing to write says so; JSON carries the restatement.
func TestCloseAndRestateOutput(t *testing.T) {
	ctx := context.Background()
	period := models.RestatementPeriod{From: time.Date(2026, 3, 10, 11, 0, 0, 0, time.UTC), To: time.Date(2026, 3, 10, 12, 20, 0, 0, time.UTC)}
	rs := &models.Restatement{FlagID: 7, Run: 1, Kind: models.AdjustRestate, Period: period, Entries: 2, Impressions: -5, Clicks: -1,
		SpendNanos: -5_000_005, SpendMicros: -5000, PublisherRevenueNanos: -3_500_003, PublisherRevenueMicros: -3500}
	confirm := func(_ context.Context, id int64, c bool) (*models.FraudFlag, bool, *models.Restatement, error) {
		if !c || id != 7 {
			t.Fatalf("review %d confirm=%v", id, c)
		}
		return &models.FraudFlag{ID: 7, EntityKind: models.FlagZone, EntityID: 3, EntityName: "top", Metric: "ctr", Status: models.FlagConfirmed}, false, rs, nil
	}
	var b bytes.Buffer
	if err := CloseFlag(ctx, confirm, Output{W: &b}, 7, models.FlagConfirmed); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"flag 7 (zone 3 \"top\", ctr) confirmed", "restated 2026-03-10 11:00 – 2026-03-10 12:20 UTC (run 1, 2 ledger entries)",
		"impressions -5, clicks -1, conversions +0, spend -0.005000, publisher revenue -0.003500"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("confirmation output lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := CloseFlag(ctx, confirm, Output{W: &b, JSON: true}, 7, models.FlagConfirmed); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Restatement models.Restatement `json:"restatement"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil || got.Restatement.SpendNanos != -5_000_005 {
		t.Fatalf("JSON: %v %s", err, b.String())
	}
	b.Reset()
	nothing := func(context.Context, int64) (*models.Restatement, error) {
		return &models.Restatement{FlagID: 7, Kind: models.AdjustRestate, Period: period}, nil
	}
	if err := RestateFlag(ctx, nothing, Output{W: &b}, 7); err != nil || !strings.Contains(b.String(), "nothing to restate") {
		t.Fatalf("empty top-up: %v %s", err, b.String())
	}
}
