package monitor

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"adnet/fcgi"
)

// history builds n one-second samples of a healthy system with the given workers, each
// with maxChildren children, busy concurrent requests in nginx (reading + writing − the
// stub_status request itself) and 100 requests per second per worker; edit fills in
// what each test is about.
func history(n, workers int, maxChildren, busy int32, edit func(i int, s *Sample)) SampleList {
	h := make(SampleList, n)
	for i := range h {
		s := &h[i]
		s.Time = t0.Add(time.Duration(i) * time.Second)
		if i > 0 {
			s.Elapsed = time.Second
		}
		s.Nginx = NginxSample{Up: true, Reading: 1, Writing: uint32(busy), Waiting: 10, Active: uint32(busy) + 11, Requests: 100 * uint32(workers)}
		s.Latency = noLatency()
		for w := 1; w <= workers; w++ {
			s.Workers = append(s.Workers, WorkerSample{ID: uint16(w), PID: int32(1000 + w), Up: true,
				MaxChildren: maxChildren, InFlight: busy / int32(workers), Peak: busy / int32(workers),
				Accepted: 100, Latency: noLatency()})
		}
		if edit != nil {
			edit(i, s)
		}
	}
	return h
}

// now builds the latest Snapshot matching such a history.
func now(workers, maxChildren, queue int, edit func(*Snapshot)) Snapshot {
	s := Snapshot{Time: t0.Add(time.Hour), Nginx: NginxStatus{URL: "http://127.0.0.1:8080/nginx_status", Up: true}}
	for w := 1; w <= workers; w++ {
		s.Workers = append(s.Workers, WorkerStatus{WorkerRef: WorkerRef{ID: w, PID: 1000 + w},
			Stats: &fcgi.Stats{Pid: 1000 + w, MaxChildren: maxChildren, QueueLen: queue, QueueTimeoutMs: 1000,
				RequestTimeoutMs: 10000, SlowTimeoutMs: 1000}})
	}
	if edit != nil {
		edit(&s)
	}
	return s
}

