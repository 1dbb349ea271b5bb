//go:build fraudeval

package main

// The fraud evaluation's real browsers: Debian's headless Chromium loading publisher pages
// that carry the zones' script and iframe tags, through an evalmix.BrowserProxy (which serves
// the pages on the sites' own domains, gives each browser its own source address and records
// the answered serves, beacons and clicks in the ledger). Two groups:
//
//   - automation: an automated Chromium (navigator.webdriver set, as chromedp leaves it) with
//     a normal, non-"HeadlessChrome" User-Agent, on the fraudulent publisher's pages (one
//     script tag, one iframe tag), clicking half of its ads after a person's delay:
//     labelled invalid, expected `automation`;
//   - people: the same Chromium with --disable-blink-features=AutomationControlled (no
//     navigator.webdriver), a fresh profile per page view, on the people's sites: the human
//     control group, so that the false-positive rate does not rest on hand-made beacons only.

import (
	"context"
	"fmt"
	"html/template"
	"math/rand/v2"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"adnet/internal/demo"
	"adnet/internal/fraud/evalmix"
	"adnet/models"
)

// Page views per group; each is a fresh browser profile.
const (
	chromiumViews     = 20
	chromiumClickRate = 0.5
)

type chromiumGroup struct {
	name      string
	cat       evalmix.Category
	expect    models.Reason
	ipIndex   int
	automated bool
	// pages are the group's publisher pages: host → the zones on it.
	sites []evalmix.Site
}

// runEvalBrowsers runs both groups concurrently and returns when they are done. Failures to
// start or drive Chromium fail the test: the evaluation must not silently lose a group.
func runEvalBrowsers(ctx context.Context, t *testing.T, gen *evalmix.Generator, nw evalNetwork, seed uint64) {
	t.Helper()
	shady := evalmix.Site{Domain: "shady.example", Zones: []evalmix.Zone{
		{ID: nw.attackZones[evalmix.Automation]}, {ID: nw.attackZones[evalmix.AutomationFrame], Frame: true}}}
	groups := []chromiumGroup{
		{name: "automated", cat: evalmix.Automation, expect: models.ReasonAutomation, ipIndex: 300, automated: true, sites: []evalmix.Site{shady}},
		{name: "people", cat: evalmix.HumanChromium, expect: models.ReasonValid, ipIndex: 0, sites: nw.chromeSites},
	}
	var wg sync.WaitGroup
	for k, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.run(ctx, t, gen, rand.New(rand.NewPCG(seed, 7<<40|uint64(k)))); err != nil {
				t.Errorf("chromium (%s): %v", g.name, err)
			}
		}()
	}
	wg.Wait()
}

// chromiumUA is a normal desktop Chrome User-Agent of the installed Chromium's major version
// (what a bot sets to hide "HeadlessChrome").
func chromiumUA() string {
	major := "156"
	if out, err := exec.Command("/usr/bin/chromium", "--version").Output(); err == nil {
		if m := regexp.MustCompile(`(\d+)\.\d+\.\d+\.\d+`).FindSubmatch(out); m != nil {
			major = string(m[1])
		}
	}
	return "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/" + major + ".0.0.0 Safari/537.36"
}

// publisherPage is a page of site carrying its zones' tags exactly as a publisher pastes them.
func publisherPage(base string, site evalmix.Site) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<!doctype html><html><head><meta charset=\"utf-8\"><title>%s</title></head><body><h1>%s</h1>\n",
		template.HTMLEscapeString(site.Domain), template.HTMLEscapeString(site.Domain))
	for _, z := range site.Zones {
		fmt.Fprintf(&b, "<p>Lorem ipsum dolor sit amet.</p>\n<div class=\"slot\">%s</div>\n",
			demo.Tag(base, models.Zone{ID: z.ID, Width: 300, Height: 250}, z.Frame))
	}
	b.WriteString("</body></html>\n")
	return b.String()
}

