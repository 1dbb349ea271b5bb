//go:build fraudeval

package main

// The invalid-traffic evaluation (`make fraud-eval`): the real system — MariaDB, the adnet
// master with its workers and the aggregator, nginx in front — receives a labelled mix of
// people (on their own addresses, behind carrier NATs, and in a real Chromium), crawlers with
// User-Agents from a held-out list, a click farm, replays within and after the duplicate
// window, clicks from another network or browser than their serve, forgeries, prefetches,
// script- and iframe-tag domain spoofing, listed addresses, sub-second click bots, an
// automated headless Chromium and a publisher inflating its CTR (internal/fraud/evalmix and
// fraudeval_chromium_test.go), through the public endpoints, from distinct loopback
// addresses. When the aggregator has committed every answered event, the anomaly monitor
// runs one scan (`adnet fraud scan`), the operator confirms every zone flag it raised (`adnet
// fraud confirm`, which restates the flagged zones' billed events through the adjustment
// ledger; see confirmFlags), and every event's stored verdict is read back from MariaDB and compared with its
// label. An invalid event counts as caught only if it was not billed: its stored verdict is
// invalid, or the ledger restated it (a flag alone un-bills nothing). The test fails when a target of issue 13 is
// missed: at least 99% of the invalid events not billed, at most 0.1% of people's events
// invalid. The seed is random per run and printed; ADNET_FRAUDEVAL_SEED repeats a run,
// ADNET_FRAUDEVAL_SCALE resizes the HTTP mix.

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"adnet/internal/fraud"
	"adnet/internal/fraud/evalmix"
	"adnet/internal/token"
	"adnet/models"
	"adnet/models/mysql"
)

// evalClickWindow is fraud.click_window for the run: the late replays wait this long (and the
// duplicate filters' slack) after their originals.
const evalClickWindow = 40 * time.Second

// evalTokens gives the generator what the tracking key holder knows.
type evalTokens struct{ s *token.Signer }

func tokenKind(t models.EventType) token.Kind {
	if t == models.EventClick {
		return token.KindClick
	}
	return token.KindImpression
}

func (e evalTokens) Claims(tok string, t models.EventType) (evalmix.Claims, error) {
	c, err := e.s.Verify(tok, tokenKind(t), time.Now())
	if err != nil {
		return evalmix.Claims{}, err
	}
	return evalmix.Claims{ImpressionID: c.ImpressionID, ZoneID: c.ZoneID, CampaignID: c.CampaignID}, nil
}

// Expired re-issues tok as if it had been served an hour past the token TTL ago.
func (e evalTokens) Expired(tok string, t models.EventType) (string, error) {
	c, err := e.s.Verify(tok, tokenKind(t), time.Now())
	if err != nil {
		return "", err
	}
	c.IssuedMs = time.Now().Add(-e.s.TTL() - time.Hour).UnixMilli()
	return string(e.s.Sign(nil, &c)), nil
}

// evalNetwork is what the eval adds to the demo network: the fraudulent publisher's zones
// and a week of statistics history.
type evalNetwork struct {
	sites       []evalmix.Site // the demo network's, where people browse
	natSites    []evalmix.Site // where the people behind carrier NATs browse
	chromeSites []evalmix.Site // where the people in Chromium browse
	attackZones map[evalmix.Category]int64
	shadyZones  map[int64]bool
	humanZones  map[int64]bool
	secrets     map[int64]string // campaign → its advertiser's postback secret
}

