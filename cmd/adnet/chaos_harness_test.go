package main

// The chaos scenarios of issue 12: faults under a steady load through nginx, each ending with
// the exact reconciliation of what the clients saw answered against what the aggregator
// committed to MariaDB, per event type. `make chaos` (chaos_test.go, build tag chaos) runs
// them for minutes; TestShortChaos (chaos_short_test.go) runs each for seconds in `make test`.
//
// One topology serves every scenario, in order: a private MariaDB that the test may stop, the
// master with two ad workers, the console worker and the aggregator, nginx in front, and the
// event logs on a tmpfs of their own (which the disk-full scenario fills). Before each scenario
// the aggregator is drained and the recorded totals read; after it, the load stops, the
// aggregator is drained again, and the difference must equal the answered requests of each
// type — exactly, or, where a fault cuts requests off (a killed worker, the master or nginx
// going down), above them by no more than the requests that could have been written and not
// answered.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"adnet/models"
	"adnet/models/mysql"
)

// chaosScale sizes the scenarios: seconds in `make test`, minutes in `make chaos`.
type chaosScale struct {
	commit      string        // the commit under test, read when the run starts
	conc        int           // page-view goroutines of the steady mix
	baseline    time.Duration // undisturbed load before each fault: the throughput baseline
	after       time.Duration // load after a fault has ended, before the final count
	workerKills int           // worker-kill: SIGKILLs, one every killEvery
	killEvery   time.Duration
	aggKills    int // aggregator-kill: SIGKILLs, one every aggEvery
	aggEvery    time.Duration
	dbDown      time.Duration // mariadb-stop: how long MariaDB is down
	// dbMinShare is the share of the baseline throughput that must be answered while
	// MariaDB is down: the 90 % in `make chaos`, where minutes of load average
	// out a shared machine's noise; in `make test`, whose 1 s baseline and 3 s outage
	// swing from 89 % to 55 % on two shared cores busy with other suites, a bound that
	// still fails if serving stalls or waits on MariaDB (and any failed request fails
	// the scenario anyway).
	dbMinShare float64
	// fastShedShare is the share of the overload's 503s nginx must answer within 10 ms: 99 %
	// in `make chaos`; in `make test`, where the machine may be running other suites, a
	// bound that still fails if rejected requests wait out queue_timeout (1 s).
	fastShedShare float64
	hups          int // sighup: reloads, one every hupEvery
	hupEvery      time.Duration
	idleConns     int           // overload: idle keep-alive connections held open
	overload      time.Duration // overload: how long the busy clients run
	diskFull      time.Duration // disk-full: how long the event log's file system stays full
	restarts      int           // nginx-restart: restarts, one every restartEvery
	restartGap    time.Duration
}

// chaosRow is one scenario's line in the table.
type chaosRow struct {
	Name      string
	Requests  int64
	Errors    string // failures outside gaps, by status
	GapErrors string // failures while the master or nginx was down
	Baseline  float64
	During    float64
	Expected  [numKinds]int64
	Found     [numKinds]int64
	CutOff    [numKinds]int64
	Notes     []string
	Pass      bool
}

// chaosEnv is the running system the scenarios share.
type chaosEnv struct {
	t      *testing.T
	sc     chaosScale
	tp     *topology
	mdb    *privateMariaDB
	store  *mysql.Store
	load   *chaosLoad
	events string // the event logs' directory, a tmpfs
	rows   []chaosRow
	last   *[numKinds]int64 // the recorded totals at the end of the previous scenario
	timing string           // nginx's log of status and $request_time
}

// chaosRun is one scenario in progress.
type chaosRun struct {
	t     *testing.T
	e     *chaosEnv
	row   *chaosRow
	allow map[int]bool // failure statuses a scenario expects outside gaps (e.g. 503 on a full disk)
	// mayCut: the fault can cut requests off after their event was written (a killed worker,
	// nginx or the master going down), so failed requests may have been recorded; without it
	// the totals must be exact.
	mayCut   bool
	extraCut int64 // requests that may be recorded twice (written, cut, retried by nginx)
	during   float64
	measured bool              // the scenario measured its own throughput during the fault
	check    func(loadFigures) // the scenario's own checks of the final figures
}

func (r *chaosRun) note(format string, args ...any) {
	r.row.Notes = append(r.row.Notes, fmt.Sprintf(format, args...))
	r.t.Logf(format, args...)
}

