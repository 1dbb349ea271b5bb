package handlers

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"adnet/fcgi"
	"adnet/internal/monitor"
	"adnet/nginx"
)

// recordedSource serves the status pages from a monitor.Recorder fed with real readings:
// a real fcgi.Server's counters and a stub_status page nginx really produced. It is what
// *monitor.Monitor does after each poll, without the polling.
type recordedSource struct {
	rec    *monitor.Recorder
	snap   monitor.Snapshot
	advice []monitor.Advice
}

func (s *recordedSource) record(snap monitor.Snapshot) {
	s.rec.Record(&snap)
	s.snap = snap
	s.advice = monitor.Advise(s.rec, snap, time.Second)
}
func (s *recordedSource) Snapshot() monitor.Snapshot { return s.snap }
func (s *recordedSource) Advice() []monitor.Advice   { return s.advice }
func (s *recordedSource) Interval() time.Duration    { return time.Second }
func (s *recordedSource) Samples(since time.Time, limit int) []monitor.Sample {
	return s.rec.Samples(since, limit)
}
func (s *recordedSource) Counters() monitor.Counters {
	return monitor.Counters{Polls: uint64(s.rec.Len()), Samples: s.rec.Len(), Capacity: s.rec.Cap()}
}

// newWorker is a real fcgi.Server with max_children = 1 and no queue; saturate drives it
// through its handler: `ok` requests, then one that holds the only child while `rejected`
// more are shed.
func newWorker() *fcgi.Server {
	return fcgi.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			r.Context().Value(holdKey{}).(func())()
		}
		w.Write([]byte("ok"))
	}), fcgi.Options{MaxChildren: 1, Endpoints: []string{"/serve/"}})
}

type holdKey struct{}

func saturate(t *testing.T, srv *fcgi.Server, ok, rejected int) {
	t.Helper()
	hold, entered := make(chan struct{}), make(chan struct{}, 1)
	wait := func() {
		entered <- struct{}{}
		<-hold
	}
	for range ok {
		srv.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/serve/x", nil))
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		req := httptest.NewRequest("GET", "/hold", nil)
		srv.Handler().ServeHTTP(httptest.NewRecorder(), req.WithContext(context.WithValue(req.Context(), holdKey{}, wait)))
	}()
	<-entered
	for range rejected {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/serve/y", nil))
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("beyond the cap: %d", rec.Code)
		}
	}
	close(hold)
	wg.Wait()
}

