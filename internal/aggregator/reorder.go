package aggregator

import (
	"errors"
	"io"
	"math"
	"time"

	"adnet/internal/eventlog"
	"adnet/models"
)

// Defaults of the stream's reordering (see reorder).
const (
	// DefaultReorderWindow is how long (in the stream's time) the aggregator waits for a host
	// that stopped shipping before it applies the other hosts' later events without it.
	DefaultReorderWindow = 30 * time.Second
	minReorderHeld       = 1 << 16
	maxReorderHeld       = 1 << 20
)

// reorder applies the stream's events in event-time order rather than in the order the stream
// stored them. Each host's shipper publishes its own events in time order (it merges the
// host's worker logs like the aggregator merges them in file mode), but the hosts' streams
// interleave in the order they reached the stream: a host cut off for 20 seconds ships its
// backlog after the others' later events, and a shipper re-sends its unacknowledged window
// after a stream failover. Applied in stream order, a click shipped by host B before the
// beacon of its impression (served and beaconed on host A just before A's link failed) would
// be no_impression, and a conversion before its click no_click: money lost across hosts that
// one host never loses.
//
// So the reorder holds events and releases them by (event time, sequence) once their time is
// below the release bound: the oldest "through" time of the live hosts' heartbeats. A
// shipper's heartbeat (every second) says that every event of its host older than its through
// time is in the stream before the heartbeat; a host is live while its last message is less
// than window old in the stream's time. A host that stops shipping therefore holds the others
// back for window at most, and then no longer counts; its backlog, when it comes, is applied
// at once ("late"). An idle stream lets the wall clock stand in for the stream's time, so held
// events go within window even if every shipper is gone. At most maxHeld events are held
// (bounded memory); past that the oldest is released early.
//
// Exactly once: what was applied is not a prefix of the stream, so the position of each
// released event carries the state a restart needs (models.ReleaseMark, committed with the
// statistics). Invariant after every release: of the messages read (through readThrough), the
// applied events are exactly those ordered at or before the mark's (Time, Seq), and the held
// ones those after it; and the oldest held sequence minus one — the Position's Offset — has
// everything before it applied. A restart reads again after that Offset, skips what the mark
// covers, holds the rest, and releases nothing before it has read through the mark's
// readThrough again, so the mark can only grow past events it has seen.
type reorder struct {
	r       StreamReader
	window  time.Duration
	maxHeld int
	now     func() time.Time

	resume    models.ReleaseMark // what the committed mark says was applied
	resumed   bool               // read through resume.ReadThrough again: releases may start
	held      heldHeap
	seqs      []uint64            // sequences of held events, in read (= increasing) order
	gone      map[uint64]struct{} // released sequences still in seqs (not at its front)
	readThru  uint64              // the last sequence read
	bound     time.Time           // events older than this may be released; never goes back
	streamAt  time.Time           // the newest stored time read
	hosts     map[string]*hostClock
	mark      models.ReleaseMark // after the last event returned
	msg       StreamMessage      // scratch
	stats     ReorderStats
	lastEvent time.Time // the stream time of the last event read, for the status
}

// hostClock is what the reorder knows of one host's shipper.
type hostClock struct {
	through time.Time // from its latest heartbeat: every older event of the host was read
	seen    time.Time // stored time of its latest message
}

// ReorderStats are the counters of the stream's reordering by event time (Stats.Reorder).
type ReorderStats struct {
	Held     int    `json:"held"`                   // events waiting for their turn now
	MaxHeld  int    `json:"max_held"`               // the bound on held events (memory: about 200 bytes each)
	Late     int64  `json:"late"`                   // events that arrived after later events were applied (a host's backlog past the window)
	Forced   int64  `json:"forced"`                 // events released early because maxHeld were held
	Skipped  int64  `json:"resume_skipped"`         // events skipped after a restart: applied before it
	Hosts    int    `json:"hosts_live"`             // hosts whose shipper was heard from within the window
	BoundLag int64  `json:"bound_lag_ms"`           // how far the release bound is behind the stream's newest time
	Stalled  string `json:"held_back_by,omitempty"` // the host whose heartbeat sets the bound, when it lags by over 5 s
}

// newReorder wraps r, resuming from the committed mark.
func newReorder(r StreamReader, committed eventlog.Position, mark models.ReleaseMark, window time.Duration, maxHeld int, now func() time.Time) *reorder {
	o := &reorder{r: r, window: window, maxHeld: maxHeld, now: now, resume: mark, gone: map[uint64]struct{}{},
		hosts: map[string]*hostClock{}, readThru: uint64(committed.Offset), mark: mark, bound: mark.Time}
	o.mark.ReadThrough = max(mark.ReadThrough, o.readThru)
	o.resumed = o.readThru >= mark.ReadThrough
	o.stats.MaxHeld = maxHeld
	return o
}

