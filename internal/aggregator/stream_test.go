package aggregator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"adnet/models"
)

// memStream is an in-memory StreamSource: message i (0-based) has sequence i+1.
type memStream struct {
	mu   sync.Mutex
	msgs []StreamMessage
	upTo func() time.Time // see memReader.upTo
}

// oneHost is the stream of one host's shipper that published events in the order given,
// each stored when it happened.
func oneHost(events []models.Event) *memStream {
	ms := &memStream{}
	for _, ev := range events {
		ms.add(StreamMessage{Host: "h1", Stored: ev.Time, Event: ev})
	}
	return ms
}

// add appends m with the next sequence.
func (ms *memStream) add(m StreamMessage) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	m.Seq = uint64(len(ms.msgs) + 1)
	ms.msgs = append(ms.msgs, m)
}

func (ms *memStream) Name() string { return "stream/TEST" }

func (ms *memStream) Open(after uint64) (StreamReader, error) {
	return &memReader{m: ms, next: after, upTo: ms.upTo}, nil
}

func (ms *memStream) OpenAt(t time.Time, through uint64) (StreamReader, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	i := 0
	for i < len(ms.msgs) && ms.msgs[i].Stored.Before(t) {
		i++
	}
	return &memReader{m: ms, next: uint64(i), through: through, upTo: ms.upTo}, nil
}

type memReader struct {
	m             *memStream
	next, through uint64
	// upTo, when set, hides the messages stored after the time it returns: they have not
	// reached the stream yet.
	upTo func() time.Time
}

func (r *memReader) Next(m *StreamMessage) error {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if r.through > 0 && r.next >= r.through || r.next >= uint64(len(r.m.msgs)) ||
		r.upTo != nil && r.m.msgs[r.next].Stored.After(r.upTo()) {
		return io.EOF
	}
	*m = r.m.msgs[r.next]
	r.next++
	return nil
}

func (r *memReader) Close() error { return nil }

// TestStreamCrashRecovery: the consumer of the stream, killed at every step of a flush,
// resumes from the sequence committed with the aggregates and reaches the exact totals.
func TestStreamCrashRecovery(t *testing.T) {
	t.Parallel()
	cases := []crashCase{{"event", 150}, {"before-commit", 2}, {"after-commit", 1}, {"after-commit", 4}}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s-%d", c.point, c.n), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			w := e.workload(base, 300)
			ms := oneHost(w.events)
			opt := e.options(e.store)
			opt.Stream = ms
			crashing := e.newAgg(opt)
			crashing.hooks.crash = crashAt(c.point, c.n)
			if err := runToCrash(t, crashing); !errors.Is(err, errCrash) {
				t.Fatalf("Run returned %v, want the simulated crash", err)
			}
			if before := e.totals(); sameTotals(before, w.want) {
				t.Fatal("the crash came after everything was committed: it tests nothing")
			}
			stop := run(e.newAgg(opt))
			e.waitTotals(w.want)
			e.stays(w.want)
			must(t, stop())
			offs, err := e.store.LoadOffsets(context.Background())
			must(t, err)
			if o := offs[ms.Name()]; o.Offset != int64(len(ms.msgs)) || o.Segment != 0 {
				t.Errorf("committed stream position %d:%d, want 0:%d", o.Segment, o.Offset, len(ms.msgs))
			}
		})
	}
}

// TestStreamFlushFenced: an aggregator whose batch was read from a sequence another one has
// committed past (it lost its leadership) cannot commit it: the flush's compare-and-set fails,
// and the aggregator stops rather than count those events a second time.
func TestStreamFlushFenced(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.workload(base, 200)
	ms := oneHost(w.events)
	opt := e.options(e.store)
	opt.Stream = ms
	// The deposed one: holds its first batch at the moment of committing it...
	gate, release := make(chan struct{}), make(chan struct{})
	deposed := e.newAgg(opt)
	var once sync.Once
	deposed.hooks.crash = func(p string) error {
		if p == "before-commit" {
			once.Do(func() { close(gate); <-release })
		}
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- deposed.Run(context.Background()) }()
	<-gate
	// ...while its successor (on another host: its own data directory) counts everything.
	succ := opt
	succ.DataDir = t.TempDir()
	stop := run(e.newAgg(succ))
	e.waitTotals(w.want)
	must(t, stop())
	close(release)
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the deposed aggregator went on")
		}
		t.Logf("deposed aggregator stopped: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the deposed aggregator neither committed nor stopped")
	}
	e.stays(w.want)
}

