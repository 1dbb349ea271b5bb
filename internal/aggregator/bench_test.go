package aggregator

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"adnet/internal/eventlog"
)

// BenchmarkAggregatorThroughput measures the whole pipeline catching up on a backlog: the
// workload of 50000 impressions (about 155000 events, a quarter of them clicks and
// conversions, each stored as a row) in four workers' logs, read, judged, aggregated and
// committed to MariaDB with the default batch size, flushing every 100 ms. It reports events/s.
//
//	go test ./internal/aggregator -run XXX -bench Throughput -benchtime 3x
func BenchmarkAggregatorThroughput(b *testing.B) {
	var events, nanos int64
	for b.Loop() {
		b.StopTimer()
		e := newEnv(b)
		e.segMax = eventlog.DefaultSegmentMaxBytes
		w := e.workload(base, 50000)
		spread(b, w.events, []*eventlog.Writer{e.writer(1), e.writer(2), e.writer(3), e.writer(4)}, 5)
		opt := e.options(e.store)
		opt.MaxBatchEvents = DefaultMaxBatchEvents
		opt.FlushInterval = 100 * time.Millisecond
		opt.Logger = silentLogger()
		a := e.newAgg(opt)
		b.StartTimer()
		start := time.Now()
		stop := run(a)
		for a.Stats().EventsCommitted < int64(len(w.events)) {
			time.Sleep(2 * time.Millisecond)
		}
		nanos += int64(time.Since(start))
		b.StopTimer()
		if err := stop(); err != nil {
			b.Fatal(err)
		}
		if got := e.totals(); !sameTotals(got, w.want) {
			b.Fatalf("totals %+v, want %+v", got, w.want)
		}
		events += int64(len(w.events))
		b.StartTimer()
	}
	b.ReportMetric(float64(events)/(float64(nanos)/1e9), "events/s")
}

// BenchmarkProcess measures the in-memory part per event: verdicts and aggregation.
func BenchmarkProcess(b *testing.B) {
	e := newEnv(b)
	w := e.workload(base, 20000)
	opt := e.options(e.store)
	opt.Logger = silentLogger()
	a := e.newAgg(opt)
	d, err := e.store.LoadDimensions(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	a.dims = d
	s := &source{name: "worker-1/w1-1"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(w.events) {
			i = 0
			a.open = newBatch()
		}
		s.Head = w.events[i]
		s.HasHead = true
		if err := a.process(s); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(a.fraud.MemoryBytes())/1e6, "fraud-MB")
}

func silentLogger() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}
