package handlers

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"adnet/internal/manage"
	"adnet/models"
)

// authzWorld is the fixture's network with objects on both sides of every ownership line:
// A's and B's campaigns and creatives, P's and Q's sites and zones, and links A→P, B→Q.
type authzWorld struct {
	*apiFixture
	campA, campB, crA, crB, siteP, siteQ, zoneP, zoneQ int64
	userB, tokenB                                      int64
}

func newAuthzWorld(t *testing.T) *authzWorld {
	t.Helper()
	f := newAPIFixture(t, time.UTC)
	w := &authzWorld{apiFixture: f}
	ctx := context.Background()
	admin := f.actors["admin"]
	mk := func(adv int64, name string) (int64, int64) {
		c := models.Campaign{AdvertiserID: adv, Name: name, Tier: models.TierRemnant, Weight: 1, Pricing: models.PricingCPC,
			RateMicros: 100000, Pacing: models.PacingASAP}
		if err := f.svc.CreateCampaign(ctx, admin, &c); err != nil {
			t.Fatal(err)
		}
		cr := models.Creative{CampaignID: c.ID, Name: name + " ad", Kind: models.CreativeText, Width: 300, Height: 250,
			Title: "Buy", Text: "now", ClickURL: "https://shop.example/"}
		if err := f.svc.CreateCreative(ctx, admin, &cr); err != nil {
			t.Fatal(err)
		}
		return c.ID, cr.ID
	}
	w.campA, w.crA = mk(f.advA, "A campaign")
	w.campB, w.crB = mk(f.advB, "B campaign")
	site := func(pub int64, domain string) (int64, int64) {
		s := models.Site{PublisherID: pub, Name: domain, Domain: domain}
		if err := f.svc.CreateSite(ctx, admin, &s); err != nil {
			t.Fatal(err)
		}
		z := models.Zone{SiteID: s.ID, Name: "top", Width: 300, Height: 250}
		if err := f.svc.CreateZone(ctx, admin, &z); err != nil {
			t.Fatal(err)
		}
		return s.ID, z.ID
	}
	w.siteP, w.zoneP = site(f.pubP, "p.example")
	w.siteQ, w.zoneQ = site(f.pubQ, "q.example")
	for _, l := range []models.ZoneCampaign{{ZoneID: w.zoneP, CampaignID: w.campA, Weight: 1}, {ZoneID: w.zoneQ, CampaignID: w.campB, Weight: 1}} {
		if err := f.svc.LinkCampaign(ctx, admin, &l); err != nil {
			t.Fatal(err)
		}
	}
	w.userB = f.actors["advB"].UserID
	toks, err := f.svc.ListTokens(ctx, f.actors["advB"])
	if err != nil || len(toks) == 0 {
		t.Fatal(err)
	}
	w.tokenB = toks[0].ID
	return w
}

// authzCase is one cell: who does what to which object, and the only status allowed.
type authzCase struct {
	who, method, pattern string
	path                 string
	body                 any
	want                 int
}