// TestStreamHostsOutOfOrder: host A serves and logs the beacons, host B the clicks and
// conversions on them (the front moved the visitors), and A's link is down: its events reach
// the stream 8 s after B's. Applied in stream order, B's clicks would find no impression and
// its conversions no click; the aggregator applies them in event-time order once A's
// heartbeats say A has shipped, and the totals are exact — also when it is killed at any step
// of a flush and resumes from the committed sequence and release mark.
func TestStreamHostsOutOfOrder(t *testing.T) {
	t.Parallel()
	cases := []crashCase{{"", 0}, {"event", 150}, {"event", 700}, {"before-commit", 3}, {"after-commit", 1}, {"after-commit", 5}}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s-%d", c.point, c.n), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			w := e.workload(base, 300)
			ms, inverted := twoHosts(w.events, 8*time.Second)
			if inverted == 0 {
				t.Fatal("no click reaches the stream before its impression: the test shows nothing")
			}
			// The stream is replayed ten times faster than it was written.
			start := time.Now()
			clock := func() time.Time { return base.Add(-time.Second + 10*time.Since(start)) }
			ms.upTo = clock
			opt := e.options(e.store)
			opt.Stream = ms
			opt.ReorderWindow = 10 * time.Second
			if c.point != "" {
				crashing := e.newAgg(opt)
				crashing.hooks.crash = crashAt(c.point, c.n)
				crashing.hooks.streamNow = clock
				if err := runToCrash(t, crashing); !errors.Is(err, errCrash) {
					t.Fatalf("Run returned %v, want the simulated crash", err)
				}
			}
			a := e.newAgg(opt)
			a.hooks.streamNow = clock
			stop := run(a)
			e.waitTotals(w.want)
			e.stays(w.want)
			must(t, stop())
			st := a.reorder.Stats() // the aggregator's goroutine is done
			// Held: the last heartbeats' bound is two seconds short of the last events, which
			// wait for the window to pass on the idle stream's clock (they are counted, as
			// the totals show, once it has).
			if st.Late != 0 || st.Forced != 0 {
				t.Fatalf("reorder stats %+v: want no late, early-released or held event", st)
			}
			t.Logf("%d clicks and conversions reached the stream before their impression or click; reorder %+v", inverted, st)
		})
	}
}

// twoHosts makes the stream of two shippers: A ships the serve and impression events, B the
// others, each in time order with a heartbeat every second (through two seconds before it),
// and A's messages reach the stream delay late. It returns the stream and how many of B's
// clicks and conversions are stored before the impression they follow.
func twoHosts(events []models.Event, delay time.Duration) (*memStream, int) {
	type msg struct {
		m     StreamMessage
		ready time.Time
	}
	evs := slices.Clone(events)
	slices.SortStableFunc(evs, func(x, y models.Event) int { return x.Time.Compare(y.Time) })
	var all []msg
	for _, host := range []string{"a", "b"} {
		d := time.Duration(0)
		if host == "a" {
			d = delay
		}
		// Both hosts were heard from before A's link failed: their first heartbeats arrive on
		// time. (A host never heard from cannot hold the others back: nobody knows of it.)
		beat := evs[0].Time.Add(-time.Second)
		all = append(all, msg{StreamMessage{Host: host, Through: beat.Add(-2 * time.Second)}, beat})
		beat = beat.Add(time.Second)
		for _, ev := range evs {
			onA := ev.Type == models.EventServe || ev.Type == models.EventImpression
			if onA != (host == "a") {
				continue
			}
			for !beat.After(ev.Time) {
				all = append(all, msg{StreamMessage{Host: host, Through: beat.Add(-2 * time.Second)}, beat.Add(d)})
				beat = beat.Add(time.Second)
			}
			all = append(all, msg{StreamMessage{Host: host, Event: ev}, ev.Time.Add(d)})
		}
		for end := evs[len(evs)-1].Time.Add(5 * time.Second); beat.Before(end); beat = beat.Add(time.Second) {
			all = append(all, msg{StreamMessage{Host: host, Through: beat.Add(-2 * time.Second)}, beat.Add(d)})
		}
	}
	slices.SortStableFunc(all, func(x, y msg) int { return x.ready.Compare(y.ready) })
	ms := &memStream{}
	imps := map[models.ImpressionID]bool{}
	inverted := 0
	for _, x := range all {
		x.m.Stored = x.ready
		ms.add(x.m)
		if x.m.Through.IsZero() {
			switch x.m.Event.Type {
			case models.EventImpression:
				imps[x.m.Event.ImpressionID] = true
			case models.EventClick, models.EventConversion:
				if !imps[x.m.Event.ImpressionID] {
					inverted++
				}
			}
		}
	}
	return ms, inverted
}
