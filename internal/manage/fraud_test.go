package manage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"adnet/internal/manage"
	"adnet/models"
)

// TestFraudReviewAndBlocklist: only admins see and review flags and edit the blocklist; a
// dismissal resumes the zone the flag paused; a bad blocklist line saves nothing; each change
// is audited.
func TestFraudReviewAndBlocklist(t *testing.T) {
	svc, st, _ := newService(t)
	ctx := context.Background()
	cli := manage.CommandLine()
	pub := &models.Publisher{Name: "P", RevenueShareBP: 7000}
	if err := svc.CreatePublisher(ctx, cli, pub); err != nil {
		t.Fatal(err)
	}
	site := &models.Site{PublisherID: pub.ID, Name: "S", Domain: "s.example"}
	if err := svc.CreateSite(ctx, cli, site); err != nil {
		t.Fatal(err)
	}
	zone := &models.Zone{SiteID: site.ID, Name: "Z", Width: 300, Height: 250, Status: models.StatusPaused}
	if err := svc.CreateZone(ctx, cli, zone); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	flag := &models.FraudFlag{EntityKind: models.FlagZone, EntityID: zone.ID, Metric: "ctr", Value: 0.3, Baseline: 0.01, Z: 9,
		Volume: 1000, BaselineSource: models.BaselineOwn, CreatedAt: now, LastSeenAt: now}
	if _, err := st.UpsertFraudFlag(ctx, flag); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkFraudFlagPaused(ctx, flag.ID, now); err != nil {
		t.Fatal(err)
	}
	pubActor := &models.Actor{UserID: 99, Role: models.RolePublisher, PublisherID: pub.ID}
	if _, err := svc.ListFraudFlags(ctx, pubActor, models.FraudFlagFilter{}); models.ErrorCode(err) != models.EFORBIDDEN {
		t.Fatalf("publisher lists flags: %v", err)
	}
	if _, err := svc.ReviewFraudFlag(ctx, pubActor, flag.ID, false); models.ErrorCode(err) != models.EFORBIDDEN {
		t.Fatalf("publisher reviews its own flag: %v", err)
	}
	if _, err := svc.ReplaceBlocklist(ctx, pubActor, "192.0.2.1"); models.ErrorCode(err) != models.EFORBIDDEN {
		t.Fatalf("publisher edits the blocklist: %v", err)
	}
	flags, err := svc.ListFraudFlags(ctx, cli, models.FraudFlagFilter{Status: models.FlagOpen})
	if err != nil || len(flags) != 1 {
		t.Fatalf("open flags: %v %v", flags, err)
	}
	rv, err := svc.ReviewFraudFlag(ctx, cli, flag.ID, false)
	if err != nil || rv.Flag.Status != models.FlagDismissed || !rv.ZoneResumed || rv.Restatement != nil {
		t.Fatalf("dismiss: %+v %v", rv, err)
	}
	if z, _ := svc.GetZone(ctx, cli, zone.ID); z.Status != models.StatusActive {
		t.Fatalf("the dismissed flag's zone is %s, want active", z.Status)
	}
	if _, err := svc.ReviewFraudFlag(ctx, cli, flag.ID, true); models.ErrorCode(err) != models.ECONFLICT {
		t.Fatalf("reviewing twice: %v, want conflict", err)
	}
	if _, err := svc.ReviewFraudFlag(ctx, cli, 424242, true); models.ErrorCode(err) != models.ENOTFOUND {
		t.Fatalf("missing flag: %v", err)
	}

	if _, err := svc.ReplaceBlocklist(ctx, cli, "203.0.113.0/24\nbogus\n"); models.ErrorField(err) != "blocklist" {
		t.Fatalf("bad line: %v", err)
	}
	n, err := svc.ReplaceBlocklist(ctx, cli, "# office\n203.0.113.0/24\n198.51.100.7\n2001:db8::/32\n")
	if err != nil || n != 3 {
		t.Fatalf("blocklist: %d ranges, %v", n, err)
	}
	text, err := svc.Blocklist(ctx, cli)
	for _, want := range []string{"203.0.113.0/24", "198.51.100.7\n", "2001:db8::/32"} {
		if err != nil || !strings.Contains(text, want) {
			t.Fatalf("blocklist text %q lacks %s (%v)", text, want, err)
		}
	}
	audit, err := svc.ListAudit(ctx, cli, models.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range audit {
		seen[e.Entity+"/"+e.Action] = true
	}
	if !seen["fraud_flag/dismissed"] || !seen["blocklist/replace"] {
		t.Fatalf("audit log misses the review or the blocklist change: %v", seen)
	}
}
