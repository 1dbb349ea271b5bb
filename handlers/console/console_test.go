package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"adnet/internal/manage"
	"adnet/models"
)

func TestSignInCookieAndSignOut(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	if w := b.get("/admin/campaigns"); w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/admin/login") {
		t.Fatalf("signed out: %d → %q, want the sign-in page", w.Code, w.Header().Get("Location"))
	}
	// A wrong password and an unknown email get the same answer.
	wrong := b.tryLogin(f.emails["advA"], "not-the-password")
	unknown := b.tryLogin("nobody@example.test", "not-the-password")
	if wrong.Code != http.StatusUnauthorized || unknown.Code != http.StatusUnauthorized {
		t.Fatalf("bad sign-ins: %d, %d; want 401", wrong.Code, unknown.Code)
	}
	for _, w := range []string{wrong.Body.String(), unknown.Body.String()} {
		if !strings.Contains(w, "Wrong email or password.") {
			t.Fatalf("bad sign-in page does not say so: %s", w)
		}
	}
	if !strings.Contains(wrong.Body.String(), `value="`+f.emails["advA"]+`"`) {
		t.Error("the sign-in form does not keep the email")
	}
	w := b.tryLogin(f.emails["advA"], f.passwords["advA"])
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin/" {
		t.Fatalf("sign-in: %d %q", w.Code, w.Header().Get("Location"))
	}
	ck := b.cookies[SessionCookie]
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/admin/" || ck.Secure {
		t.Fatalf("session cookie over HTTP: %+v; want HttpOnly, SameSite=Lax, Path=/admin/, not Secure", ck)
	}
	if w := b.get("/admin/"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), f.emails["advA"]) {
		t.Fatalf("dashboard: %d", w.Code)
	}
	session := ck.Value
	if w := b.post("/admin/logout", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("logout: %d %s", w.Code, w.Body)
	}
	if _, ok := b.cookies[SessionCookie]; ok {
		t.Error("logout did not clear the cookie")
	}
	// The old session id is dead on the server, not only forgotten by the browser.
	b.cookies[SessionCookie] = &http.Cookie{Name: SessionCookie, Value: session}
	if w := b.get("/admin/"); w.Code != http.StatusSeeOther {
		t.Fatalf("the session works after logout: %d", w.Code)
	}

	// Over HTTPS (fcgi sets r.TLS from HTTPS=on) the cookie is Secure.
	s := f.browser()
	s.tls = true
	s.login("admin")
	if ck := s.cookies[SessionCookie]; ck == nil || !ck.Secure {
		t.Fatalf("session cookie over HTTPS: %+v; want Secure", ck)
	}
}

func TestSignInFormIsProtectedAndThrottled(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	post := func(form url.Values, site string) int {
		r := newPost("/admin/login", form)
		if site != "" {
			r.Header.Set("Sec-Fetch-Site", site)
		}
		return b.do(r).Code
	}
	creds := url.Values{"email": {f.emails["advA"]}, "password": {f.passwords["advA"]}}
	if code := post(creds, ""); code != http.StatusForbidden {
		t.Errorf("sign-in without the form's token: %d, want 403", code)
	}
	b.get("/admin/login")
	forged := url.Values{"email": creds["email"], "password": creds["password"], "login_token": {"forged"}}
	if code := post(forged, ""); code != http.StatusForbidden {
		t.Errorf("sign-in with a wrong token: %d, want 403", code)
	}
	b.get("/admin/login")
	tok := b.cookies[loginCookie].Value
	cross := url.Values{"email": creds["email"], "password": creds["password"], "login_token": {tok}}
	if code := post(cross, "cross-site"); code != http.StatusForbidden {
		t.Errorf("cross-site sign-in: %d, want 403", code)
	}
	// Throttling: after the account's failures even the right password is refused, and the
	// page says why.
	for i := 0; i < manage.DefaultMaxFailuresPerAcc; i++ {
		b.tryLogin(f.emails["advA"], "wrong password!")
	}
	w := b.tryLogin(f.emails["advA"], f.passwords["advA"])
	if w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), "Too many failed sign-ins") {
		t.Fatalf("throttled sign-in: %d %s", w.Code, w.Body)
	}
}