// TestAuthorizationMatrix runs every role against every resource and action, on its own
// objects and on another account's, through the real routes: a cell that answers anything
// but its expected status fails — an allowed foreign read or write is the worst failure.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	w := newAuthzWorld(t)
	id := func(n int64) string { return fmt.Sprint(n) }
	var cases []authzCase
	add := func(who, method, pattern string, ids []int64, body any, want int) {
		path := pattern
		for _, n := range ids {
			path = strings.Replace(path, path[strings.Index(path, "{"):strings.Index(path, "}")+1], id(n), 1)
		}
		cases = append(cases, authzCase{who, method, pattern, path, body, want})
	}
	const (
		ok, made, gone     = http.StatusOK, http.StatusCreated, http.StatusNoContent
		bad, forb, missing = http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound
		noAuth             = http.StatusUnauthorized
	)
	f := w.apiFixture
	advPatch := map[string]any{"name": "Renamed"}
	campPatch := map[string]any{"weight": 2}
	crPatch := map[string]any{"weight": 3}
	sitePatch := map[string]any{"name": "Renamed site"}
	zonePatch := map[string]any{"name": "renamed zone"}
	newCamp := func(adv int64) map[string]any {
		return map[string]any{"advertiser_id": adv, "name": fmt.Sprint("new ", adv, " ", len(cases)), "pricing": "cpc", "rate_micros": 1000}
	}
	newCr := func(camp int64) map[string]any {
		return map[string]any{"campaign_id": camp, "name": fmt.Sprint("cr ", len(cases)), "kind": "text", "width": 300, "height": 250,
			"title": "t", "text": "x", "click_url": "https://shop.example/"}
	}
	newSite := func(pub int64) map[string]any {
		return map[string]any{"publisher_id": pub, "name": fmt.Sprint("site ", len(cases)), "domain": fmt.Sprint("s", len(cases), ".example")}
	}
	newZone := func(site int64) map[string]any {
		return map[string]any{"site_id": site, "name": fmt.Sprint("zone ", len(cases)), "width": 300, "height": 250}
	}

	// Nobody without a token.
	for _, p := range []string{"/api/v1/me", "/api/v1/campaigns", "/api/v1/reports"} {
		add("", "GET", p, nil, nil, noAuth)
	}
	// Advertisers.
	add("admin", "GET", "/api/v1/advertisers/{id}", []int64{f.advA}, nil, ok)
	add("advA", "GET", "/api/v1/advertisers/{id}", []int64{f.advA}, nil, ok)
	add("advA", "GET", "/api/v1/advertisers/{id}", []int64{f.advB}, nil, missing)
	add("pubP", "GET", "/api/v1/advertisers/{id}", []int64{f.advA}, nil, missing)
	add("advA", "PATCH", "/api/v1/advertisers/{id}", []int64{f.advA}, advPatch, ok)
	add("advA", "PATCH", "/api/v1/advertisers/{id}", []int64{f.advB}, advPatch, missing)
	add("pubP", "PATCH", "/api/v1/advertisers/{id}", []int64{f.advA}, advPatch, missing)
	add("admin", "POST", "/api/v1/advertisers", nil, map[string]any{"name": "Adv C"}, made)
	add("advA", "POST", "/api/v1/advertisers", nil, map[string]any{"name": "Adv D"}, forb)
	add("pubP", "POST", "/api/v1/advertisers", nil, map[string]any{"name": "Adv E"}, forb)
	add("advA", "GET", "/api/v1/advertisers/{id}/postback-secret", []int64{f.advA}, nil, ok)
	add("advA", "GET", "/api/v1/advertisers/{id}/postback-secret", []int64{f.advB}, nil, missing)
	add("pubP", "GET", "/api/v1/advertisers/{id}/postback-secret", []int64{f.advA}, nil, missing)
	add("advA", "POST", "/api/v1/advertisers/{id}/postback-secret", []int64{f.advB}, nil, missing)
	// Campaigns.
	for _, c := range []struct {
		who  string
		camp int64
		want int
	}{{"admin", w.campA, ok}, {"advA", w.campA, ok}, {"advA", w.campB, missing}, {"pubP", w.campA, missing}} {
		add(c.who, "GET", "/api/v1/campaigns/{id}", []int64{c.camp}, nil, c.want)
		add(c.who, "PATCH", "/api/v1/campaigns/{id}", []int64{c.camp}, campPatch, c.want)
		add(c.who, "GET", "/api/v1/campaigns/{id}/delivery", []int64{c.camp}, nil, c.want)
	}
	add("admin", "POST", "/api/v1/campaigns", nil, newCamp(f.advB), made)
	add("advA", "POST", "/api/v1/campaigns", nil, newCamp(f.advA), made)
	add("pubP", "POST", "/api/v1/campaigns", nil, newCamp(f.advA), forb)
	add("admin", "POST", "/api/v1/campaigns/{id}/approve", []int64{w.campA}, nil, ok)
	add("advA", "POST", "/api/v1/campaigns/{id}/approve", []int64{w.campA}, nil, forb)
	add("pubP", "POST", "/api/v1/campaigns/{id}/approve", []int64{w.campA}, nil, forb)
	add("advA", "POST", "/api/v1/campaigns/{id}/reject", []int64{w.campB}, map[string]any{"reason": "x"}, forb)
	add("admin", "POST", "/api/v1/campaigns/{id}/reject", []int64{w.campB}, map[string]any{"reason": ""}, bad)
	// Creatives.
	for _, c := range []struct {
		who  string
		cr   int64
		want int
	}{{"admin", w.crA, ok}, {"advA", w.crA, ok}, {"advA", w.crB, missing}, {"pubP", w.crA, missing}} {
		add(c.who, "GET", "/api/v1/creatives/{id}", []int64{c.cr}, nil, c.want)
		add(c.who, "PATCH", "/api/v1/creatives/{id}", []int64{c.cr}, crPatch, c.want)
	}
	add("advA", "POST", "/api/v1/creatives", nil, newCr(w.campA), made)
	add("advA", "POST", "/api/v1/creatives", nil, newCr(w.campB), bad) // foreign campaign: "no such campaign"
	add("pubP", "POST", "/api/v1/creatives", nil, newCr(w.campA), forb)
	add("advA", "POST", "/api/v1/creatives/{id}/approve", []int64{w.crA}, nil, forb)
	add("admin", "POST", "/api/v1/creatives/{id}/approve", []int64{w.crB}, nil, ok)
	// Publishers, sites, zones.
	add("pubP", "GET", "/api/v1/publishers/{id}", []int64{f.pubP}, nil, ok)
	add("pubP", "GET", "/api/v1/publishers/{id}", []int64{f.pubQ}, nil, missing)
	add("advA", "GET", "/api/v1/publishers/{id}", []int64{f.pubP}, nil, missing)
	add("pubP", "PATCH", "/api/v1/publishers/{id}", []int64{f.pubQ}, map[string]any{"name": "x"}, missing)
	add("pubP", "POST", "/api/v1/publishers", nil, map[string]any{"name": "Pub Z"}, forb)
	add("admin", "POST", "/api/v1/publishers", nil, map[string]any{"name": "Pub Y"}, made)
	for _, c := range []struct {
		who        string
		site, zone int64
		want       int
	}{{"admin", w.siteP, w.zoneP, ok}, {"pubP", w.siteP, w.zoneP, ok}, {"pubP", w.siteQ, w.zoneQ, missing}, {"advA", w.siteP, w.zoneP, missing}} {
		add(c.who, "GET", "/api/v1/sites/{id}", []int64{c.site}, nil, c.want)
		add(c.who, "PATCH", "/api/v1/sites/{id}", []int64{c.site}, sitePatch, c.want)
		add(c.who, "GET", "/api/v1/zones/{id}", []int64{c.zone}, nil, c.want)
		add(c.who, "PATCH", "/api/v1/zones/{id}", []int64{c.zone}, zonePatch, c.want)
		add(c.who, "GET", "/api/v1/zones/{id}/tag", []int64{c.zone}, nil, c.want)
	}
	add("pubP", "POST", "/api/v1/sites", nil, newSite(f.pubQ), made) // created for P whatever the body says
	add("advA", "POST", "/api/v1/sites", nil, newSite(f.pubP), forb)
	add("pubP", "POST", "/api/v1/zones", nil, newZone(w.siteP), made)
	add("pubP", "POST", "/api/v1/zones", nil, newZone(w.siteQ), bad) // foreign site: "no such site"
	add("advA", "POST", "/api/v1/zones", nil, newZone(w.siteP), forb)
	add("pubP", "PATCH", "/api/v1/zones/{id}", []int64{w.zoneP}, map[string]any{"fallback_zone_id": w.zoneQ}, bad)
	// Links: the network decides where ads run.
	add("admin", "PUT", "/api/v1/zones/{zone}/campaigns/{campaign}", []int64{w.zoneQ, w.campA}, map[string]any{"weight": 2}, ok)
	add("advA", "PUT", "/api/v1/zones/{zone}/campaigns/{campaign}", []int64{w.zoneQ, w.campA}, map[string]any{"weight": 2}, forb)
	add("pubP", "PUT", "/api/v1/zones/{zone}/campaigns/{campaign}", []int64{w.zoneP, w.campB}, map[string]any{"weight": 2}, forb)
	add("advA", "DELETE", "/api/v1/zones/{zone}/campaigns/{campaign}", []int64{w.zoneP, w.campA}, nil, forb)
	add("admin", "DELETE", "/api/v1/zones/{zone}/campaigns/{campaign}", []int64{w.zoneQ, w.campA}, nil, gone)
	// Users and tokens.
	add("advA", "GET", "/api/v1/users/{id}", []int64{w.userB}, nil, missing)
	add("admin", "GET", "/api/v1/users/{id}", []int64{w.userB}, nil, ok)
	add("advA", "POST", "/api/v1/users", nil, map[string]any{"email": "x@example.test", "role": "admin"}, forb)
	add("advA", "DELETE", "/api/v1/users/{id}", []int64{w.userB}, nil, forb)
	add("advA", "DELETE", "/api/v1/tokens/{id}", []int64{w.tokenB}, nil, missing)
	// The audit log.
	add("advA", "GET", "/api/v1/audit", nil, nil, forb)
	add("pubP", "GET", "/api/v1/audit", nil, nil, forb)
	add("admin", "GET", "/api/v1/audit", nil, nil, ok)
	// Fraud review and restatement: the network's.
	flag := &models.FraudFlag{EntityKind: models.FlagZone, EntityID: w.zoneP, Metric: "ctr", Value: 0.3, Baseline: 0.01, Z: 9, Volume: 1000}
	if _, err := f.store.UpsertFraudFlag(context.Background(), flag); err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"advA", "pubP"} {
		add(who, "GET", "/api/v1/fraud-flags", nil, nil, forb)
		for _, action := range []string{"confirm", "dismiss", "restate", "unconfirm"} {
			add(who, "POST", "/api/v1/fraud-flags/{id}/"+action, []int64{flag.ID}, nil, forb)
		}
	}
	add("admin", "GET", "/api/v1/fraud-flags", nil, nil, ok)
	add("admin", "POST", "/api/v1/fraud-flags/{id}/restate", []int64{flag.ID}, nil, http.StatusConflict) // not confirmed yet
	add("admin", "POST", "/api/v1/fraud-flags/{id}/confirm", []int64{flag.ID}, nil, ok)
	add("admin", "POST", "/api/v1/fraud-flags/{id}/confirm", []int64{flag.ID}, nil, http.StatusConflict) // twice
	add("admin", "POST", "/api/v1/fraud-flags/{id}/dismiss", []int64{flag.ID}, nil, http.StatusConflict)
	add("admin", "POST", "/api/v1/fraud-flags/{id}/restate", []int64{flag.ID}, nil, ok)
	add("admin", "POST", "/api/v1/fraud-flags/{id}/unconfirm", []int64{flag.ID}, nil, ok)
	add("admin", "POST", "/api/v1/fraud-flags/{id}/unconfirm", []int64{flag.ID}, nil, http.StatusConflict) // twice
	add("admin", "POST", "/api/v1/fraud-flags/{id}/restate", []int64{flag.ID}, nil, http.StatusConflict)   // dismissed now
	add("admin", "POST", "/api/v1/fraud-flags/{id}/confirm", []int64{999999}, nil, missing)
	// Statements: each account its own, whatever it asks; an admin names the account.
	add("advA", "GET", "/api/v1/statements", nil, nil, ok)
	add("pubP", "GET", "/api/v1/statements", nil, nil, ok)
	add("admin", "GET", "/api/v1/statements", nil, nil, bad)
	add("admin", "GET", "/api/v1/statements", nil, nil, ok)
	cases[len(cases)-1].path += "?advertiser=" + id(f.advA)
	add("advA", "GET", "/api/v1/statements", nil, nil, forb)
	cases[len(cases)-1].path += "?publisher=" + id(f.pubP)
	add("pubP", "GET", "/api/v1/statements", nil, nil, forb)
	cases[len(cases)-1].path += "?advertiser=" + id(f.advA)
	add("advA", "GET", "/api/v1/statements", nil, nil, bad)
	cases[len(cases)-1].path += "?month=2025-13"
	// Reports: a publisher may not filter by advertiser (it would learn who runs on it).
	add("pubP", "GET", "/api/v1/reports", nil, nil, ok)
	cases[len(cases)-1].path += "?advertiser=" + id(f.advA)
	cases[len(cases)-1].want = forb

	for _, c := range cases {
		resp := f.do(c.who, c.method, c.path, c.body)
		if resp.Code != c.want {
			t.Errorf("%s %s %s: %d %s, want %d", c.who, c.method, c.path, resp.Code, strings.TrimSpace(resp.Body.String()), c.want)
		}
		if c.want == missing {
			// A foreign object answers exactly like one that does not exist.
			ghost := strings.Replace(c.path, fmt.Sprint("/", lastID(c.path)), "/999999", 1)
			g := f.do(c.who, c.method, ghost, c.body)
			if g.Code != missing || strings.ReplaceAll(g.Body.String(), "999999", "N") != strings.ReplaceAll(resp.Body.String(), fmt.Sprint(lastID(c.path)), "N") {
				t.Errorf("%s %s %s: foreign %d %s, missing %d %s — must be the same", c.who, c.method, c.path, resp.Code, resp.Body, g.Code, g.Body)
			}
		}
		if !slices.Contains(f.api.DocumentedStatuses(c.method, c.pattern), resp.Code) {
			t.Errorf("%s %s: status %d is not in the OpenAPI document", c.method, c.pattern, resp.Code)
		}
	}
}

