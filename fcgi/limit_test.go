package fcgi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

// plainWriter is a complete ResponseWriter that is not an http.Flusher, like some
// middleware writers in the wild.
type plainWriter struct {
	h    http.Header
	code int
	body strings.Builder
}

func (w *plainWriter) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}
func (w *plainWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *plainWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	return w.body.Write(p)
}

// TestFlusherPassthrough: the wrapper is an http.Flusher exactly when the underlying
// writer is, and flushing works through it.
func TestFlusherPassthrough(t *testing.T) {
	var isFlusher bool
	s := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := w.(http.Flusher)
		isFlusher = ok
		io.WriteString(w, "chunk")
		if ok {
			f.Flush()
		}
		if err := http.NewResponseController(w).Flush(); ok != (err == nil) {
			t.Errorf("ResponseController.Flush: %v (underlying flusher %v)", err, ok)
		}
	}), Options{})

	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !isFlusher || !rec.Flushed || rec.Body.String() != "chunk" {
		t.Fatalf("httptest recorder: flusher %v flushed %v body %q", isFlusher, rec.Flushed, rec.Body)
	}

	pw := &plainWriter{}
	s.Handler().ServeHTTP(pw, httptest.NewRequest("GET", "/", nil))
	if isFlusher || pw.body.String() != "chunk" {
		t.Fatalf("plain writer: flusher %v body %q", isFlusher, pw.body.String())
	}
}

func TestStatusAndEndpointCounting(t *testing.T) {
	s := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/serve/302":
			http.Redirect(w, r, "/x", http.StatusFound)
		case "/track/500":
			w.WriteHeader(500)
		case "/track/early":
			w.WriteHeader(http.StatusEarlyHints) // informational, not the final status
			w.WriteHeader(204)
		case "/flush":
			w.(http.Flusher).Flush() // flushing commits a 200
		case "/silent":
			// writes nothing: net/http/fcgi sends an empty 200
		}
	}), Options{Endpoints: []string{"/serve/", "/track/"}})
	for _, p := range []string{"/serve/302", "/track/500", "/track/early", "/flush", "/silent", "/serve/302"} {
		s.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	st := s.Stats()
	want := StatusCounts{S2xx: 3, S3xx: 2, S5xx: 1}
	if st.Status != want {
		t.Errorf("status %+v, want %+v", st.Status, want)
	}
	wantEp := []EndpointStats{{"/serve/", 2, 0, 0}, {"/track/", 2, 0, 1}, {"other", 2, 0, 0}}
	for i := range wantEp {
		if st.Endpoints[i] != wantEp[i] {
			t.Errorf("endpoint %d: %+v, want %+v", i, st.Endpoints[i], wantEp[i])
		}
	}
}

func TestSlowLog(t *testing.T) {
	logger, hook := logtest.NewNullLogger()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	slow := NewServer(h, Options{SlowTimeout: time.Nanosecond, Logger: logger})
	fast := NewServer(h, Options{SlowTimeout: time.Hour, Logger: logger})
	for i := 0; i < 3; i++ {
		slow.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/s", nil))
		fast.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/f", nil))
	}
	if slow.Stats().Slow != 3 || fast.Stats().Slow != 0 {
		t.Fatalf("slow counts %d and %d, want 3 and 0", slow.Stats().Slow, fast.Stats().Slow)
	}
	entries := hook.AllEntries()
	if len(entries) != 3 || entries[0].Level != logrus.WarnLevel || entries[0].Data["path"] != "/s" {
		t.Fatalf("slow log entries: %d %+v", len(entries), entries)
	}
}

// TestCountersExactUnderConcurrency: many goroutines through the wrapper, exact totals.
func TestCountersExactUnderConcurrency(t *testing.T) {
	s := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/err") {
			w.WriteHeader(502)
		}
	}), Options{MaxChildren: 4, Queue: 1000, QueueTimeout: time.Minute, Endpoints: []string{"/a/"}})
	const workers, each = 16, 500
	var wg sync.WaitGroup
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &plainWriter{}
			for i := 0; i < each; i++ {
				path := "/a/ok"
				if i%5 == 0 {
					path = "/b/err"
				}
				w.h, w.code = nil, 0
				s.Handler().ServeHTTP(w, httptest.NewRequest("GET", path, nil))
			}
		}()
	}
	wg.Wait()
	st := s.Stats()
	total := uint64(workers * each)
	if st.Accepted != total || st.Status.S2xx+st.Status.S5xx != total || st.Status.S5xx != total/5 ||
		st.Latency.Count != total || st.Rejected != 0 || st.InFlight != 0 || st.Queued != 0 ||
		st.MaxInFlight > 4 || st.MaxQueued > workers {
		t.Fatalf("stats: %+v", st)
	}
	if st.Endpoints[0].Requests != total*4/5 || st.Endpoints[1].Requests != total/5 || st.Endpoints[1].S5xx != total/5 {
		t.Fatalf("endpoints: %+v", st.Endpoints)
	}
}