func TestAdvise(t *testing.T) {
	tests := []struct {
		name string
		h    SampleList
		now  Snapshot
		want []Advice // exactly these, in this order
	}{{
		// The example: the original author's tuning by hand, done by the monitor.
		name: "rejections: raise max_children",
		h: history(3600, 2, 50, 20, func(i int, s *Sample) {
			if i == 1800 {
				s.Nginx.Writing = 180 // + Reading 1 − the status request = 180
			}
			if i >= 1800 && i < 1802 {
				s.Workers[0].Rejected, s.Workers[1].Rejected = 853, 853
			}
		}),
		now: now(2, 50, 0, nil),
		want: []Advice{
			{Warning, "capacity", "peak concurrent backend requests 180 over the last hour; total max_children is 100 across 2 workers; 3,412 requests were rejected: raise max_children to ≥ 120 per worker or add workers (5 in all at max_children = 50)"},
			{Info, "queue", `the rejections came in bursts: concurrent backend requests averaged 20 over the last hour against a total max_children of 100; with queue = 0 a burst is rejected at once, while a short queue (e.g. queue = 12, queue_timeout = "100ms") lets it wait for a free child`},
		},
	}, {
		name: "healthy",
		h:    history(600, 2, 50, 12, nil),
		now:  now(2, 50, 64, nil),
		want: []Advice{
			{OK, "capacity", "peak concurrent backend requests 12 over the last 10 minutes, 12% of the total max_children 100 across 2 workers; no request was rejected"},
		},
	}, {
		name: "near the cap without rejections",
		h: history(600, 2, 50, 40, func(i int, s *Sample) {
			if i == 300 {
				s.Workers[0].Peak, s.Workers[1].Peak = 45, 40 // the workers saw more than nginx at that poll
			}
		}),
		now: now(2, 50, 64, nil),
		want: []Advice{
			{Warning, "capacity", "peak concurrent backend requests 85 over the last 10 minutes is 85% of the total max_children 100 across 2 workers; nothing was rejected yet: raise max_children to ≥ 57 per worker or add workers before the peak grows"},
		},
	}, {
		name: "rejections between polls, many of them",
		h: history(120, 2, 50, 60, func(i int, s *Sample) {
			if i == 60 {
				s.Workers[1].Rejected = 400
			}
		}),
		now: now(2, 50, 8, nil),
		want: []Advice{
			{Critical, "capacity", "peak concurrent backend requests 60 over the last 2 minutes; total max_children is 100 across 2 workers; 400 requests were rejected (the rejections show that the real peak, between two polls, was higher than the polls saw): raise max_children to ≥ 63 per worker or add workers (3 in all at max_children = 50)"},
		},
	}, {
		name: "queue timeouts",
		h: history(120, 1, 50, 50, func(i int, s *Sample) {
			if i == 10 {
				s.Workers[0].Rejected, s.Workers[0].QueueTimeouts = 1, 1
			}
		}),
		now: now(1, 50, 16, nil),
		want: []Advice{
			{Warning, "capacity", "peak concurrent backend requests 50 over the last 2 minutes; total max_children is 50 across 1 worker; 1 request was rejected: raise max_children to ≥ 67 per worker or add workers (2 in all at max_children = 50)"},
			{Warning, "queue", "1 request waited the whole queue_timeout (1s) for a free child and was then rejected over the last 2 minutes: the workers finish requests more slowly than they arrive; a longer queue_timeout only delays the 503s, raise max_children or add workers"},
		},
	}, {
		name: "nginx dropped connections and was restarted",
		h: history(3600, 2, 50, 10, func(i int, s *Sample) {
			if i%100 == 0 {
				s.Nginx.Dropped = 1
			}
			if i == 7 {
				s.Nginx.Reset = true
			}
		}),
		now: now(2, 50, 64, nil),
		want: []Advice{
			{Critical, "nginx", "nginx dropped 36 connections over the last hour (accepts − handled): it ran out of worker_connections; raise worker_connections in the events block of nginx.conf, and worker_rlimit_nofile to at least twice that"},
			{OK, "capacity", "peak concurrent backend requests 10 over the last hour, 10% of the total max_children 100 across 2 workers; no request was rejected"},
			{Info, "nginx", "nginx was restarted once over the last hour (its counters went back to zero); a reload (nginx -s reload) keeps them"},
		},
	}, {
		name: "nginx unreachable now",
		h: history(60, 2, 50, 4, func(i int, s *Sample) {
			if i >= 50 {
				s.Nginx = NginxSample{}
			}
		}),
		now: now(2, 50, 64, func(s *Snapshot) {
			s.Nginx.Up, s.Nginx.Error = false, "dial tcp 127.0.0.1:8080: connect: connection refused"
		}),
		want: []Advice{
			{Critical, "nginx", "nginx's stub_status at http://127.0.0.1:8080/nginx_status does not answer (dial tcp 127.0.0.1:8080: connect: connection refused): nginx may be down, or monitor.nginx_status_url (default http://<nginx.listen>/nginx_status) does not point at it; the nginx figures are missing meanwhile"},
			{OK, "capacity", "peak concurrent backend requests 4 over the last 60 seconds, 4% of the total max_children 100 across 2 workers; no request was rejected"},
		},
	}, {
		name: "nginx missed polls earlier",
		h: history(600, 2, 50, 4, func(i int, s *Sample) {
			if i >= 100 && i < 103 {
				s.Nginx = NginxSample{}
			}
		}),
		now: now(2, 50, 64, nil),
		want: []Advice{
			{OK, "capacity", "peak concurrent backend requests 4 over the last 10 minutes, 4% of the total max_children 100 across 2 workers; no request was rejected"},
			{Info, "nginx", "nginx's stub_status did not answer 3 of the last 600 polls over the last 10 minutes"},
		},
	}, {
		name: "a worker keeps dying",
		h: history(600, 2, 50, 4, func(i int, s *Sample) {
			s.Workers[1].Restarts = uint32(i / 200) // 0, 1, 2
			if i == 599 {
				s.Workers[1].Restarts = 3
			}
		}),
		now: now(2, 50, 64, func(s *Snapshot) {
			s.Workers[1].Restarts, s.Workers[1].LastExit = 3, "signal: killed"
		}),
		want: []Advice{
			{Warning, "workers", "worker 2 died and was restarted 3 times over the last 10 minutes (last exit: signal: killed): look for panics in the workers' log and for the OOM killer in the kernel log (journalctl -k)"},
			{OK, "capacity", "peak concurrent backend requests 4 over the last 10 minutes, 4% of the total max_children 100 across 2 workers; no request was rejected"},
		},
	}, {
		name: "workers not answering",
		h:    history(60, 2, 50, 4, nil),
		now: now(2, 50, 64, func(s *Snapshot) {
			s.Workers[0].Stats, s.Workers[0].Error = nil, "context deadline exceeded"
			s.Workers[1].Stats, s.Workers[1].PID, s.Workers[1].LastExit = nil, 0, "exit status 2"
		}),
		want: []Advice{
			{Critical, "workers", "worker 1 (pid 1001) does not answer on its control socket: context deadline exceeded"},
			{Critical, "workers", "worker 2 is not running: the master is restarting it after exit status 2"},
			// The limits come from the history when no worker answers now.
			{OK, "capacity", "peak concurrent backend requests 4 over the last 60 seconds, 4% of the total max_children 100 across 2 workers; no request was rejected"},
		},
	}, {
		name: "panics, timeouts, slow requests",
		h: history(60, 1, 50, 4, func(i int, s *Sample) {
			if i == 30 {
				s.Workers[0].Panics, s.Workers[0].Timeouts, s.Workers[0].Slow = 2, 1, 17
			}
		}),
		now: now(1, 50, 64, nil),
		want: []Advice{
			{Warning, "workers", "2 handler panics over the last 60 seconds: each answered 500; the stack traces are in the workers' log"},
			{Warning, "latency", "1 request ran past request_timeout (10s) over the last 60 seconds: look at the slow log for where their time went (queue wait or handler) and at the database"},
			{OK, "capacity", "peak concurrent backend requests 4 over the last 60 seconds, 8% of the total max_children 50 across 1 worker; no request was rejected"},
			{Info, "latency", "17 requests were slower than slowlog_timeout (1s) over the last 60 seconds; the slow log shows each with its endpoint, queue wait and handler time"},
		},
	}, {
		name: "event log errors, disk nearly full, the worker's own warnings",
		h: history(3600, 1, 50, 4, func(i int, s *Sample) {
			if i == 3000 {
				s.Workers[0].ExtraErrors = 37
			}
		}),
		now: now(1, 50, 64, func(s *Snapshot) {
			s.Workers[0].Stats.Extra = map[string]any{"event_log": map[string]any{
				"write_errors": 37.0, "last_error": "write: no space left on device",
				"disk_bytes": 9.5 * (1 << 30), "max_disk": float64(10 << 30)},
				"warnings": []any{"inventory snapshot is 6m old: MariaDB unreachable"}}
		}),
		want: []Advice{
			{Critical, "event_log", "worker 1 reported 37 errors in its event log over the last hour (last: write: no space left on device): those events were not recorded; check the free space and the permissions of data_dir"},
			{Warning, "event_log", "worker 1's event log uses 9.5 GiB of its 10.0 GiB limit (95%): appends are refused when it is full; check that the aggregator keeps up and prunes, or raise events.max_disk"},
			{Warning, "workers", "worker 1: inventory snapshot is 6m old: MariaDB unreachable"},
			{OK, "capacity", "peak concurrent backend requests 4 over the last hour, 8% of the total max_children 50 across 1 worker; no request was rejected"},
		},
	}, {
		name: "nothing recorded yet",
		h:    nil,
		now:  Snapshot{},
		want: []Advice{{Info, "monitor", "no samples recorded yet: the first poll has not finished"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Advise(tt.h, tt.now, time.Second)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %d pieces of advice:\n%s\nwant %d:\n%s", len(got), dump(got), len(tt.want), dump(tt.want))
			}
		})
	}
}

