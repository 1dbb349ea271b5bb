package monitor

import (
	"encoding/json"
	"testing"
	"time"

	"adnet/fcgi"
)

// The monitor's cost per poll: recording a sample and recomputing the advice over a full
// hour's history, for 16 workers. Compare the figures with the 1 s polling interval.

func BenchmarkRecord(b *testing.B) {
	r := NewRecorder(3600)
	start := t0.Add(-time.Hour)
	ws := make([]WorkerStatus, 16)
	for i := range ws {
		ws[i] = worker(i+1, 1000+i, start, fcgi.Stats{MaxChildren: 50})
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for j := range ws {
			ws[j].Stats.Accepted += 100
			ws[j].Stats.Latency.Counts[2] += 100
		}
		snap := Snapshot{Time: t0.Add(time.Duration(i) * time.Second), Nginx: NginxStatus{Up: true, Read: t0.Add(time.Duration(i) * time.Second)}, Workers: ws}
		r.Record(&snap)
	}
}

func BenchmarkAdviseHour16Workers(b *testing.B) {
	h := history(3600, 16, 50, 300, func(i int, s *Sample) {
		if i%600 == 0 {
			s.Workers[3].Rejected = 10
		}
	})
	now := now(16, 50, 64, nil)
	b.ReportAllocs()
	for b.Loop() {
		Advise(h, now, time.Second)
	}
}

// BenchmarkSeriesHourJSON is the status page's first request: an hour of history, encoded.
func BenchmarkSeriesHourJSON(b *testing.B) {
	h := history(3600, 4, 50, 100, nil)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		out, err := json.Marshal(NewSeries(h, time.Second))
		if err != nil {
			b.Fatal(err)
		}
		n = len(out)
	}
	b.ReportMetric(float64(n), "bytes/doc")
}
