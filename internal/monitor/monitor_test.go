package monitor

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"adnet/fcgi"
	"adnet/nginx"
	"adnet/nginx/nginxtest"
)

// staticWorkers is a WorkerSource listing fixed workers (the master lists its processes).
type staticWorkers []WorkerRef

func (s staticWorkers) Workers() []WorkerRef { return s }

// testWorker is a real fcgi.Server on a Unix socket with its control socket, in this
// process: /block holds its child until release is closed, /fast answers at once.
type testWorker struct {
	srv     *fcgi.Server
	socket  string
	control string
	release chan struct{}
	once    sync.Once
}

// Release lets every held /block request finish.
func (w *testWorker) Release() { w.once.Do(func() { close(w.release) }) }

func startWorker(t *testing.T, dir string, opt fcgi.Options) *testWorker {
	t.Helper()
	w := &testWorker{socket: filepath.Join(dir, "w1.sock"), control: filepath.Join(dir, "w1.ctl"), release: make(chan struct{})}
	t.Cleanup(w.Release)
	mux := http.NewServeMux()
	mux.HandleFunc("/block", func(rw http.ResponseWriter, r *http.Request) {
		select {
		case <-w.release:
		case <-r.Context().Done():
		}
		io.WriteString(rw, "released\n")
	})
	mux.HandleFunc("/fast", func(rw http.ResponseWriter, r *http.Request) { io.WriteString(rw, "fast\n") })
	w.srv = fcgi.NewServer(mux, opt)
	ln, err := net.Listen("unix", w.socket)
	if err != nil {
		t.Fatal(err)
	}
	go w.srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w.srv.Shutdown(ctx)
	})
	cl, err := net.Listen("unix", w.control)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: w.srv.ControlHandler()}
	go hs.Serve(cl)
	t.Cleanup(func() { hs.Close() })
	return w
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func get(t *testing.T, c *http.Client, url string) int {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestMonitorUnderSaturation drives a real worker (fcgi.Server) behind a real nginx to its
// cap and checks what the monitor records: the cap reached, every rejection counted
// exactly once, the status answered over the control socket while every child is busy,
// nginx's restart taken as a counter reset, and the advice. Polls are triggered by the
// test, not a timer, so nothing depends on timing.
func TestMonitorUnderSaturation(t *testing.T) {
	dir := t.TempDir()
	const maxChildren, extra = 4, 10
	w := startWorker(t, dir, fcgi.Options{MaxChildren: maxChildren, Queue: 0, RequestTimeout: time.Minute,
		Endpoints: []string{"/block", "/fast"}})
	ng := nginxtest.Start(t, nginx.Params{WorkerSockets: []string{w.socket}, RequestTimeout: time.Minute})
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	t.Cleanup(client.CloseIdleConnections)

	status := ng.StatusClient()
	m := New(Options{
		Nginx: status, NginxURL: status.URL, Interval: time.Second,
		Workers: &Collector{Source: staticWorkers{{ID: 1, PID: os.Getpid(), Socket: w.socket, ControlSocket: w.control}}},
	})
	ctx := context.Background()
	m.Poll(ctx)
	for range 20 {
		if code := get(t, client, ng.URL+"/fast"); code != 200 {
			t.Fatalf("/fast: %d", code)
		}
	}
	m.Poll(ctx)

	// Saturate: maxChildren requests hold every child, then `extra` more are shed.
	var held sync.WaitGroup
	heldCodes := make(chan int, maxChildren)
	for range maxChildren {
		held.Add(1)
		go func() {
			defer held.Done()
			heldCodes <- get(t, client, ng.URL+"/block")
		}()
	}
	waitUntil(t, "every child busy", func() bool { return w.srv.Stats().InFlight == maxChildren })
	for i := range extra {
		if code := get(t, client, ng.URL+"/block"); code != http.StatusServiceUnavailable {
			t.Fatalf("request %d beyond the cap: %d, want 503", i, code)
		}
	}
	if st := w.srv.Stats(); st.Rejected != extra || st.CapReached != extra || st.MaxInFlight != maxChildren {
		t.Fatalf("worker counters: rejected %d, cap reached %d, max in flight %d", st.Rejected, st.CapReached, st.MaxInFlight)
	}

	// Status while saturated: the control socket answers outside the cap.
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	st, err := FetchWorkerStats(sctx, w.control)
	cancel()
	if err != nil || st.InFlight != maxChildren || st.Rejected != extra {
		t.Fatalf("control socket while saturated: %+v %v", st, err)
	}
	m.Poll(ctx)
	snap := m.Snapshot()
	if len(snap.Workers) != 1 || snap.Workers[0].Stats == nil || snap.Workers[0].Stats.InFlight != maxChildren {
		t.Fatalf("monitor's snapshot while saturated: %+v", snap.Workers)
	}
	// nginx counts the held requests as Writing, plus the stub_status request itself.
	if !snap.Nginx.Up || snap.Nginx.Writing < maxChildren+1 {
		t.Errorf("nginx while saturated: %+v", snap.Nginx)
	}
	last := m.Samples(time.Time{}, 1)[0]
	if w0 := last.Workers[0]; w0.Peak != maxChildren || w0.InFlight != maxChildren || w0.Rejected != extra {
		t.Errorf("saturated sample: %+v", w0)
	}

	w.Release()
	held.Wait()
	close(heldCodes)
	for code := range heldCodes {
		if code != 200 {
			t.Errorf("held request answered %d", code)
		}
	}
	m.Poll(ctx)

	// nginx restarts: its counters start again from zero, which must not read as a huge
	// (wrapped) delta.
	ng.Restart()
	for range 3 {
		get(t, client, ng.URL+"/fast")
	}
	m.Poll(ctx)
	last = m.Samples(time.Time{}, 1)[0]
	if !last.Nginx.Reset || last.Nginx.Requests > 10 || m.Snapshot().Nginx.Resets != 1 {
		t.Errorf("after nginx restart: sample %+v, resets %d", last.Nginx, m.Snapshot().Nginx.Resets)
	}

	// The history accounts for every request and rejection exactly once.
	var accepted, rejected uint64
	for _, s := range m.Samples(time.Time{}, 0) {
		accepted += uint64(s.Workers[0].Accepted)
		rejected += uint64(s.Workers[0].Rejected)
	}
	if final := w.srv.Stats(); accepted != final.Accepted || rejected != extra {
		t.Errorf("history sums: accepted %d (worker says %d), rejected %d (want %d)", accepted, final.Accepted, rejected, extra)
	}

	advice := m.Advice()
	t.Logf("advice:\n%s", dump(advice))
	if i := slices.IndexFunc(advice, func(a Advice) bool { return a.Topic == "capacity" }); i < 0 ||
		!strings.Contains(advice[i].Text, "total max_children is 4 across 1 worker; 10 requests were rejected") {
		t.Errorf("no capacity advice about the rejections")
	}

	// Record the history as a fixture for TestAdviseRecordedHistory, and check that it
	// survives the round trip through JSON.
	f := fixture{Interval: m.Interval(), Samples: m.Samples(time.Time{}, 0), Now: m.Snapshot()}
	b, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	var back fixture
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if again := Advise(back.Samples, back.Now, back.Interval); !slices.Equal(again, advice) {
		t.Errorf("advice from the JSON round trip differs:\n%s", dump(again))
	}
	if os.Getenv("ADNET_RECORD_FIXTURES") != "" {
		if err := os.WriteFile(recordedFixture, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// nginx down: the monitor says so, and keeps the workers' side going.
	ng.Stop()
	m.Poll(ctx)
	snap = m.Snapshot()
	if snap.Nginx.Up || snap.Nginx.Error == "" || snap.Workers[0].Stats == nil {
		t.Errorf("with nginx stopped: %+v", snap.Nginx)
	}
	if a := m.Advice(); !slices.ContainsFunc(a, func(a Advice) bool {
		return a.Level == Critical && strings.HasPrefix(a.Text, "nginx's stub_status at "+status.URL+" does not answer")
	}) {
		t.Errorf("advice with nginx stopped:\n%s", dump(a))
	}
	if c := m.Counters(); c.Polls != 6 || c.NginxErrors != 1 || c.Samples != 6 {
		t.Errorf("counters %+v", c)
	}
}

// TestMonitorRun: Run polls on its own until its context ends.
func TestMonitorRun(t *testing.T) {
	dir := t.TempDir()
	w := startWorker(t, dir, fcgi.Options{MaxChildren: 2})
	m := New(Options{Interval: 10 * time.Millisecond, History: time.Second,
		Workers: &Collector{Source: staticWorkers{{ID: 1, PID: os.Getpid(), ControlSocket: w.control}}}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		m.Run(ctx)
		close(done)
	}()
	// Readers run while Run polls (the race detector watches).
	waitUntil(t, "three polls", func() bool {
		_ = NewSeries(m.Samples(time.Time{}, 0), m.Interval())
		_ = m.Advice()
		_ = m.Snapshot()
		return m.Counters().Polls >= 3
	})
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if s := m.Snapshot(); len(s.Workers) != 1 || s.Workers[0].Stats == nil || s.Workers[0].Stats.MaxChildren != 2 {
		t.Errorf("snapshot %+v", s)
	}
	if c := m.Counters(); c.NginxErrors != 0 || c.Capacity != 100 {
		t.Errorf("counters %+v", c)
	}
}