func newPost(path string, form url.Values) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func TestCSRFTokenRequiredOnEveryForm(t *testing.T) {
	f := newFixture(t)
	admin := f.browser()
	admin.login("admin")
	form := url.Values{"name": {"Spring sale"}, "advertiser_id": {fmt.Sprint(f.advA)}, "status": {"active"}, "tier": {"remnant"},
		"weight": {"1"}, "pricing": {"cpm"}, "rate": {"1.5"}, "pacing": {"asap"}}
	for _, tok := range []string{"", "wrong-token"} {
		v := url.Values{}
		for k, vs := range form {
			v[k] = vs
		}
		v.Set("csrf", tok)
		if w := admin.post("/admin/campaigns", v); w.Code != http.StatusForbidden {
			t.Fatalf("POST with CSRF token %q: %d, want 403", tok, w.Code)
		}
	}
	// Another session's token is not this session's.
	other := f.browser()
	other.login("advA")
	form.Set("csrf", other.csrf)
	if w := admin.post("/admin/campaigns", form); w.Code != http.StatusForbidden {
		t.Fatalf("POST with another session's token: %d, want 403", w.Code)
	}
	form.Del("csrf")
	if w := admin.post("/admin/campaigns", form); w.Code != http.StatusSeeOther {
		t.Fatalf("POST with the session's token: %d %s", w.Code, w.Body)
	}
	// Every POST route checks it (logout and uploads included).
	for _, path := range []string{"/admin/logout", "/admin/account/tokens", "/admin/users", "/admin/links", "/admin/fraud/blocklist",
		"/admin/advertisers", "/admin/publishers", "/admin/sites", "/admin/zones", "/admin/campaigns/1/review",
		"/admin/campaigns/1/creatives", "/admin/creatives/1/review", "/admin/fraud/flags/1", "/admin/account/password",
		"/admin/advertisers/1/rotate", "/admin/links/delete", "/admin/users/1/delete", "/admin/account/tokens/1/revoke"} {
		if w := admin.post(path, url.Values{"csrf": {""}}); w.Code != http.StatusForbidden {
			t.Errorf("POST %s without a token: %d, want 403", path, w.Code)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	for _, path := range []string{"/admin/login", "/admin/static/console.css"} {
		h := b.get(path).Header()
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s CSP = %q", path, csp)
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" {
			t.Errorf("%s headers: %v", path, h)
		}
	}
	b.login("admin")
	// A crafted link cannot put its own text on a page: notices are named, not carried.
	if body := b.get("/admin/?notice=Your+account+is+locked%3A+call+0900").Body.String(); strings.Contains(body, "locked") {
		t.Error("the notice parameter's text is shown")
	}
	if body := b.get("/admin/?notice=campaign-saved").Body.String(); !strings.Contains(body, "Campaign saved.") {
		t.Error("a named notice is not shown")
	}
	w := b.get("/admin/")
	if w.Header().Get("Cache-Control") != "no-store" || strings.Contains(w.Body.String(), "<script>") {
		t.Errorf("dashboard: Cache-Control %q, or inline script", w.Header().Get("Cache-Control"))
	}
}

func TestNamesAreEscaped(t *testing.T) {
	f := newFixture(t)
	evil := `<script>alert("x")</script>`
	c := f.campaign(f.advA, evil)
	ctx := context.Background()
	cr := &models.Creative{CampaignID: c.ID, Name: evil, Kind: models.CreativeHTML, Width: 300, Height: 250, Weight: 1,
		HTML: `<b>hi</b><script>alert(2)</script>`, ClickURL: "https://example.com/"}
	if err := f.svc.CreateCreative(ctx, manage.CommandLine(), cr); err != nil {
		t.Fatal(err)
	}
	b := f.browser()
	b.login("admin")
	for _, path := range []string{"/admin/campaigns", fmt.Sprintf("/admin/campaigns/%d", c.ID), fmt.Sprintf("/admin/creatives/%d", cr.ID),
		"/admin/approvals", "/admin/links", "/admin/audit"} {
		w := b.get(path)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d", path, w.Code)
		}
		body := w.Body.String()
		if strings.Contains(body, "<script>alert") {
			t.Errorf("%s renders a name's <script> unescaped", path)
		}
		if path == "/admin/campaigns" && !strings.Contains(body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
			t.Errorf("%s does not show the name escaped", path)
		}
	}
	// The HTML creative is previewed only inside a sandboxed frame, as srcdoc text.
	body := b.get(fmt.Sprintf("/admin/creatives/%d", cr.ID)).Body.String()
	if !strings.Contains(body, `<iframe class="html-preview" sandbox srcdoc="&lt;b&gt;hi&lt;/b&gt;`) || strings.Contains(body, "<b>hi</b>") {
		t.Errorf("HTML creative preview is not a sandboxed srcdoc frame:\n%s", body)
	}
}

