//go:build bench

package main

// The end-to-end benchmark (`make bench`, issue 11): the real topology — a private MariaDB with
// the demo network, the master with its workers and the aggregator, nginx in front — is driven
// by wrk through nginx on loopback. The same nginx also answers a location with its own
// empty_gif (the ceiling) and a location passed to a minimal hand-written FastCGI responder
// (internal/bench/fcgifloor, the floor of this topology), measured in the same run, in rounds
// that alternate with adnet's endpoints, so that every endpoint is reported as a ratio to both:
// the absolute figures of a shared 2-core box drift from run to run, the ratios much less.
//
// The impression and click URLs carry valid signed tokens, a different one on each request:
// they come from ADNET_BENCH_TOKENS ad requests made before the load, written to files that
// bench/urls.lua cycles through. When the load is over, the statistics the aggregator committed
// to MariaDB are compared with what wrk saw answered.
//
// Knobs (environment): ADNET_BENCH_DURATION (per endpoint and round, default 10s),
// ADNET_BENCH_ROUNDS (default 2), ADNET_BENCH_CONNECTIONS (default 64), ADNET_BENCH_TOKENS
// (default 20000), ADNET_BENCH_INVENTORY (campaigns in the large zone, default 10000; 0 skips the
// inventory comparison), ADNET_BENCH_OUT (directory of latest.json and latest.md, default
// var/bench).
//
// The inventory comparison (issue 11: cost does not grow with inventory) runs after the main
// rounds, in rounds of its own: /serve/json on a zone with 10 eligible campaigns against a zone
// with ADNET_BENCH_INVENTORY of them, both added to the demo network for the purpose.

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"adnet/handlers"
	"adnet/internal/config"
	"adnet/models"
	"adnet/models/mysql"
)

// benchConfig is what the environment may change.
type benchConfig struct {
	Duration    time.Duration `json:"duration_per_round"`
	Rounds      int           `json:"rounds"`
	Connections int           `json:"connections"`
	Threads     int           `json:"threads"`
	Tokens      int           `json:"tokens"`
	Inventory   int           `json:"inventory"`
	out         string
}

func benchConfigFromEnv(t *testing.T) benchConfig {
	c := benchConfig{Duration: 10 * time.Second, Rounds: 2, Connections: 64, Threads: 2, Tokens: 20000, Inventory: 10000, out: "../../var/bench"}
	if s := os.Getenv("ADNET_BENCH_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < time.Second {
			t.Fatalf("ADNET_BENCH_DURATION=%q: want a duration of at least 1s", s)
		}
		c.Duration = d
	}
	for _, v := range []struct {
		env string
		p   *int
		min int
	}{{"ADNET_BENCH_ROUNDS", &c.Rounds, 1}, {"ADNET_BENCH_CONNECTIONS", &c.Connections, 2}, {"ADNET_BENCH_TOKENS", &c.Tokens, 10},
		{"ADNET_BENCH_INVENTORY", &c.Inventory, 0}} {
		if s := os.Getenv(v.env); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < v.min {
				t.Fatalf("%s=%q: want a number of at least %d", v.env, s, v.min)
			}
			*v.p = n
		}
	}
	if s := os.Getenv("ADNET_BENCH_OUT"); s != "" {
		c.out = s
	}
	return c
}

// benchTarget is one thing wrk loads: a fixed path, or a file of paths that bench/urls.lua
// cycles through.
type benchTarget struct {
	Name    string // as printed, e.g. "/track/imp"
	Path    string // a fixed path, or "" when URLFile is set
	URLFile string
	// records names the event each answered request must leave in the statistics ("serve",
	// "imp" or "click"); "" for targets that record nothing.
	records string
}

// wrkResult is one wrk run, as bench/report.lua prints it.
type wrkResult struct {
	DurationUS int64 `json:"duration_us"`
	Requests   int64 `json:"requests"`
	Bytes      int64 `json:"bytes"`
	Errors     struct {
		Connect int64 `json:"connect"`
		Read    int64 `json:"read"`
		Write   int64 `json:"write"`
		Status  int64 `json:"status"`
		Timeout int64 `json:"timeout"`
	} `json:"errors"`
	LatencyUS struct {
		Min  int64   `json:"min"`
		Mean float64 `json:"mean"`
		P50  int64   `json:"p50"`
		P90  int64   `json:"p90"`
		P99  int64   `json:"p99"`
		Max  int64   `json:"max"`
	} `json:"latency_us"`
}

