package monitor

import (
	"fmt"
	"time"

	"adnet/internal/aggregator"
)

// fraudMemoryBudget is the bound the fraud state is designed to stay under (issue: 64 MB at
// 25,000 events/s with a 10-minute window).
const fraudMemoryBudget = 64 << 20

// AggregatorAdvice turns the statistics aggregator's status (or the error fetching it) into
// advice lines: a stopped pipeline, a database outage, event logs filling their disk budget,
// lag, and — always — the pipeline's figures, including the memory of the fraud state.
func AggregatorAdvice(st *aggregator.Stats, fetchErr error, now time.Time) []Advice {
	const topic = "statistics"
	if fetchErr != nil {
		return []Advice{{Level: Critical, Topic: topic, Text: fmt.Sprintf(
			"the statistics aggregator does not answer (%v): events accumulate in the workers' logs and are counted once it runs again; the master restarts it — check its log lines", fetchErr)}}
	}
	var out []Advice
	if st.Outage {
		out = append(out, Advice{Level: Critical, Topic: topic, Text: fmt.Sprintf(
			"MariaDB has been unreachable for the aggregator since %s (%s): %d events are waiting in memory and the logs keep growing on disk; serving is not affected and the totals will be exact after recovery",
			st.OutageSince.Format(time.TimeOnly), st.LastError, st.PendingEvents)})
	}
	if st.DiskWarning {
		out = append(out, Advice{Level: Warning, Topic: topic, Text: fmt.Sprintf(
			"the fullest worker event log is at %.0f%% of events.max_disk: at 100%% the workers answer 503 rather than serve unrecorded ads — free disk, raise events.max_disk, or fix what stops the aggregator from committing",
			100*st.DiskUsedRatio)})
	}
	var lag int64
	for _, s := range st.Sources {
		lag += s.LagRecords
	}
	level := Info
	if st.FraudMemoryBytes > fraudMemoryBudget {
		level = Warning
	}
	last := "never"
	if !st.LastCommit.IsZero() {
		last = fmt.Sprintf("%.0fs ago", now.Sub(st.LastCommit).Seconds())
	}
	out = append(out, Advice{Level: level, Topic: topic, Text: fmt.Sprintf(
		"aggregator: %d events committed since start in %d transactions (last %s), %d records behind across %d logs; fraud state %.1f MiB (budget %d MiB)",
		st.EventsCommitted, st.Commits, last, lag, len(st.Sources), float64(st.FraudMemoryBytes)/(1<<20), fraudMemoryBudget>>20)})
	return out
}
