package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"adnet/models"
)

// TestConfirmRestatesInTheConsole: confirming a flag on the fraud page restates its zone's
// billed events; the page lists it among the confirmed flags with a top-up button; the
// reports page and the dashboard show the adjustment and the restated money; another
// advertiser sees none of it.
func TestConfirmRestatesInTheConsole(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	hour := time.Now().UTC().Truncate(time.Hour)
	err := f.store.FlushBatch(ctx, &models.Batch{Stats: []models.StatsDelta{{Hour: hour, Day: hour, ZoneID: 77, SiteID: 7, PublisherID: f.pubP,
		CampaignID: 5, AdvertiserID: f.advA, CreativeID: 51, Requests: 4, Served: 4, Impressions: 4, SpendNanos: 2_500_000, RevenueNanos: 1_750_000}}})
	if err != nil {
		t.Fatal(err)
	}
	flag := &models.FraudFlag{EntityKind: models.FlagZone, EntityID: 77, Metric: "ctr", Value: 0.3, Baseline: 0.01, Z: 9, Volume: 1000}
	if _, err := f.store.UpsertFraudFlag(ctx, flag); err != nil {
		t.Fatal(err)
	}
	a := f.browser()
	a.login("admin")
	path := fmt.Sprint("/admin/fraud/flags/", flag.ID)
	if w := a.post(path, url.Values{"decision": {"confirm"}}); w.Code != http.StatusSeeOther {
		t.Fatalf("confirm: %d %s", w.Code, w.Body)
	}
	body := a.get("/admin/fraud").Body.String()
	if !strings.Contains(body, "Recently confirmed") || !strings.Contains(body, `value="restate"`) {
		t.Fatalf("the confirmed flag is not listed for a top-up:\n%s", body)
	}
	w := a.post(path, url.Values{"decision": {"restate"}})
	if w.Code != http.StatusSeeOther || !strings.Contains(w.Header().Get("Location"), "flag-restated-nothing") {
		t.Fatalf("restate: %d %v", w.Code, w.Header())
	}
	body = a.get("/admin/reports?group_by=zone").Body.String()
	for _, want := range []string{"Spend restated", "Revenue adj.", "SIVT", "<td>-4</td>", "<td>-0.0025</td>", "<td>-0.00175</td>"} {
		if !strings.Contains(body, want) {
			t.Errorf("reports page lacks %q", want)
		}
	}
	adv := f.browser()
	adv.login("advA")
	if body := adv.get("/admin/").Body.String(); !strings.Contains(body, "restated as invalid") {
		t.Errorf("advertiser A's dashboard does not show the restatement:\n%s", body)
	}
	// Withdrawing the confirmation reverses the restatement (the ledger keeps both).
	if w := a.post(path, url.Values{"decision": {"unconfirm"}}); w.Code != http.StatusSeeOther ||
		!strings.Contains(w.Header().Get("Location"), "flag-unconfirmed") {
		t.Fatalf("unconfirm: %d %v", w.Code, w.Header())
	}
	if body := a.get("/admin/reports?group_by=zone").Body.String(); strings.Contains(body, "<td>-4</td>") {
		t.Error("the reversed restatement still shows")
	}
	b := f.browser()
	b.login("advB")
	if body := b.get("/admin/reports?group_by=zone").Body.String(); strings.Contains(body, "<td>-4</td>") || strings.Contains(body, "-0.0025") {
		t.Error("advertiser B sees A's adjustment")
	}
}