// startChaos starts the shared system.
func startChaos(t *testing.T, sc chaosScale) *chaosEnv {
	e := &chaosEnv{t: t, sc: sc}
	e.mdb = startPrivateMariaDB(t)
	e.tp = startTopologyWith(t, topoOptions{dsn: e.mdb.dsn, demo: true, sections: `
[stats]
flush_interval = "1s"
[fraud]
max_clicks_per_ip = 1000000
min_click_delay = "0s"
`, before: e.mountEvents})
	ctx := context.Background()
	db, err := openDB(ctx, e.tp.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.store = mysql.NewStore(db)
	advs, err := e.store.ListAdvertisers(ctx, models.AdvertiserFilter{})
	if err != nil {
		t.Fatal(err)
	}
	camps, err := e.store.ListCampaigns(ctx, models.CampaignFilter{})
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[int64]string{}
	for _, c := range camps {
		for _, a := range advs {
			if a.ID == c.AdvertiserID {
				secrets[c.ID] = a.PostbackSecret
			}
		}
	}
	e.load = newChaosLoad(e.tp.cfg.Tracking.BaseURL, secrets)
	// nginx logs each request's status and time, so that overload measures the 503s' latency
	// where they are answered, apart from this test's own clients (which share the cores).
	// Added now: reloading nginx under the load would cut kept-alive client connections.
	e.timing = addTimingLog(t, e.tp)
	return e
}

// mountEvents puts <data_dir>/events on a tmpfs of its own before the master starts, so that
// the disk-full scenario can fill it without touching anything else.
func (e *chaosEnv) mountEvents(tp *topology) {
	e.events = filepath.Join(tp.cfg.DataDir, "events")
	if err := os.MkdirAll(e.events, 0o755); err != nil {
		tp.t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1g,mode=0755", "tmpfs", e.events).CombinedOutput(); err != nil {
		tp.t.Fatalf("the chaos scenarios put the event log on a tmpfs of its own (the disk-full scenario fills it) and need root to mount it: %v\n%s", err, out)
	}
	tp.t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", e.events).CombinedOutput(); err != nil {
			tp.t.Errorf("umount %s: %v\n%s", e.events, err, out)
		}
	})
}

// recorded drains the aggregator (until the recorded ad requests reach want and nothing
// changes for a few seconds) and returns the totals per event type, valid and invalid.
func (e *chaosEnv) recorded(want int64) *[numKinds]int64 {
	n := new([numKinds]int64)
	for _, z := range e.tp.drain(e.store, want) {
		n[kindServe] += z.requests
		n[kindImp] += z.imps + z.invImps
		n[kindClick] += z.clicks + z.invClicks
		n[kindConv] += z.convs + z.invConvs
	}
	return n
}

