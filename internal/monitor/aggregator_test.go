package monitor

import (
	"errors"
	"strings"
	"testing"
	"time"

	"adnet/internal/aggregator"
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
}
