package fcgi

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	logtest "github.com/sirupsen/logrus/hooks/test"
)

// TestSlowLogBreakdown: the slow log splits a request's time into the wait for a slot and
// the time in the handler, and names the endpoint. A request that found a free slot waited
// exactly zero; a queued one waited at least as long as the request ahead of it held the
// only slot after it had queued.
func TestSlowLogBreakdown(t *testing.T) {
	logger, hook := logtest.NewNullLogger()
	const hold = 5 * time.Millisecond
	var s *Server
	first := true
	var mu sync.Mutex
	s = NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		isFirst := first
		first = false
		mu.Unlock()
		if isFirst {
			// Hold the only slot until the second request is queued, then at least `hold`
			// longer: a lower bound on the second request's queue wait.
			deadline := time.Now().Add(30 * time.Second)
			for s.Stats().Queued != 1 {
				if time.Now().After(deadline) {
					t.Error("second request never queued")
					return
				}
				time.Sleep(time.Millisecond)
			}
			time.Sleep(hold)
			return
		}
		time.Sleep(hold) // a lower bound on the handler time
	}), Options{MaxChildren: 1, Queue: 1, QueueTimeout: time.Minute, SlowTimeout: time.Nanosecond,
		Endpoints: []string{"/serve/"}, Logger: logger})

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/serve/a", nil))
	}()
	deadline := time.Now().Add(30 * time.Second)
	for s.Stats().InFlight != 1 {
		if time.Now().After(deadline) {
			t.Fatal("first request never started")
		}
		time.Sleep(time.Millisecond)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/other/b", nil))
	wg.Wait()
	if rec.Code != http.StatusOK {
		t.Fatalf("queued request: %d", rec.Code)
	}

	entries := hook.AllEntries()
	if len(entries) != 2 {
		t.Fatalf("want 2 slow log entries, got %d", len(entries))
	}
	byPath := map[string]map[string]any{}
	for _, e := range entries {
		byPath[e.Data["path"].(string)] = e.Data
	}
	a, b := byPath["/serve/a"], byPath["/other/b"]
	if a == nil || b == nil {
		t.Fatalf("entries: %+v", entries)
	}
	if a["endpoint"] != "/serve/" || b["endpoint"] != "other" {
		t.Errorf("endpoints %v and %v", a["endpoint"], b["endpoint"])
	}
	if a["queue_ms"].(float64) != 0 {
		t.Errorf("unqueued request waited %v ms", a["queue_ms"])
	}
	holdMs := float64(hold.Microseconds()) / 1000
	if w := b["queue_ms"].(float64); w < holdMs {
		t.Errorf("queued request waited %v ms, less than the %v ms the slot was held after it queued", w, holdMs)
	}
	if h := b["handler_ms"].(float64); h < holdMs {
		t.Errorf("handler time %v ms, less than the %v ms the handler slept", h, holdMs)
	}
	for _, d := range []map[string]any{a, b} {
		sum := d["queue_ms"].(float64) + d["handler_ms"].(float64)
		if total := d["duration_ms"].(float64); sum < total-0.002 || sum > total+0.002 {
			t.Errorf("%v: queue %v + handler %v != duration %v", d["path"], d["queue_ms"], d["handler_ms"], total)
		}
		if d["status"] != 200 {
			t.Errorf("%v: status %v", d["path"], d["status"])
		}
	}
}