// scenario runs one fault under the load and reconciles.
func (e *chaosEnv) scenario(t *testing.T, name string, fault func(r *chaosRun)) {
	e.t.Helper()
	row := &chaosRow{Name: name}
	r := &chaosRun{t: t, e: e, row: row, allow: map[int]bool{}}
	defer func() {
		row.Pass = !t.Failed()
		e.rows = append(e.rows, *row)
	}()
	// The totals after the previous scenario are this one's start: nothing ran in between.
	before := e.last
	if e.last == nil {
		before = e.recorded(0)
	}
	e.last = nil
	logMark := len(e.tp.nginx.ErrorLog())
	e.load.reset()
	e.load.start(e.sc.conc, 0)
	stopped := false
	defer func() {
		if !stopped {
			e.load.stop()
		}
	}()
	row.Baseline = e.load.rate(e.sc.baseline)
	answeredBefore, start := e.load.total.Load(), time.Now()
	fault(r)
	if !r.measured {
		r.during = float64(e.load.total.Load()-answeredBefore) / time.Since(start).Seconds()
	}
	row.During = r.during
	time.Sleep(e.sc.after)
	e.load.stop()
	stopped = true

	f := e.load.figures()
	row.Requests = f.requests()
	row.Errors, row.GapErrors = statusText(f.byStatus), statusText(f.gapErrs)
	t.Logf("%s: %d requests; failed outside gaps %s, during gaps %s, POSTs failed %s; %.0f req/s answered during the fault, %.0f before",
		name, row.Requests, row.Errors, row.GapErrors, statusText(f.postErrs), row.During, row.Baseline)
	for code, n := range f.byStatus {
		if !r.allow[code] {
			t.Errorf("%s: %d requests (%d POSTs) failed with %s outside any gap (e.g. %s)", name, n, f.postErrs[code],
				statusText(map[int]int64{code: n}), f.firstErr[code])
		}
	}
	if r.check != nil {
		r.check(f)
	}
	if f.byStatus[http.StatusBadGateway] > 0 {
		// What nginx saw: the cause of a 502 is in its error log.
		var lines []string
		log := e.tp.nginx.ErrorLog()
		if len(log) >= logMark {
			log = log[logMark:]
		}
		for _, l := range strings.Split(log, "\n") {
			if strings.Contains(l, "[error]") && strings.Contains(l, "upstream") {
				lines = append(lines, l)
			}
		}
		if len(lines) > 5 {
			lines = lines[len(lines)-5:]
		}
		r.note("nginx error log on 502 (last %d upstream errors): %s", len(lines), strings.Join(lines, " / "))
	}
	after := e.recorded(before[kindServe] + f.answered[kindServe])
	e.last = after
	for k := range numKinds {
		row.Expected[k], row.Found[k] = f.answered[k], after[k]-before[k]
		if r.mayCut {
			row.CutOff[k] = f.failed[k] + r.extraCut
		}
		if row.Found[k] < row.Expected[k] || row.Found[k] > row.Expected[k]+row.CutOff[k] {
			t.Errorf("%s: %s recorded %d, answered %d (may be cut off: %d)", name, kindNames[k], row.Found[k], row.Expected[k], row.CutOff[k])
		}
	}
	if f.answered[kindConv] == 0 {
		t.Errorf("%s: no conversion postback was answered: the mix did not run", name)
	}
}

// adPids returns the ad workers' pids by id, from the master's status.
func (e *chaosEnv) adPids() map[int]int { return e.tp.pids() }

// waitWorkers waits until the master's status shows both ad workers serving.
func (e *chaosEnv) waitWorkers(what string) {
	e.tp.waitFor(what, func() bool {
		p := e.adPids()
		return len(p) == 2 && p[1] != 0 && p[2] != 0
	})
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	rest := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(rest) > 0 && rest[0] != "Z" && rest[0] != "X"
}

// ---- the scenarios ----

// chaosScenarios in the order they run on the shared system. overload comes last: it lowers
// the caps for good.
var chaosScenarios = []struct {
	name string
	run  func(r *chaosRun)
}{
	{"worker-kill", chaosWorkerKill},
	{"aggregator-kill", chaosAggregatorKill},
	{"master-kill", chaosMasterKill},
	{"mariadb-stop", chaosMariaDBStop},
	{"sighup", chaosSighup},
	{"nginx-restart", chaosNginxRestart},
	{"disk-full", chaosDiskFull},
	{"overload", chaosOverload},
}

// runChaos starts the system and runs every scenario as a subtest; it returns the rows.
func runChaos(t *testing.T, sc *chaosScale) []chaosRow {
	sc.commit = chaosCommit()
	e := startChaos(t, *sc)
	for _, s := range chaosScenarios {
		t.Run(s.name, func(t *testing.T) { e.scenario(t, s.name, s.run) })
	}
	md := chaosMarkdown(e.rows, *sc)
	t.Logf("chaos scenarios:\n%s", md)
	return e.rows
}

// 1. SIGKILL an ad worker every few seconds; the master restarts it.
func chaosWorkerKill(r *chaosRun) {
	e := r.e
	r.mayCut = true
	var kills int64
	for i := 0; i < e.sc.workerKills; i++ {
		time.Sleep(e.sc.killEvery)
		id := 1 + i%2
		pid := e.adPids()[id]
		if pid == 0 {
			r.t.Errorf("worker %d is not serving before kill %d", id, i+1)
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			r.t.Fatal(err)
		}
		kills++
		e.tp.waitFor(fmt.Sprintf("worker %d restarted", id), func() bool {
			p := e.adPids()
			return p[id] != 0 && p[id] != pid
		})
	}
	// A request in flight at a killed worker may have been written, cut and retried by nginx
	// on the other worker: at most one per client connection per kill.
	r.extraCut = kills * int64(e.sc.conc)
	r.note("%d workers SIGKILLed, every %s", kills, e.sc.killEvery)
	// Nothing fails: nginx retries a GET cut at the killed worker, or answered 503 by the
	// master standing in on its socket until the new worker is up, on the other worker; and
	// so it does for a conversion postback, a POST (location = /track/conv in the nginx site:
	// a repeat is recorded as duplicate_conversion). Before that, 18 % of the postbacks
	// failed with a worker SIGKILLed every 3 s.
	r.check = func(f loadFigures) {
		r.note("POST postbacks failed: %s of %d", statusText(f.postErrs), f.sent[kindConv])
	}
}

