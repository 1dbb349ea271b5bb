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

// StreamSource is the replicated event stream every host's shipper publishes to
// (events.transport = "jetstream"); package internal/jetstream implements it. Messages are
// numbered by the stream's sequence from 1; the aggregator applies their events in event-time
// order (see reorder), and commits a Position {Segment: 0, Offset: sequence} with a
// models.ReleaseMark.
type StreamSource interface {
	// Name is the key of the stream's committed sequence in eventlog_offsets (at most 64
	// bytes), e.g. "stream/ADNET_EVENTS".
	Name() string
	// Open returns a reader of the messages after sequence seq, in stream order. Its Next never
	// blocks: io.EOF when nothing is there yet. A message that is neither an event nor a
	// heartbeat is skipped.
	Open(after uint64) (StreamReader, error)
	// OpenAt returns a reader from the first message stored at or after t through sequence
	// through (the warm-up): its Next waits for each message (those are stored already) and
	// returns io.EOF after the one with sequence through, or when the stream has none later.
	OpenAt(t time.Time, through uint64) (StreamReader, error)
}

// StreamMessage is one message of the stream: an event, or a shipper's heartbeat.
type StreamMessage struct {
	Seq    uint64    // the stream's sequence
	Stored time.Time // when the stream stored it (the stream's clock)
	Host   string    // the host whose shipper published it
	// Through is set on a heartbeat, which carries no event: every event of Host older than
	// Through is in the stream before this message (the host's clock).
	Through time.Time
	Event   models.Event // when Through is zero
}

// StreamReader reads a StreamSource's messages in stream order.
type StreamReader interface {
	Next(m *StreamMessage) error
	Close() error
}

// openStream makes the stream the one source, from its committed sequence. The committed
// sequence in MariaDB is the only truth about what was applied: the reader starts after it
// whatever a consumer on the server may remember, so a commit of unknown outcome can never be
// applied twice (the sealed batch is settled against the same row, see flush).
func (a *Aggregator) openStream() error {
	name := a.opt.Stream.Name()
	if len(name) > 64 {
		return models.Errorf(models.EINVALID, "aggregator: stream source name %q is longer than 64 bytes", name)
	}
	var pos eventlog.Position
	var at time.Time
	var mark models.ReleaseMark
	if o, ok := a.offsets[name]; ok {
		pos, at, mark = eventlog.Position{Segment: o.Segment, Offset: o.Offset}, o.EventTime, o.Mark
	}
	r, err := a.opt.Stream.Open(uint64(pos.Offset))
	if err != nil {
		return err
	}
	now := a.now
	if a.hooks.streamNow != nil {
		now = a.hooks.streamNow
	}
	a.reorder = newReorder(r, pos, mark, a.opt.ReorderWindow, reorderHeld(a.opt.ExpectedEventsPerSecond, a.opt.ReorderWindow), now)
	s := &source{name: name, r: a.reorder, committed: pos, consumed: pos, consumedTime: at, committedMark: mark}
	a.sources = []*source{s}
	a.byName = map[string]*source{name: s}
	a.log.WithFields(logrus.Fields{"stream": name, "after_sequence": pos.Offset, "read_through": mark.ReadThrough}).
		Info("aggregator: consuming the event stream")
	return nil
}

// warmUpStream rebuilds the fraud state from the stream's events applied since cutoff (see
// warmUp): the messages stored since then up to the committed mark's readThrough, of which
// those the mark covers. The reorder learns from every message read (its hosts' clocks), and
// the read starts at least a reorder window before the newest committed event for that. Events reach the stream after they happen, so every event of the
// window is stored after cutoff. They are fed in event-time order within a heap of the
// reorder's size, as the reorder applied them (up to events later than that).
func (a *Aggregator) warmUpStream(ctx context.Context, cutoff, newest time.Time) error {
	s := a.sources[0]
	through := max(uint64(s.committed.Offset), s.committedMark.ReadThrough)
	if through == 0 {
		return nil
	}
	from := cutoff
	if t := newest.Add(-a.opt.ReorderWindow - time.Minute); t.Before(from) {
		from = t
	}
	r, err := a.opt.Stream.OpenAt(from, through)
	if err != nil {
		return err
	}
	defer r.Close()
	var (
		h     heldHeap
		ev    models.Event
		m     StreamMessage
		n     int64
		limit = reorderHeld(a.opt.ExpectedEventsPerSecond, a.opt.ReorderWindow)
	)
	judge := func() error {
		h.pop(&ev)
		a.fraud.judge(&ev)
		n++
		if err := a.hook("warmup"); err != nil {
			return err
		}
		if n%65536 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		return nil
	}
	for {
		if err := r.Next(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
		if m.Seq > through {
			break
		}
		a.reorder.learn(&m)
		if !m.Through.IsZero() || m.Event.Time.Before(cutoff) ||
			m.Seq > uint64(s.committed.Offset) && !s.committedMark.Applied(m.Seq, m.Event.Time) {
			continue // a heartbeat, before the window, or not applied yet: read again and counted
		}
		h.push(&m.Event, m.Seq)
		if h.Len() > limit {
			if err := judge(); err != nil {
				return err
			}
		}
	}
	for h.Len() > 0 {
		if err := judge(); err != nil {
			return err
		}
	}
	a.mu.Lock()
	a.stats.WarmupEvents = n
	a.mu.Unlock()
	a.log.WithFields(logrus.Fields{"events": n, "from": cutoff.UTC().Format(time.RFC3339), "to": newest.UTC().Format(time.RFC3339)}).
		Info("aggregator: fraud state rebuilt from the committed stream messages of the last click window")
	return nil
}

// maintainStream refreshes the status of the stream source.
func (a *Aggregator) maintainStream() {
	s := a.sources[0]
	st := SourceStats{Name: s.name, Live: true, Committed: s.committed.String(), Error: s.LastErr}
	ro := a.reorder.Stats()
	if r, ok := a.reorder.r.(interface{ Lag() uint64 }); ok {
		st.LagRecords = int64(r.Lag())
	}
	// Messages the stream dropped (its limits) before they were read: shown where a log's
	// missing segments are, and logged when the count grows.
	if r, ok := a.reorder.r.(interface{ Missing() uint64 }); ok {
		st.SegmentsMissing = int64(r.Missing())
		if st.SegmentsMissing > a.streamMissing {
			a.log.WithField("messages", st.SegmentsMissing).Error("aggregator: the stream dropped events before they were read (aggregator down longer than the stream's max age?)")
			a.streamMissing = st.SegmentsMissing
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stats.Sources = []SourceStats{st}
	a.stats.PendingEvents = a.pending()
	a.stats.Reorder = &ro
}

// expect returns the committed positions the batch was read from: the compare-and-set of its
// flush (models.Batch.Expect).
func (b *batch) expect() []models.Offset {
	out := make([]models.Offset, 0, len(b.sources))
	for src, p := range b.sources {
		out = append(out, models.Offset{Source: src, Segment: p.base.Segment, Offset: p.base.Offset, Mark: p.baseMark})
	}
	return out
}