// lastID returns the last number in a path.
func lastID(path string) int64 {
	var n int64
	for _, seg := range strings.Split(strings.SplitN(path, "?", 2)[0], "/") {
		var v int64
		if _, err := fmt.Sscan(seg, &v); err == nil {
			n = v
		}
	}
	return n
}

// TestListsShowOnlyOwnObjects: lists are filtered by account, whatever the query asks.
func TestListsShowOnlyOwnObjects(t *testing.T) {
	t.Parallel()
	w := newAuthzWorld(t)
	f := w.apiFixture
	camps := decode[listBody[models.Campaign]](t, f.do("advA", "GET", fmt.Sprint("/api/v1/campaigns?advertiser_id=", f.advB), nil))
	for _, c := range camps.Items {
		if c.AdvertiserID != f.advA {
			t.Errorf("advertiser A listed campaign %d of advertiser %d", c.ID, c.AdvertiserID)
		}
	}
	crs := decode[listBody[models.Creative]](t, f.do("advA", "GET", fmt.Sprint("/api/v1/creatives?campaign_id=", w.campB), nil))
	if len(crs.Items) != 0 {
		t.Errorf("advertiser A listed %d creatives of B's campaign", len(crs.Items))
	}
	zones := decode[listBody[models.Zone]](t, f.do("pubP", "GET", fmt.Sprint("/api/v1/zones?site_id=", w.siteQ), nil))
	if len(zones.Items) != 0 {
		t.Errorf("publisher P listed %d zones of Q's site", len(zones.Items))
	}
	for who, want := range map[string][]int64{"advA": {w.campA}, "pubP": {w.campA}, "advB": {w.campB}} {
		links := decode[listBody[manage.Link]](t, f.do(who, "GET", "/api/v1/links", nil))
		var got []int64
		for _, l := range links.Items {
			got = append(got, l.CampaignID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s sees links of campaigns %v, want %v", who, got, want)
		}
	}
	users := decode[listBody[models.User]](t, f.do("pubP", "GET", "/api/v1/users", nil))
	if len(users.Items) != 1 || users.Items[0].Email != "pubP@example.test" {
		t.Errorf("publisher P lists users %+v, want only itself", users.Items)
	}
	for _, who := range []string{"advA", "pubP"} {
		if l := decode[listBody[models.Advertiser]](t, f.do(who, "GET", "/api/v1/advertisers", nil)); len(l.Items) > 1 {
			t.Errorf("%s lists %d advertisers", who, len(l.Items))
		}
	}
}

// TestNoMassAssignment: fields an account may not set are kept, whatever the body says.
func TestNoMassAssignment(t *testing.T) {
	t.Parallel()
	w := newAuthzWorld(t)
	f := w.apiFixture
	resp := f.do("advA", "PATCH", fmt.Sprint("/api/v1/campaigns/", w.campA),
		map[string]any{"advertiser_id": f.advB, "approval": "approved", "id": w.campB, "name": "mine still"})
	c := decode[models.Campaign](t, resp)
	if resp.Code != http.StatusOK || c.AdvertiserID != f.advA || c.ID != w.campA || c.Name != "mine still" {
		t.Errorf("PATCH with foreign advertiser_id and id: %d %+v", resp.Code, c)
	}
	resp = f.do("advA", "POST", "/api/v1/campaigns", map[string]any{"advertiser_id": f.advB, "name": "sneaky", "pricing": "cpm",
		"approval": "approved"})
	c = decode[models.Campaign](t, resp)
	if resp.Code != http.StatusCreated || c.AdvertiserID != f.advA || c.Approval != models.ApprovalPending {
		t.Errorf("advertiser's new campaign: %d %+v; want its own, pending approval", resp.Code, c)
	}
	resp = f.do("pubP", "PATCH", fmt.Sprint("/api/v1/publishers/", f.pubP), map[string]any{"revenue_share_bp": 10000, "status": "paused"})
	p := decode[models.Publisher](t, resp)
	if resp.Code != http.StatusOK || p.RevenueShareBP != 7000 || p.Status != models.StatusActive {
		t.Errorf("publisher raised its own revenue share or status: %d %+v", resp.Code, p)
	}
	// An advertiser's content change goes back to the approval queue.
	if resp := f.do("admin", "POST", fmt.Sprint("/api/v1/creatives/", w.crA, "/approve"), nil); resp.Code != http.StatusOK {
		t.Fatal(resp.Body)
	}
	cr := decode[models.Creative](t, f.do("advA", "PATCH", fmt.Sprint("/api/v1/creatives/", w.crA), map[string]any{"click_url": "https://evil.example/"}))
	if cr.Approval != models.ApprovalPending {
		t.Errorf("changed landing page kept approval %q", cr.Approval)
	}
}

// TestReportsShowEachSideItsOwnMoney: an advertiser sees its spend, not the publishers'
// revenue; a publisher its revenue, not the advertisers' spend; an advertiser may not take
// the network's override tier.
func TestReportsShowEachSideItsOwnMoney(t *testing.T) {
	t.Parallel()
	w := newAuthzWorld(t)
	f := w.apiFixture
	hour := time.Now().UTC().Truncate(time.Hour)
	err := f.store.FlushBatch(context.Background(), &models.Batch{Stats: []models.StatsDelta{{Hour: hour, Day: hour,
		ZoneID: w.zoneP, SiteID: w.siteP, PublisherID: f.pubP, CampaignID: w.campA, AdvertiserID: f.advA, CreativeID: w.crA,
		Requests: 10, Served: 10, Impressions: 10, Clicks: 2, SpendNanos: 200_000_000, RevenueNanos: 140_000_000}}})
	if err != nil {
		t.Fatal(err)
	}
	totals := func(who string) map[string]any {
		resp := f.do(who, "GET", "/api/v1/reports", nil)
		if resp.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", who, resp.Code, resp.Body)
		}
		return decode[map[string]any](t, resp)["totals"].(map[string]any)
	}
	if m := totals("admin"); m["spend_micros"] != 200000.0 || m["publisher_revenue_micros"] != 140000.0 {
		t.Errorf("admin totals: %v", m)
	}
	if m := totals("advA"); m["spend_micros"] != 200000.0 || m["publisher_revenue_micros"] != 0.0 {
		t.Errorf("advertiser totals show the publishers' revenue: %v", m)
	}
	if m := totals("pubP"); m["spend_micros"] != 0.0 || m["publisher_revenue_micros"] != 140000.0 || m["ecpm_micros"] != 14_000_000.0 {
		t.Errorf("publisher totals show the advertisers' spend, or eCPM not of its earnings: %v", m)
	}
	resp := f.do("advA", "POST", "/api/v1/campaigns", map[string]any{"name": "takeover", "tier": "override", "pricing": "cpm"})
	if resp.Code != http.StatusBadRequest || !strings.Contains(resp.Body.String(), `"tier"`) {
		t.Errorf("advertiser asking for the override tier: %d %s", resp.Code, resp.Body)
	}
	resp = f.do("advA", "PATCH", fmt.Sprint("/api/v1/campaigns/", w.campA), map[string]any{"tier": "house"})
	if resp.Code != http.StatusBadRequest {
		t.Errorf("advertiser moving its campaign to the house tier: %d %s", resp.Code, resp.Body)
	}
}