// 2. SIGKILL the aggregator; the master restarts it and it resumes from its committed offsets.
func chaosAggregatorKill(r *chaosRun) {
	e := r.e
	for i := 0; i < e.sc.aggKills; i++ {
		time.Sleep(e.sc.aggEvery)
		pid := pidOf(r.t, "aggregate", e.tp.conf)
		if pid == 0 {
			r.t.Fatalf("no aggregator process")
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			r.t.Fatal(err)
		}
		e.tp.waitFor("a new aggregator", func() bool {
			p := pidOf(r.t, "aggregate", e.tp.conf)
			return p != 0 && p != pid
		})
	}
	r.note("aggregator SIGKILLed %d×", e.sc.aggKills)
}

// 3. SIGKILL the master. Its workers and the aggregator get SIGTERM (PDEATHSIG), answer what
// they hold and exit; then, as systemd would (KillMode=mixed waits for the remaining
// children, then Restart=on-failure), a new `adnet serve` starts and recreates the sockets.
// Requests failing between the kill and the new workers being ready are gap errors.
func chaosMasterKill(r *chaosRun) {
	e, tp := r.e, r.e.tp
	r.mayCut = true
	time.Sleep(e.sc.killEvery)
	children := descendants(tp.master.Process.Pid)
	r.e.load.gap.Store(true)
	killed := time.Now()
	if err := tp.master.Process.Kill(); err != nil {
		r.t.Fatal(err)
	}
	_ = tp.master.Wait()
	var left []string
	tp.waitFor("the old master's children to exit", func() bool {
		left = left[:0]
		for _, c := range children {
			if alive(c.PID) {
				left = append(left, c.Command)
			}
		}
		return len(left) == 0
	})
	exited := time.Since(killed)
	tp.master = exec.Command(adnetBinary, "serve", "--config", tp.conf)
	tp.master.Stdout, tp.master.Stderr = tp.out, tp.out
	if err := tp.master.Start(); err != nil {
		r.t.Fatal(err)
	}
	e.waitWorkers("the new master's workers")
	r.e.load.gap.Store(false)
	r.note("master SIGKILLed; its %d children exited in %s; new master serving %s after the kill",
		len(children), exited.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	time.Sleep(e.sc.killEvery)
}

// 4. MariaDB stopped, then started: serving goes on from the snapshot, at ≥ dbMinShare of
// its throughput (90 % in `make chaos`), and the aggregator commits everything once
// MariaDB is back.
func chaosMariaDBStop(r *chaosRun) {
	e := r.e
	e.mdb.stop()
	r.during = e.load.rate(e.sc.dbDown)
	r.measured = true
	e.mdb.start()
	r.note("MariaDB down %s: %.0f req/s answered, %.0f%% of the baseline", e.sc.dbDown, r.during, 100*r.during/r.row.Baseline)
	if r.during < e.sc.dbMinShare*r.row.Baseline {
		r.t.Errorf("throughput with MariaDB down %.0f req/s < %.0f%% of the baseline %.0f", r.during, 100*e.sc.dbMinShare, r.row.Baseline)
	}
}

// 5. SIGHUP every few seconds: rolling reloads fail no request, POSTs included.
func chaosSighup(r *chaosRun) {
	e := r.e
	for i := 0; i < e.sc.hups; i++ {
		before := e.adPids()
		if err := e.tp.master.Process.Signal(syscall.SIGHUP); err != nil {
			r.t.Fatal(err)
		}
		start := time.Now()
		e.tp.waitFor("both workers replaced", func() bool {
			p := e.adPids()
			return len(p) == 2 && p[1] != 0 && p[2] != 0 && p[1] != before[1] && p[2] != before[2]
		})
		if rest := e.sc.hupEvery - time.Since(start); rest > 0 {
			time.Sleep(rest)
		}
	}
	r.note("%d reloads, one every %s", e.sc.hups, e.sc.hupEvery)
}

// 8. nginx restarted: the monitor sees its counters go back to zero; the workers go on.
func chaosNginxRestart(r *chaosRun) {
	e, tp := r.e, r.e.tp
	r.mayCut = true
	resets := func() (uint64, error) {
		var st struct {
			Nginx struct {
				Resets uint64 `json:"resets"`
			} `json:"nginx"`
		}
		code, body, err := tp.get("/status?json")
		if err != nil {
			return 0, err
		}
		if code != http.StatusOK {
			return 0, fmt.Errorf("status %d", code)
		}
		err = json.Unmarshal([]byte(body), &st)
		return st.Nginx.Resets, err
	}
	st0, err := tp.status()
	if err != nil {
		r.t.Fatal(err)
	}
	for i := 0; i < e.sc.restarts; i++ {
		time.Sleep(e.sc.restartGap)
		n0, err := resets()
		if err != nil {
			r.t.Fatal(err)
		}
		e.load.gap.Store(true)
		start := time.Now()
		tp.nginx.Restart()
		e.load.gap.Store(false)
		down := time.Since(start)
		var n1 uint64
		tp.waitFor("the monitor to notice nginx's restart", func() bool {
			n1, err = resets()
			return err == nil && n1 > n0
		})
		r.note("nginx restart %d: down %s, monitor resets %d → %d after %s", i+1, down.Round(time.Millisecond), n0, n1,
			(time.Since(start) - down).Round(time.Millisecond))
	}
	st1, err := tp.status()
	if err != nil {
		r.t.Fatal(err)
	}
	for i, w := range st1.Workers {
		if w.PID != st0.Workers[i].PID || w.Restarts != st0.Workers[i].Restarts {
			r.t.Errorf("worker %d changed across nginx restarts: pid %d → %d, restarts %d → %d", w.ID,
				st0.Workers[i].PID, w.PID, st0.Workers[i].Restarts, w.Restarts)
		}
	}
}

// 7. The event log's file system full: the ad endpoints answer 503, the status says why, what
// was written stays readable (the reconciliation), and serving recovers by itself once space
// is freed.
func chaosDiskFull(r *chaosRun) {
	e, tp := r.e, r.e.tp
	r.allow[http.StatusServiceUnavailable] = true
	filler := filepath.Join(e.events, "filler")
	f, err := os.Create(filler)
	if err != nil {
		r.t.Fatal(err)
	}
	// Big writes, then page-sized ones: tmpfs allocates by page, so the file system is then
	// full but for the free room in the last pages of the open segments.
	for _, size := range []int{1 << 20, 4096} {
		buf := make([]byte, size)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					r.t.Fatal(err)
				}
				break
			}
		}
	}
	f.Close()
	full := time.Now()
	failedBefore := e.load.figures().byStatus[http.StatusServiceUnavailable]
	// The status must say why: each worker's event-log error is in /status?json.
	var why string
	tp.waitFor("the status to show the full event log", func() bool {
		_, body, err := tp.get("/status?json")
		if err == nil && strings.Contains(body, "no space left on device") {
			i := strings.Index(body, "no space left on device")
			why = body[max(0, i-120) : i+len("no space left on device")]
			return true
		}
		return false
	})
	if rest := e.sc.diskFull - time.Since(full); rest > 0 {
		time.Sleep(rest)
	}
	shed := e.load.figures().byStatus[http.StatusServiceUnavailable] - failedBefore
	if shed == 0 {
		r.t.Errorf("no request was answered 503 while the event log's disk was full")
	}
	if err := os.Remove(filler); err != nil {
		r.t.Fatal(err)
	}
	freed := time.Now()
	// Recovery: an ad request answered again, with nothing done but freeing the space. The
	// probe counts like any request of the mix (its serve is recorded).
	c := e.load.gen.client(999)
	tp.waitFor("serving to recover once space is freed", func() bool {
		_, _, ok := e.load.do(c, kindServe, http.MethodGet, tp.nginx.URL+"/serve/json?zone=1", 200, 204)
		return ok
	})
	r.note("disk full %s: %d requests answered 503; status: …%s; serving again %s after space was freed",
		e.sc.diskFull, shed, strings.ReplaceAll(why, "|", "/"), time.Since(freed).Round(time.Millisecond))
}

