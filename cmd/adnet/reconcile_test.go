package main

// The statistics reconciliation test (issue: exactly-once statistics). A load generator sends
// a known mix of ad requests, impression beacons (some repeated), clicks (some repeated) and
// conversion postbacks (some repeated) through nginx; the recorded statistics must account for
// every answered request exactly once. Phase 1 runs undisturbed: the totals must equal what the
// generator saw answered, exactly. Phase 2 runs while the test SIGKILLs a worker, SIGKILLs the
// aggregator and stops MariaDB for 20 s: every answered impression, click and conversion must
// still be counted exactly once as valid, and the totals may exceed the answered requests only
// by requests the kills cut off (written, then retried by nginx on another worker).
//
// ADNET_RECONCILE_EVENTS sets the size (default: modest, for `make test`); `make
// reconcile-large` runs it with over a million events.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"adnet/handlers"
	"adnet/models"
	"adnet/models/mysql"
)

// privateMariaDB starts a MariaDB instance of the test's own, which the test may stop and start.
type privateMariaDB struct {
	t   *testing.T
	dir string
	dsn string
}

func startPrivateMariaDB(t *testing.T) *privateMariaDB {
	t.Helper()
	dir, err := os.MkdirTemp("", "adnet-rdb")
	if err != nil {
		t.Fatal(err)
	}
	m := &privateMariaDB{t: t, dir: dir}
	m.start()
	out, err := exec.Command("../../scripts/mariadb.sh", "dsn", dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	m.dsn = strings.TrimSpace(string(out))
	t.Cleanup(func() {
		_ = exec.Command("../../scripts/mariadb.sh", "stop", dir).Run()
		os.RemoveAll(dir)
	})
	return m
}

func (m *privateMariaDB) start() {
	if out, err := exec.Command("../../scripts/mariadb.sh", "start", m.dir).CombinedOutput(); err != nil {
		m.t.Fatalf("starting MariaDB: %v\n%s", err, out)
	}
}

func (m *privateMariaDB) stop() {
	if out, err := exec.Command("../../scripts/mariadb.sh", "stop", m.dir).CombinedOutput(); err != nil {
		m.t.Fatalf("stopping MariaDB: %v\n%s", err, out)
	}
}

// tally counts what the generator saw answered, per zone.
type tally struct {
	mu                   sync.Mutex
	served               map[int64]int64
	imps, impRepeats     map[int64]int64
	clicks, clickRepeats map[int64]int64
	convs, convRepeats   map[int64]int64
	// spend and revenue per zone in nano-units, tallied from the answered valid events at the
	// campaigns' rates and the publishers' shares, as the price list says (independently of
	// the aggregator's code, with the same rounding rule: revenue per event rounded down to
	// the nano-unit).
	spend, revenue map[int64]int64
	failed         atomic.Int64 // requests with no answer (error, 5xx): cut off
	requests       atomic.Int64
	firstFail      atomic.Value
}

func newTally() *tally {
	return &tally{served: map[int64]int64{}, imps: map[int64]int64{}, impRepeats: map[int64]int64{},
		clicks: map[int64]int64{}, clickRepeats: map[int64]int64{}, convs: map[int64]int64{}, convRepeats: map[int64]int64{},
		spend: map[int64]int64{}, revenue: map[int64]int64{}}
}

// terms are what an ad of a campaign costs, and what its zone's publisher gets.
type terms struct {
	pricing models.PricingModel
	rate    int64         // micro-units
	shares  map[int64]int // zone → basis points
}

// bill adds the cost of one valid event of type typ of campaign c shown in zone to the tally.
func (t *tally) bill(tm map[int64]terms, c, zone int64, typ models.EventType) {
	ct := tm[c]
	var nanos int64
	switch {
	case ct.pricing == models.PricingCPM && typ == models.EventImpression:
		nanos = ct.rate // rate/1000 micro-units per impression
	case ct.pricing == models.PricingCPC && typ == models.EventClick, ct.pricing == models.PricingCPA && typ == models.EventConversion:
		nanos = ct.rate * 1000
	}
	t.mu.Lock()
	t.spend[zone] += nanos
	t.revenue[zone] += nanos * int64(ct.shares[zone]) / 10000
	t.mu.Unlock()
}

func (t *tally) add(m map[int64]int64, zone int64) {
	t.mu.Lock()
	m[zone]++
	t.mu.Unlock()
}

func sum(m map[int64]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

// generator drives the mix from many goroutines, each with its own source address in
// 127.0.0.0/8 (loopback only), so per-IP rules see many visitors.
type generator struct {
	base    string
	secrets map[int64]string // campaign id → advertiser postback secret
	terms   map[int64]terms  // campaign id → its price list
	tally   *tally
}

func (g *generator) client(n int) *http.Client {
	local := &net.TCPAddr{IP: net.IPv4(127, 1, byte(n/250), byte(1+n%250))}
	d := &net.Dialer{LocalAddr: local, Timeout: 5 * time.Second}
	return &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// do sends one request and reports whether it was answered with one of the wanted statuses.
func (g *generator) do(c *http.Client, url string, want ...int) (int, []byte, bool) {
	g.tally.requests.Add(1)
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("User-Agent", desktopUA)
	resp, err := c.Do(req)
	if err != nil {
		g.tally.failed.Add(1)
		g.tally.firstFail.CompareAndSwap(nil, err.Error())
		return 0, nil, false
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, w := range want {
		if resp.StatusCode == w && err == nil {
			return resp.StatusCode, body, true
		}
	}
	g.tally.failed.Add(1)
	g.tally.firstFail.CompareAndSwap(nil, fmt.Sprintf("%s: %d %s", url, resp.StatusCode, body))
	return resp.StatusCode, body, false
}

// visit is one page view: an ad request, its beacon (sometimes twice), sometimes a click
// (sometimes twice) and sometimes a conversion postback (sometimes twice).
func (g *generator) visit(c *http.Client, rng *rand.Rand) {
	zone := int64(1 + rng.IntN(5))
	code, body, ok := g.do(c, fmt.Sprintf("%s/serve/json?zone=%d", g.base, zone), 200, 204)
	if !ok {
		return
	}
	g.tally.add(g.tally.served, zone)
	if code == 204 {
		return
	}
	var ad handlers.ServeJSONAd
	if err := json.Unmarshal(body, &ad); err != nil {
		panic(err)
	}
	if _, _, ok := g.do(c, ad.ImpressionURL, 200); !ok {
		return
	}
	g.tally.add(g.tally.imps, zone)
	g.tally.bill(g.terms, ad.CampaignID, zone, models.EventImpression)
	if rng.IntN(10) == 0 {
		if _, _, ok := g.do(c, ad.ImpressionURL, 200); ok {
			g.tally.add(g.tally.impRepeats, zone)
		}
	}
	if rng.IntN(4) != 0 {
		return
	}
	if _, _, ok := g.do(c, ad.ClickURL, 302); !ok {
		return
	}
	g.tally.add(g.tally.clicks, zone)
	g.tally.bill(g.terms, ad.CampaignID, zone, models.EventClick)
	if rng.IntN(5) == 0 {
		if _, _, ok := g.do(c, ad.ClickURL, 302); ok {
			g.tally.add(g.tally.clickRepeats, zone)
		}
	}
	if rng.IntN(3) != 0 {
		return
	}
	clickID := ad.ClickURL[strings.Index(ad.ClickURL, "t=")+2:]
	conv := fmt.Sprintf("%s/track/conv?click_id=%s&secret=%s", g.base, clickID, g.secrets[ad.CampaignID])
	if _, _, ok := g.do(c, conv, 200); !ok {
		return
	}
	g.tally.add(g.tally.convs, zone)
	g.tally.bill(g.terms, ad.CampaignID, zone, models.EventConversion)
	if rng.IntN(5) == 0 {
		if _, _, ok := g.do(c, conv, 200); ok {
			g.tally.add(g.tally.convRepeats, zone)
		}
	}
}

// run makes visits from `workers` goroutines until n requests were sent or stop is closed
// (whichever comes last when both are given).
func (g *generator) run(workers, n int, until <-chan struct{}) {
	var wg sync.WaitGroup
	start := g.tally.requests.Load()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := g.client(w)
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for {
				if g.tally.requests.Load()-start >= int64(n) {
					if until == nil {
						return
					}
					select {
					case <-until:
						return
					default:
					}
				}
				g.visit(c, rng)
			}
		}(w)
	}
	wg.Wait()
}

// pidOf finds the process whose command line contains every word (the aggregator is a child
// of the master, not in the status page's worker list).
func pidOf(t *testing.T, words ...string) int {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		all := true
		for _, w := range words {
			all = all && strings.Contains(cmd, w)
		}
		if all {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			return pid
		}
	}
	return 0
}

type zoneCounts struct {
	requests, imps, invImps, clicks, invClicks, convs, invConvs int64
	spend, revenue                                              int64 // micro-units
	byReason                                                    map[string]int64
}

func (tp *topology) reportByZone(store *mysql.Store) (map[int64]zoneCounts, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := time.Now()
	rep, err := store.Report(ctx, models.ReportQuery{From: now.Add(-24 * time.Hour), To: now.Add(2 * time.Hour),
		GroupBy: []string{models.GroupZone}, Location: time.UTC})
	if err != nil {
		return nil, err
	}
	out := map[int64]zoneCounts{}
	for _, r := range rep.Rows {
		out[r.ZoneID] = zoneCounts{r.Requests, r.Impressions, r.InvalidImpressions, r.Clicks, r.InvalidClicks,
			r.Conversions, r.InvalidConversions, r.SpendMicros, r.PublisherRevenueMicros, r.InvalidByReason}
	}
	return out, nil
}

// drain waits until the recorded totals stop changing (and, when want > 0, reach want requests).
func (tp *topology) drain(store *mysql.Store, want int64) map[int64]zoneCounts {
	tp.t.Helper()
	var last map[int64]zoneCounts
	stable := 0
	tp.waitForLong("the aggregator to drain", 5*time.Minute, func() bool {
		cur, err := tp.reportByZone(store)
		if err != nil {
			stable = 0
			return false
		}
		var req int64
		for _, z := range cur {
			req += z.requests
		}
		if fmt.Sprint(cur) == fmt.Sprint(last) && req >= want {
			stable++
		} else {
			stable = 0
		}
		last = cur
		return stable >= 6 // unchanged over 3 s, with flush_interval = 1s
	})
	return last
}

func (tp *topology) waitForLong(what string, d time.Duration, cond func() bool) {
	tp.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tp.t.Fatalf("timed out waiting for %s; master output:\n%s", what, tp.out.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func TestStatisticsReconcile(t *testing.T) {
	size := 4000
	if s := os.Getenv("ADNET_RECONCILE_EVENTS"); s != "" {
		var err error
		if size, err = strconv.Atoi(s); err != nil {
			t.Fatalf("ADNET_RECONCILE_EVENTS=%q: %v", s, err)
		}
	}
	const conc = 16
	mdb := startPrivateMariaDB(t)
	tp := startTopologyWith(t, topoOptions{dsn: mdb.dsn, demo: true,
		sections: `
[stats]
flush_interval = "1s"
[fraud]
max_clicks_per_ip = 1000000
min_click_delay = "0s"
`})
	ctx := context.Background()
	db, err := openDB(ctx, tp.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store := mysql.NewStore(db)
	secrets := map[int64]string{}
	advs, err := store.ListAdvertisers(ctx, models.AdvertiserFilter{})
	if err != nil {
		t.Fatal(err)
	}
	camps, err := store.ListCampaigns(ctx, models.CampaignFilter{})
	if err != nil {
		t.Fatal(err)
	}
	dims, err := store.LoadDimensions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	shares := map[int64]int{}
	for id, z := range dims.Zones {
		shares[id] = z.RevenueShareBP
	}
	tms := map[int64]terms{}
	for _, c := range camps {
		tms[c.ID] = terms{pricing: c.Pricing, rate: c.RateMicros, shares: shares}
		for _, a := range advs {
			if a.ID == c.AdvertiserID {
				secrets[c.ID] = a.PostbackSecret
			}
		}
	}
	tl := newTally()
	g := &generator{base: tp.cfg.Tracking.BaseURL, secrets: secrets, terms: tms, tally: tl}

	// Phase 1: nothing disturbs the system. Recorded totals equal the answered requests exactly.
	g.run(conc, size/2, nil)
	if f := tl.failed.Load(); f != 0 {
		t.Fatalf("phase 1: %d requests failed with nothing disturbing the system (first: %v)", f, tl.firstFail.Load())
	}
	got := tp.drain(store, sum(tl.served))
	check := func(phase string, exact bool, cutoff int64) {
		t.Helper()
		var rec, ans zoneCounts
		for zone := int64(1); zone <= 5; zone++ {
			z := got[zone]
			rec.requests += z.requests
			rec.imps += z.imps
			rec.invImps += z.invImps
			rec.clicks += z.clicks
			rec.invClicks += z.invClicks
			rec.convs += z.convs
			rec.invConvs += z.invConvs
			// Every answered beacon, click and conversion is valid exactly once, per zone.
			if z.imps != tl.imps[zone] || z.clicks != tl.clicks[zone] || z.convs != tl.convs[zone] {
				t.Errorf("%s zone %d: valid impressions/clicks/conversions recorded %d/%d/%d, answered %d/%d/%d (invalid by reason %v)",
					phase, zone, z.imps, z.clicks, z.convs, tl.imps[zone], tl.clicks[zone], tl.convs[zone], z.byReason)
			}
			// And so is its money, to the micro-unit: the spend and the publisher's revenue
			// equal the tally at the price list (the report rounds the exact sums down once).
			if z.spend != tl.spend[zone]/1000 || z.revenue != tl.revenue[zone]/1000 {
				t.Errorf("%s zone %d: spend %d µ, publisher revenue %d µ recorded; the tally says %d µ and %d µ",
					phase, zone, z.spend, z.revenue, tl.spend[zone]/1000, tl.revenue[zone]/1000)
			}
			rec.spend += z.spend
			rec.revenue += z.revenue
		}
		ans = zoneCounts{requests: sum(tl.served), imps: sum(tl.imps), invImps: sum(tl.impRepeats), clicks: sum(tl.clicks),
			invClicks: sum(tl.clickRepeats), convs: sum(tl.convs), invConvs: sum(tl.convRepeats)}
		t.Logf("%s: recorded requests %d, impressions %d valid + %d invalid, clicks %d + %d, conversions %d + %d",
			phase, rec.requests, rec.imps, rec.invImps, rec.clicks, rec.invClicks, rec.convs, rec.invConvs)
		t.Logf("%s: recorded spend %d µ, publisher revenue %d µ; tallied %d µ and %d µ",
			phase, rec.spend, rec.revenue, sum(tl.spend)/1000, sum(tl.revenue)/1000)
		t.Logf("%s: answered requests %d, impressions %d + %d repeats, clicks %d + %d, conversions %d + %d; cut off at most %d",
			phase, ans.requests, ans.imps, ans.invImps, ans.clicks, ans.invClicks, ans.convs, ans.invConvs, cutoff)
		for _, c := range []struct {
			what     string
			rec, ans int64
		}{{"requests", rec.requests, ans.requests}, {"invalid impressions", rec.invImps, ans.invImps},
			{"invalid clicks", rec.invClicks, ans.invClicks}, {"invalid conversions", rec.invConvs, ans.invConvs}} {
			if exact && c.rec != c.ans {
				reasons := map[int64]map[string]int64{}
				for zone, z := range got {
					reasons[zone] = z.byReason
				}
				t.Errorf("%s: recorded %s %d ≠ answered %d (invalid by reason per zone: %v; answered repeats per zone: impressions %v clicks %v conversions %v)",
					phase, c.what, c.rec, c.ans, reasons, tl.impRepeats, tl.clickRepeats, tl.convRepeats)
			}
			if !exact && (c.rec < c.ans || c.rec > c.ans+cutoff) {
				t.Errorf("%s: recorded %s %d outside [answered %d, answered + cut off %d]", phase, c.what, c.rec, c.ans, c.ans+cutoff)
			}
		}
	}
	check("phase 1 (undisturbed)", true, 0)
	if t.Failed() {
		return
	}

	// Phase 2: a worker and the aggregator are SIGKILLed and MariaDB is down for 20 s while
	// the generator runs.
	chaosDone := make(chan struct{})
	var workerKills int64
	go func() {
		defer close(chaosDone)
		time.Sleep(2 * time.Second)
		if pid := tp.pids()[1]; pid != 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			workerKills++
			t.Logf("chaos: SIGKILLed worker 1 (pid %d)", pid)
		}
		time.Sleep(2 * time.Second)
		if pid := pidOf(t, "aggregate", tp.conf); pid != 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Logf("chaos: SIGKILLed the aggregator (pid %d)", pid)
		} else {
			t.Errorf("chaos: no aggregator process found")
		}
		time.Sleep(time.Second)
		mdb.stop()
		t.Logf("chaos: MariaDB stopped")
		time.Sleep(20 * time.Second)
		mdb.start()
		t.Logf("chaos: MariaDB started again")
	}()
	failedBefore := tl.failed.Load()
	g.run(conc, size/2, chaosDone)
	// A request in flight at a killed worker may have been written and then retried by nginx
	// on another worker (recorded twice, answered once), or not answered at all: at most one
	// per generator connection per kill, plus the requests that failed outright.
	cutoff := workerKills*conc + (tl.failed.Load() - failedBefore)
	got = tp.drain(store, sum(tl.served))
	check("phase 1+2 (with kills and a MariaDB outage)", false, cutoff)

	// The status page shows the pipeline: what it committed and the memory of its fraud state.
	var st struct {
		Aggregator *struct {
			EventsCommitted  int64 `json:"events_committed"`
			FraudMemoryBytes int   `json:"fraud_memory_bytes"`
		} `json:"aggregator"`
	}
	_, body, err := tp.get("/status?json")
	if err != nil || json.Unmarshal([]byte(body), &st) != nil || st.Aggregator == nil || st.Aggregator.EventsCommitted == 0 {
		t.Fatalf("status shows no aggregator figures (%v): %.300s", err, body)
	}
	t.Logf("status: the restarted aggregator committed %d events; fraud state %.1f MiB",
		st.Aggregator.EventsCommitted, float64(st.Aggregator.FraudMemoryBytes)/(1<<20))
}