func TestHistogramBuckets(t *testing.T) {
	var c counters
	c.observe(0)                                   // first bucket
	c.observe(latencyBounds[0])                    // bound is inclusive
	c.observe(latencyBounds[0] + 1)                // next bucket
	c.observe(latencyBounds[len(latencyBounds)-1]) // last finite bucket
	c.observe(time.Hour)                           // +Inf
	want := map[int]uint64{0: 2, 1: 1, len(latencyBounds) - 1: 1, len(latencyBounds): 1}
	for i := range c.buckets {
		if got := c.buckets[i].Load(); got != want[i] {
			t.Errorf("bucket %d: %d, want %d", i, got, want[i])
		}
	}
	wantSum := uint64((2*latencyBounds[0] + 1 + latencyBounds[len(latencyBounds)-1] + time.Hour) / time.Microsecond)
	if c.latCount.Load() != 5 || c.latSumUs.Load() != wantSum {
		t.Errorf("count %d sum %d, want 5 and %d", c.latCount.Load(), c.latSumUs.Load(), wantSum)
	}
}

func TestControlHandler(t *testing.T) {
	s := NewServer(http.NotFoundHandler(), Options{
		MaxChildren: 7, Queue: 3, QueueTimeout: 250 * time.Millisecond, Endpoints: []string{"/serve/"},
		Extra: func() map[string]any { return map[string]any{"eventlog_write_errors": 2} },
	})
	s.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/serve/x", nil))
	ctl := s.ControlHandler()

	rec := httptest.NewRecorder()
	ctl.ServeHTTP(rec, httptest.NewRequest("GET", "/ping", nil))
	if rec.Code != 200 || rec.Body.String() != "pong" {
		t.Fatalf("/ping: %d %q", rec.Code, rec.Body)
	}

	rec = httptest.NewRecorder()
	ctl.ServeHTTP(rec, httptest.NewRequest("GET", "/status", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("/status: %d %s", rec.Code, rec.Header())
	}
	var raw map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"start_time", "accepted", "in_flight", "max_in_flight", "max_children", "queue",
		"queue_timeout_ms", "queued", "max_queued", "cap_reached", "rejected", "panics", "timeouts", "slow",
		"status", "endpoints", "latency", "heap_bytes", "goroutines"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("status JSON lacks %q", k)
		}
	}
	var st Stats
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if st.MaxChildren != 7 || st.QueueLen != 3 || st.QueueTimeoutMs != 250 || st.Accepted != 1 ||
		st.Status.S4xx != 1 || st.Endpoints[0].Requests != 1 || st.HeapBytes == 0 || st.Goroutines == 0 ||
		st.Extra["eventlog_write_errors"] != float64(2) {
		t.Fatalf("decoded status: %+v", st)
	}

	rec = httptest.NewRecorder()
	ctl.ServeHTTP(rec, httptest.NewRequest("POST", "/status", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST /status: %d", rec.Code)
	}
}

// benchWriter is a reusable ResponseWriter, so the benchmark measures the handlers and
// not the recorder.
type benchWriter struct {
	h    http.Header
	code int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *benchWriter) Flush()                      {}

// BenchmarkHandlerOverhead compares a trivial handler bare and through the wrapper (with
// and without a request deadline, whose context is the wrapper's main cost).
func BenchmarkHandlerOverhead(b *testing.B) {
	body := []byte("GIF89a")
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.Write(body)
	})
	req := httptest.NewRequest("GET", "/serve/zone?id=1", nil)
	run := func(b *testing.B, h http.Handler) {
		w := &benchWriter{h: http.Header{}}
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, req)
		}
	}
	endpoints := []string{"/serve/", "/track/", "/click/"}
	b.Run("bare", func(b *testing.B) { run(b, inner) })
	b.Run("wrapped", func(b *testing.B) {
		run(b, NewServer(inner, Options{Endpoints: endpoints}).Handler())
	})
	b.Run("wrapped-no-deadline", func(b *testing.B) {
		run(b, NewServer(inner, Options{Endpoints: endpoints, RequestTimeout: -1}).Handler())
	})
	b.Run("wrapped-parallel", func(b *testing.B) {
		h := NewServer(inner, Options{Endpoints: endpoints, MaxChildren: 1 << 20}).Handler()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			w := &benchWriter{h: http.Header{}}
			for pb.Next() {
				h.ServeHTTP(w, req)
			}
		})
	})
}