// 6. Overload at 4× the caps, in the seed's shape: thousands of idle keep-alive connections
// and busy clients. No 500, 502 or 504, no dropped connection; the excess is answered 503 at
// once.
func chaosOverload(r *chaosRun) {
	e, tp := r.e, r.e.tp
	r.allow[http.StatusServiceUnavailable] = true
	const maxChildren, queue = 2, 2
	// Lower the caps and reload.
	b, err := os.ReadFile(tp.conf)
	if err != nil {
		r.t.Fatal(err)
	}
	conf := strings.Replace(string(b), "workers = 2\n", fmt.Sprintf("workers = 2\nmax_children = %d\nqueue = %d\n", maxChildren, queue), 1)
	if err := os.WriteFile(tp.conf, []byte(conf), 0o644); err != nil {
		r.t.Fatal(err)
	}
	before := e.adPids()
	if err := tp.master.Process.Signal(syscall.SIGHUP); err != nil {
		r.t.Fatal(err)
	}
	tp.waitFor("workers reloaded with the small caps", func() bool {
		p := e.adPids()
		return len(p) == 2 && p[1] != 0 && p[2] != 0 && p[1] != before[1] && p[2] != before[2]
	})
	timingMark := fileSize(e.timing)
	ng0, err := tp.nginx.StatusClient().Fetch(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}

	// The idle keep-alive connections: one request each, then silence.
	idle := openIdle(r.t, tp.nginx.URL, e.sc.idleConns)
	defer func() {
		for _, c := range idle {
			c.conn.Close()
		}
	}()
	// Busy clients: 4 × the slots (max_children + queue per worker): the steady mix and, to
	// hold the children as slow requests do, clients of /debug/sleep (10 ms each).
	slots := 2 * (maxChildren + queue)
	sleepers := 4*slots - e.sc.conc
	var slow struct {
		sync.Mutex
		codes map[int]int64
		lat   []time.Duration
	}
	slow.codes = map[int]int64{}
	stopSlow := make(chan struct{})
	var slowWG sync.WaitGroup
	for i := 0; i < sleepers; i++ {
		slowWG.Add(1)
		go func(i int) {
			defer slowWG.Done()
			c := e.load.gen.client(1000 + i)
			for {
				select {
				case <-stopSlow:
					return
				default:
				}
				start := time.Now()
				resp, err := c.Get(tp.nginx.URL + "/debug/sleep?ms=10")
				code := 0
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				took := time.Since(start)
				slow.Lock()
				slow.codes[code]++
				if code == http.StatusServiceUnavailable {
					slow.lat = append(slow.lat, took)
				}
				slow.Unlock()
				if code != http.StatusOK {
					// Shed: back off a little, as a client told to retry does (the
					// mix does the same), rather than spin on the two shared cores.
					time.Sleep(5 * time.Millisecond)
				}
			}
		}(i)
	}
	start := time.Now()
	answered0 := e.load.total.Load()
	time.Sleep(e.sc.overload)
	r.during, r.measured = float64(e.load.total.Load()-answered0)/time.Since(start).Seconds(), true
	close(stopSlow)
	slowWG.Wait()
	// Every idle connection must still be open: a second request on each is answered.
	var dropped atomic.Int64
	var firstDrop atomic.Value
	var wg sync.WaitGroup
	ch := make(chan *idleConn)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range ch {
				if err := c.ping(); err != nil {
					dropped.Add(1)
					firstDrop.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	for _, c := range idle {
		ch <- c
	}
	close(ch)
	wg.Wait()
	ng1, err := tp.nginx.StatusClient().Fetch(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	f := e.load.figures()
	lat := append(f.lat503, slow.lat...)
	p50, p99, pmax := percentile(lat, 50), percentile(lat, 99), percentile(lat, 100)
	var within int
	for _, d := range lat {
		if d <= 10*time.Millisecond {
			within++
		}
	}
	// The workers' own count of the 503s that waited in the queue (up to queue_timeout)
	// rather than being refused at once.
	var qt uint64
	var st struct {
		Workers []struct {
			Stats *struct {
				Rejected      uint64 `json:"rejected"`
				QueueTimeouts uint64 `json:"queue_timeouts"`
			} `json:"stats"`
		} `json:"workers"`
	}
	var rejected uint64
	if _, body, err := tp.get("/status?json"); err == nil && json.Unmarshal([]byte(body), &st) == nil {
		for _, w := range st.Workers {
			if w.Stats != nil {
				qt += w.Stats.QueueTimeouts
				rejected += w.Stats.Rejected
			}
		}
	}
	ngLat := timing503(r.t, e.timing, timingMark)
	var ngWithin int
	for _, d := range ngLat {
		if d <= 10*time.Millisecond {
			ngWithin++
		}
	}
	r.note("503 latency at the client: %d of %d (%.2f%%) within 10 ms; in nginx ($request_time): %d of %d (%.2f%%) within 10 ms, p99 %s, max %s; the workers rejected %d, %d of them after waiting queue_timeout in the queue",
		within, len(lat), 100*float64(within)/float64(max(len(lat), 1)), ngWithin, len(ngLat), 100*float64(ngWithin)/float64(max(len(ngLat), 1)),
		percentile(ngLat, 99), percentile(ngLat, 100), rejected, qt)
	r.note("caps max_children = %d, queue = %d × 2 workers; %d busy clients (4× the %d slots: the mix's %d and %d of /debug/sleep?ms=10, answered %s) + %d idle keep-alive connections (nginx active %d at the end); %d answered 503: latency p50 %s p99 %s max %s; idle connections dropped %d; nginx dropped %d",
		maxChildren, queue, 4*slots, slots, e.sc.conc, sleepers, statusText(slow.codes), len(idle), ng1.Active, len(lat),
		p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), pmax.Round(10*time.Microsecond), dropped.Load(), ng1.Dropped()-ng0.Dropped())
	for code, n := range slow.codes {
		if code != http.StatusOK && code != http.StatusServiceUnavailable {
			r.t.Errorf("%d slow requests answered %s", n, statusText(map[int]int64{code: n}))
		}
	}
	if len(idle) < e.sc.idleConns {
		r.t.Errorf("only %d of %d idle connections could be opened", len(idle), e.sc.idleConns)
	}
	if n := dropped.Load(); n > 0 {
		r.t.Errorf("%d idle keep-alive connections were dropped (first: %v)", n, firstDrop.Load())
	}
	if d := ng1.Dropped() - ng0.Dropped(); d > 0 {
		r.t.Errorf("nginx dropped %d connections (accepts − handled)", d)
	}
	if len(lat) == 0 {
		r.t.Errorf("no request was answered 503: the load did not exceed the caps")
	} else if float64(ngWithin) < e.sc.fastShedShare*float64(len(ngLat)) {
		r.t.Errorf("only %d of %d 503s (%.2f%%) were answered within 10 ms in nginx (want %.0f%%)", ngWithin, len(ngLat),
			100*float64(ngWithin)/float64(len(ngLat)), 100*e.sc.fastShedShare)
	}
}

// idleConn is a kept-alive HTTP/1.1 connection to nginx.
type idleConn struct {
	conn net.Conn
	br   *bufio.Reader
	host string
}

func (c *idleConn) ping() error {
	_ = c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := fmt.Fprintf(c.conn, "GET /ping HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n\r\n", c.host, desktopUA); err != nil {
		return err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf := make([]byte, 64)
	for {
		if _, err := resp.Body.Read(buf); err != nil {
			break
		}
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/ping answered %d", resp.StatusCode)
	}
	if resp.Close {
		return errors.New("nginx closed the kept-alive connection")
	}
	return nil
}

// openIdle opens n connections to nginx from many loopback addresses, each answered once.
func openIdle(t *testing.T, base string, n int) []*idleConn {
	host := strings.TrimPrefix(base, "http://")
	out := make([]*idleConn, n)
	var wg sync.WaitGroup
	var next atomic.Int64
	var firstErr atomic.Value
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 2, byte(i/250), byte(1+i%250))}, Timeout: 10 * time.Second}
				conn, err := d.Dial("tcp", host)
				if err != nil {
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				c := &idleConn{conn: conn, br: bufio.NewReader(conn), host: host}
				if err := c.ping(); err != nil {
					firstErr.CompareAndSwap(nil, err.Error())
					conn.Close()
					continue
				}
				_ = conn.SetDeadline(time.Time{})
				out[i] = c
			}
		}()
	}
	wg.Wait()
	var kept []*idleConn
	for _, c := range out {
		if c != nil {
			kept = append(kept, c)
		}
	}
	if e := firstErr.Load(); e != nil {
		t.Logf("opening idle connections: %d of %d (first error: %v)", len(kept), n, e)
	}
	return kept
}

