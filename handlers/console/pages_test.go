package console

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"adnet/internal/manage"
	"adnet/models"
)

// TestEveryPageRenders opens every page as every role: what a role may see renders (200),
// admin pages are 404 for the others; no template fails.
func TestEveryPageRenders(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cli := manage.CommandLine()
	ca := f.campaign(f.advA, "A's campaign")
	cr := &models.Creative{CampaignID: ca.ID, Name: "A's ad", Kind: models.CreativeText, Width: 300, Height: 250, Weight: 1,
		Title: "Hello", ClickURL: "https://example.com/"}
	site := &models.Site{PublisherID: f.pubP, Name: "P's site", Domain: "p.example"}
	if err := f.svc.CreateCreative(ctx, cli, cr); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.CreateSite(ctx, cli, site); err != nil {
		t.Fatal(err)
	}
	zone := &models.Zone{SiteID: site.ID, Name: "P's zone", Width: 300, Height: 250}
	if err := f.svc.CreateZone(ctx, cli, zone); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.LinkCampaign(ctx, cli, &models.ZoneCampaign{ZoneID: zone.ID, CampaignID: ca.ID, Weight: 2}); err != nil {
		t.Fatal(err)
	}
	common := []string{"/admin/", "/admin/account", "/admin/reports", "/admin/reports?group_by=day,country"}
	adv := []string{"/admin/campaigns", "/admin/campaigns/new", fmt.Sprintf("/admin/campaigns/%d", ca.ID), fmt.Sprintf("/admin/campaigns/%d/edit", ca.ID),
		fmt.Sprintf("/admin/campaigns/%d/creatives/new", ca.ID), fmt.Sprintf("/admin/creatives/%d", cr.ID), fmt.Sprintf("/admin/advertisers/%d", f.advA)}
	pub := []string{"/admin/sites", "/admin/sites/new", fmt.Sprintf("/admin/sites/%d", site.ID), "/admin/zones", fmt.Sprintf("/admin/zones/new?site=%d", site.ID),
		fmt.Sprintf("/admin/zones/%d", zone.ID), fmt.Sprintf("/admin/publishers/%d", f.pubP)}
	admin := []string{"/admin/advertisers", "/admin/advertisers/new", "/admin/publishers", "/admin/publishers/new", "/admin/approvals",
		"/admin/links", "/admin/fraud", "/admin/users", "/admin/audit", "/admin/audit?q=campaign&page=2"}
	for _, tc := range []struct {
		who      string
		ok, none []string
	}{
		{"admin", append(append(append(common, adv...), pub...), admin...), nil},
		{"advA", append(common, adv...), append(pub, admin[2:]...)},
		{"pubP", append(common, pub...), append(adv, append(admin[:1:1], admin[4:]...)...)},
	} {
		b := f.browser()
		b.login(tc.who)
		for _, path := range tc.ok {
			if w := b.get(path); w.Code != http.StatusOK {
				t.Errorf("%s GET %s: %d\n%s", tc.who, path, w.Code, w.Body)
			}
		}
		for _, path := range tc.none {
			if w := b.get(path); w.Code != http.StatusNotFound {
				t.Errorf("%s GET %s: %d, want 404", tc.who, path, w.Code)
			}
		}
	}
}

var locationID = regexp.MustCompile(`/admin/(?:campaigns|creatives)/(\d+)`)