func realStub(t *testing.T) nginx.StubStatus {
	t.Helper()
	b, err := os.ReadFile("../nginx/testdata/stub_status_nginx-1.22.1.txt")
	if err != nil {
		t.Fatal(err)
	}
	st, err := nginx.ParseStubStatus(b)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// newSource records two polls: before and after the saturation of worker 1; worker 2 does
// not answer.
func newSource(t *testing.T) (*recordedSource, *fcgi.Server) {
	t.Helper()
	src := &recordedSource{rec: monitor.NewRecorder(60)}
	stub := realStub(t)
	t0 := time.Now().Add(-2 * time.Second)
	ngStatus := func(at time.Time, s nginx.StubStatus) monitor.NginxStatus {
		return monitor.NginxStatus{URL: "http://127.0.0.1:8080/nginx_status", Up: true, Read: at, Active: s.Active,
			Reading: s.Reading, Writing: s.Writing, Waiting: s.Waiting, Accepts: s.Accepts, Handled: s.Handled, Requests: s.Requests, Dropped: s.Dropped()}
	}
	srv := newWorker()
	idle := srv.Stats()
	src.record(monitor.Snapshot{Time: t0, Nginx: ngStatus(t0, stub), Workers: []monitor.WorkerStatus{
		{WorkerRef: monitor.WorkerRef{ID: 1, PID: idle.Pid, Restarts: 1}, Stats: &idle},
		{WorkerRef: monitor.WorkerRef{ID: 2, PID: 4242}, Error: "context deadline exceeded"},
	}})
	saturate(t, srv, 5, 7)
	st := srv.Stats()
	st.Extra = map[string]any{"eventlog_write_errors": 2.0, "eventlog_disk_bytes": 1000.0, "eventlog_max_disk_bytes": 4000.0}
	later := stub
	later.Accepts, later.Handled, later.Requests = stub.Accepts+3, stub.Handled+3, stub.Requests+13
	t1 := t0.Add(time.Second)
	src.record(monitor.Snapshot{Time: t1, Nginx: ngStatus(t1, later), Workers: []monitor.WorkerStatus{
		{WorkerRef: monitor.WorkerRef{ID: 1, PID: st.Pid, Restarts: 1}, Stats: &st},
		{WorkerRef: monitor.WorkerRef{ID: 2, PID: 4242}, Error: "context deadline exceeded"},
	}})
	return src, srv
}

func TestStatusJSON(t *testing.T) {
	src, srv := newSource(t)
	page := &StatusPage{Started: time.Now().Add(-time.Minute), Source: src,
		Limits: monitor.StatusLimits{Workers: 2, MaxChildren: 50, Queue: 64, QueueTimeout: "1s"}}
	get := func(url string) (*httptest.ResponseRecorder, map[string]any) {
		rec := httptest.NewRecorder()
		page.ServeHTTP(rec, httptest.NewRequest("GET", url, nil))
		var doc map[string]any
		if rec.Code == 200 && strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
				t.Fatalf("%s: %v\n%s", url, err, rec.Body)
			}
		}
		return rec, doc
	}

	rec, doc := get("/status?json")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json; charset=utf-8" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	// The fields scripts (and cmd/adnet's topology test) read keep their names.
	var typed struct {
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
			Rates *monitor.WorkerRates `json:"rates"`
		} `json:"workers"`
		Totals   monitor.StatusTotals `json:"totals"`
		Limits   monitor.StatusLimits `json:"limits"`
		Warnings []string             `json:"warnings"`
		Advice   []monitor.Advice     `json:"advice"`
		Nginx    monitor.NginxStatus
		History  *monitor.Series `json:"history"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &typed); err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	w1, w2 := typed.Workers[0], typed.Workers[1]
	if w1.ID != 1 || w1.PID != st.Pid || w1.Restarts != 1 || w1.Stats == nil || w1.Stats.Accepted != 13 ||
		w1.Stats.Rejected != 7 || w1.Stats.CapReached != 7 || w1.Stats.MaxInFlight != 1 {
		t.Errorf("worker 1: %+v %+v", w1, w1.Stats)
	}
	if w1.Rates == nil || w1.Rates.RequestsPerSec != 13 || w1.Rates.RejectedPerSec != 7 || w1.Rates.Peak != 1 {
		t.Errorf("worker 1 rates: %+v", w1.Rates)
	}
	if w2.ID != 2 || w2.Stats != nil || w2.Error != "context deadline exceeded" {
		t.Errorf("worker 2: %+v", w2)
	}
	if typed.Totals.Accepted != 13 || typed.Totals.Rejected != 7 || typed.Totals.MaxChildren != 1 {
		t.Errorf("totals %+v", typed.Totals)
	}
	if typed.Limits.Workers != 2 || typed.Limits.MaxChildren != 1 || typed.Limits.Queue != 0 {
		t.Errorf("limits as the workers report them: %+v", typed.Limits)
	}
	if len(typed.Warnings) != 1 || !strings.Contains(typed.Warnings[0], "worker 2 did not answer") {
		t.Errorf("warnings %v", typed.Warnings)
	}
	if typed.Nginx.RequestsPerSec != 13 || !typed.Nginx.Up {
		t.Errorf("nginx %+v", typed.Nginx)
	}
	if len(typed.Advice) == 0 || typed.History != nil || doc["history"] != nil {
		t.Errorf("advice %v, history %v", typed.Advice, typed.History)
	}
	// Without a shipper (the default file transport) nothing about one appears.
	if _, ok := doc["shipper"]; ok {
		t.Errorf("a shipper in the file transport's status: %v", doc["shipper"])
	}
	for _, a := range typed.Advice {
		if a.Topic == "shipper" {
			t.Errorf("shipper advice in the file transport: %+v", a)
		}
	}

	// ?history: the columns, as long as the time axis; ?since: only what is newer.
	_, doc = get("/status?json&history=3600")
	h := doc["history"].(map[string]any)
	if n := len(h["t"].([]any)); n != 2 {
		t.Fatalf("history of %d samples, want 2", n)
	}
	ws := h["workers"].([]any)
	if len(ws) != 2 || len(ws[0].(map[string]any)["in_flight"].([]any)) != 2 {
		t.Errorf("worker columns: %v", ws)
	}
	if rej := ws[0].(map[string]any)["rejected_per_sec"].([]any); rej[0] != nil || rej[1] != 7.0 {
		t.Errorf("rejected/s column %v (the first interval has no rate)", rej)
	}
	first := int64(h["t"].([]any)[0].(float64))
	_, doc = get("/status?json&since=" + itoa(first))
	if n := len(doc["history"].(map[string]any)["t"].([]any)); n != 1 {
		t.Errorf("since the first sample: %d samples, want 1", n)
	}
	for _, bad := range []string{"/status?json&since=x", "/status?json&history=-1", "/status?json&history=1e9"} {
		if rec, _ := get(bad); rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d", bad, rec.Code)
		}
	}
	if rec, _ := get("/status/nope"); rec.Code != http.StatusNotFound {
		t.Errorf("unknown page: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	page.ServeHTTP(rec, httptest.NewRequest("POST", "/status?json", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}

	// /status/advice: the same advice in plain text.
	rec, _ = get("/status/advice")
	lines := strings.Split(strings.TrimSpace(rec.Body.String()), "\n")
	if len(lines) != len(typed.Advice) || !strings.Contains(rec.Body.String(), "7 requests were rejected") {
		t.Errorf("advice text:\n%s", rec.Body)
	}
}

// TestStatusHTMLIsSelfContained: the page loads nothing from anywhere (it is read when the
// network may be the problem), and says so to the browser with a CSP.
func TestStatusHTMLIsSelfContained(t *testing.T) {
	src, _ := newSource(t)
	rec := httptest.NewRecorder()
	(&StatusPage{Started: time.Now(), Source: src}).ServeHTTP(rec, httptest.NewRequest("GET", "/status", nil))
	body := rec.Body.String()
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	if m := regexp.MustCompile(`(?i)(src|href)\s*=|https?://|//cdn|@import|url\(`).FindString(body); m != "" {
		t.Errorf("the page refers to something external: %q", m)
	}
	for _, id := range []string{"ch-conn", "ch-rps", "ch-inflight", "ch-rej", "ch-lat", "advice", "workers"} {
		if !strings.Contains(body, `id="`+id+`"`) {
			t.Errorf("no element %s", id)
		}
	}
}