func TestFraudEval(t *testing.T) {
	seed := randomSeed(t)
	scale := 1.0
	if s := os.Getenv("ADNET_FRAUDEVAL_SCALE"); s != "" {
		var err error
		if scale, err = strconv.ParseFloat(s, 64); err != nil || scale <= 0 {
			t.Fatalf("ADNET_FRAUDEVAL_SCALE=%q: must be a positive number", s)
		}
	}
	t.Logf("fraud eval: seed %d (repeat with ADNET_FRAUDEVAL_SEED=%d), scale %g", seed, seed, scale)
	t.Logf("User-Agents: %d held-out bots (testdata/bot-uas.txt), %d browsers (testdata/browser-uas.txt; %d entries no browser sends left out: %q)",
		len(evalmix.BotUAs()), len(evalmix.BrowserUAs()), len(evalmix.DroppedBrowserUAs()), evalmix.DroppedBrowserUAs())
	// The whole lists through the workers' User-Agent classifier (the traffic only samples
	// them): recall on the held-out bots, false positives on the browsers.
	uac := fraud.NewUAClassifier(fraud.UAOptions{CacheSize: -1})
	count := func(list []string) (n int) {
		for _, ua := range list {
			if uac.Classify(ua).Bot {
				n++
			}
		}
		return n
	}
	botList, browserList := evalmix.BotUAs(), evalmix.BrowserUAs()
	t.Logf("the User-Agent classifier on the whole lists: %d of %d held-out bots are bot_ua (%.2f%%), %d of %d browsers are",
		count(botList), len(botList), 100*float64(count(botList))/float64(len(botList)), count(browserList), len(browserList))
	rng := rand.New(rand.NewPCG(seed, 1))

	dcFile := filepath.Join(t.TempDir(), "datacenters.txt")
	if err := os.WriteFile(dcFile, []byte("# the eval's data-center addresses\n"+evalmix.DatacenterPrefix+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var nw evalNetwork
	tp := startTopologyWith(t, topoOptions{demo: true, sections: fmt.Sprintf(`
[stats]
flush_interval = "1s"

[fraud]
auto_pause = true
datacenter_file = %q
# short, so that the replays after the window fit in the run (the default is 10 minutes)
click_window = %q
`, dcFile, evalClickWindow.String()), before: func(tp *topology) { nw = buildEvalNetwork(t, tp, rng) }})
	ctx := context.Background()
	db, err := openDB(ctx, tp.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store := mysql.NewStore(db)
	raw := rawDB(t, tp.cfg.MySQL.DSN)
	memory := startEvalAggregator(t, tp, store)

	keys, err := token.LoadKeys(tp.cfg.Tracking.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := token.NewSigner(keys, token.Options{TTL: tp.cfg.Tracking.TokenTTL.D()})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC()
	var log bytes.Buffer
	gen, err := evalmix.New(evalmix.Options{
		BaseURL: tp.cfg.Tracking.BaseURL, Seed: seed, Sites: nw.sites, NATSites: nw.natSites, ShadyDomain: "shady.example",
		AttackZones: nw.attackZones, Tokens: evalTokens{signer},
		PostbackSecret: func(c int64) string { return nw.secrets[c] },
		MaxClicksPerIP: tp.cfg.Fraud.MaxClicksPerIP, MinHumanDelay: tp.cfg.Fraud.MinClickDelay.D() + 1500*time.Millisecond,
		ClickWindow: tp.cfg.Fraud.ClickWindow.D(), Scale: scale, Log: &log,
	})
	if err != nil {
		t.Fatal(err)
	}
	gctx, cancel := context.WithTimeout(ctx, 6*time.Minute)
	defer cancel()
	browsers := make(chan struct{})
	go func() {
		defer close(browsers)
		runEvalBrowsers(gctx, t, gen, nw, seed)
	}()
	ledger, err := gen.Run(gctx)
	<-browsers // the browsers' events are in the ledger once they are done
	t.Logf("%s", log.String())
	if err != nil {
		t.Fatalf("generator: %v", err)
	}
	t.Logf("sent in %.1fs: answered %v, %d serves without an ad, %d billable events labelled", ledger.Elapsed.Seconds(),
		ledger.Answered, ledger.Unfilled, len(ledger.Events))
	if len(ledger.Failures) > 0 {
		t.Errorf("requests that failed or were answered unexpectedly: %v", ledger.Failures)
	}

	waitForDrain(t, tp, raw, start, ledger)

	// One anomaly scan, as `adnet fraud scan` runs it (fraud.auto_pause is on).
	var out, errOut bytes.Buffer
	if err := runFraud(ctx, []string{"scan", "--config", tp.conf}, &out, &errOut); err != nil {
		t.Fatalf("adnet fraud scan: %v\n%s", err, errOut.String())
	}
	t.Logf("adnet fraud scan:\n%s", out.String())
	confirmFlags(ctx, t, tp, raw, start)

	obs := observe(t, raw, start)
	report := evalmix.Score(ledger, obs)
	var rep strings.Builder
	report.Print(&rep)
	t.Logf("fraud eval, seed %d:\n%s", seed, rep.String())
	t.Logf("anomaly flags by zone: %s", describeFlags(obs.FlaggedZones, nw))
	if memory != nil {
		if m := memory(); m > 0 {
			t.Logf("aggregator fraud memory: %d bytes (%.1f MiB)", m, float64(m)/(1<<20))
		}
	}

	if len(report.Problems) > 0 {
		t.Errorf("%d events were not accounted for exactly once (see the report)", len(report.Problems))
	}
	if !report.PassInvalid() {
		t.Errorf("FAIL: only %.2f%% of the invalid events were not billed; the target is at least %.0f%%",
			100*report.InvalidNotBilledRate(), 100*evalmix.TargetInvalidNotBilled)
	}
	if !report.PassHuman() {
		t.Errorf("FAIL: %.3f%% of people's events were invalid; the target is at most %.1f%%",
			100*report.HumanInvalidRate(), 100*evalmix.TargetHumanInvalid)
	}
	for z := range obs.FlaggedZones {
		if nw.humanZones[z] {
			t.Errorf("zone %d, which only people visited, was flagged: %v", z, obs.FlaggedZones[z])
		}
	}
	checkAutoPause(t, tp, store, obs.FlaggedZones)
}

func randomSeed(t *testing.T) uint64 {
	if s := os.Getenv("ADNET_FRAUDEVAL_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("ADNET_FRAUDEVAL_SEED=%q: %v", s, err)
		}
		return v
	}
	var b [8]byte
	if _, err := crand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return binary.LittleEndian.Uint64(b[:]) >> 1 // fits an int64 for people who paste it
}

// rawDB opens the database for the test's own reads and fixtures: the evaluation reads the
// tables directly, independently of the store code it evaluates.
func rawDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	c, err := gomysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	c.ParseTime, c.Loc = true, time.UTC
	db, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// buildEvalNetwork adds the fraudulent publisher (a site with one zone per attack), imports
// the blocklist, and writes a week of hourly statistics for every zone as the network would
// have recorded them: people's traffic at each zone's own CTR, 2-4% invalid. Two attack
// zones are left without history (new zones: the anomaly monitor compares them with their
// peers).
func buildEvalNetwork(t *testing.T, tp *topology, rng *rand.Rand) evalNetwork {
	t.Helper()
	ctx := context.Background()
	db, err := openDB(ctx, tp.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store := mysql.NewStore(db)
	n := evalNetwork{attackZones: map[evalmix.Category]int64{}, shadyZones: map[int64]bool{}, humanZones: map[int64]bool{},
		secrets: map[int64]string{}}

	advs, err := store.ListAdvertisers(ctx, models.AdvertiserFilter{})
	if err != nil {
		t.Fatal(err)
	}
	camps, err := store.ListCampaigns(ctx, models.CampaignFilter{})
	if err != nil {
		t.Fatal(err)
	}
	secret := map[int64]string{}
	for _, a := range advs {
		secret[a.ID] = a.PostbackSecret
	}
	var link []int64
	for _, c := range camps {
		n.secrets[c.ID] = secret[c.AdvertiserID]
		if len(c.Targeting.SiteDomains) == 0 { // the sponsorship targets travel.example only
			link = append(link, c.ID)
		}
	}

	pub := &models.Publisher{Name: "Shady Media", Status: models.StatusActive, RevenueShareBP: 8000}
	if err := store.CreatePublisher(ctx, pub); err != nil {
		t.Fatal(err)
	}
	site := &models.Site{PublisherID: pub.ID, Name: "Shady", Domain: "shady.example", Status: models.StatusActive}
	if err := store.CreateSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	for _, cat := range evalmix.AttackZoneCategories() {
		z := &models.Zone{SiteID: site.ID, Name: "shady: " + string(cat), Width: 300, Height: 250, Status: models.StatusActive}
		if err := store.CreateZone(ctx, z); err != nil {
			t.Fatal(err)
		}
		for _, c := range link {
			if err := store.LinkZoneCampaign(ctx, &models.ZoneCampaign{ZoneID: z.ID, CampaignID: c, Weight: 1}); err != nil {
				t.Fatal(err)
			}
		}
		n.attackZones[cat], n.shadyZones[z.ID] = z.ID, true
	}

	// Two sites of an honest publisher that only the people behind carrier NATs, and only the
	// people in Chromium, visit: the statistics count impressions per zone, so each group's
	// verdicts are told apart by its zones. Each has script tags and an iframe tag.
	readers := &models.Publisher{Name: "Eval Readers", Status: models.StatusActive, RevenueShareBP: 7000}
	if err := store.CreatePublisher(ctx, readers); err != nil {
		t.Fatal(err)
	}
	for _, g := range []struct {
		domain string
		sites  *[]evalmix.Site
		zones  int
	}{{"cgnat-news.example", &n.natSites, 3}, {"browser-news.example", &n.chromeSites, 2}} {
		site := &models.Site{PublisherID: readers.ID, Name: g.domain, Domain: g.domain, Status: models.StatusActive}
		if err := store.CreateSite(ctx, site); err != nil {
			t.Fatal(err)
		}
		es := evalmix.Site{Domain: g.domain}
		for k := 0; k < g.zones; k++ {
			z := &models.Zone{SiteID: site.ID, Name: fmt.Sprintf("%s %d", g.domain, k), Width: 300, Height: 250, Status: models.StatusActive}
			if err := store.CreateZone(ctx, z); err != nil {
				t.Fatal(err)
			}
			for _, c := range link {
				if err := store.LinkZoneCampaign(ctx, &models.ZoneCampaign{ZoneID: z.ID, CampaignID: c, Weight: 1}); err != nil {
					t.Fatal(err)
				}
			}
			es.Zones = append(es.Zones, evalmix.Zone{ID: z.ID, CTR: 0.01 + 0.02*rng.Float64(), Frame: k == g.zones-1})
			n.humanZones[z.ID] = true
		}
		*g.sites = []evalmix.Site{es}
	}
	own := map[int64]bool{}
	for _, s := range append(append([]evalmix.Site(nil), n.natSites...), n.chromeSites...) {
		for _, z := range s.Zones {
			own[z.ID] = true
		}
	}

	// The demo page's tags: the first three zones as script tags, the others as iframes.
	sites, err := store.ListSites(ctx, models.SiteFilter{})
	if err != nil {
		t.Fatal(err)
	}
	zones, err := store.ListZones(ctx, models.ZoneFilter{})
	if err != nil {
		t.Fatal(err)
	}
	ctr := map[int64]float64{}
	pubOf := map[int64]int64{}
	for _, s := range sites {
		pubOf[s.ID] = s.PublisherID
	}
	for i, z := range zones {
		ctr[z.ID] = 0.01 + 0.02*rng.Float64()
		if n.shadyZones[z.ID] || own[z.ID] {
			continue
		}
		n.humanZones[z.ID] = true
		for j := range sites {
			if sites[j].ID != z.SiteID {
				continue
			}
			k := -1
			for m := range n.sites {
				if n.sites[m].Domain == sites[j].Domain {
					k = m
				}
			}
			if k < 0 {
				n.sites = append(n.sites, evalmix.Site{Domain: sites[j].Domain})
				k = len(n.sites) - 1
			}
			n.sites[k].Zones = append(n.sites[k].Zones, evalmix.Zone{ID: z.ID, CTR: ctr[z.ID], Frame: i >= 3})
		}
	}

	for _, ss := range [][]evalmix.Site{n.natSites, n.chromeSites} {
		for i := range ss {
			for k := range ss[i].Zones {
				ss[i].Zones[k].CTR = ctr[ss[i].Zones[k].ID] // as in their history
			}
		}
	}

	// The blocklist, imported as an operator would.
	list := filepath.Join(t.TempDir(), "blocklist.txt")
	if err := os.WriteFile(list, []byte(evalmix.BlockedPrefix+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(adnetBinary, "blocklist", "--config", tp.conf, "import", list).CombinedOutput(); err != nil {
		t.Fatalf("adnet blocklist import: %v\n%s", err, out)
	}

	// A week of history, ending two hours ago (so that the anomaly scan's recent window holds
	// only the eval's traffic).
	raw := rawDB(t, tp.cfg.MySQL.DSN)
	last := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	var rows []string
	var args []any
	for _, z := range zones {
		if z.ID == n.attackZones[evalmix.Inflate] || z.ID == n.attackZones[evalmix.Expired] {
			continue // new zones
		}
		inv := 0.02 + 0.02*rng.Float64()
		for h := 0; h < 7*24; h++ {
			hour := last.Add(-time.Duration(h) * time.Hour)
			// Fewer people at night: 80 to 500 impressions an hour.
			imps := int64(80 + 420*(0.5+0.5*math.Sin(float64(hour.Hour()-9)*math.Pi/12)) + float64(rng.IntN(40)))
			clicks, invalid := binomial(rng, imps, ctr[z.ID]), binomial(rng, imps, inv)
			rows = append(rows, "(?, ?, 0, 0, '', 0, ?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, hour, z.ID, pubOf[z.SiteID], z.SiteID, imps+invalid, imps, imps, clicks, invalid, 0)
		}
	}
	for len(rows) > 0 {
		k := min(len(rows), 500)
		if _, err := raw.ExecContext(ctx, `INSERT INTO stats_hourly (hour, zone_id, campaign_id, creative_id, country,
			advertiser_id, publisher_id, site_id, requests, served, impressions, clicks, invalid_impressions, invalid_clicks)
			VALUES `+strings.Join(rows[:k], ","), args[:10*k]...); err != nil {
			t.Fatal(err)
		}
		rows, args = rows[k:], args[10*k:]
	}
	return n
}

func binomial(rng *rand.Rand, n int64, p float64) int64 {
	var k int64
	for i := int64(0); i < n; i++ {
		if rng.Float64() < p {
			k++
		}
	}
	return k
}

// startEvalAggregator waits for the aggregator the master supervises and returns how to read
// its fraud memory (from the master's status page).
func startEvalAggregator(t *testing.T, tp *topology, _ *mysql.Store) func() int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for pidOf(t, "aggregate", tp.conf) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the master started no aggregator; its output:\n%s", tp.out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return func() int { return statusNumber(tp, "fraud_memory_bytes") }
}

// statusNumber finds a number named key anywhere in the master's status JSON (0 if absent).
func statusNumber(tp *topology, key string) int {
	code, body, err := tp.get("/status?json")
	if err != nil || code != http.StatusOK {
		return 0
	}
	var doc any
	if json.Unmarshal([]byte(body), &doc) != nil {
		return 0
	}
	var find func(v any) int
	find = func(v any) int {
		switch v := v.(type) {
		case map[string]any:
			if f, ok := v[key].(float64); ok {
				return int(f)
			}
			for _, c := range v {
				if n := find(c); n > 0 {
					return n
				}
			}
		case []any:
			for _, c := range v {
				if n := find(c); n > 0 {
					return n
				}
			}
		}
		return 0
	}
	return find(doc)
}
