package aggregator

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"adnet/internal/eventlog"
	"adnet/internal/fraud"
	"adnet/models"
)

// finalFlushTimeout bounds the last commit on shutdown: the master's stop timeout must not be
// spent waiting for a database that is down; what is not committed is read again next start.
const finalFlushTimeout = 10 * time.Second

// flush commits the open batch in one transaction, after settling a previous attempt whose
// outcome is unknown. A database error is not returned: it is counted, logged once per outage
// and retried with exponential backoff, while reading goes on up to MaxBatchEvents. The error
// returned is fatal (or a test's simulated crash).
func (a *Aggregator) flush(ctx context.Context) error {
	now := a.now()
	if a.sealed != nil {
		// A commit failed earlier, but a failure reported by the client does not prove the
		// server did not commit (the connection can die after COMMIT reached it). The offsets
		// table says which it was, exactly, since the offsets are in the same transaction.
		offs, err := a.store.LoadOffsets(ctx)
		if err != nil {
			a.outage(err, "check the last commit")
			return nil
		}
		switch {
		case positionsMatch(offs, a.sealed, true):
			a.log.Info("aggregator: the failed commit had in fact been committed")
			a.committed(a.sealed, offs)
			// The events read meanwhile carry on from where the sealed batch ended; their
			// bases were taken while that was unknown. Were their own commit to fail, the
			// check above must find them not committed, not "changed behind our back".
			for src, p := range a.open.sources {
				if sp, ok := a.sealed.sources[src]; ok {
					p.base, p.baseMark = sp.target, sp.targetMark
				}
			}
			a.sealed = nil
		case positionsMatch(offs, a.sealed, false):
			a.sealed.absorb(a.open)
			a.open, a.sealed = a.sealed, nil
		default:
			return fmt.Errorf("aggregator: eventlog_offsets changed behind the aggregator's back (is another aggregator running on another host?)")
		}
	}
	if a.open.events == 0 {
		a.lastFlush = now
		a.recovered()
		return nil
	}
	if now.Sub(a.dimsLoaded) >= a.opt.DimsRefresh {
		if err := a.reloadDims(ctx); err != nil {
			a.outage(err, "reload dimensions")
			return nil
		}
	}
	var facts map[models.ImpressionID]models.ConversionFact
	if ids := a.open.factIDs(); len(ids) > 0 {
		var err error
		if facts, err = a.store.ConversionFacts(ctx, ids); err != nil {
			a.outage(err, "look up conversions")
			return nil
		}
	}
	r := a.open.resolve(facts, a.dims)
	a.open.convTally = r.tally
	if a.opt.Stream != nil {
		r.mb.Expect = a.open.expect()
	}
	if err := a.hook("before-commit"); err != nil {
		return err
	}
	start := time.Now()
	if err := a.store.FlushBatch(ctx, r.mb); err != nil {
		a.sealed, a.open = a.open, newBatch()
		a.mu.Lock()
		a.stats.CommitErrors++
		a.mu.Unlock()
		a.outage(err, "commit")
		return nil
	}
	if err := a.hook("after-commit"); err != nil {
		return err
	}
	a.log.WithFields(logrus.Fields{"events": a.open.events, "rows": r.mb.Events(), "took": time.Since(start).Round(time.Millisecond)}).
		Debug("aggregator: committed")
	a.committed(a.open, nil)
	a.open = newBatch()
	a.lastFlush = now
	a.recovered()
	return nil
}

// positionsMatch reports whether the database's offsets equal the batch's targets (committed)
// or its bases (not committed) for every source the batch touched.
func positionsMatch(offs map[string]models.Offset, b *batch, targets bool) bool {
	for src, p := range b.sources {
		o := offs[src]
		want := p.base
		if targets {
			want = p.target
		}
		wantMark := p.baseMark
		if targets {
			wantMark = p.targetMark
		}
		if (eventlog.Position{Segment: o.Segment, Offset: o.Offset}) != want || !sameMark(o.Mark, wantMark) {
			return false
		}
	}
	return true
}

// sameMark compares release marks as the database keeps them (time as Unix nanoseconds).
func sameMark(x, y models.ReleaseMark) bool {
	return x.ReadThrough == y.ReadThrough && x.Seq == y.Seq && x.Time.Equal(y.Time)
}