func TestForeignObjectsAreNotFound(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cli := manage.CommandLine()
	ca := f.campaign(f.advA, "A's campaign")
	cr := &models.Creative{CampaignID: ca.ID, Name: "A's ad", Kind: models.CreativeText, Width: 300, Height: 250, Weight: 1,
		Title: "Hello", ClickURL: "https://example.com/"}
	if err := f.svc.CreateCreative(ctx, cli, cr); err != nil {
		t.Fatal(err)
	}
	site := &models.Site{PublisherID: f.pubP, Name: "P's site", Domain: "p.example"}
	if err := f.svc.CreateSite(ctx, cli, site); err != nil {
		t.Fatal(err)
	}
	zone := &models.Zone{SiteID: site.ID, Name: "P's zone", Width: 300, Height: 250}
	if err := f.svc.CreateZone(ctx, cli, zone); err != nil {
		t.Fatal(err)
	}
	b := f.browser()
	b.login("advB")
	for _, path := range []string{fmt.Sprintf("/admin/campaigns/%d", ca.ID), fmt.Sprintf("/admin/campaigns/%d/edit", ca.ID),
		fmt.Sprintf("/admin/campaigns/%d/creatives/new", ca.ID), fmt.Sprintf("/admin/creatives/%d", cr.ID),
		fmt.Sprintf("/admin/advertisers/%d", f.advA), "/admin/campaigns/999999", "/admin/approvals", "/admin/users", "/admin/audit", "/admin/fraud"} {
		if w := b.get(path); w.Code != http.StatusNotFound {
			t.Errorf("advertiser B GET %s: %d, want 404", path, w.Code)
		}
	}
	missing := b.get("/admin/campaigns/999999").Body.String()
	foreign := b.get(fmt.Sprintf("/admin/campaigns/%d", ca.ID)).Body.String()
	if strings.Replace(foreign, fmt.Sprintf("campaign %d not found", ca.ID), "campaign 999999 not found", 1) != missing {
		t.Errorf("a foreign campaign's page differs from a missing one's:\n%s\n%s", foreign, missing)
	}
	for _, path := range []string{fmt.Sprintf("/admin/campaigns/%d", ca.ID), fmt.Sprintf("/admin/creatives/%d", cr.ID),
		fmt.Sprintf("/admin/advertisers/%d/rotate", f.advA)} {
		if w := b.post(path, url.Values{"name": {"taken over"}, "tier": {"remnant"}}); w.Code != http.StatusNotFound {
			t.Errorf("advertiser B POST %s: %d, want 404", path, w.Code)
		}
	}
	q := f.browser()
	q.login("pubQ")
	for _, path := range []string{fmt.Sprintf("/admin/zones/%d", zone.ID), fmt.Sprintf("/admin/sites/%d", site.ID), fmt.Sprintf("/admin/publishers/%d", f.pubP)} {
		if w := q.get(path); w.Code != http.StatusNotFound {
			t.Errorf("publisher Q GET %s: %d, want 404", path, w.Code)
		}
	}
	// The owner sees its zone's tag code.
	p := f.browser()
	p.login("pubP")
	if w := p.get(fmt.Sprintf("/admin/zones/%d?kv=section%%3Dsport", zone.ID)); w.Code != http.StatusOK ||
		!strings.Contains(w.Body.String(), fmt.Sprintf("https://ads.example/serve/js?zone=%d&amp;amp;section=sport", zone.ID)) {
		t.Errorf("publisher P's zone page: %d, no tag code\n%s", w.Code, w.Body)
	}
	c, err := f.svc.GetCampaign(ctx, cli, ca.ID)
	if err != nil || c.Name != "A's campaign" {
		t.Fatalf("A's campaign changed: %v %v", c, err)
	}
}
