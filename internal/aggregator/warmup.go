package aggregator

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/sirupsen/logrus"

	"adnet/internal/eventlog"
	"adnet/models"
)

// warmSource is one source's committed tail, replayed by warmUp.
type warmSource struct {
	r    logReader
	end  eventlog.Position // the committed position: replay stops there
	ev   models.Event
	has  bool
	name string
}

// warmUp rebuilds the fraud state as it was after the last committed event, so that the
// verdicts after a restart are the ones an uninterrupted aggregator would have given: a click
// on an impression clicked just before a crash is still a duplicate. It replays, through the
// same verdict code and in the same time-merged order, every source's events from the last
// click window before the committed offsets, counting nothing. Older events cannot matter:
// the fraud filters forget occurrences older than the window (plus one of their slots). The
// window's end is the newest committed event time, which eventlog_offsets keeps, so this also
// holds when the aggregator commits hours behind real time (catching up after an outage).
// Segments last written before the window are skipped without being read.
func (a *Aggregator) warmUp(ctx context.Context) error {
	var newest time.Time
	for _, o := range a.offsets {
		if o.EventTime.After(newest) {
			newest = o.EventTime
		}
	}
	if newest.IsZero() {
		return nil
	}
	cutoff := newest.Add(-a.opt.ClickWindow - a.opt.ClickWindow/rateSegments - a.opt.Watermark - time.Minute)
	if a.opt.Stream != nil {
		return a.warmUpStream(ctx, cutoff, newest)
	}
	var ws []*warmSource
	defer func() {
		for _, w := range ws {
			w.r.Close()
		}
	}()
	for _, s := range a.sources {
		if s.committed == (eventlog.Position{}) {
			continue
		}
		segs, _, err := eventlog.Segments(s.dir)
		if err != nil {
			return err
		}
		// Events are stamped before they are written, by at most a request's duration:
		// a segment last written a minute before the cutoff holds nothing after it.
		start := eventlog.Position{Segment: s.committed.Segment}
		for _, sg := range segs {
			if !sg.ModTime.Before(cutoff.Add(-time.Minute)) {
				start = eventlog.Position{Segment: sg.Seq}
				break
			}
		}
		if !start.Less(s.committed) {
			continue
		}
		r, err := eventlog.OpenReader(s.dir, start, a.log)
		if err != nil {
			return err
		}
		w := &warmSource{r: r, end: s.committed, name: s.name}
		ws = append(ws, w)
		if err := a.advanceWarm(w, cutoff); err != nil {
			return err
		}
	}
	var n int64
	for {
		var best *warmSource
		for _, w := range ws {
			if w.has && (best == nil || w.ev.Time.Before(best.ev.Time)) {
				best = w
			}
		}
		if best == nil {
			break
		}
		a.fraud.judge(&best.ev)
		n++
		if err := a.hook("warmup"); err != nil {
			return err
		}
		if n%65536 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		best.has = false
		if err := a.advanceWarm(best, cutoff); err != nil {
			return err
		}
	}
	a.mu.Lock()
	a.stats.WarmupEvents = n
	a.mu.Unlock()
	a.log.WithFields(logrus.Fields{"events": n, "from": cutoff.UTC().Format(time.RFC3339), "to": newest.UTC().Format(time.RFC3339)}).
		Info("aggregator: fraud state rebuilt from the committed events of the last click window")
	return nil
}

// advanceWarm reads w's next committed event at or after cutoff.
func (a *Aggregator) advanceWarm(w *warmSource, cutoff time.Time) error {
	for {
		pos, err := w.r.Next(&w.ev)
		if errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if w.end.Less(pos) {
			return nil // past the committed offset: read again, and counted, by the main loop
		}
		if !w.ev.Time.Before(cutoff) {
			w.has = true
			return nil
		}
	}
}