// committed advances the sources and counters after b was committed.
func (a *Aggregator) committed(b *batch, offs map[string]models.Offset) {
	for src, p := range b.sources {
		if s := a.byName[src]; s != nil {
			s.committed, s.committedMark = p.target, p.targetMark
		}
		a.offsets[src] = models.Offset{Source: src, Segment: p.target.Segment, Offset: p.target.Offset, EventTime: p.time, Mark: p.targetMark}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stats.Commits++
	a.stats.EventsCommitted += int64(b.events)
	a.stats.LastCommit = a.now()
	a.stats.PendingEvents = a.pending()
	if a.stats.Verdicts == nil {
		a.stats.Verdicts = map[string]int64{}
	}
	for i := range b.tally {
		if n := b.tally[i] + b.convTally[i]; n > 0 {
			a.stats.Verdicts[models.Reason(i).String()] += n
		}
	}
}

// outage records a failed database operation: logged once when an outage starts (not per
// retry), then retried with exponential backoff.
func (a *Aggregator) outage(err error, what string) {
	now := a.now()
	a.retryAt = now.Add(a.flushWait.next())
	a.mu.Lock()
	a.stats.LastError = what + ": " + err.Error()
	a.stats.Outage = true
	if !a.inOutage {
		a.stats.OutageSince = now
	}
	a.stats.PendingEvents = a.pending()
	a.mu.Unlock()
	if !a.inOutage {
		a.inOutage = true
		a.log.WithError(err).WithField("pending_events", a.pending()).
			Errorf("aggregator: MariaDB unavailable (%s); serving is not affected, events wait in the logs; retrying with backoff", what)
		return
	}
	a.log.WithError(err).Debugf("aggregator: %s failed again", what)
}

// recovered ends an outage.
func (a *Aggregator) recovered() {
	a.flushWait.reset()
	a.retryAt = time.Time{}
	if !a.inOutage {
		return
	}
	a.inOutage = false
	a.mu.Lock()
	since := a.stats.OutageSince
	a.stats.Outage = false
	a.mu.Unlock()
	a.log.WithField("outage", a.now().Sub(since).Round(time.Second)).Info("aggregator: MariaDB reachable again; catching up")
}

// finalFlush tries once to commit what is held, on shutdown.
func (a *Aggregator) finalFlush() {
	if a.pending() == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), finalFlushTimeout)
	defer cancel()
	a.retryAt = time.Time{}
	if err := a.flush(ctx); err != nil || a.pending() > 0 {
		a.log.WithField("pending_events", a.pending()).
			Warn("aggregator: stopping with uncommitted events; they are read again on the next start")
	}
}

// rollupLoop applies the statistics retention every RollupInterval.
func (a *Aggregator) rollupLoop(ctx context.Context) {
	for {
		now := a.now()
		res, err := a.store.Rollup(ctx, models.RollupOptions{
			HourlyBefore: now.Add(-a.opt.HourlyRetention).Truncate(time.Hour),
			ClicksBefore: now.Add(-a.opt.ClickRetention),
		})
		wait := a.opt.RollupInterval
		a.mu.Lock()
		if err != nil {
			a.stats.RollupError = err.Error()
			wait = min(wait, time.Minute)
		} else {
			a.stats.RollupError = ""
			a.stats.LastRollup = now
		}
		a.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			a.log.WithError(err).Warn("aggregator: statistics retention failed; retrying")
		} else if res != (models.RollupResult{}) {
			a.log.WithFields(logrus.Fields{"hourly_rows": res.HourlyRows + res.InvalidHourlyRows,
				"clicks": res.Clicks, "conversions": res.Conversions}).Info("aggregator: statistics past retention deleted")
		}
		if !sleepCtx(ctx, wait) {
			return
		}
	}
}