// chaosMarkdown renders the table.
func chaosMarkdown(rows []chaosRow, sc chaosScale) string {
	var b strings.Builder
	fmt.Fprintf(&b, "adnet chaos — %s — %s — commit %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), chaosMachine(), sc.commit)
	fmt.Fprintf(&b, "steady mix from %d clients through nginx (serve → beacon → 1/4 click → 1/3 of those a POST postback); baseline %s before each fault; 2 ad workers\n\n",
		sc.conc, sc.baseline)
	b.WriteString("| scenario | requests | errors (outside gaps) | gap errors | req/s before → during | serves exp/found | impressions exp/found | clicks exp/found | conversions exp/found | result |\n")
	b.WriteString("|---|---:|---|---|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rows {
		ratio := ""
		if r.Baseline > 0 {
			ratio = fmt.Sprintf(" (%.0f%%)", 100*r.During/r.Baseline)
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %.0f → %.0f%s |", r.Name, r.Requests, r.Errors, r.GapErrors, r.Baseline, r.During, ratio)
		for k := range numKinds {
			cut := ""
			if r.CutOff[k] > 0 && r.Found[k] != r.Expected[k] {
				cut = fmt.Sprintf(" (≤ +%d)", r.CutOff[k])
			}
			fmt.Fprintf(&b, " %d / %d%s |", r.Expected[k], r.Found[k], cut)
		}
		if r.Pass {
			b.WriteString(" PASS |\n")
		} else {
			b.WriteString(" **FAIL** |\n")
		}
	}
	b.WriteString("\n")
	for _, r := range rows {
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s: %s\n", r.Name, n)
		}
	}
	return b.String()
}

// chaosProc is a process below the master.
type chaosProc struct {
	PID     int
	Command string
}

// descendants returns every process below pid (bench_test.go's adnetProcesses is behind the
// bench build tag).
func descendants(pid int) []chaosProc {
	parent := map[int]int{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(b)
		rest := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(rest) < 2 {
			continue
		}
		child, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		parent[child], _ = strconv.Atoi(rest[1])
	}
	var out []chaosProc
	for child := range parent {
		for p := parent[child]; p > 1; p = parent[p] {
			if p == pid {
				cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", child))
				args := strings.Fields(strings.ReplaceAll(string(cmd), "\x00", " "))
				if len(args) > 2 {
					args = args[1:3]
				}
				out = append(out, chaosProc{PID: child, Command: strings.Join(args, " ")})
				break
			}
		}
	}
	return out
}

// chaosMachine describes the host for the chaos and bench tables: CPU, cores, memory,
// kernel, nginx and Go.
func chaosMachine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			kb, _ := strconv.ParseFloat(f[1], 64)
			mem = fmt.Sprintf(", %.1f GB RAM", kb/1024/1024)
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	ngx, _ := exec.Command("/usr/sbin/nginx", "-v").CombinedOutput()
	return fmt.Sprintf("%s, %d cores%s, Linux %s, %s, %s", model, runtime.NumCPU(), mem,
		strings.TrimSpace(string(kernel)), strings.TrimPrefix(strings.TrimSpace(string(ngx)), "nginx version: "), runtime.Version())
}