// Mark is the release mark after the last event Next returned.
func (o *reorder) Mark() models.ReleaseMark { return o.mark }

// Next returns the next event in release order and the Position whose Offset has every
// message before it applied; io.EOF when none may be released now.
func (o *reorder) Next(ev *models.Event) (eventlog.Position, error) {
	for {
		if o.resumed && o.held.Len() > 0 && (o.releasable() || o.held.Len() > o.maxHeld) {
			if !o.releasable() {
				// Too many held: raise the bound just past the oldest (memory is bounded).
				o.bound = time.Unix(0, o.held.minTime()+1)
				o.stats.Forced++
			}
			seq := o.held.pop(ev)
			o.release(seq)
			o.mark = models.ReleaseMark{ReadThrough: o.readThru, Time: ev.Time, Seq: seq}
			return o.position(), nil
		}
		err := o.r.Next(&o.msg)
		if errors.Is(err, io.EOF) {
			// Nothing to read this moment. If the stream has nothing more, its time is the
			// wall clock's; a reader merely waiting for its next fetch while a backlog is
			// still in the stream (catching up) must not let the wall clock release it.
			if o.atEnd() && o.advance(true) && o.resumed && o.held.Len() > 0 && o.releasable() {
				continue
			}
			return eventlog.Position{}, io.EOF
		} else if err != nil {
			return eventlog.Position{}, err
		}
		m := &o.msg
		o.readThru = max(o.readThru, m.Seq)
		// Releases (late ones included) start after this message once the restart has read
		// through the committed mark's readThrough again: this one is held like the others,
		// and the loop then releases in order what the bound allows.
		mayRelease := o.resumed
		if !o.resumed && o.readThru >= o.resume.ReadThrough {
			o.resumed = true
		}
		o.learn(m)
		if !m.Through.IsZero() {
			o.advance(false)
			continue
		}
		o.lastEvent = m.Stored
		if o.resume.Applied(m.Seq, m.Event.Time) {
			o.stats.Skipped++
			continue
		}
		if mayRelease && m.Event.Time.Before(o.bound) {
			// Late: later events were applied already. It goes now; the mark's time moves up
			// to the bound, below which nothing is held (the loop released it all before
			// reading).
			*ev = m.Event
			o.stats.Late++
			if k := (models.ReleaseMark{Time: o.bound}); o.mark.Time.Before(k.Time) {
				o.mark.Time, o.mark.Seq = k.Time, 0
			}
			o.mark.ReadThrough = o.readThru
			return o.position(), nil
		}
		o.held.push(&m.Event, m.Seq)
		o.seqs = append(o.seqs, m.Seq)
	}
}

// learn takes in what m says of its host's shipper: when it was last heard of and, from a
// heartbeat, its through time. After a restart the warm-up feeds it the stream's messages
// before the resume point too (it reads them anyway), so that a host silent at that moment
// holds the others back as it did before the restart, rather than being unknown.
func (o *reorder) learn(m *StreamMessage) {
	if m.Stored.After(o.streamAt) {
		o.streamAt = m.Stored
	}
	hc := o.hosts[m.Host]
	if hc == nil {
		hc = &hostClock{}
		o.hosts[m.Host] = hc
	}
	if m.Stored.After(hc.seen) {
		hc.seen = m.Stored
	}
	if m.Through.After(hc.through) {
		hc.through = m.Through
	}
}

// atEnd reports whether the stream holds nothing after the last message read, as far as the
// reader knows (a reader that cannot tell is taken at its word: io.EOF is the end).
func (o *reorder) atEnd() bool {
	if r, ok := o.r.(interface{ Lag() uint64 }); ok {
		return r.Lag() == 0
	}
	return true
}

// releasable reports whether the first held event is older than the bound (the heap must not
// be empty).
func (o *reorder) releasable() bool { return o.held.minTime() < unixNanos(o.bound) }

// release forgets seq among the held sequences.
func (o *reorder) release(seq uint64) {
	if len(o.seqs) == 0 || o.seqs[0] != seq {
		o.gone[seq] = struct{}{}
		return
	}
	o.seqs = o.seqs[1:]
	for len(o.seqs) > 0 {
		if _, ok := o.gone[o.seqs[0]]; !ok {
			break
		}
		delete(o.gone, o.seqs[0])
		o.seqs = o.seqs[1:]
	}
	if len(o.seqs) == 0 && cap(o.seqs) > minReorderHeld {
		o.seqs = o.seqs[:0:0] // let a large drained backing array go
	}
}

