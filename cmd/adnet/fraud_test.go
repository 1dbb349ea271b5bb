package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"adnet/internal/fraud"
	"adnet/models"
	"adnet/models/mysql"
)

// TestFraudCommand drives `adnet fraud` against a real database: listing flags, reviewing
// them (dismissing the flag that auto-paused a zone resumes it), and a scan.
func TestFraudCommand(t *testing.T) {
	ctx := context.Background()
	conf, db := commandDB(t, "")
	store := mysql.NewStore(db)
	pub := &models.Publisher{Name: "Shady Media", Status: models.StatusActive, RevenueShareBP: 7000}
	if err := store.CreatePublisher(ctx, pub); err != nil {
		t.Fatal(err)
	}
	site := &models.Site{PublisherID: pub.ID, Name: "Shady", Domain: "shady.example", Status: models.StatusActive}
	if err := store.CreateSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	zone := &models.Zone{SiteID: site.ID, Name: "shady: top", Width: 300, Height: 250, Status: models.StatusPaused}
	if err := store.CreateZone(ctx, zone); err != nil {
		t.Fatal(err)
	}
	paused := &models.FraudFlag{EntityKind: models.FlagZone, EntityID: zone.ID, Metric: fraud.MetricCTR, Value: 0.25, Baseline: 0.02, Z: 17.5, Volume: 1200}
	if _, err := store.UpsertFraudFlag(ctx, paused); err != nil {
		t.Fatal(err)
	}
	if err := store.MarkFraudFlagPaused(ctx, paused.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	other := &models.FraudFlag{EntityKind: models.FlagPublisher, EntityID: pub.ID, Metric: fraud.MetricInvalidRate, Value: 0.4, Baseline: 0.03, Z: 30, Volume: 5000, BaselineSource: models.BaselinePeers}
	if _, err := store.UpsertFraudFlag(ctx, other); err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := runFraud(ctx, append(args, "--config", conf), &out, &errOut)
		return out.String() + errOut.String(), err
	}
	out, err := run("flags")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"zone " + fmt.Sprint(zone.ID), "shady: top", "25.00%", "2.00%", "17.5", "Shady Media", "3.00% (peers)", "invalid_rate"} {
		if !strings.Contains(out, want) {
			t.Errorf("adnet fraud flags lacks %q:\n%s", want, out)
		}
	}
	out, err = run("flags", "--kind", "zone", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list []models.FraudFlag
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0].ID != paused.ID || list[0].PausedAt == nil {
		t.Fatalf("flags --kind zone --format json: %v\n%s", err, out)
	}

	out, err = run("dismiss", fmt.Sprint(paused.ID))
	if err != nil || !strings.Contains(out, "dismissed") || !strings.Contains(out, "resumed") {
		t.Fatalf("dismiss: %v\n%s", err, out)
	}
	if z, err := store.GetZone(ctx, zone.ID); err != nil || z.Status != models.StatusActive {
		t.Fatalf("zone after dismissing the flag that paused it: %+v, %v", z, err)
	}
	if out, err = run("confirm", fmt.Sprint(paused.ID)); err == nil || !strings.Contains(err.Error(), "already dismissed") {
		t.Fatalf("confirming a dismissed flag: %v\n%s", err, out)
	}
	// Confirming restates the flag's period through the adjustment ledger (nothing was billed
	// here), and a top-up finds nothing more; both go through the audited management layer.
	if out, err = run("confirm", fmt.Sprint(other.ID)); err != nil || !strings.Contains(out, "confirmed") || strings.Contains(out, "resumed") ||
		!strings.Contains(out, "nothing to restate") {
		t.Fatalf("confirm: %v\n%s", err, out)
	}
	if out, err = run("restate", fmt.Sprint(other.ID)); err != nil || !strings.Contains(out, "nothing to restate") {
		t.Fatalf("restate: %v\n%s", err, out)
	}
	if out, err = run("unconfirm", fmt.Sprint(other.ID)); err != nil || !strings.Contains(out, "dismissed") || !strings.Contains(out, "nothing to reverse") {
		t.Fatalf("unconfirm: %v\n%s", err, out)
	}
	if out, err = run("unconfirm", fmt.Sprint(other.ID)); err == nil || !strings.Contains(err.Error(), "not confirmed") {
		t.Fatalf("unconfirm twice: %v\n%s", err, out)
	}
	if out, err = run("restate", fmt.Sprint(paused.ID)); err == nil || !strings.Contains(err.Error(), "only a confirmed flag") {
		t.Fatalf("restating a dismissed flag: %v\n%s", err, out)
	}
	if entries, err := store.ListAudit(ctx, models.AuditFilter{Entity: "fraud_flag", EntityID: other.ID}); err != nil || len(entries) != 2 ||
		entries[0].UserEmail != "(command line)" {
		t.Fatalf("audit of the command-line confirmation: %+v, %v", entries, err)
	}
	if out, err = run("flags"); err != nil || !strings.Contains(out, "no open flags") {
		t.Fatalf("open flags after the reviews: %v\n%s", err, out)
	}
	if out, err = run("flags", "--status", "all", "--format", "json"); err != nil || strings.Count(out, `"status"`) != 2 {
		t.Fatalf("all flags: %v\n%s", err, out)
	}

	// A scan of a network without statistics finds nothing, and says what it judged.
	out, err = run("scan", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var res fraud.ScanResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Assessed != 0 || len(res.Flags) != 0 || res.RecentFrom.IsZero() {
		t.Fatalf("scan: %v\n%s", err, out)
	}
	if out, err = run("scan", "--recent", "2h"); err != nil || !strings.Contains(out, "0 flagged") {
		t.Fatalf("scan (table): %v\n%s", err, out)
	}

	for _, bad := range [][]string{{"bogus"}, {"flags", "--status", "closed"}, {"dismiss", "x"}, {"flags", "--format", "xml"}, {"scan", "--baseline", "30m"}} {
		if out, err := run(bad...); err == nil {
			t.Errorf("adnet fraud %v succeeded:\n%s", bad, out)
		}
	}
	if err := runFraud(ctx, nil, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("adnet fraud without a subcommand: %v", err)
	}
}