func chaosCommit() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// addTimingLog adds an access log of status and $request_time to the topology's nginx and
// reloads it; it returns the log's path.
func addTimingLog(t *testing.T, tp *topology) string {
	b, err := os.ReadFile(tp.nginx.Conf)
	if err != nil {
		t.Fatal(err)
	}
	line := "access_log " + tp.nginx.Params.AccessLog + ";"
	if strings.Count(string(b), line) != 1 {
		t.Fatalf("the rendered nginx.conf has no %q: update addTimingLog", line)
	}
	path := tp.nginx.Params.AccessLog + ".timing"
	conf := strings.Replace(string(b), line, line+"\n    log_format chaos_timing '$status $request_time';\n    access_log "+path+" chaos_timing;", 1)
	if err := os.WriteFile(tp.nginx.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	tp.nginx.Reload()
	return path
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// timing503 reads the 503s' times from the log addTimingLog added, from offset on.
func timing503(t *testing.T, path string, offset int64) []time.Duration {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) >= offset {
		b = b[offset:]
	}
	var out []time.Duration
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) != 2 || f[0] != "503" {
			continue
		}
		sec, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			t.Fatalf("timing log line %q: %v", l, err)
		}
		out = append(out, time.Duration(sec*float64(time.Second)))
	}
	return out
}
