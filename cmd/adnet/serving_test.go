package main

// End-to-end test of ad serving as a publisher and a visitor see it: a real headless Chromium
// loads the publisher demo page through nginx, the zone tags render ads, their impression
// beacons fire, a click goes through the redirect to the advertiser's landing page (a local
// test server) and that page's conversion pixel is attributed to the click.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"adnet/internal/eventlog"
	"adnet/models"
	"adnet/models/mysql"
)

// desktopUA is a current desktop Chrome: headless Chromium's own user agent says
// "HeadlessChrome", which the invalid-traffic filters rightly flag as a bot.
const desktopUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"

// asPerson makes a headless Chromium look like a person's browser to the page:
// navigator.webdriver is false. Headless Chromium sets it to true, which the tags report (sig)
// and the worker counts as automation — rightly, and TestBrowserServesTracksAndConverts checks
// that too; the tests that are about a person's page view launch the browser with this.
var asPerson = chromedp.Flag("disable-blink-features", "AutomationControlled")

// newBrowser starts Debian's Chromium headless with a fresh profile and the extra options.
func newBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) (context.Context, *consoleLog) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		t.Fatalf("chromium is not installed: run scripts/install-deps.sh test")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath("/usr/bin/chromium"),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()), chromedp.UserAgent(desktopUA), chromedp.WindowSize(1280, 1400),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	logs := &consoleLog{}
	err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			logs.add("exception: " + e.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				logs.add("console.error")
			}
		}
	})
	if err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx, logs
}

type consoleLog struct {
	mu   sync.Mutex
	errs []string
}

func (c *consoleLog) add(s string) { c.mu.Lock(); c.errs = append(c.errs, s); c.mu.Unlock() }
func (c *consoleLog) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errs...)
}

// readEvents returns every event the workers have written so far.
func (tp *topology) readEvents() []models.Event {
	tp.t.Helper()
	dirs, err := filepath.Glob(filepath.Join(tp.cfg.DataDir, "events", "worker-*", "w*"))
	if err != nil {
		tp.t.Fatal(err)
	}
	var out []models.Event
	for _, d := range dirs {
		rd, err := eventlog.OpenReader(d, eventlog.Position{}, nil)
		if err != nil {
			tp.t.Fatal(err)
		}
		for {
			var ev models.Event
			if _, err := rd.Next(&ev); err != nil {
				if !errors.Is(err, io.EOF) {
					tp.t.Fatal(err)
				}
				break
			}
			out = append(out, ev)
		}
		rd.Close()
	}
	return out
}