// Stats is a snapshot of the aggregator's health for the status page and metrics.
type Stats struct {
	Running          bool             `json:"running"`
	Sources          []SourceStats    `json:"sources"`
	EventsCommitted  int64            `json:"events_committed"` // since start
	Commits          int64            `json:"commits"`
	CommitErrors     int64            `json:"commit_errors"`
	LastCommit       time.Time        `json:"last_commit"`
	LastError        string           `json:"last_error,omitempty"`
	Outage           bool             `json:"outage"` // the database is unreachable right now
	OutageSince      time.Time        `json:"outage_since"`
	PendingEvents    int              `json:"pending_events"` // read but not committed
	Skipped          int64            `json:"skipped"`        // records that could not be counted (no time, unknown type)
	Verdicts         map[string]int64 `json:"verdicts"`       // the aggregator's own verdicts committed since start
	WarmupEvents     int64            `json:"warmup_events"`
	DiskBytes        int64            `json:"disk_bytes"`      // all sources
	MaxDiskBytes     int64            `json:"max_disk_bytes"`  // events.max_disk, per worker log
	DiskUsedRatio    float64          `json:"disk_used_ratio"` // the fullest live worker log / events.max_disk
	DiskWarning      bool             `json:"disk_warning"`    // DiskUsedRatio ≥ 0.8
	FraudMemoryBytes int              `json:"fraud_memory_bytes"`
	LastRollup       time.Time        `json:"last_rollup"`
	RollupError      string           `json:"rollup_error,omitempty"`

	// DesignLoad is fraud.design_load (events/s), what the duplicate filters are sized for.
	DesignLoad int `json:"design_load"`
	// Dedup is the capacity of each duplicate filter ("impressions": duplicate_impression,
	// "beacons": no_impression, "clicks": duplicate_click, "tainted": the beacon verdicts a
	// click inherits): fill, estimated false-positive
	// rate, saturation and occurrences left unrecorded.
	Dedup map[string]fraud.DedupStats `json:"dedup"`
	// NoImpressionUnchecked counts the clicks (warm-up included) that the no_impression rule
	// let pass because the beacon filter was saturated and could not tell.
	NoImpressionUnchecked int64 `json:"no_impression_unchecked"`
	// CapacityWarning, when set, says that the load is above fraud.design_load.
	CapacityWarning string `json:"capacity_warning,omitempty"`
	// Reorder is the stream's reordering by event time (events.transport = "jetstream" only).
	Reorder *ReorderStats `json:"reorder,omitempty"`
	// IPHashKeyID identifies the IP hash key this host's aggregator loaded (IPHashKeyID), the
	// standby's too: every host of a cluster must show the same. Set by `adnet aggregate`.
	IPHashKeyID string `json:"ip_hash_key_id,omitempty"`
}

// SourceStats describes one worker process's log.
type SourceStats struct {
	Name            string `json:"name"`
	Live            bool   `json:"live"`      // its writer may still append
	Committed       string `json:"committed"` // segment:offset
	LagBytes        int64  `json:"lag_bytes"` // not yet committed
	LagRecords      int64  `json:"lag_records"`
	DiskBytes       int64  `json:"disk_bytes"`
	Corrupt         int64  `json:"corrupt"` // skipped corrupt regions
	SegmentsMissing int64  `json:"segments_missing"`
	Error           string `json:"error,omitempty"`
}

// Stats returns a snapshot; it is safe to call from any goroutine. Lag and disk figures are
// refreshed every few seconds.
func (a *Aggregator) Stats() Stats {
	// The filters have locks of their own: their figures are taken outside a.mu.
	dedup := a.fraud.dedupStats()
	a.mu.Lock()
	s := a.stats
	s.Sources = slices.Clone(a.stats.Sources)
	s.Verdicts = maps.Clone(a.stats.Verdicts)
	a.mu.Unlock()
	if s.Verdicts == nil {
		s.Verdicts = map[string]int64{}
	}
	s.DesignLoad = a.opt.ExpectedEventsPerSecond
	s.Dedup = dedup
	s.NoImpressionUnchecked = a.fraud.unchecked.Load()
	s.CapacityWarning = capacityWarning(s.DesignLoad, s.FraudMemoryBytes, dedup)
	return s
}

// capacityWarning describes the saturated duplicate filters, or returns "".
func capacityWarning(designLoad, memory int, dedup map[string]fraud.DedupStats) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(dedup)) {
		st := dedup[name]
		if st.SaturatedSegments > 0 {
			parts = append(parts, fmt.Sprintf("%s (%d occurrences unrecorded, %d of its segments saturated)", name, st.Unrecorded, st.SaturatedSegments))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("the event rate is above fraud.design_load = %d events/s: the duplicate filters %s stop recording to hold their false-positive rate under the bound, so repeats of what they could not record are billed and clicks are not called no_impression when their beacon cannot be checked; raise fraud.design_load (the fraud state, %.1f MiB now, grows in proportion)",
		designLoad, strings.Join(parts, ", "), float64(memory)/(1<<20))
}

func (a *Aggregator) setRunning(on bool) {
	a.mu.Lock()
	a.stats.Running = on
	a.mu.Unlock()
}
