package main

// End-to-end test of the web console in a real headless Chromium through nginx and the
// workers: an advertiser creates a campaign and uploads its creative, the admin approves
// both and links the campaign to a zone of the demo page, the demo page then shows the
// creative, and once the aggregator has flushed the campaign's report in the console shows
// the impression. Screenshots of the main pages go to docs/screenshots/ for review.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"adnet/internal/demo"
	"adnet/models"
	"adnet/models/mysql"
)

// demoLogins reads the demo users' passwords from the file `adnet demo` wrote.
func demoLogins(t *testing.T, dataDir string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "demo-logins.txt"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && strings.Contains(f[0], "@") {
			out[f[0]] = f[1]
		}
	}
	return out
}

// bannerPNG writes a 300×250 PNG banner (stripes, so a screenshot shows it) and returns its path.
func bannerPNG(t *testing.T) string {
	img := image.NewRGBA(image.Rect(0, 0, 300, 250))
	for x := 0; x < 300; x++ {
		for y := 0; y < 250; y++ {
			c := color.RGBA{0x1f, 0x6f, 0xeb, 0xff}
			if (x/25+y/25)%2 == 0 {
				c = color.RGBA{0xff, 0xb3, 0x00, 0xff}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "banner.png")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// consoleSession drives the console in the browser.
type consoleSession struct {
	t     *testing.T
	ctx   context.Context
	base  string
	tp    *topology
	shots string // where screenshots go
}

func (s *consoleSession) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	if err := chromedp.Do(s.ctx, actions...); err != nil {
		loc, _ := chromedp.Run(s.ctx, chromedp.Location())
		body, _ := chromedp.Run(s.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		s.t.Fatalf("%s: %v\nat %s:\n%s\nmaster output:\n%s", what, err, loc, body, s.tp.out.String())
	}
}

func (s *consoleSession) login(email, password string) {
	s.t.Helper()
	s.run("sign in as "+email,
		chromedp.Navigate(s.base+"/admin/login"),
		chromedp.WaitVisible(chromedp.CSS(`#f-email`)),
		chromedp.SendKeys(chromedp.CSS(`#f-email`), email),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), password),
		chromedp.Click(chromedp.CSS(`form button.primary`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/admin/logout"]`)),
	)
}

func (s *consoleSession) logout() {
	s.run("sign out", chromedp.Click(chromedp.CSS(`form[action="/admin/logout"] button`)), chromedp.WaitVisible(chromedp.CSS(`#f-email`)))
}

// shot saves a full-page PNG screenshot of the current page: into docs/screenshots/ with
// ADNET_SCREENSHOTS=1 (`make screenshots`, to refresh the committed ones), else into the
// test's temporary directory, so that a plain `make test` leaves the work tree clean.
func (s *consoleSession) shot(name string) {
	s.t.Helper()
	buf, err := chromedp.Run(s.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	if len(buf) < 1000 || !bytes.HasPrefix(buf, []byte("\x89PNG")) {
		s.t.Fatalf("screenshot %s is not a PNG (%d bytes)", name, len(buf))
	}
	dir := s.shots
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// location is the browser's URL.
func (s *consoleSession) location() string {
	s.t.Helper()
	loc, err := chromedp.Run(s.ctx, chromedp.Location())
	if err != nil {
		s.t.Fatal(err)
	}
	return loc
}

// arrived waits until the page that a form's redirect leads to has loaded: its URL carries
// the notice, and the document is complete (a navigation started before that would abort
// it). Errors while the page changes are expected and retried.
func (s *consoleSession) arrived(urlPart string) {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		loc, err := chromedp.Run(s.ctx, chromedp.Location())
		if err == nil && strings.Contains(loc, urlPart) {
			done, err := chromedp.Run(s.ctx, chromedp.Evaluate[bool](`document.readyState === 'complete'`))
			if err == nil && done {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	loc, _ := chromedp.Run(s.ctx, chromedp.Location())
	s.t.Fatalf("the browser did not arrive at a page with %q; it is at %s\nmaster output:\n%s", urlPart, loc, s.tp.out.String())
}

// serveJSON asks /serve/json as user agent ua and returns the decision's impression URL.
func (tp *topology) serveJSON(t *testing.T, path, ua string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, tp.cfg.Tracking.BaseURL+path, nil)
	req.Header.Set("User-Agent", ua)
	resp, err := tp.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct {
		ImpressionURL string `json:"impression_url"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || d.ImpressionURL == "" {
		t.Fatalf("%s: %d, %v", path, resp.StatusCode, err)
	}
	return d.ImpressionURL
}

// fetch requests url as user agent ua and discards the answer.
func (tp *topology) fetch(t *testing.T, url, ua string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("User-Agent", ua)
	resp, err := tp.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

var idInPath = regexp.MustCompile(`/admin/(?:campaigns|creatives)/(\d+)`)

func TestConsoleEndToEnd(t *testing.T) {
	tp := startTopologyWith(t, topoOptions{demo: true, sections: "[stats]\nflush_interval = \"1s\"\n", before: func(tp *topology) {
		// A flag for the fraud review page, as the anomaly scanner would file it.
		ctx := context.Background()
		db, err := openDB(ctx, tp.cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		now := time.Now().UTC()
		f := &models.FraudFlag{EntityKind: models.FlagZone, EntityID: 3, Metric: "ctr", Value: 0.21, Baseline: 0.012, Z: 7.4,
			Volume: 5400, BaselineSource: models.BaselinePeers, LastSeenAt: now}
		if _, err := mysql.NewStore(db).UpsertFraudFlag(ctx, f); err != nil {
			t.Fatal(err)
		}
	}})
	logins := demoLogins(t, tp.cfg.DataDir)
	// A person at the console, who also looks at the demo page: step 5 needs the page's
	// impressions to be valid, and a plain headless Chromium's are automation (asPerson).
	ctx, console := newBrowser(t, asPerson)
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	s := &consoleSession{t: t, ctx: ctx, base: tp.cfg.Tracking.BaseURL, tp: tp, shots: t.TempDir()}
	if os.Getenv("ADNET_SCREENSHOTS") == "1" {
		s.shots = filepath.Join("..", "..", "docs", "screenshots")
	}
	banner := bannerPNG(t)

	// 1. The demo advertiser creates a contract campaign (override is the network's to give).
	s.login(demo.AdvertiserEmail, logins[demo.AdvertiserEmail])
	s.run("create the campaign",
		chromedp.Navigate(s.base+"/admin/campaigns/new"),
		chromedp.WaitVisible(chromedp.CSS(`#f-name`)),
		chromedp.SendKeys(chromedp.CSS(`#f-name`), "Browser test campaign"),
		chromedp.SetValue(chromedp.CSS(`#f-tier`), "contract"),
		chromedp.SetValue(chromedp.CSS(`#f-rate`), "2.50"),
		chromedp.SetValue(chromedp.CSS(`#f-daily_impressions`), "100000"),
		chromedp.Click(chromedp.CSS(`#campaign-form button.primary`)),
	)
	s.arrived("notice=campaign-saved")
	loc := s.location()
	m := idInPath.FindStringSubmatch(loc)
	if m == nil {
		t.Fatalf("after creating the campaign the browser is at %s", loc)
	}
	campaignID := m[1]

	// 2. Its creative: the PNG is chosen, previewed before submitting, uploaded.
	s.run("fill the creative form",
		chromedp.Navigate(s.base+"/admin/campaigns/"+campaignID+"/creatives/new"),
		chromedp.WaitVisible(chromedp.CSS(`#f-file`)),
		chromedp.SendKeys(chromedp.CSS(`#f-name`), "Browser test banner"),
		chromedp.SetUploadFiles(chromedp.CSS(`#f-file`), []string{banner}),
		chromedp.SendKeys(chromedp.CSS(`#f-click_url`), "https://example.com/landing?click={click_id}"),
		chromedp.Poll[chromedp.Void](`document.getElementById('preview-image').naturalWidth === 300`, chromedp.WithPollingTimeout(10*time.Second)),
	)
	s.shot("creative-form-preview")
	s.run("upload the creative",
		chromedp.Click(chromedp.CSS(`#creative-form button.primary`)),
	)
	s.arrived("notice=creative-saved")
	loc = s.location()
	if m = idInPath.FindStringSubmatch(loc); m == nil || !strings.Contains(loc, "/admin/creatives/") {
		t.Fatalf("after saving the creative the browser is at %s", loc)
	}
	creativeID := m[1]
	state, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.badge`)))
	if err != nil {
		t.Fatal(err)
	}
	if state != "pending" {
		t.Fatalf("an advertiser's new creative is %q, want pending", state)
	}
	s.logout()

	// 3. The admin approves both and links the campaign to zone 1 of the demo page.
	s.login(demo.AdminEmail, logins[demo.AdminEmail])
	s.run("open the approval queue", chromedp.Navigate(s.base+"/admin/approvals"), chromedp.WaitVisible(chromedp.CSS(`main table`)))
	s.shot("approval-queue")
	s.run("approve the campaign",
		chromedp.Click(chromedp.CSS(`form[action="/admin/campaigns/`+campaignID+`/review"] button[value="approve"]`)))
	s.arrived("notice=campaign-approved")
	s.run("approve the creative",
		chromedp.Click(chromedp.CSS(`form[action="/admin/creatives/`+creativeID+`/review"] button[value="approve"]`)))
	s.arrived("notice=creative-approved")
	// The network makes it an override campaign, so that it wins zone 1 over the demo's.
	s.run("raise the campaign to the override tier",
		chromedp.Navigate(s.base+"/admin/campaigns/"+campaignID+"/edit"),
		chromedp.WaitVisible(chromedp.CSS(`#f-tier`)),
		chromedp.SetValue(chromedp.CSS(`#f-tier`), "override"),
		chromedp.Click(chromedp.CSS(`#campaign-form button.primary`)))
	s.arrived("notice=campaign-saved")
	s.run("link the campaign to zone 1",
		chromedp.Navigate(s.base+"/admin/links?campaign="+campaignID+"&zone=1"),
		chromedp.WaitVisible(chromedp.CSS(`#link-form`)),
		chromedp.SetValue(chromedp.CSS(`#f-weight`), "5"),
		chromedp.Click(chromedp.CSS(`#link-form button.primary`)))
	s.arrived("notice=linked")

	// 4. Within an inventory refresh the demo page's zone 1 shows the uploaded banner.
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := chromedp.Do(ctx, chromedp.Navigate(s.base+"/demo/"),
			chromedp.Poll[chromedp.Void](`document.querySelector('#zone-1 .adnet-ad img') !== null`, chromedp.WithPollingTimeout(10*time.Second)))
		var shown bool
		if err == nil {
			shown, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#zone-1 .adnet-ad img').src.includes('/uploads/') &&
				document.querySelector('#zone-1 .adnet-ad img').complete && document.querySelector('#zone-1 .adnet-ad img').naturalWidth === 300`))
		}
		if err == nil && shown {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo page never showed the new creative (%v); master output:\n%s", err, tp.out.String())
		}
		time.Sleep(time.Second)
	}
	s.shot("demo-page-with-creative")
	// The zone page: its tag code, and the new campaign serving with its effective share.
	s.run("open the zone's tag code", chromedp.Navigate(s.base+"/admin/zones/1?kv=section%3Dnews"), chromedp.WaitVisible(chromedp.CSS(`#tag-script`)))
	s.shot("zone-tag-code")

	// Some invalid traffic for the fraud review: a scripted client's impressions (bot_ua) and
	// a replayed beacon (duplicate_impression).
	for i := 0; i < 6; i++ {
		ua := "curl/8.5.0"
		if i%2 == 1 {
			ua = desktopUA
		}
		imp := tp.serveJSON(t, "/serve/json?zone=2", ua)
		for n := 0; n < 1+i%2; n++ {
			tp.fetch(t, imp, ua)
		}
	}

	// 5. After the aggregator's flush, the console's report has the campaign's impression.
	deadline = time.Now().Add(90 * time.Second)
	for {
		err := chromedp.Do(ctx, chromedp.Navigate(s.base+"/admin/reports?group_by=campaign"),
			chromedp.WaitVisible(chromedp.CSS(`#report-table`)))
		var imps int
		if err == nil {
			imps, err = chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`(() => { for (const tr of document.querySelectorAll('#report-table tbody tr')) {
				const td = tr.querySelectorAll('td'); if (td[0] && td[0].textContent === %q) return parseInt(td[1].textContent, 10); } return 0; })()`, campaignID)))
		}
		if err == nil && imps >= 1 {
			t.Logf("the report shows %d impressions of campaign %s", imps, campaignID)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the campaign's report never showed its impression (%v); master output:\n%s", err, tp.out.String())
		}
		time.Sleep(time.Second)
	}
	s.run("open the report chart", chromedp.Navigate(s.base+"/admin/reports?group_by=day"), chromedp.WaitVisible(chromedp.CSS(`.chart svg`)))
	s.shot("reports-chart")
	s.run("open the campaign page", chromedp.Navigate(s.base+"/admin/campaigns/"+campaignID), chromedp.WaitVisible(chromedp.CSS(`.chart svg`)))
	s.shot("campaign")
	s.run("open the dashboard", chromedp.Navigate(s.base+"/admin/"), chromedp.WaitVisible(chromedp.CSS(`.chart svg`)))
	s.shot("dashboard")
	s.run("edit the blocklist", chromedp.Navigate(s.base+"/admin/fraud"), chromedp.WaitVisible(chromedp.CSS(`#f-blocklist`)),
		chromedp.SetValue(chromedp.CSS(`#f-blocklist`), "# abusive hosting range\n203.0.113.0/24\n198.51.100.7\n"),
		chromedp.Click(chromedp.CSS(`form[action="/admin/fraud/blocklist"] button`)))
	s.arrived("notice=blocklist-saved")
	s.shot("fraud-review")
	// The console on a phone: the menu folds, the tables scroll.
	s.run("phone width", chromedp.EmulateViewport(390, 844), chromedp.Navigate(s.base+"/admin/campaigns/"+campaignID),
		chromedp.WaitVisible(chromedp.CSS(`.chart svg`)))
	s.shot("campaign-phone")
	if errs := console.all(); len(errs) > 0 {
		t.Fatalf("the pages logged errors: %s", strings.Join(errs, "; "))
	}
}
