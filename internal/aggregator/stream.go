package aggregator

import (
	"context"
	"time"

	"github.com/sirupsen/logrus"

	"adnet/internal/eventlog"
	"adnet/models"
)

// StreamSource is the replicated event stream every host's shipper publishes to
// (events.transport = "jetstream"); package internal/jetstream implements it. A Position of
// the stream is {Segment: 0, Offset: the message's stream sequence}: the zero Position is
// "nothing consumed yet", exactly as for a log.
type StreamSource interface {
	// Name is the key of the stream's committed sequence in eventlog_offsets (at most 64
	// bytes), e.g. "stream/ADNET_EVENTS".
	Name() string
	// Open returns a reader of the messages after sequence seq, in stream order. Its Next never
	// blocks: io.EOF when nothing is there yet. A message that is not an event is skipped.
	Open(after uint64) (StreamReader, error)
	// OpenAt returns a reader from the first message stored at or after t through sequence
	// through (the warm-up): its Next waits for each message (those are stored already) and
	// returns io.EOF after the one with sequence through, or when the stream has none later.
	OpenAt(t time.Time, through uint64) (StreamReader, error)
}

// StreamReader reads events from a StreamSource.
type StreamReader interface {
	Next(ev *models.Event) (eventlog.Position, error)
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
	if o, ok := a.offsets[name]; ok {
		pos, at = eventlog.Position{Segment: o.Segment, Offset: o.Offset}, o.EventTime
	}
	r, err := a.opt.Stream.Open(uint64(pos.Offset))
	if err != nil {
		return err
	}
	s := &source{name: name, r: r, committed: pos, consumed: pos, consumedTime: at}
	a.sources = []*source{s}
	a.byName = map[string]*source{name: s}
	a.log.WithFields(logrus.Fields{"stream": name, "after_sequence": pos.Offset}).Info("aggregator: consuming the event stream")
	return nil
}

// warmUpStream rebuilds the fraud state from the stream's messages stored since cutoff up to
// the committed sequence (see warmUp). Events reach the stream after they happen, so every
// event of the window is stored after cutoff.
func (a *Aggregator) warmUpStream(ctx context.Context, cutoff, newest time.Time) error {
	s := a.sources[0]
	if s.committed == (eventlog.Position{}) {
		return nil
	}
	r, err := a.opt.Stream.OpenAt(cutoff, uint64(s.committed.Offset))
	if err != nil {
		return err
	}
	w := &warmSource{r: r, end: s.committed, name: s.name}
	defer r.Close()
	var n int64
	for {
		if err := a.advanceWarm(w, cutoff); err != nil {
			return err
		}
		if !w.has {
			break
		}
		a.fraud.judge(&w.ev)
		w.has = false
		n++
		if err := a.hook("warmup"); err != nil {
			return err
		}
		if n%65536 == 0 && ctx.Err() != nil {
			return ctx.Err()
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
	if r, ok := s.r.(interface{ Lag() uint64 }); ok {
		st.LagRecords = int64(r.Lag())
	}
	// Messages the stream dropped (its limits) before they were read: shown where a log's
	// missing segments are, and logged when the count grows.
	if r, ok := s.r.(interface{ Missing() uint64 }); ok {
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
}

// expect returns the committed positions the batch was read from: the compare-and-set of its
// flush (models.Batch.Expect).
func (b *batch) expect() []models.Offset {
	out := make([]models.Offset, 0, len(b.sources))
	for src, p := range b.sources {
		out = append(out, models.Offset{Source: src, Segment: p.base.Segment, Offset: p.base.Offset})
	}
	return out
}
