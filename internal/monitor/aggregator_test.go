package monitor

import (
	"errors"
	"strings"
	"testing"
	"time"

	"adnet/internal/aggregator"
	"adnet/internal/fraud"
)

func TestAggregatorAdvice(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	text := func(as []Advice) string {
		var b strings.Builder
		for _, a := range as {
			b.WriteString(string(a.Level) + " " + a.Text + "\n")
		}
		return b.String()
	}
	down := text(AggregatorAdvice(nil, errors.New("connection refused"), now))
	if !strings.HasPrefix(down, "critical the statistics aggregator does not answer (connection refused)") {
		t.Fatalf("no answer: %s", down)
	}
	st := &aggregator.Stats{Outage: true, OutageSince: now.Add(-time.Minute), LastError: "dial unix: refused", PendingEvents: 1234,
		DiskWarning: true, DiskUsedRatio: 0.83, EventsCommitted: 100, Commits: 3, LastCommit: now.Add(-70 * time.Second),
		Sources: []aggregator.SourceStats{{LagRecords: 7}, {LagRecords: 3}}, FraudMemoryBytes: 57_561_528}
	got := text(AggregatorAdvice(st, nil, now))
	for _, want := range []string{
		"critical MariaDB has been unreachable for the aggregator since 11:59:00 (dial unix: refused): 1234 events are waiting",
		"warning the fullest worker event log is at 83% of events.max_disk",
		"info aggregator: 100 events committed since start in 3 transactions (last 70s ago), 10 records behind across 2 logs; fraud state 54.9 MiB (budget 64 MiB)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	st = &aggregator.Stats{FraudMemoryBytes: 65 << 20}
	if got := AggregatorAdvice(st, nil, now); len(got) != 1 || got[0].Level != Warning {
		t.Errorf("fraud memory over budget: %+v", got)
	}
	// Across hosts: a host that stopped shipping holds everyone's statistics back — a warning
	// naming it.
	st = &aggregator.Stats{Reorder: &aggregator.ReorderStats{Held: 5000, MaxHeld: 65536, Hosts: 3, BoundLag: 12500, Stalled: "app2", Late: 4}}
	got = text(AggregatorAdvice(st, nil, now))
	if !strings.Contains(got, "warning host app2 has not shipped its events for 12s: the statistics of every host wait for it") ||
		!strings.Contains(got, "3 hosts shipping, 5000 events held for their turn (bound 65536), the statistics wait 12.5s behind the stream; since start 4 applied late") {
		t.Errorf("reorder advice:\n%s", got)
	}
	// A larger design load has a proportionally larger budget.
	st = &aggregator.Stats{FraudMemoryBytes: 65 << 20, DesignLoad: 50000}
	if got := AggregatorAdvice(st, nil, now); len(got) != 1 || got[0].Level != Info {
		t.Errorf("fraud memory within the budget of its design load: %+v", got)
	}
}

// TestAggregatorCapacityAdvice: the duplicate filters' fill and false-positive rate are
// always shown; a capacity warning (load above fraud.design_load) is a warning.
func TestAggregatorCapacityAdvice(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	st := &aggregator.Stats{DesignLoad: 25000, Dedup: map[string]fraud.DedupStats{
		"clicks": {SegmentFill: 0.2, WindowFill: 0.3, SegmentCapacityUsed: 0.45, FalsePositiveRate: 0.0002, Bound: 0.001},
		"beacons": {SegmentFill: 0.44, WindowFill: 0.44, SegmentCapacityUsed: 1, FalsePositiveRate: 0.00095, Bound: 0.001,
			SaturatedSegments: 11, Unrecorded: 12345},
	}, CapacityWarning: "the event rate is above fraud.design_load = 25000 events/s: …"}
	got := AggregatorAdvice(st, nil, now)
	var warned bool
	var info string
	for _, a := range got {
		if a.Level == Warning && strings.Contains(a.Text, "fraud.design_load = 25000") {
			warned = true
		}
		if strings.HasPrefix(a.Text, "duplicate filters") {
			info = a.Text
		}
	}
	if !warned {
		t.Errorf("no capacity warning in %+v", got)
	}
	for _, want := range []string{"beacons 100% of the current segment's capacity (44% of its bits set, 44% over the window), false positives ≈0.095% (bound 0.1%), 12345 occurrences unrecorded",
		"clicks 45% of the current segment's capacity"} {
		if !strings.Contains(info, want) {
			t.Errorf("missing %q in %q", want, info)
		}
	}
}