func (r wrkResult) rps() float64 { return float64(r.Requests) / (float64(r.DurationUS) / 1e6) }

// socketErrors are requests wrk sent and never saw answered.
func (r wrkResult) socketErrors() int64 {
	return r.Errors.Connect + r.Errors.Read + r.Errors.Write + r.Errors.Timeout
}

// benchRow is one line of the table: a target over every round.
type benchRow struct {
	Name         string      `json:"name"`
	RPS          float64     `json:"requests_per_s"`
	VsEmptyGIF   float64     `json:"ratio_empty_gif"`
	VsFloor      float64     `json:"ratio_floor"`
	VsEmptyRange [2]float64  `json:"ratio_empty_gif_range"` // lowest and highest of the rounds
	P50MS        float64     `json:"p50_ms"`                // worst round
	P99MS        float64     `json:"p99_ms"`                // worst round
	MaxMS        float64     `json:"max_ms"`
	Requests     int64       `json:"requests"`
	Non2xx3xx    int64       `json:"non_2xx_3xx"`
	SocketErrors int64       `json:"socket_errors"`
	Rounds       []wrkResult `json:"rounds"`
}

// benchReport is latest.json.
type benchReport struct {
	Date    string      `json:"date"`
	Machine string      `json:"machine"`
	Commit  string      `json:"commit"`
	Config  benchConfig `json:"config"`
	Rows    []benchRow  `json:"rows"`
	// Memory of every adnet process after the main rounds (demo inventory): the sum of their
	// VmHWM, of their VmRSS, and each process.
	PeakRSSMB float64     `json:"peak_rss_mb"`
	RSSMB     float64     `json:"rss_mb"`
	Processes []benchProc `json:"processes"`
	// The same at the end, after the inventory rounds and the aggregator's catch-up.
	PeakRSSEndMB float64     `json:"peak_rss_end_mb"`
	ProcessesEnd []benchProc `json:"processes_end"`
	Inventory    []benchRow  `json:"inventory,omitempty"` // the small zone, then the large one
	// InventoryRatio is the large zone's requests/s over the small one's (issue 11: ≥ 0.8).
	InventoryRatio float64         `json:"inventory_ratio,omitempty"`
	Reconcile      []reconcileLine `json:"reconcile"`
	ReconcileOK    bool            `json:"reconcile_ok"`
}

type benchProc struct {
	PID     int     `json:"pid"`
	Command string  `json:"command"`
	HWMMB   float64 `json:"peak_rss_mb"`
	RSSMB   float64 `json:"rss_mb"`
}

// reconcileLine compares one kind of event: what was answered with 2xx/3xx and what the
// statistics hold. Cut off is what may have been recorded without wrk seeing its answer.
type reconcileLine struct {
	What     string `json:"what"`
	Answered int64  `json:"answered"`
	Recorded int64  `json:"recorded"`
	CutOff   int64  `json:"cut_off"`
	Verdict  string `json:"verdict"`
}