func TestBrowserServesTracksAndConverts(t *testing.T) {
	// The advertiser's landing page: it carries the conversion pixel, as an advertiser would
	// paste it, and remembers the click id the redirect appended.
	var landed sync.Map
	var adsURL string
	landing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r) // the browser also asks for /favicon.ico
			return
		}
		landed.Store("click", r.URL.Query().Get("click"))
		fmt.Fprintf(w, `<!doctype html><title>Acme</title><h1 id="landed">Acme landing page</h1>`+
			`<img id="pixel" src="%s/track/conv?type=pixel" width="1" height="1" alt="">`, adsURL)
	}))
	defer landing.Close()

	tp := startTopologyWith(t, topoOptions{demo: true, before: func(tp *topology) {
		// Point every demo creative at the local landing page.
		ctx := context.Background()
		db, err := openDB(ctx, tp.cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		store := mysql.NewStore(db)
		crs, err := store.ListCreatives(ctx, models.CreativeFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range crs {
			crs[i].ClickURL = landing.URL + "/?click={click_id}"
			if err := store.UpdateCreative(ctx, &crs[i]); err != nil {
				t.Fatal(err)
			}
		}
	}})
	adsURL = tp.cfg.Tracking.BaseURL

	// A person's page view: navigator.webdriver false (see asPerson); step 5 loads the page
	// with a plain headless Chromium, which must be automation.
	ctx, console := newBrowser(t, asPerson)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	// 1. The demo page shows an ad from each of its five tags (three script tags, two iframes).
	if err := chromedp.Do(ctx,
		chromedp.Navigate(adsURL+"/demo/"),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('.adnet-ad a').length === 3 &&
			Array.from(document.querySelectorAll('iframe[src*="/serve/frame"]')).every(f => f.contentDocument &&
				f.contentDocument.querySelector('a'))`, chromedp.WithPollingTimeout(30*time.Second)),
	); err != nil {
		t.Fatalf("demo page did not render its ads: %v\nmaster output:\n%s", err, tp.out.String())
	}
	rendered, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.adnet-ad a').length +
		Array.from(document.querySelectorAll('iframe[src*="/serve/frame"]')).filter(f => f.contentDocument.querySelector('a')).length`))
	if err != nil || rendered != 5 {
		t.Fatalf("%d of 5 zones rendered an ad (%v)", rendered, err)
	}

	// 2. Each rendered ad fired its impression beacon, and the beacons are in the event log,
	// valid: the tags' automation signals (sig) show nothing, and the iframe tags report the
	// embedding page (po), here adnet's own demo page.
	var imps map[int64]int
	invalid := map[string]int{}
	defer func() {
		if t.Failed() {
			t.Logf("impressions by reason: %v", invalid)
		}
	}()
	tp.waitFor("five impression beacons in the event log", func() bool {
		imps = map[int64]int{}
		clear(invalid)
		for _, ev := range tp.readEvents() {
			if ev.Type == models.EventImpression {
				invalid[ev.Reason.String()]++
				if ev.Reason == models.ReasonValid {
					imps[ev.ZoneID]++
				}
			}
		}
		return len(imps) == 5
	})
	t.Logf("valid impressions by zone: %v", imps)
	firstImps := map[models.ImpressionID]bool{}
	for _, ev := range tp.readEvents() {
		if ev.Type == models.EventImpression {
			firstImps[ev.ImpressionID] = true
		}
	}

	// 3. A real click on zone 1's ad goes through adnet's redirect to the landing page — after
	// a person's reading time: a click within fraud.min_click_delay of the ad is fast_click.
	time.Sleep(tp.cfg.Fraud.MinClickDelay.D() + 1100*time.Millisecond)
	// target=_blank would open a second tab; the test follows the click in the same one.
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#zone-1 .adnet-ad a').removeAttribute('target')`),
		chromedp.Click(chromedp.CSS(`#zone-1 .adnet-ad a`)),
		chromedp.WaitVisible(chromedp.ID(`landed`)),
		chromedp.Poll[chromedp.Void](`document.getElementById('pixel').complete`, chromedp.WithPollingTimeout(10*time.Second)),
	); err != nil {
		t.Fatalf("click did not land: %v", err)
	}
	clickID, _ := landed.Load("click")
	if s, _ := clickID.(string); s == "" {
		t.Fatal("the landing page did not receive the click id")
	}

	// 4. The click and the pixel's conversion are in the event log, attributed to one impression.
	var click, conv *models.Event
	tp.waitFor("click and conversion in the event log", func() bool {
		click, conv = nil, nil
		evs := tp.readEvents()
		for i := range evs {
			switch {
			case evs[i].Type == models.EventClick && evs[i].ZoneID == 1:
				click = &evs[i]
			case evs[i].Type == models.EventConversion:
				conv = &evs[i]
			}
		}
		return click != nil && conv != nil
	})
	if click.Reason != models.ReasonValid || conv.Reason != models.ReasonValid {
		t.Fatalf("click %v / conversion %v should be valid", click.Reason, conv.Reason)
	}
	if conv.ImpressionID != click.ImpressionID || conv.CampaignID != click.CampaignID {
		t.Fatalf("conversion not attributed to the click: click %x/%d, conversion %x/%d",
			click.ImpressionID, click.CampaignID, conv.ImpressionID, conv.CampaignID)
	}
	if errs := console.all(); len(errs) > 0 {
		t.Fatalf("the pages logged errors: %s", strings.Join(errs, "; "))
	}

	// 5. A plain headless Chromium with a browser's User-Agent (navigator.webdriver true)
	// loads the same page: every one of its five impressions is automation.
	bot, _ := newBrowser(t)
	bot, cancelBot := context.WithTimeout(bot, 60*time.Second)
	defer cancelBot()
	if err := chromedp.Do(bot,
		chromedp.Navigate(adsURL+"/demo/"),
		chromedp.Poll[chromedp.Void](`navigator.webdriver === true && document.querySelectorAll('.adnet-ad a').length === 3 &&
			Array.from(document.querySelectorAll('iframe[src*="/serve/frame"]')).every(f => f.contentDocument &&
				f.contentDocument.querySelector('a'))`, chromedp.WithPollingTimeout(30*time.Second)),
	); err != nil {
		t.Fatalf("headless Chromium (webdriver) did not render the demo page's ads: %v", err)
	}
	botImps := map[models.Reason]int{}
	tp.waitFor("the headless browser's five impression beacons", func() bool {
		clear(botImps)
		n := 0
		for _, ev := range tp.readEvents() {
			if ev.Type == models.EventImpression && !firstImps[ev.ImpressionID] {
				botImps[ev.Reason]++
				n++
			}
		}
		return n >= 5
	})
	if botImps[models.ReasonAutomation] != 5 || len(botImps) != 1 {
		t.Fatalf("headless Chromium's impressions by reason: %v; want 5 automation", botImps)
	}
}