func (g chromiumGroup) run(ctx context.Context, t *testing.T, gen *evalmix.Generator, rng *rand.Rand) error {
	base := gen.BaseURL()
	pages := map[string]evalmix.Site{}
	for _, s := range g.sites {
		pages[s.Domain] = s
	}
	proxy, err := gen.NewBrowserProxy(evalmix.Addr(evalmix.ChromiumPrefix, g.ipIndex), g.cat, g.expect,
		func(host, _ string) (string, bool) {
			s, ok := pages[host]
			if !ok {
				return "", false
			}
			return publisherPage(base, s), true
		})
	if err != nil {
		return err
	}
	defer proxy.Close()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath("/usr/bin/chromium"),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()), chromedp.UserAgent(chromiumUA()), chromedp.WindowSize(1280, 2000),
		chromedp.ProxyServer("http://" + proxy.Addr()),
		// Chromium sends loopback requests direct unless told otherwise: the ad server is on
		// 127.0.0.1, and must be reached through the proxy (its source address).
		chromedp.Flag("proxy-bypass-list", "<-loopback>"),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
	}
	if !g.automated {
		opts = append(opts, chromedp.Flag("disable-blink-features", "AutomationControlled"))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx); err != nil {
		return fmt.Errorf("starting chromium: %w", err)
	}
	views, clicked := 0, 0
	for v := 0; v < chromiumViews && ctx.Err() == nil; v++ {
		site := g.sites[rng.IntN(len(g.sites))]
		page := fmt.Sprintf("http://%s/article/%d", site.Domain, rng.IntN(100000))
		click := rng.Float64() < chromiumClickRate
		ok, err := g.view(bctx, proxy, page, len(site.Zones), click)
		if err != nil {
			return fmt.Errorf("view %d (%s): %w", v, page, err)
		}
		views++
		if ok {
			clicked++
		}
	}
	s, f, b, c := proxy.Counts()
	t.Logf("chromium (%s, %s): %d page views, %d serves (%d filled), %d beacons, %d clicks", g.name, g.cat, views, s, f, b, c)
	return nil
}

// view loads page in a fresh browser profile, waits until every tag has been served and every
// filled ad has fired its beacon, and, if click, clicks the first script-tag ad after a
// person's reading time (in the same tab, as a click without target=_blank would).
func (g chromiumGroup) view(bctx context.Context, proxy *evalmix.BrowserProxy, page string, tags int, click bool) (bool, error) {
	tctx, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	defer cancel()
	tctx, cancelT := context.WithTimeout(tctx, 45*time.Second)
	defer cancelT()
	s0, f0, b0, c0 := proxy.Counts()
	start := time.Now()
	if err := chromedp.Do(tctx, chromedp.Navigate(page)); err != nil {
		return false, err
	}
	var rendered time.Time
	for {
		s, f, b, _ := proxy.Counts()
		if s-s0 >= int64(tags) && b-b0 >= f-f0 {
			rendered = time.Now()
			break
		}
		if time.Since(start) > 30*time.Second {
			return false, fmt.Errorf("tags not done after 30s: %d of %d served, %d of %d beacons", s-s0, tags, b-b0, f-f0)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !click {
		return false, nil
	}
	// A person reads for a few seconds after the ads rendered (on a loaded box the tags can
	// take seconds to arrive: the delay counts from the render, not from the navigation).
	time.Sleep(2500 * time.Millisecond)
	found, err := chromedp.Run(tctx, chromedp.Evaluate[bool](`(function(){var a=document.querySelector('.adnet-ad a');
		if(!a)return false;a.removeAttribute('target');a.click();return true})()`))
	if err != nil {
		return false, err
	}
	if !found {
		return false, nil
	}
	for {
		if _, _, _, c := proxy.Counts(); c > c0 {
			return true, nil
		}
		if time.Since(rendered) > 30*time.Second {
			return false, fmt.Errorf("the click did not go through")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
