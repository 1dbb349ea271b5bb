package monitor

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"adnet/internal/aggregator"
)

// fraudMemoryBudget is the bound the fraud state is designed to stay under (issue: 64 MB at
// 25,000 events/s with a 10-minute window); a larger fraud.design_load scales it.
const (
	fraudMemoryBudget = 64 << 20
	budgetDesignLoad  = 25000
)

// fraudBudget is the memory budget of the fraud state at a design load.
func fraudBudget(designLoad int) int {
	if designLoad <= budgetDesignLoad {
		return fraudMemoryBudget
	}
	return int(float64(fraudMemoryBudget) * float64(designLoad) / budgetDesignLoad)
}

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
	if st.CapacityWarning != "" {
		out = append(out, Advice{Level: Warning, Topic: topic, Text: st.CapacityWarning})
	}
	budget := fraudBudget(st.DesignLoad)
	level := Info
	if st.FraudMemoryBytes > budget {
		level = Warning
	}
	last := "never"
	if !st.LastCommit.IsZero() {
		last = fmt.Sprintf("%.0fs ago", now.Sub(st.LastCommit).Seconds())
	}
	out = append(out, Advice{Level: level, Topic: topic, Text: fmt.Sprintf(
		"aggregator: %d events committed since start in %d transactions (last %s), %d records behind across %d logs; fraud state %.1f MiB (budget %d MiB)",
		st.EventsCommitted, st.Commits, last, lag, len(st.Sources), float64(st.FraudMemoryBytes)/(1<<20), budget>>20)})
	if len(st.Dedup) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "duplicate filters at fraud.design_load = %d events/s:", st.DesignLoad)
		for i, name := range slices.Sorted(maps.Keys(st.Dedup)) {
			d := st.Dedup[name]
			if i > 0 {
				b.WriteByte(';')
			}
			fmt.Fprintf(&b, " %s %.0f%% of the current segment's capacity (%.0f%% of its bits set, %.0f%% over the window), false positives ≈%.3g%% (bound %.3g%%)",
				name, 100*d.SegmentCapacityUsed, 100*d.SegmentFill, 100*d.WindowFill, 100*d.FalsePositiveRate, 100*d.Bound)
			if d.Unrecorded > 0 {
				fmt.Fprintf(&b, ", %d occurrences unrecorded", d.Unrecorded)
			}
		}
		out = append(out, Advice{Level: Info, Topic: topic, Text: b.String()})
	}
	if r := st.Reorder; r != nil {
		out = append(out, reorderAdvice(r))
	}
	return out
}

// reorderAdvice describes the stream's reordering by event time (events.transport =
// "jetstream"): a warning while a host holds the statistics back, or when events had to be
// applied out of their time order.
func reorderAdvice(r *aggregator.ReorderStats) Advice {
	const topic = "statistics"
	text := fmt.Sprintf("events across hosts: %d hosts shipping, %d events held for their turn (bound %d), the statistics wait %.1fs behind the stream; since start %d applied late (a host silent past nats.reorder_window) and %d early (more held than the bound)",
		r.Hosts, r.Held, r.MaxHeld, float64(r.BoundLag)/1000, r.Late, r.Forced)
	if r.Stalled != "" {
		return Advice{Level: Warning, Topic: topic, Text: fmt.Sprintf(
			"host %s has not shipped its events for %.0fs: the statistics of every host wait for it (up to nats.reorder_window), so that its events are counted in their time order — check its link to NATS and its shipper (its /status); %s",
			r.Stalled, float64(r.BoundLag)/1000, text)}
	}
	return Advice{Level: Info, Topic: topic, Text: text}
}