// TestAdvertiserCampaignWorkflow: an advertiser creates a campaign (a bad field is shown
// beside the field with the input kept), uploads a creative (by content, not by name), both
// wait for approval; the admin approves and links; the campaign page shows the share.
func TestAdvertiserCampaignWorkflow(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	b.login("advA")
	form := url.Values{"name": {"Spring <sale>"}, "status": {"active"}, "tier": {"remnant"}, "weight": {"1"}, "pricing": {"cpm"},
		"rate": {"1.x"}, "pacing": {"asap"}, "countries": {"DE, fr"}, "devices": {"desktop", "mobile"}, "freq_cap": {"3"}, "freq_window": {"24h"}}
	w := b.post("/admin/campaigns", form)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `<div class="field invalid">
  <label for="f-rate">`) || !strings.Contains(w.Body.String(), `value="Spring &lt;sale&gt;"`) {
		t.Fatalf("bad rate: %d\n%s", w.Code, w.Body)
	}
	form.Set("rate", "1.25")
	w = b.post("/admin/campaigns", form)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("create campaign: %d %s", w.Code, w.Body)
	}
	var cid int64
	fmt.Sscan(locationID.FindStringSubmatch(w.Header().Get("Location"))[1], &cid)
	c, err := f.svc.GetCampaign(context.Background(), manage.CommandLine(), cid)
	if err != nil || c.AdvertiserID != f.advA || c.Approval != models.ApprovalPending || c.RateMicros != 1_250_000 ||
		strings.Join(c.Targeting.Countries, ",") != "DE,FR" || len(c.Targeting.Devices) != 2 || c.FreqCap != 3 {
		t.Fatalf("created campaign %+v, %v", c, err)
	}

	// Uploads are checked by content: HTML named ad.png is refused beside the file field;
	// an oversized image is 413; a real PNG is stored and becomes the creative's image.
	cf := url.Values{"name": {"Banner"}, "kind": {"image"}, "status": {"active"}, "weight": {"1"}, "click_url": {"https://example.com/"}}
	noToken := url.Values{"csrf": {""}, "name": {"Banner"}, "kind": {"image"}}
	if w := b.multipart(fmt.Sprintf("/admin/campaigns/%d/creatives", cid), noToken, pngImage(t, 300, 250)); w.Code != http.StatusForbidden {
		t.Fatalf("upload without the CSRF token: %d, want 403", w.Code)
	}
	w = b.multipart(fmt.Sprintf("/admin/campaigns/%d/creatives", cid), cf, []byte("<html><script>alert(1)</script></html>"))
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "not a PNG, JPEG, GIF or WebP image") {
		t.Fatalf("HTML upload: %d\n%s", w.Code, w.Body)
	}
	w = b.multipart(fmt.Sprintf("/admin/campaigns/%d/creatives", cid), cf, bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 40<<10))
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized upload: %d, want 413", w.Code)
	}
	w = b.multipart(fmt.Sprintf("/admin/campaigns/%d/creatives", cid), cf, bytes.Repeat([]byte("x"), 3<<20))
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("body over the console's limit: %d, want 413", w.Code)
	}
	w = b.multipart(fmt.Sprintf("/admin/campaigns/%d/creatives", cid), cf, pngImage(t, 300, 250))
	if w.Code != http.StatusSeeOther {
		t.Fatalf("PNG upload: %d\n%s", w.Code, regexp.MustCompile(`role="alert">[^<]*`).FindAllString(w.Body.String(), -1))
	}
	var crID int64
	fmt.Sscan(locationID.FindStringSubmatch(w.Header().Get("Location"))[1], &crID)
	cr, err := f.svc.GetCreative(context.Background(), manage.CommandLine(), crID)
	if err != nil || cr.Width != 300 || cr.Height != 250 || !strings.HasPrefix(cr.ImageURL, "/uploads/") || cr.Approval != models.ApprovalPending {
		t.Fatalf("uploaded creative %+v, %v", cr, err)
	}
	if _, err := os.Stat(filepath.Join(f.uploads, strings.TrimPrefix(cr.ImageURL, "/uploads/"))); err != nil {
		t.Fatalf("the upload is not stored: %v", err)
	}

	// The admin's queue lists both; a rejection needs a reason; approve and link.
	a := f.browser()
	a.login("admin")
	if body := a.get("/admin/approvals").Body.String(); !strings.Contains(body, "Spring &lt;sale&gt;") || !strings.Contains(body, "Banner") {
		t.Fatalf("approval queue misses the campaign or the creative:\n%s", body)
	}
	if w := a.post(fmt.Sprintf("/admin/campaigns/%d/review", cid), url.Values{"decision": {"reject"}}); w.Code != http.StatusBadRequest {
		t.Fatalf("rejection without a reason: %d", w.Code)
	}
	for _, path := range []string{fmt.Sprintf("/admin/campaigns/%d/review", cid), fmt.Sprintf("/admin/creatives/%d/review", crID)} {
		if w := a.post(path, url.Values{"decision": {"approve"}}); w.Code != http.StatusSeeOther {
			t.Fatalf("approve %s: %d %s", path, w.Code, w.Body)
		}
	}
	ctx := context.Background()
	site := &models.Site{PublisherID: f.pubP, Name: "P", Domain: "p.example"}
	if err := f.svc.CreateSite(ctx, manage.CommandLine(), site); err != nil {
		t.Fatal(err)
	}
	zone := &models.Zone{SiteID: site.ID, Name: "Top", Width: 300, Height: 250}
	if err := f.svc.CreateZone(ctx, manage.CommandLine(), zone); err != nil {
		t.Fatal(err)
	}
	if w := a.post("/admin/links", url.Values{"campaign_id": {fmt.Sprint(cid)}, "zone_id": {fmt.Sprint(zone.ID)}, "weight": {"3"}}); w.Code != http.StatusSeeOther {
		t.Fatalf("link: %d %s", w.Code, w.Body)
	}
	// The advertiser may not link (the network decides where ads run).
	if w := b.post("/admin/links", url.Values{"campaign_id": {fmt.Sprint(cid)}, "zone_id": {fmt.Sprint(zone.ID)}}); w.Code != http.StatusNotFound {
		t.Fatalf("advertiser link: %d, want 404", w.Code)
	}
	body := b.get(fmt.Sprintf("/admin/campaigns/%d", cid)).Body.String()
	if !strings.Contains(body, `<span class="badge approved">approved</span>`) || !strings.Contains(body, "<td>3</td>") {
		t.Fatalf("campaign page after approval and link:\n%s", body)
	}
	// Reports: the CSV download is the handlers' CSV.
	w = b.get("/admin/reports?group_by=day&format=csv")
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/csv; charset=utf-8" || !strings.HasPrefix(w.Body.String(), "day,requests,") {
		t.Fatalf("CSV: %d %q\n%s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
}

