package top

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"adnet/fcgi"
	"adnet/internal/monitor"
)

func statusDoc() *monitor.StatusDoc {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	st := &fcgi.Stats{Pid: 4321, StartSince: 3725, MaxChildren: 50, QueueLen: 64, InFlight: 45, Queued: 3,
		Accepted: 1234567, Rejected: 3412, Slow: 7, Status: fcgi.StatusCounts{S5xx: 3412}, HeapBytes: 12 << 20}
	return &monitor.StatusDoc{
		Uptime: 7200, Updated: now.Add(-300 * time.Millisecond),
		Limits: monitor.StatusLimits{Workers: 2, MaxChildren: 50, Queue: 64, QueueTimeout: "1s"},
		Nginx: monitor.NginxStatus{URL: "http://127.0.0.1:8080/nginx_status", Up: true, Active: 291, Reading: 6, Writing: 179,
			Waiting: 106, RequestsPerSec: 1234.4, ConnectionsPerSec: 45.06},
		Workers: []monitor.WorkerDoc{
			{WorkerStatus: monitor.WorkerStatus{WorkerRef: monitor.WorkerRef{ID: 1, PID: 4321, Restarts: 2}, Stats: st},
				Rates: &monitor.WorkerRates{RequestsPerSec: 612.3, RejectedPerSec: 1.5, Peak: 50,
					Latency: monitor.Percentiles{P50: 0.0042, P90: 0.02, P99: monitor.Seconds(math.NaN())}}},
			{WorkerStatus: monitor.WorkerStatus{WorkerRef: monitor.WorkerRef{ID: 2, LastExit: "signal: killed"}}},
		},
		Totals: monitor.StatusTotals{InFlight: 45, MaxChildren: 50, Rejected: 3412},
		Advice: []monitor.Advice{{Level: monitor.Warning, Topic: "capacity", Text: strings.Repeat("raise max_children ", 12)}},
	}
}

func TestRender(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	render(&b, statusDoc(), nil, view{width: 160, source: "run/master.sock", now: now})
	out := b.String()
	t.Logf("\n%s", out)
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colour codes without colour")
	}
	for _, want := range []string{
		"master up 2h0m · 2 workers · max_children 50 · queue 64 (1s) · polled 300ms ago",
		"nginx   active 291  reading 6  writing 179  waiting 106   req/s 1,234  conn/s 45.1",
		"workers in flight 45 / 50",
		"2            -       -  not running (signal: killed)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
	lines := strings.Split(out, "\n")
	var header, row string
	for _, l := range lines {
		if strings.HasPrefix(l, "WORKER") {
			header = l
		}
		if strings.HasPrefix(l, "1 ") {
			row = l
		}
	}
	// Columns line up: each right-aligned header ends where its value ends.
	rr := []rune(row)
	for _, col := range []struct{ head, value string }{{"PEAK", "50"}, {"ACCEPTED", "1,234,567"}, {"REJECTED", "3,412"}, {"P50", "4.2ms"}, {"P99", "-"}, {"RST", "2"}} {
		h := strings.Index(header, col.head)
		if h < 0 {
			t.Fatalf("no column %s", col.head)
		}
		end := utf8.RuneCountInString(header[:h]) + len(col.head)
		if end > len(rr) || string(rr[end-utf8.RuneCountInString(col.value):end]) != col.value {
			t.Errorf("column %s: header ends at %d, row there reads %q", col.head, end, string(rr[max(0, end-12):min(end, len(rr))]))
		}
	}
	if !strings.Contains(row, "███████░ 45/50") {
		t.Errorf("in-flight bar: %q", row)
	}
	// Long advice wraps to the width.
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n > 160 {
			t.Errorf("line of %d runes: %q", n, l)
		}
	}

	// On a terminal: colours, and the bar painted without shifting the columns.
	b.Reset()
	render(&b, statusDoc(), nil, view{width: 100, color: true, now: now})
	if !strings.Contains(b.String(), ansiYellow+"███████░"+ansiReset) {
		t.Errorf("the bar at 90%% of the cap is not yellow:\n%q", b.String())
	}

	// The master cannot be read: said plainly.
	b.Reset()
	render(&b, nil, errors.New("dial unix run/master.sock: connect: no such file or directory"), view{width: 100, now: now})
	if !strings.Contains(b.String(), "cannot read the master's status: dial unix run/master.sock") {
		t.Errorf("error frame:\n%s", b.String())
	}
}