func dump(as []Advice) string {
	var b strings.Builder
	for _, a := range as {
		b.WriteString("  [" + string(a.Level) + " " + a.Topic + "] " + a.Text + "\n")
	}
	return b.String()
}

func TestCount(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 3412: "3,412", 1234567: "1,234,567", -45678: "-45,678"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
}

// recordedFixture is a history recorded from a real run (see TestMonitorUnderSaturation,
// which writes it with ADNET_RECORD_FIXTURES=1): an in-process worker behind a real nginx,
// driven to its cap, then restarted nginx.
const recordedFixture = "testdata/saturation-history.json"

// fixture is the file format: the samples and the latest snapshot.
type fixture struct {
	Interval time.Duration `json:"interval"`
	Samples  SampleList    `json:"samples"`
	Now      Snapshot      `json:"now"`
}

func TestAdviseRecordedHistory(t *testing.T) {
	b, err := os.ReadFile(recordedFixture)
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	got := Advise(f.Samples, f.Now, f.Interval)
	t.Logf("advice from the recorded history:\n%s", dump(got))
	// The recording: max_children = 4, queue = 0, one worker; 4 requests held every
	// child and 10 more were rejected; then nginx was restarted.
	var capacity, restarted *Advice
	for i := range got {
		switch {
		case got[i].Topic == "capacity":
			capacity = &got[i]
		case strings.HasPrefix(got[i].Text, "nginx was restarted once"):
			restarted = &got[i]
		}
	}
	if capacity == nil || capacity.Level != Critical ||
		!strings.Contains(capacity.Text, "total max_children is 4 across 1 worker; 10 requests were rejected: raise max_children to ≥ ") {
		t.Errorf("capacity advice: %+v", capacity)
	}
	if restarted == nil {
		t.Errorf("no advice about nginx's restart")
	}
}