func TestAdminTokensUsersAndBlocklist(t *testing.T) {
	f := newFixture(t)
	a := f.browser()
	a.login("admin")
	w := a.post("/admin/account/tokens", url.Values{"name": {"ci"}})
	if w.Code != http.StatusOK || !regexp.MustCompile(`id="new-token">adn_[A-Za-z0-9_-]+<`).MatchString(w.Body.String()) {
		t.Fatalf("token creation does not show the token once: %d", w.Code)
	}
	if body := a.get("/admin/account").Body.String(); strings.Contains(body, `id="new-token"`) {
		t.Fatal("the token is shown again")
	}
	w = a.post("/admin/users", url.Values{"email": {"new@example.test"}, "role": {"advertiser"}, "account": {fmt.Sprint(f.advB)}})
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "new@example.test") {
		t.Fatalf("add user: %d %s", w.Code, w.Body)
	}
	w = a.post("/admin/users", url.Values{"email": {"x@example.test"}, "role": {"advertiser"}})
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `<div class="field invalid">
  <label for="f-account">`) {
		t.Fatalf("user without account: %d\n%s", w.Code, w.Body)
	}
	w = a.post("/admin/fraud/blocklist", url.Values{"blocklist": {"203.0.113.0/24\nnot-an-ip\n"}})
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "not-an-ip") {
		t.Fatalf("bad blocklist: %d\n%s", w.Code, w.Body)
	}
	if w := a.post("/admin/fraud/blocklist", url.Values{"blocklist": {"203.0.113.0/24\n# office\n198.51.100.7\n"}}); w.Code != http.StatusSeeOther {
		t.Fatalf("blocklist: %d %s", w.Code, w.Body)
	}
	if body := a.get("/admin/fraud").Body.String(); !strings.Contains(body, "203.0.113.0/24") {
		t.Fatalf("the blocklist is not shown:\n%s", body)
	}
	if body := a.get("/admin/audit?q=blocklist").Body.String(); !strings.Contains(body, "replace") {
		t.Fatal("the blocklist change is not audited")
	}
}