// TestMetrics scrapes /metrics and parses it with Prometheus' own text parser: every
// figure of a real worker's counters comes out exactly, under Prometheus' naming rules.
func TestMetrics(t *testing.T) {
	src, srv := newSource(t)
	rec := httptest.NewRecorder()
	NewMetrics(src, nil, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, rec.Body)
	}
	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		f := fams[name]
		if f == nil {
			t.Errorf("no metric %s", name)
			return math.NaN()
		}
	next:
		for _, m := range f.Metric {
			for _, lp := range m.Label {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
		t.Errorf("no %s%v", name, labels)
		return math.NaN()
	}
	st := srv.Stats()
	w1 := map[string]string{"worker": "1"}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"adnet_worker_requests_total", w1, float64(st.Accepted)},
		{"adnet_worker_requests_rejected_total", map[string]string{"worker": "1", "reason": "cap"}, 7},
		{"adnet_worker_requests_rejected_total", map[string]string{"worker": "1", "reason": "queue_timeout"}, 0},
		{"adnet_worker_cap_reached_total", w1, 7},
		{"adnet_worker_requests_in_flight_max", w1, 1},
		{"adnet_worker_max_children", w1, 1},
		{"adnet_worker_responses_total", map[string]string{"worker": "1", "class": "5xx"}, 7},
		{"adnet_worker_responses_total", map[string]string{"worker": "1", "class": "2xx"}, 6},
		{"adnet_worker_endpoint_requests_total", map[string]string{"worker": "1", "endpoint": "/serve/"}, 12},
		{"adnet_worker_endpoint_rejected_total", map[string]string{"worker": "1", "endpoint": "/serve/"}, 7},
		{"adnet_worker_request_duration_seconds", w1, 6}, // the histogram counts requests that got a slot
		{"adnet_worker_restarts_total", w1, 1},
		{"adnet_worker_reported_errors_total", w1, 2},
		{"adnet_worker_eventlog_disk_limit_bytes", w1, 4000},
		{"adnet_worker_up", w1, 1},
		{"adnet_worker_up", map[string]string{"worker": "2"}, 0},
		{"adnet_workers", nil, 2},
		{"adnet_workers_up", nil, 1},
		{"adnet_nginx_up", nil, 1},
		{"adnet_nginx_http_requests_total", nil, 33},
		{"adnet_nginx_connections", map[string]string{"state": "waiting"}, 2},
		{"adnet_monitor_polls_total", nil, 2},
	}
	for _, c := range checks {
		if got := value(c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// The histogram's buckets are cumulative and end at its count.
	for _, m := range fams["adnet_worker_request_duration_seconds"].Metric {
		h := m.Histogram
		var prev uint64
		for _, b := range h.Bucket {
			if b.GetCumulativeCount() < prev {
				t.Errorf("bucket %v not cumulative", b)
			}
			prev = b.GetCumulativeCount()
		}
		if prev > h.GetSampleCount() {
			t.Errorf("buckets end at %d, count %d", prev, h.GetSampleCount())
		}
	}
	// Prometheus' naming rules: counters end in _total, units are base units.
	for name, f := range fams {
		if f.GetType().String() == "COUNTER" && !strings.HasSuffix(name, "_total") {
			t.Errorf("counter %s does not end in _total", name)
		}
		if regexp.MustCompile(`_(ms|us|milliseconds|microseconds|kb|mb|kib|mib)(_|$)`).MatchString(name) {
			t.Errorf("%s is not in base units", name)
		}
	}
	for _, name := range []string{"go_goroutines", "process_start_time_seconds"} {
		if fams[name] == nil {
			t.Errorf("the master's own %s is missing", name)
		}
	}
	// Without a shipper (the default file transport) nothing about one appears.
	for name := range fams {
		if strings.HasPrefix(name, "adnet_shipper_") {
			t.Errorf("%s without a shipper", name)
		}
	}
}