// TestBench is `make bench`: see the top of this file. It fails when wrk is missing, when a
// reference or an endpoint does not answer, and when the statistics do not account for the
// answered requests; the figures themselves are reported, not judged.
func TestBench(t *testing.T) {
	cfg := benchConfigFromEnv(t)
	wrkBin, err := exec.LookPath("wrk")
	if err != nil {
		t.Fatalf("wrk is not installed: run scripts/install-deps.sh test")
	}
	luaDir, err := filepath.Abs("../../bench")
	if err != nil {
		t.Fatal(err)
	}

	tp := startTopologyWith(t, topoOptions{demo: true, sections: "[stats]\nflush_interval = \"1s\"\n",
		before: defaultRefreshInterval})
	floorSock := startFloor(t, tp.dir)
	addBenchLocations(t, tp, floorSock)
	for _, p := range []string{"/bench/empty.gif", "/bench/floor", "/ping"} {
		if code, body, err := tp.get(p); err != nil || code != http.StatusOK {
			t.Fatalf("GET %s: %d %v %.200s\nnginx error log:\n%s", p, code, err, body, tp.nginx.ErrorLog())
		}
	}

	// The database: the zones to ask for ads, and afterwards the statistics.
	ctx := context.Background()
	db, err := openDB(ctx, tp.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store := mysql.NewStore(db)
	zones, err := store.ListZones(ctx, models.ZoneFilter{})
	if err != nil || len(zones) == 0 {
		t.Fatalf("demo zones: %v (%d)", err, len(zones))
	}

	files := t.TempDir()
	writeLines := func(name string, lines []string) string {
		p := filepath.Join(files, name)
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var jsonPaths, jsPaths []string
	for _, z := range zones {
		jsonPaths = append(jsonPaths, fmt.Sprintf("/serve/json?zone=%d", z.ID))
		jsPaths = append(jsPaths, fmt.Sprintf("/serve/js?zone=%d", z.ID))
	}
	start := time.Now()
	prepServed, imps, clicks := prepareTokens(t, tp, jsonPaths, cfg.Tokens)
	t.Logf("prepared %d impression and %d click URLs from %d ad requests in %s",
		len(imps), len(clicks), prepServed, time.Since(start).Round(time.Millisecond))

	targets := []benchTarget{
		{Name: "empty_gif", Path: "/bench/empty.gif"},
		{Name: "floor", Path: "/bench/floor"},
		{Name: "/ping", Path: "/ping"},
		{Name: "/serve/json", URLFile: writeLines("serve-json.txt", jsonPaths), records: "serve"},
		{Name: "/serve/js", URLFile: writeLines("serve-js.txt", jsPaths), records: "serve"},
		{Name: "/track/imp", URLFile: writeLines("imp.txt", imps), records: "imp"},
		{Name: "/track/click", URLFile: writeLines("click.txt", clicks), records: "click"},
	}
	results := make([][]wrkResult, len(targets))
	// events counts the events answered so far, which the aggregator must have committed
	// before the next target starts (see settle).
	events := prepServed
	loadStart := time.Now()
	for round := 0; round < cfg.Rounds; round++ {
		// Odd rounds run backwards: whatever drifts during a round (another engineer's build,
		// the aggregator catching up) falls on every target in turn.
		order := make([]int, len(targets))
		for i := range order {
			order[i] = i
		}
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, i := range order {
			r := runWrk(t, wrkBin, luaDir, tp.nginx.URL, targets[i], cfg)
			results[i] = append(results[i], r)
			catchUp := settle(t, tp, targets[i], r, &events)
			t.Logf("round %d %-12s %9.0f req/s p99 %6.2f ms non-2xx/3xx %d socket errors %d; aggregator caught up in %s",
				round+1, targets[i].Name, r.rps(), float64(r.LatencyUS.P99)/1000, r.Errors.Status, r.socketErrors(), catchUp)
		}
	}
	t.Logf("load: %s", time.Since(loadStart).Round(time.Second))

	// Memory now, before the large inventory is added; VmHWM only grows, so this is the peak
	// of the main rounds.
	procs := adnetProcesses(tp.master.Process.Pid)

	// The inventory comparison, in rounds of its own that alternate the two zones.
	var invTargets []benchTarget
	var invResults [][]wrkResult
	if cfg.Inventory > 0 {
		start := time.Now()
		small, large := addInventoryZones(t, ctx, tp, store, cfg.Inventory)
		waited := waitForInventory(t, tp, large, cfg.Inventory)
		prepServed += waited
		events += waited
		t.Logf("added %d campaigns and waited for the snapshot in %s", cfg.Inventory, time.Since(start).Round(time.Millisecond))
		invTargets = []benchTarget{
			{Name: "/serve/json, 10 campaigns", Path: fmt.Sprintf("/serve/json?zone=%d", small), records: "serve"},
			{Name: fmt.Sprintf("/serve/json, %d campaigns", cfg.Inventory), Path: fmt.Sprintf("/serve/json?zone=%d", large), records: "serve"},
		}
		invResults = make([][]wrkResult, 2)
		for round := 0; round < cfg.Rounds; round++ {
			for k := range 2 {
				i := (k + round) % 2
				r := runWrk(t, wrkBin, luaDir, tp.nginx.URL, invTargets[i], cfg)
				invResults[i] = append(invResults[i], r)
				catchUp := settle(t, tp, invTargets[i], r, &events)
				t.Logf("round %d %-28s %9.0f req/s p99 %6.2f ms non-2xx/3xx %d socket errors %d; aggregator caught up in %s",
					round+1, invTargets[i].Name, r.rps(), float64(r.LatencyUS.P99)/1000, r.Errors.Status, r.socketErrors(), catchUp)
			}
		}
	}

	rep := benchReport{Date: time.Now().UTC().Format("2006-01-02 15:04 MST"), Machine: chaosMachine(), Commit: commit(), Config: cfg}
	rep.Rows = benchRows(targets, results)
	if invTargets != nil {
		// Related to the ceiling and floor of the main rounds, which ran just before.
		rep.Inventory = benchRows(append(targets[:2:2], invTargets...), append(results[:2:2], invResults...))[2:]
		rep.InventoryRatio = rep.Inventory[1].RPS / rep.Inventory[0].RPS
	}

	// Reconciliation: what wrk (and the preparation) saw answered against what the aggregator
	// committed, once it has caught up.
	answered := map[string]int64{"serve": prepServed}
	cutOff := map[string]int64{}
	all, allResults := append(slices.Clone(targets), invTargets...), append(slices.Clone(results), invResults...)
	for i, tg := range all {
		if tg.records == "" {
			continue
		}
		for _, r := range allResults[i] {
			answered[tg.records] += r.Requests - r.Errors.Status
			// When wrk stops, each connection may have a request in flight that a worker
			// recorded but wrk never read; a timed-out or cut request may have been recorded too.
			cutOff[tg.records] += int64(cfg.Connections) + r.socketErrors()
		}
	}
	got := tp.drain(store, answered["serve"])
	var rec zoneCounts
	for _, z := range got {
		rec.requests += z.requests
		rec.imps += z.imps + z.invImps
		rec.clicks += z.clicks + z.invClicks
	}
	rep.ReconcileOK = true
	for _, c := range []struct {
		what, key string
		rec       int64
	}{{"ad requests (serves)", "serve", rec.requests}, {"impressions (valid + invalid)", "imp", rec.imps},
		{"clicks (valid + invalid)", "click", rec.clicks}} {
		l := reconcileLine{What: c.what, Answered: answered[c.key], Recorded: c.rec, CutOff: cutOff[c.key]}
		switch {
		case l.Recorded == l.Answered:
			l.Verdict = "exact"
		case l.Recorded > l.Answered && l.Recorded <= l.Answered+l.CutOff:
			l.Verdict = fmt.Sprintf("ok: +%d, within the requests in flight when wrk stopped", l.Recorded-l.Answered)
		default:
			l.Verdict = "MISMATCH"
			rep.ReconcileOK = false
		}
		rep.Reconcile = append(rep.Reconcile, l)
	}

	// Peak memory at the end: the large inventory and the aggregator's catch-up count too.
	rep.Processes, rep.ProcessesEnd = procs, adnetProcesses(tp.master.Process.Pid)
	for _, p := range rep.Processes {
		rep.PeakRSSMB += p.HWMMB
		rep.RSSMB += p.RSSMB
	}
	for _, p := range rep.ProcessesEnd {
		rep.PeakRSSEndMB += p.HWMMB
	}

	md := rep.markdown()
	fmt.Println()
	fmt.Print(md)
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		t.Fatal(err)
	}
	js, _ := json.MarshalIndent(rep, "", "  ")
	for name, b := range map[string][]byte{"latest.json": append(js, '\n'), "latest.md": []byte(md)} {
		if err := os.WriteFile(filepath.Join(cfg.out, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	abs, _ := filepath.Abs(cfg.out)
	fmt.Printf("\nwritten: %s/latest.json, %s/latest.md\n", abs, abs)
	if !rep.ReconcileOK {
		t.Errorf("the statistics do not account for the answered requests: %+v", rep.Reconcile)
	}
}

// defaultRefreshInterval puts inventory.refresh_interval back to its default in the
// topology's config before the master starts. The test topology reloads the snapshot every
// second so that tests see changes at once; every worker reloading the whole inventory every
// second is a load production does not carry, and with 10,000 campaigns it would dominate the
// inventory comparison.
func defaultRefreshInterval(tp *topology) {
	b, err := os.ReadFile(tp.conf)
	if err != nil {
		tp.t.Fatal(err)
	}
	const testValue = "refresh_interval = \"1s\""
	if strings.Count(string(b), testValue) != 1 {
		tp.t.Fatalf("the topology's config has no %s: update defaultRefreshInterval\n%s", testValue, b)
	}
	conf := strings.Replace(string(b), testValue,
		fmt.Sprintf("refresh_interval = %q", config.Defaults().Inventory.RefreshInterval.D().String()), 1)
	if err := os.WriteFile(tp.conf, []byte(conf), 0o644); err != nil {
		tp.t.Fatal(err)
	}
}

// startFloor builds internal/bench/fcgifloor and runs it on a socket in dir (short: socket
// paths are limited to 108 bytes); it is stopped when the test ends.
func startFloor(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "fcgifloor")
	if out, err := exec.Command("go", "build", "-o", bin, "adnet/internal/bench/fcgifloor").CombinedOutput(); err != nil {
		t.Fatalf("building fcgifloor: %v\n%s", err, out)
	}
	sock := filepath.Join(dir, "floor.sock")
	cmd := exec.Command(bin, "-socket", sock)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return sock
		}
		if time.Now().After(deadline) {
			t.Fatalf("fcgifloor did not create %s", sock)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// addBenchLocations adds the ceiling and the floor to the topology's nginx and reloads it:
// /bench/empty.gif answered by nginx itself, and /bench/floor passed to the floor responder
// through an upstream kept alive exactly like adnet's own (fastcgi_keep_conn and the FastCGI
// params are inherited from the server block). The production templates stay as they are: the
// locations exist only in this nginx.
func addBenchLocations(t *testing.T, tp *topology, floorSock string) {
	t.Helper()
	b, err := os.ReadFile(tp.nginx.Conf)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	upstream := fmt.Sprintf("\nupstream bench_floor {\n    server unix:%s max_fails=0;\n    keepalive %d;\n}\n\nserver {", floorSock, tp.cfg.Nginx.Keepalive)
	locations := "    location = /bench/empty.gif {\n        empty_gif;\n    }\n\n" +
		"    location = /bench/floor {\n        fastcgi_pass bench_floor;\n    }\n\n    location = /ping {"
	if strings.Count(conf, "\nserver {") != 1 || strings.Count(conf, "    location = /ping {") != 1 {
		t.Fatalf("the rendered nginx.conf no longer has one server block with a /ping location: update addBenchLocations\n%s", conf)
	}
	// No access log: `make run` has none either, and a log line per request would be nginx's
	// cost, the same for every location, that narrows every ratio toward 1. adnet's own record
	// of each request is its event log.
	logLine := "access_log " + tp.nginx.Params.AccessLog + ";"
	if strings.Count(conf, logLine) != 1 {
		t.Fatalf("the rendered nginx.conf has no %q: update addBenchLocations", logLine)
	}
	conf = strings.Replace(conf, logLine, "access_log off;", 1)
	conf = strings.Replace(conf, "\nserver {", upstream, 1)
	conf = strings.Replace(conf, "    location = /ping {", locations, 1)
	if err := os.WriteFile(tp.nginx.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	tp.nginx.Reload()
}

// prepareTokens makes n ad requests through nginx, round robin over paths, from 16 clients
// with their own loopback addresses, and returns how many were answered (200 or 204: both are
// recorded as ad requests) and the impression and click paths of the ads served. Everything
// prepared here is a real, valid ad.
func prepareTokens(t *testing.T, tp *topology, paths []string, n int) (int64, []string, []string) {
	t.Helper()
	const conc = 16
	g := &generator{base: tp.nginx.URL, tally: newTally()}
	var next, served atomic.Int64
	var mu sync.Mutex
	var imps, clicks []string
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := g.client(w)
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				code, body, ok := g.do(c, tp.nginx.URL+paths[int(i)%len(paths)], 200, 204)
				if !ok {
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %.200s", code, body))
					continue
				}
				served.Add(1)
				if code != 200 {
					continue
				}
				var ad handlers.ServeJSONAd
				if err := json.Unmarshal(body, &ad); err != nil {
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				mu.Lock()
				imps = append(imps, strings.TrimPrefix(ad.ImpressionURL, tp.cfg.Tracking.BaseURL))
				clicks = append(clicks, strings.TrimPrefix(ad.ClickURL, tp.cfg.Tracking.BaseURL))
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		t.Fatalf("preparing tokens: %d of %d ad requests failed (first: %v)", g.tally.failed.Load(), n, e)
	}
	if len(imps) == 0 {
		t.Fatalf("preparing tokens: %d ad requests served no ad", n)
	}
	return served.Load(), imps, clicks
}

// runWrk runs one wrk load on one target and returns what bench/report.lua printed.
func runWrk(t *testing.T, wrkBin, luaDir, base string, tg benchTarget, cfg benchConfig) wrkResult {
	t.Helper()
	args := []string{"-t" + strconv.Itoa(cfg.Threads), "-c" + strconv.Itoa(cfg.Connections),
		"-d" + strconv.Itoa(int(cfg.Duration/time.Second)) + "s", "--timeout", "5s",
		// A browser's User-Agent: wrk sends none, which the invalid-traffic filters flag.
		"-H", "User-Agent: " + desktopUA}
	if tg.URLFile != "" {
		args = append(args, "-s", filepath.Join(luaDir, "urls.lua"), base, "--", tg.URLFile)
	} else {
		args = append(args, "-s", filepath.Join(luaDir, "report.lua"), base+tg.Path)
	}
	out, err := exec.Command(wrkBin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("wrk %v: %v\n%s", args, err, out)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if j, ok := strings.CutPrefix(sc.Text(), "BENCH_JSON "); ok {
			var r wrkResult
			if err := json.Unmarshal([]byte(j), &r); err != nil {
				t.Fatalf("wrk's summary %q: %v", j, err)
			}
			if r.Requests == 0 || r.DurationUS == 0 {
				t.Fatalf("wrk answered nothing on %s:\n%s", tg.Name, out)
			}
			return r
		}
	}
	t.Fatalf("wrk printed no BENCH_JSON line:\n%s", out)
	return wrkResult{}
}

// benchRows sums each target's rounds and relates them to the ceiling (targets[0]) and the
// floor (targets[1]): requests/s is the total over every round, and the range shows how far
// the ratio to empty_gif moved from one round to the next.
func benchRows(targets []benchTarget, results [][]wrkResult) []benchRow {
	total := func(rs []wrkResult) float64 {
		var req, us int64
		for _, r := range rs {
			req += r.Requests
			us += r.DurationUS
		}
		return float64(req) / (float64(us) / 1e6)
	}
	ceiling, floor := total(results[0]), total(results[1])
	rows := make([]benchRow, len(targets))
	for i, tg := range targets {
		row := benchRow{Name: tg.Name, RPS: total(results[i]), Rounds: results[i]}
		row.VsEmptyGIF, row.VsFloor = row.RPS/ceiling, row.RPS/floor
		row.VsEmptyRange = [2]float64{math.Inf(1), math.Inf(-1)}
		for k, r := range results[i] {
			ratio := r.rps() / results[0][k].rps()
			row.VsEmptyRange[0] = math.Min(row.VsEmptyRange[0], ratio)
			row.VsEmptyRange[1] = math.Max(row.VsEmptyRange[1], ratio)
			row.P50MS = math.Max(row.P50MS, float64(r.LatencyUS.P50)/1000)
			row.P99MS = math.Max(row.P99MS, float64(r.LatencyUS.P99)/1000)
			row.MaxMS = math.Max(row.MaxMS, float64(r.LatencyUS.Max)/1000)
			row.Requests += r.Requests
			row.Non2xx3xx += r.Errors.Status
			row.SocketErrors += r.socketErrors()
		}
		rows[i] = row
	}
	return rows
}

// issueTargets are issue 11's targets as ratios to empty_gif (2 cores, wrk on the same cores).
var issueTargets = map[string]string{
	"/track/imp": "≥ 0.25", "/track/click": "≥ 0.22", "/serve/json": "≥ 0.20", "/serve/js": "≥ 0.20",
}

// markdown is the table printed and written to latest.md.
func (r benchReport) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "adnet bench — %s — %s — commit %s\n\n", r.Date, r.Machine, r.Commit)
	fmt.Fprintf(&b, "wrk -t%d -c%d, %s per endpoint per round, %d rounds alternating; nginx → FastCGI on Unix sockets, keepalive; %d tokens\n\n",
		r.Config.Threads, r.Config.Connections, r.Config.Duration, r.Config.Rounds, r.Config.Tokens)
	b.WriteString("| endpoint | req/s | × empty_gif | target | × floor | × empty_gif per round | p50 ms | p99 ms | max ms | requests | non-2xx/3xx | socket errors |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %s | %.0f | %.3f | %s | %.3f | %.3f–%.3f | %.2f | %.2f | %.1f | %d | %d | %d |\n",
			row.Name, row.RPS, row.VsEmptyGIF, issueTargets[row.Name], row.VsFloor, row.VsEmptyRange[0], row.VsEmptyRange[1],
			row.P50MS, row.P99MS, row.MaxMS, row.Requests, row.Non2xx3xx, row.SocketErrors)
	}
	if len(r.Inventory) == 2 {
		fmt.Fprintf(&b, "\nCost against inventory (own rounds after the main ones; ratios to the main rounds' empty_gif and floor): %d campaigns decide at %.3f× the rate of 10\n\n",
			r.Config.Inventory, r.InventoryRatio)
		b.WriteString("| zone | req/s | × empty_gif | × floor | p50 ms | p99 ms | max ms | requests | non-2xx/3xx | socket errors |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, row := range r.Inventory {
			fmt.Fprintf(&b, "| %s | %.0f | %.3f | %.3f | %.2f | %.2f | %.1f | %d | %d | %d |\n",
				row.Name, row.RPS, row.VsEmptyGIF, row.VsFloor, row.P50MS, row.P99MS, row.MaxMS, row.Requests, row.Non2xx3xx, row.SocketErrors)
		}
	}
	fmt.Fprintf(&b, "\nPeak RSS of all adnet processes after the main rounds (sum of VmHWM, %d processes): %.1f MB (resident then %.1f MB)\n",
		len(r.Processes), r.PeakRSSMB, r.RSSMB)
	for _, p := range r.Processes {
		fmt.Fprintf(&b, "- %s (pid %d): peak %.1f MB, resident %.1f MB\n", p.Command, p.PID, p.HWMMB, p.RSSMB)
	}
	if len(r.Inventory) > 0 {
		fmt.Fprintf(&b, "\nPeak RSS at the end, with the %d-campaign inventory loaded: %.1f MB\n", r.Config.Inventory, r.PeakRSSEndMB)
		for _, p := range r.ProcessesEnd {
			fmt.Fprintf(&b, "- %s (pid %d): peak %.1f MB, resident %.1f MB\n", p.Command, p.PID, p.HWMMB, p.RSSMB)
		}
	}
	b.WriteString("\n| statistics | answered 2xx/3xx | recorded | may be cut off | verdict |\n|---|---:|---:|---:|---|\n")
	for _, l := range r.Reconcile {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %s |\n", l.What, l.Answered, l.Recorded, l.CutOff, l.Verdict)
	}
	return b.String()
}

// adnetProcesses returns the master and every process below it (ad and console workers, the
// aggregator), with their peak and current resident memory from /proc.
func adnetProcesses(master int) []benchProc {
	pids := []int{master}
	for _, d := range descendants(master) {
		pids = append(pids, d.PID)
	}
	var out []benchProc
	for _, pid := range pids {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		args := strings.Fields(strings.ReplaceAll(string(cmdline), "\x00", " "))
		for i, a := range args { // drop --config and its path: the temp dir says nothing
			if a == "--config" {
				args = args[:i]
				break
			}
		}
		if len(args) > 0 {
			args[0] = filepath.Base(args[0])
		}
		p := benchProc{PID: pid, Command: strings.Join(args, " ")}
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				p.HWMMB = kbToMB(v)
			} else if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				p.RSSMB = kbToMB(v)
			}
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b benchProc) int { return a.PID - b.PID })
	return out
}

