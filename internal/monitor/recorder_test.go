package monitor

import (
	"encoding/json"
	"math"
	"os"
	"testing"
	"time"

	"adnet/fcgi"
	"adnet/nginx"
)

// t0 is the time of the first reading in these tests.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// bounds are the histogram bounds the workers report (a shortened set for readable tests).
var bounds = []float64{0.001, 0.01, 0.1, 1}

// stub reads the stub_status page nginx 1.22.1 really produced (captured by the nginx
// package's integration test), so the recorder starts from real figures.
func stub(t *testing.T) nginx.StubStatus {
	t.Helper()
	b, err := os.ReadFile("../../nginx/testdata/stub_status_nginx-1.22.1.txt")
	if err != nil {
		t.Fatal(err)
	}
	st, err := nginx.ParseStubStatus(b)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func nginxUp(at time.Time, s nginx.StubStatus) NginxStatus {
	n := NginxStatus{URL: "http://127.0.0.1/nginx_status", Up: true, Read: at}
	n.setStub(s)
	return n
}

func worker(id, pid int, start time.Time, st fcgi.Stats) WorkerStatus {
	st.Pid = pid
	st.StartTime = start
	if st.MaxChildren == 0 {
		st.MaxChildren = 4
	}
	if st.Latency.Counts == nil {
		st.Latency = fcgi.LatencyStats{BoundsSeconds: bounds, Counts: make([]uint64, len(bounds)+1)}
	}
	return WorkerStatus{WorkerRef: WorkerRef{ID: id, PID: pid}, Stats: &st}
}

func TestRecorderNginxRatesAndReset(t *testing.T) {
	r := NewRecorder(100)
	base := stub(t) // accepts 9, handled 9, requests 20
	later := base
	later.Accepts, later.Handled, later.Requests = base.Accepts+10, base.Handled+8, base.Requests+50

	// Reading 1: the baseline. Reading 2, 2s later: +50 requests, +10 connections of which
	// 2 dropped. Reading 3: nginx down. Reading 4, 2s after reading 2: +30 requests over
	// the outage. Reading 5: nginx restarted, counters from zero.
	afterOutage := later
	afterOutage.Requests += 30
	restarted := nginx.StubStatus{Active: 1, Accepts: 2, Handled: 2, Requests: 3, Writing: 1}
	steps := []struct {
		at    time.Time
		ng    NginxStatus
		check func(t *testing.T, s Sample, ns NginxStatus)
	}{
		{t0, nginxUp(t0, base), func(t *testing.T, s Sample, ns NginxStatus) {
			if !s.Nginx.Up || s.Nginx.Requests != 0 || s.Nginx.Writing != 1 || s.Nginx.Waiting != 2 || s.Nginx.Active != 3 {
				t.Errorf("first sample %+v", s.Nginx)
			}
		}},
		{t0.Add(2 * time.Second), nginxUp(t0.Add(2*time.Second), later), func(t *testing.T, s Sample, ns NginxStatus) {
			if s.Nginx.Requests != 50 || s.Nginx.Accepts != 10 || s.Nginx.Dropped != 2 || s.Nginx.Reset {
				t.Errorf("second sample %+v", s.Nginx)
			}
			if ns.RequestsPerSec != 25 || ns.ConnectionsPerSec != 5 || ns.Dropped != 2 {
				t.Errorf("rates %+v", ns)
			}
			if s.Elapsed != 2*time.Second {
				t.Errorf("elapsed %s", s.Elapsed)
			}
		}},
		{t0.Add(3 * time.Second), NginxStatus{URL: "u", Error: "connection refused"}, func(t *testing.T, s Sample, ns NginxStatus) {
			if s.Nginx.Up || s.Nginx.Requests != 0 {
				t.Errorf("down sample %+v", s.Nginx)
			}
			if ns.Requests != later.Requests || ns.Read != t0.Add(2*time.Second) {
				t.Errorf("a down nginx must keep showing its last figures and their time: %+v", ns)
			}
		}},
		{t0.Add(4 * time.Second), nginxUp(t0.Add(4*time.Second), afterOutage), func(t *testing.T, s Sample, ns NginxStatus) {
			if s.Nginx.Requests != 30 || s.Nginx.Reset {
				t.Errorf("after the outage %+v", s.Nginx)
			}
			if ns.RequestsPerSec != 15 { // 30 requests over the 2s since the last good reading
				t.Errorf("rate over the outage %v", ns.RequestsPerSec)
			}
		}},
		{t0.Add(5 * time.Second), nginxUp(t0.Add(5*time.Second), restarted), func(t *testing.T, s Sample, ns NginxStatus) {
			if !s.Nginx.Reset || s.Nginx.Requests != 3 || s.Nginx.Accepts != 2 || s.Nginx.Dropped != 0 {
				t.Errorf("restart sample %+v", s.Nginx)
			}
			if ns.Resets != 1 || ns.RequestsPerSec != 3 {
				t.Errorf("after restart %+v", ns)
			}
		}},
	}
	for i, st := range steps {
		snap := Snapshot{Time: st.at, Nginx: st.ng}
		s := r.Record(&snap)
		t.Run(string(rune('1'+i)), func(t *testing.T) { st.check(t, s, snap.Nginx) })
	}
	// The history holds every interval once: the requests add up to what nginx counted.
	var total uint64
	for _, s := range r.Samples(time.Time{}, 0) {
		total += uint64(s.Nginx.Requests)
	}
	if want := uint64(50 + 30 + 3); total != want {
		t.Errorf("requests in the history %d, want %d", total, want)
	}
}

func TestRecorderWorkerDeltasAcrossRestart(t *testing.T) {
	r := NewRecorder(100)
	startA := t0.Add(-time.Hour)
	startB := t0.Add(3 * time.Second)
	rec := func(at time.Time, ws ...WorkerStatus) Sample {
		snap := Snapshot{Time: at, Workers: ws}
		return r.Record(&snap)
	}

	s1 := rec(t0, worker(1, 100, startA, fcgi.Stats{Accepted: 1000, Rejected: 7, CapReached: 9, MaxInFlight: 4, InFlight: 1}))
	if w := s1.Workers[0]; !w.Up || w.Restarted || w.Accepted != 1000 || w.Rejected != 7 || w.Peak != 4 {
		t.Errorf("first sample counts since the worker started: %+v", w)
	}
	// +500 accepted, +5 rejected, +5 cap reached: the cap was hit, so the peak is the cap
	// even though the gauge reads 2 now.
	s2 := rec(t0.Add(time.Second), worker(1, 100, startA, fcgi.Stats{Accepted: 1500, Rejected: 12, CapReached: 14, QueueTimeouts: 0, MaxInFlight: 4, InFlight: 2}))
	if w := s2.Workers[0]; w.Accepted != 500 || w.Rejected != 5 || w.CapReached != 5 || w.Peak != 4 || w.InFlight != 2 {
		t.Errorf("second sample %+v", w)
	}
	// Nothing new: no peak beyond the gauge (max in flight did not move).
	s3 := rec(t0.Add(2*time.Second), worker(1, 100, startA, fcgi.Stats{Accepted: 1500, Rejected: 12, CapReached: 14, MaxInFlight: 4, InFlight: 1}))
	if w := s3.Workers[0]; w.Accepted != 0 || w.Rejected != 0 || w.Peak != 1 {
		t.Errorf("idle sample %+v", w)
	}
	// Not answering: kept in the sample as down, and its previous reading is kept.
	down := WorkerStatus{WorkerRef: WorkerRef{ID: 1, PID: 100}, Error: "timeout"}
	if w := rec(t0.Add(3*time.Second), down).Workers[0]; w.Up || w.Accepted != 0 {
		t.Errorf("down sample %+v", w)
	}
	// A new process (restart): its counters start from zero; the sample counts them whole.
	s5 := rec(t0.Add(4*time.Second), worker(1, 200, startB, fcgi.Stats{Accepted: 40, Rejected: 2, CapReached: 2, MaxInFlight: 4}))
	if w := s5.Workers[0]; !w.Restarted || w.Accepted != 40 || w.Rejected != 2 || w.PID != 200 || w.Peak != 4 {
		t.Errorf("sample after the restart %+v", w)
	}
	s6 := rec(t0.Add(5*time.Second), worker(1, 200, startB, fcgi.Stats{Accepted: 41, Rejected: 2, CapReached: 2, MaxInFlight: 4}))
	if w := s6.Workers[0]; w.Restarted || w.Accepted != 1 {
		t.Errorf("sample after that %+v", w)
	}

	// Every rejection of both processes is in the history exactly once.
	var rejected, accepted uint64
	for _, s := range r.Samples(time.Time{}, 0) {
		rejected += uint64(s.Workers[0].Rejected)
		accepted += uint64(s.Workers[0].Accepted)
	}
	if rejected != 12+2 || accepted != 1500+41 {
		t.Errorf("history sums: rejected %d accepted %d", rejected, accepted)
	}
}

func TestRecorderPeakFromMaxInFlight(t *testing.T) {
	// Between two polls the worker went from 1 to 7 requests in flight and back to 2,
	// without reaching its cap of 10: only its since-start maximum tells.
	r := NewRecorder(10)
	start := t0.Add(-time.Minute)
	for i, c := range []struct {
		st   fcgi.Stats
		peak int32
	}{
		{fcgi.Stats{MaxChildren: 10, MaxInFlight: 5, InFlight: 1, MaxQueued: 2}, 5}, // first: since start
		{fcgi.Stats{MaxChildren: 10, MaxInFlight: 7, InFlight: 2, MaxQueued: 2}, 7}, // grew
		{fcgi.Stats{MaxChildren: 10, MaxInFlight: 7, InFlight: 3, MaxQueued: 2}, 3}, // did not: the gauge
	} {
		snap := Snapshot{Time: t0.Add(time.Duration(i) * time.Second), Workers: []WorkerStatus{worker(1, 1, start, c.st)}}
		if w := r.Record(&snap).Workers[0]; w.Peak != c.peak {
			t.Errorf("sample %d: peak %d, want %d", i, w.Peak, c.peak)
		}
	}
}

func TestRecorderSameIDAfterRemovalIsNewProcess(t *testing.T) {
	// A reload to fewer workers drops worker 2; a later reload brings a worker 2 back. Even
	// with the same pid number (pids are reused) its counters must not be differenced
	// against the old process.
	r := NewRecorder(10)
	start := t0.Add(-time.Minute)
	snap := Snapshot{Time: t0, Workers: []WorkerStatus{worker(1, 10, start, fcgi.Stats{}), worker(2, 20, start, fcgi.Stats{Accepted: 900})}}
	r.Record(&snap)
	snap = Snapshot{Time: t0.Add(time.Second), Workers: []WorkerStatus{worker(1, 10, start, fcgi.Stats{})}}
	r.Record(&snap)
	snap = Snapshot{Time: t0.Add(2 * time.Second), Workers: []WorkerStatus{worker(1, 10, start, fcgi.Stats{}), worker(2, 20, start, fcgi.Stats{Accepted: 950})}}
	s := r.Record(&snap)
	if w := s.Workers[1]; w.Accepted != 950 {
		t.Errorf("worker 2 back: accepted %d, want 950 (its whole count)", w.Accepted)
	}
}

func TestRecorderLatencyPercentiles(t *testing.T) {
	r := NewRecorder(10)
	start := t0.Add(-time.Minute)
	lat := func(counts ...uint64) fcgi.Stats {
		var n uint64
		for _, c := range counts {
			n += c
		}
		return fcgi.Stats{Latency: fcgi.LatencyStats{BoundsSeconds: bounds, Counts: counts, Count: n}}
	}
	snap := Snapshot{Time: t0, Workers: []WorkerStatus{worker(1, 1, start, lat(100, 0, 0, 0, 0)), worker(2, 2, start, lat(0, 0, 0, 0, 0))}}
	r.Record(&snap)
	// In the interval: worker 1 gets 100 requests in (0.001, 0.01]; worker 2 gets 100 in
	// (0.01, 0.1]. Merged, p50 is the top of the first bucket and p99 98% of the way
	// through the second; per worker, p50 is halfway through its bucket.
	snap = Snapshot{Time: t0.Add(time.Second), Workers: []WorkerStatus{
		worker(1, 1, start, lat(100, 100, 0, 0, 0)), worker(2, 2, start, lat(0, 0, 100, 0, 0))}}
	s := r.Record(&snap)
	near := func(got Seconds, want float64) bool { return math.Abs(float64(got)-want) < 1e-6 }
	if !near(s.Workers[0].Latency.P50, 0.0055) || !near(s.Workers[1].Latency.P50, 0.055) {
		t.Errorf("per-worker p50 %v %v", s.Workers[0].Latency.P50, s.Workers[1].Latency.P50)
	}
	if !near(s.Latency.P50, 0.01) || !near(s.Latency.P99, 0.01+0.09*0.98) {
		t.Errorf("merged %+v", s.Latency)
	}
	// An interval without requests has no latency (null in JSON), not zero.
	s = r.Record(&Snapshot{Time: t0.Add(2 * time.Second), Workers: snap.Workers})
	if !math.IsNaN(float64(s.Latency.P99)) || !math.IsNaN(float64(s.Workers[0].Latency.P50)) {
		t.Errorf("idle interval latency %+v", s.Latency)
	}
	b, err := json.Marshal(s.Latency)
	if err != nil || string(b) != `{"p50":null,"p90":null,"p99":null}` {
		t.Errorf("JSON %s %v", b, err)
	}
	// The +Inf bucket reports the highest finite bound.
	if p := percentiles(bounds, []uint64{0, 0, 0, 0, 5}); p.P50 != 1 {
		t.Errorf("+Inf bucket p50 %v", p.P50)
	}
}

func TestRecorderRingIsBounded(t *testing.T) {
	r := NewRecorder(3)
	for i := range 5 {
		snap := Snapshot{Time: t0.Add(time.Duration(i) * time.Second)}
		r.Record(&snap)
	}
	if r.Len() != 3 || r.Cap() != 3 {
		t.Fatalf("len %d cap %d", r.Len(), r.Cap())
	}
	all := r.Samples(time.Time{}, 0)
	if len(all) != 3 || !all[0].Time.Equal(t0.Add(2*time.Second)) || !all[2].Time.Equal(t0.Add(4*time.Second)) {
		t.Fatalf("kept %v", all)
	}
	if since := r.Samples(t0.Add(3*time.Second), 0); len(since) != 1 || !since[0].Time.Equal(t0.Add(4*time.Second)) {
		t.Errorf("since: %v", since)
	}
	if last := r.Samples(time.Time{}, 2); len(last) != 2 || !last[0].Time.Equal(t0.Add(3*time.Second)) {
		t.Errorf("limit: %v", last)
	}
	if all[1].Elapsed != time.Second {
		t.Errorf("elapsed %s", all[1].Elapsed)
	}
}

func TestExtraHealth(t *testing.T) {
	// As decoded from a worker's JSON: numbers are float64, objects map[string]any.
	var extra map[string]any
	err := json.Unmarshal([]byte(`{"worker_id": 1,
		"event_log": {"WriteErrors": 3, "fsync_errors": 2, "LastError": "write: no space left on device",
		              "disk_bytes": 950, "max_disk": 1000, "Records": 12345},
		"warnings": ["inventory snapshot is 5m old"]}`), &extra)
	if err != nil {
		t.Fatal(err)
	}
	h := ExtraHealth(extra)
	if h.Errors != 5 || h.LastError != "write: no space left on device" || h.DiskBytes != 950 || h.MaxDisk != 1000 ||
		len(h.Warnings) != 1 || h.Warnings[0] != "inventory snapshot is 5m old" {
		t.Errorf("%+v", h)
	}
	// The worker's own flat shape (cmd/adnet's StatusExtra).
	h = ExtraHealth(map[string]any{"worker_id": 2.0, "eventlog_records": 10.0, "eventlog_write_errors": 4.0,
		"eventlog_last_error": "disk full", "eventlog_disk_bytes": 10.0, "eventlog_max_disk_bytes": 100.0,
		"inventory_error": "dial tcp: connection refused", "inventory_age_seconds": 3.5})
	if h.Errors != 4 || h.LastError != "disk full" || h.DiskBytes != 10 || h.MaxDisk != 100 ||
		len(h.Warnings) != 1 || h.Warnings[0] != "inventory_error: dial tcp: connection refused" {
		t.Errorf("flat extra: %+v", h)
	}
	if h := ExtraHealth(map[string]any{"inventory_error": ""}); len(h.Warnings) != 0 {
		t.Errorf("an empty error is no warning: %+v", h)
	}
	if h := ExtraHealth(nil); h.Errors != 0 || h.Warnings != nil {
		t.Errorf("nil extra: %+v", h)
	}
}
