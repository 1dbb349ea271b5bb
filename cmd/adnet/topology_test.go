package main

// End-to-end tests of the serving topology: a real MariaDB (private, via mysqltest), the real
// adnet binary (master + workers as separate processes), and a real nginx in front, reached
// over TCP exactly as browsers reach it.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"adnet/internal/config"
	"adnet/models/mysql/mysqltest"
	"adnet/nginx/nginxtest"
)

// adnetBinary is built once per test binary by TestMain.
var adnetBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "adnet-bin")
	if err != nil {
		panic(err)
	}
	adnetBinary = filepath.Join(dir, "adnet")
	if out, err := exec.Command("go", "build", "-o", adnetBinary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building adnet: %v\n%s", err, out)
		os.Exit(1)
	}
	os.Exit(mysqltest.Run(m, func() { os.RemoveAll(dir) }))
}

// topology is one running system under test.
type topology struct {
	t      *testing.T
	dir    string
	conf   string
	cfg    *config.Config
	master *exec.Cmd
	out    *syncBuffer
	nginx  *nginxtest.Instance
	client *http.Client
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startTopology writes a config (extra is appended to the top-level settings), starts the
// master with its workers and a private nginx in front, and waits until both workers answer.
func startTopology(t *testing.T, extra string) *topology {
	return startTopologyWith(t, topoOptions{top: extra})
}

// topoOptions vary the system under test.
type topoOptions struct {
	top      string             // extra top-level settings
	sections string             // extra TOML sections, appended after the generated ones
	demo     bool               // seed the demo network and write the demo page (adnet demo)
	before   func(tp *topology) // runs after the config and database exist, before the master starts
	dsn      string             // an existing, migrated database; "" = a fresh one from mysqltest
}

func startTopologyWith(t *testing.T, o topoOptions) *topology {
	t.Helper()
	dsn := o.dsn
	if dsn == "" {
		dsn = mysqltest.MustCreateDatabase(t)
	}
	dir, err := os.MkdirTemp("", "adnet-topo") // short: socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// nginx's address is chosen first: the tracking URLs the workers sign must point at it.
	addr := nginxtest.FreeAddr(t)
	conf := filepath.Join(dir, "adnet.toml")
	body := fmt.Sprintf(`workers = 2
debug_endpoints = true
socket_mode = "0666"
shutdown_timeout = "10s"
%s
[nginx]
listen = %q
demo_dir = "demo"
static_dir = %q

[inventory]
refresh_interval = "1s"

[tracking]
base_url = "http://%s"

[mysql]
dsn = %q
%s
`, o.top, addr, staticDir(t), addr, dsn, o.sections)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	tp := &topology{t: t, dir: dir, conf: conf, cfg: cfg, out: &syncBuffer{},
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	tp.run("keygen")
	tp.run("migrate")
	if o.demo {
		tp.run("demo")
	}
	if o.before != nil {
		o.before(tp)
	}
	tp.master = exec.Command(adnetBinary, "serve", "--config", conf)
	tp.master.Stdout, tp.master.Stderr = tp.out, tp.out
	if err := tp.master.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tp.stop)
	tp.nginx = nginxtest.Start(t, nginxParams(cfg))
	tp.waitFor("both workers ready", func() bool {
		st, err := tp.status()
		if err != nil || len(st.Workers) != 2 {
			return false
		}
		for _, w := range st.Workers {
			if w.Stats == nil {
				return false
			}
		}
		return true
	})
	return tp
}

// run runs an adnet command against the topology's config.
func (tp *topology) run(args ...string) string {
	tp.t.Helper()
	out, err := exec.Command(adnetBinary, append(args, "--config", tp.conf)...).CombinedOutput()
	if err != nil {
		tp.t.Fatalf("adnet %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// staticDir is the repository's static/ directory (creatives, served by nginx at /static/).
func staticDir(t *testing.T) string {
	p, err := filepath.Abs("../../static")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (tp *topology) stop() {
	if tp.master.ProcessState != nil {
		return
	}
	_ = tp.master.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- tp.master.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			tp.t.Errorf("master exited with %v; output:\n%s", err, tp.out.String())
		}
	case <-time.After(30 * time.Second):
		_ = tp.master.Process.Kill()
		tp.t.Errorf("master did not stop within 30s of SIGTERM; output:\n%s", tp.out.String())
	}
}

func (tp *topology) waitFor(what string, cond func() bool) {
	tp.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tp.t.Fatalf("timed out waiting for %s; master output:\n%s", what, tp.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (tp *topology) get(path string) (int, string, error) {
	resp, err := tp.client.Get(tp.nginx.URL + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// statusDoc is the part of the master's /status JSON the tests read.
type statusDoc struct {
	Workers []struct {
		ID       int    `json:"id"`
		PID      int    `json:"pid"`
		Restarts int    `json:"restarts"`
		Error    string `json:"error"`
		Stats    *struct {
			Accepted    uint64 `json:"accepted"`
			MaxInFlight int64  `json:"max_in_flight"`
			CapReached  uint64 `json:"cap_reached"`
			Rejected    uint64 `json:"rejected"`
		} `json:"stats"`
	} `json:"workers"`
}

// status reads the master's status through nginx (/status is proxied to the master's socket).
func (tp *topology) status() (statusDoc, error) {
	var st statusDoc
	code, body, err := tp.get("/status?json")
	if err != nil {
		return st, err
	}
	if code != http.StatusOK {
		return st, fmt.Errorf("status answered %d: %s", code, body)
	}
	return st, json.Unmarshal([]byte(body), &st)
}

func (tp *topology) pids() map[int]int {
	st, err := tp.status()
	if err != nil {
		return nil
	}
	m := map[int]int{}
	for _, w := range st.Workers {
		if w.Stats != nil {
			m[w.ID] = w.PID
		}
	}
	return m
}

func TestTopology(t *testing.T) {
	tp := startTopology(t, "")

	t.Run("ping through nginx reaches both workers", func(t *testing.T) {
		for i := 0; i < 200; i++ {
			code, body, err := tp.get("/ping")
			if err != nil || code != http.StatusOK || body != "pong\n" {
				t.Fatalf("GET /ping: %d %q %v", code, body, err)
			}
		}
		// The master answers status from its last poll of the workers (monitor.interval).
		var st statusDoc
		tp.waitFor("the status to count 200 pings", func() bool {
			var err error
			st, err = tp.status()
			var sum uint64
			for _, w := range st.Workers {
				if w.Stats != nil {
					sum += w.Stats.Accepted
				}
			}
			return err == nil && sum >= 200
		})
		for _, w := range st.Workers {
			if w.Stats == nil || w.Stats.Accepted == 0 {
				t.Fatalf("worker %d served nothing of 200 requests: %+v", w.ID, w)
			}
			t.Logf("worker %d (pid %d) accepted %d requests", w.ID, w.PID, w.Stats.Accepted)
		}
	})

	t.Run("nginx_status answers stub_status", func(t *testing.T) {
		st, err := tp.nginx.StatusClient().Fetch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Requests == 0 || st.Active == 0 {
			t.Fatalf("implausible stub_status %+v", st)
		}
	})

	t.Run("a worker killed with SIGKILL is restarted", func(t *testing.T) {
		before := tp.pids()
		victim := before[1]
		if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		tp.waitFor("worker 1 restarted", func() bool {
			p := tp.pids()
			return p[1] != 0 && p[1] != victim
		})
		for i := 0; i < 50; i++ {
			if code, _, err := tp.get("/ping"); err != nil || code != http.StatusOK {
				t.Fatalf("after restart: %d %v", code, err)
			}
		}
		st, _ := tp.status()
		if st.Workers[0].Restarts < 1 {
			t.Errorf("restart not counted: %+v", st.Workers[0])
		}
	})

	t.Run("SIGHUP under a steady stream fails no request", func(t *testing.T) {
		before := tp.pids()
		var ok, failed atomic.Int64
		var firstErr atomic.Value
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					code, _, err := tp.get("/ping")
					if err != nil || code != http.StatusOK {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %v", code, err))
						continue
					}
					ok.Add(1)
				}
			}()
		}
		time.Sleep(300 * time.Millisecond)
		if err := tp.master.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		tp.waitFor("both workers replaced", func() bool {
			p := tp.pids()
			return len(p) == 2 && p[1] != before[1] && p[2] != before[2] && p[1] != 0 && p[2] != 0
		})
		time.Sleep(300 * time.Millisecond)
		close(stop)
		wg.Wait()
		t.Logf("during reload: %d ok, %d failed", ok.Load(), failed.Load())
		if failed.Load() != 0 {
			t.Fatalf("%d requests failed during reload (first: %v)", failed.Load(), firstErr.Load())
		}
		if ok.Load() < 100 {
			t.Fatalf("only %d requests during the reload: the stream was not steady", ok.Load())
		}
	})
}

// TestSaturationSheds503NotBadGateway is the original system's failure: more concurrent
// requests than max_children. Every answer must be 200 or 503 — never 502 — and the workers'
// counters must account for every rejection.
func TestSaturationSheds503NotBadGateway(t *testing.T) {
	tp := startTopology(t, "max_children = 2\nqueue = 0")
	const n = 50
	codes := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			code, _, err := tp.get("/debug/sleep?ms=1500")
			if err != nil {
				code = -1
			}
			codes[i] = code
		}(i)
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	t.Logf("50 concurrent slow requests, max_children=2 × 2 workers: %v", count)
	if count[200]+count[503] != n {
		t.Fatalf("every answer must be 200 or 503, got %v; nginx error log:\n%s", count, tp.nginx.ErrorLog())
	}
	if count[200] < 4 {
		t.Errorf("only %d requests succeeded; 4 children were free", count[200])
	}
	// Wait for the master's next poll of the workers to include every answered request.
	var st statusDoc
	tp.waitFor("the status to count every request", func() bool {
		var err error
		st, err = tp.status()
		var sum uint64
		for _, w := range st.Workers {
			if w.Stats != nil {
				sum += w.Stats.Accepted
			}
		}
		return err == nil && sum >= uint64(count[200]+count[503])
	})
	var rejected, capReached uint64
	for _, w := range st.Workers {
		if w.Stats.MaxInFlight > 2 {
			t.Errorf("worker %d had %d requests in flight with max_children = 2", w.ID, w.Stats.MaxInFlight)
		}
		rejected += w.Stats.Rejected
		capReached += w.Stats.CapReached
	}
	// nginx retries a 503 on the other worker, so one client-visible 503 is one rejection per
	// worker tried, and a request accepted on its retry was still rejected once.
	t.Logf("workers counted %d rejections (cap reached %d) for %d client-visible 503s", rejected, capReached, count[503])
	if rejected < uint64(count[503]) || rejected > 2*n {
		t.Fatalf("rejections %d do not account for %d client-visible 503s", rejected, count[503])
	}
}

// TestBadConfigReportsEveryProblem runs the real binary on a broken file.
func TestBadConfigReportsEveryProblem(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(conf, []byte("workers = 0\nmax_children = 0\nbogus = 1\n[nginx]\nlisten = \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(adnetBinary, "serve", "--config", conf)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err == nil || !errors.As(err, &exit) || exit.ExitCode() != exitUsage {
		t.Fatalf("want exit %d, got %v; output:\n%s", exitUsage, err, out)
	}
	for _, want := range []string{"4 configuration problem(s)", "workers = 0: must be between 1 and 256",
		"max_children = 0", "bogus: unknown setting", "nginx.listen"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