// position is the Position to commit with the last event returned: every message up to its
// Offset was applied (the oldest held one is after it).
func (o *reorder) position() eventlog.Position {
	if len(o.seqs) > 0 {
		return eventlog.Position{Offset: int64(o.seqs[0] - 1)}
	}
	return eventlog.Position{Offset: int64(o.readThru)}
}

// advance recomputes the release bound and reports whether it moved. idle: the stream had
// nothing more, so the wall clock stands in for its time.
func (o *reorder) advance(idle bool) bool {
	at := o.streamAt
	if idle {
		if now := o.now(); now.After(at) {
			at = now
		}
	}
	if at.IsZero() {
		return false
	}
	floor := at.Add(-o.window)
	bound, live, by := time.Time{}, 0, ""
	for name, h := range o.hosts {
		if h.seen.Before(floor) {
			if h.seen.Before(floor.Add(-time.Hour)) {
				delete(o.hosts, name) // long gone: keep the map small
			}
			continue
		}
		live++
		t := h.through
		if t.IsZero() {
			t = floor // no heartbeat yet: it may still ship anything within the window
		}
		if bound.IsZero() || t.Before(bound) {
			bound, by = t, name
		}
	}
	if bound.Before(floor) {
		bound = floor
	}
	o.stats.Hosts = live
	if lag := at.Sub(bound); lag > 5*time.Second {
		o.stats.Stalled = by
	} else {
		o.stats.Stalled = ""
	}
	o.stats.BoundLag = at.Sub(bound).Milliseconds()
	if !bound.After(o.bound) {
		return false
	}
	o.bound = bound
	return true
}

// Stats returns the reorder's counters.
func (o *reorder) Stats() ReorderStats {
	st := o.stats
	st.Held = o.held.Len()
	return st
}

// Close closes the stream reader.
func (o *reorder) Close() error { return o.r.Close() }

// heldHeap holds the events waiting in the reorder: the events in a slab, and a min-heap of
// small keys (time, sequence, slot) over it, so that sifting moves 24 bytes rather than a
// 200-byte event. Written out rather than through container/heap, whose interface would
// allocate at every push. Slots are reused: no allocation once the slab has grown.
type heldHeap struct {
	keys   []heldKey
	events []models.Event
	free   []uint32
}

// heldKey orders one held event: its time (Unix ns), its sequence and its slot in the slab.
type heldKey struct {
	t    int64
	seq  uint64
	slot uint32
}

func (k heldKey) less(o heldKey) bool { return k.t < o.t || k.t == o.t && k.seq < o.seq }

// unixNanos is t in Unix nanoseconds, with the zero time first of all.
func unixNanos(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixNano()
}

// Len is the number of held events.
func (h *heldHeap) Len() int { return len(h.keys) }

// minTime is the time of the first event in order, in Unix ns (the heap must not be empty).
func (h *heldHeap) minTime() int64 { return h.keys[0].t }

// push holds a copy of *ev, the message seq.
func (h *heldHeap) push(ev *models.Event, seq uint64) {
	var slot uint32
	if n := len(h.free); n > 0 {
		slot = h.free[n-1]
		h.free = h.free[:n-1]
		h.events[slot] = *ev
	} else {
		slot = uint32(len(h.events))
		h.events = append(h.events, *ev)
	}
	h.keys = append(h.keys, heldKey{t: unixNanos(ev.Time), seq: seq, slot: slot})
	a := h.keys
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 2
		if !a[i].less(a[p]) {
			break
		}
		a[i], a[p] = a[p], a[i]
		i = p
	}
}

// pop moves the first event in order into *ev and returns its sequence.
func (h *heldHeap) pop(ev *models.Event) uint64 {
	a := h.keys
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	for i := 0; ; {
		l, small := 2*i+1, i
		if l < n && a[l].less(a[small]) {
			small = l
		}
		if r := l + 1; r < n && a[r].less(a[small]) {
			small = r
		}
		if small == i {
			break
		}
		a[i], a[small] = a[small], a[i]
		i = small
	}
	h.keys = a
	*ev = h.events[top.slot]
	h.events[top.slot] = models.Event{} // drop its string
	h.free = append(h.free, top.slot)
	if n == 0 && cap(h.events) > minReorderHeld {
		*h = heldHeap{} // let a large drained slab go
	}
	return top.seq
}

// reorderHeld returns the bound on held events for a design load (events per second) and a
// window: the window's events at the design load, within [2^16, 2^20] (13 to 210 MB).
func reorderHeld(eventsPerSec int, window time.Duration) int {
	return min(max(int(float64(eventsPerSec)*window.Seconds()), minReorderHeld), maxReorderHeld)
}