func kbToMB(v string) float64 {
	kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
	return kb / 1024
}

func commit() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// addInventoryZones adds two 300×250 zones to the first demo site and n remnant campaigns, each
// with one 300×250 creative and no targeting, so that every one is eligible: all n are linked
// to the large zone, the first 10 to the small one. The campaigns, creatives and links are
// inserted in bulk with SQL: the Store's one-at-a-time path would take minutes for 10,000.
func addInventoryZones(t *testing.T, ctx context.Context, tp *topology, store *mysql.Store, n int) (small, large int64) {
	t.Helper()
	sites, err := store.ListSites(ctx, models.SiteFilter{})
	if err != nil || len(sites) == 0 {
		t.Fatalf("demo sites: %v (%d)", err, len(sites))
	}
	advs, err := store.ListAdvertisers(ctx, models.AdvertiserFilter{})
	if err != nil || len(advs) == 0 {
		t.Fatalf("demo advertisers: %v (%d)", err, len(advs))
	}
	var ids [2]int64
	for i, name := range []string{"bench: 10 campaigns", fmt.Sprintf("bench: %d campaigns", n)} {
		z := &models.Zone{SiteID: sites[0].ID, Name: name, Width: 300, Height: 250, Status: models.StatusActive}
		if err := store.CreateZone(ctx, z); err != nil {
			t.Fatal(err)
		}
		ids[i] = z.ID
	}
	c, err := gomysql.ParseDSN(tp.cfg.MySQL.DSN)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	targeting, _ := json.Marshal(models.Targeting{})
	// 0 … 99,999 from five cross-joined digit tables, without relying on recursive CTE limits.
	digits := "(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 " +
		"UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)"
	seq := fmt.Sprintf("SELECT a.d + 10*b.d + 100*c.d + 1000*e.d + 10000*f.d + 1 AS n FROM %s a, %s b, %s c, %s e, %s f",
		digits, digits, digits, digits, digits)
	const prefix = "bench inventory "
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO campaigns (advertiser_id, name, status, tier, weight, pricing, rate_micros, targeting, created_at, updated_at)
		  SELECT ?, CONCAT(?, s.n), 'active', ?, 1, 'cpm', 1000000, ?, NOW(6), NOW(6) FROM (` + seq + `) s WHERE s.n <= ?`,
			[]any{advs[0].ID, prefix, int(models.TierRemnant), string(targeting), n}},
		{`INSERT INTO creatives (campaign_id, name, status, kind, width, height, weight, image_url, html, click_url, created_at, updated_at)
		  SELECT id, 'bench-300x250', 'active', 'image', 300, 250, 1, ?, '', 'https://example.com/', NOW(6), NOW(6)
		  FROM campaigns WHERE name LIKE CONCAT(?, '%')`,
			[]any{tp.cfg.Tracking.BaseURL + "/static/creatives/house-300x250.svg", prefix}},
		{`INSERT INTO zone_campaigns (zone_id, campaign_id, weight) SELECT ?, id, 1 FROM campaigns WHERE name LIKE CONCAT(?, '%')`,
			[]any{ids[1], prefix}},
		{`INSERT INTO zone_campaigns (zone_id, campaign_id, weight)
		  SELECT ?, id, 1 FROM campaigns WHERE name LIKE CONCAT(?, '%') ORDER BY id LIMIT 10`,
			[]any{ids[0], prefix}},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("adding the inventory: %v\n%s", err, q.sql)
		}
	}
	return ids[0], ids[1]
}

// waitForInventory asks the large zone for ads until the workers' snapshot serves from it
// (the refresher reloads every inventory.refresh_interval), and returns how many ad requests
// it made and saw answered: they are recorded like any other.
func waitForInventory(t *testing.T, tp *topology, zone int64, n int) int64 {
	t.Helper()
	var answered int64
	g := &generator{base: tp.nginx.URL, tally: newTally()}
	c := g.client(0)
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body, ok := g.do(c, fmt.Sprintf("%s/serve/json?zone=%d", tp.nginx.URL, zone), 200, 204)
		if ok {
			answered++
		}
		if code == http.StatusOK {
			return answered
		}
		if time.Now().After(deadline) {
			t.Fatalf("the zone with %d campaigns serves no ad after 60s: %d %.300s", n, code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// settle adds the events target tg answered in r to *events and waits until the aggregator
// has committed at least that many, so that each load starts from a quiet system: the
// aggregator tails the event logs while a load runs, as in production, but its backlog from
// one endpoint would otherwise be paid during the next one's measurement (or the ceiling's).
// It returns how long that took; a backlog still there after a minute is logged, not fatal.
func settle(t *testing.T, tp *topology, tg benchTarget, r wrkResult, events *int64) time.Duration {
	t.Helper()
	start := time.Now()
	if tg.records == "" {
		return 0
	}
	*events += r.Requests - r.Errors.Status
	var committed int64
	for time.Since(start) < time.Minute {
		code, body, err := tp.get("/status?json")
		var st struct {
			Aggregator *struct {
				EventsCommitted int64 `json:"events_committed"`
			} `json:"aggregator"`
		}
		if err == nil && code == http.StatusOK && json.Unmarshal([]byte(body), &st) == nil && st.Aggregator != nil {
			committed = st.Aggregator.EventsCommitted
			if committed >= *events {
				return time.Since(start).Round(time.Millisecond)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the aggregator has committed %d of %d events after a minute; going on", committed, *events)
	return time.Since(start).Round(time.Millisecond)
}
