package aggregator

import (
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"adnet/internal/eventlog"
	"adnet/models"
)

// crashesPerStream is how many times each random stream's consumer is killed and resumed.
const crashesPerStream = 30

var rt0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// evAt is an event of time rt0+ms whose impression id carries n, to tell events apart.
func evAt(ms int, n uint64) models.Event {
	ev := models.Event{Type: models.EventImpression, Time: rt0.Add(time.Duration(ms) * time.Millisecond)}
	for i := range 8 {
		ev.ImpressionID[8+i] = byte(n >> (56 - 8*i))
	}
	return ev
}

func idOf(ev *models.Event) uint64 {
	var n uint64
	for i := range 8 {
		n = n<<8 | uint64(ev.ImpressionID[8+i])
	}
	return n
}

// drain reads every event the reorder releases now.
func drain(t *testing.T, o *reorder) []models.Event {
	t.Helper()
	var out []models.Event
	for {
		var ev models.Event
		_, err := o.Next(&ev)
		if errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
}

func beat(host string, storedMs, throughMs int) StreamMessage {
	return StreamMessage{Host: host, Stored: rt0.Add(time.Duration(storedMs) * time.Millisecond),
		Through: rt0.Add(time.Duration(throughMs) * time.Millisecond)}
}

func evMsg(host string, storedMs, ms int, n uint64) StreamMessage {
	return StreamMessage{Host: host, Stored: rt0.Add(time.Duration(storedMs) * time.Millisecond), Event: evAt(ms, n)}
}

// TestReorderWaitsForTheSlowestHost: host B's later events reach the stream before host A's
// earlier ones (A's link was down); they are applied only once A's heartbeat says A shipped
// everything older, and then in event-time order — the beacon on A before the click on B.
func TestReorderWaitsForTheSlowestHost(t *testing.T) {
	ms := &memStream{}
	ms.add(beat("a", 0, 0))
	ms.add(beat("b", 0, 0))
	// A's beacon at 900 ms is stuck on A; B ships the click on it (1,500 ms) and more.
	ms.add(evMsg("b", 1600, 1500, 2))
	ms.add(evMsg("b", 2100, 2000, 3))
	ms.add(beat("b", 4000, 3000))
	now := rt0.Add(5 * time.Second)
	o := newReorder(&memReader{m: ms}, eventlog.Position{}, models.ReleaseMark{}, 30*time.Second, 1000, func() time.Time { return now })
	if got := drain(t, o); len(got) != 0 {
		t.Fatalf("released %d events while host a (live, through 0 s) may still ship earlier ones", len(got))
	}
	if st := o.Stats(); st.Held != 2 || st.Hosts != 2 || st.Stalled != "" {
		t.Fatalf("stats %+v", st)
	}
	// A comes back: its backlog, then its heartbeat.
	ms.add(evMsg("a", 9000, 900, 1))
	ms.add(evMsg("a", 9000, 2500, 4))
	ms.add(beat("a", 9000, 8000))
	now = rt0.Add(9 * time.Second)
	got := drain(t, o)
	var ids []uint64
	for i := range got {
		ids = append(ids, idOf(&got[i]))
	}
	if len(ids) != 4 || ids[0] != 1 || ids[1] != 2 || ids[2] != 3 || ids[3] != 4 {
		t.Fatalf("released %v, want [1 2 3 4] (event-time order)", ids)
	}
	if o.Stats().Late != 0 {
		t.Fatalf("late %d, want 0", o.Stats().Late)
	}
}

// TestReorderGivesUpOnASilentHost: a host silent for the window no longer holds the others
// back; its backlog, when it comes, is applied at once (late) and nothing is lost.
func TestReorderGivesUpOnASilentHost(t *testing.T) {
	ms := &memStream{}
	ms.add(beat("a", 0, 0))
	ms.add(beat("b", 0, 0))
	ms.add(evMsg("b", 1000, 1000, 1))
	now := rt0.Add(2 * time.Second)
	o := newReorder(&memReader{m: ms}, eventlog.Position{}, models.ReleaseMark{}, 10*time.Second, 1000, func() time.Time { return now })
	for s := 2; s <= 9; s++ {
		ms.add(beat("b", s*1000, s*1000-500))
	}
	now = rt0.Add(9 * time.Second)
	if got := drain(t, o); len(got) != 0 {
		t.Fatalf("released %d events within the window of silent host a", len(got))
	}
	if st := o.Stats(); st.Stalled != "a" {
		t.Fatalf("held back by %q, want a", st.Stalled)
	}
	for s := 10; s <= 12; s++ {
		ms.add(beat("b", s*1000, s*1000-500))
	}
	now = rt0.Add(12 * time.Second)
	if got := drain(t, o); len(got) != 1 {
		t.Fatalf("released %d events after host a's window, want 1", len(got))
	}
	ms.add(evMsg("a", 13000, 500, 2))
	if got := drain(t, o); len(got) != 1 || idOf(&got[0]) != 2 {
		t.Fatalf("a's backlog: released %d", len(got))
	}
	if st := o.Stats(); st.Late != 1 {
		t.Fatalf("late %d, want 1", st.Late)
	}
}

// TestReorderIdleStreamReleasesByWallClock: with no message at all (every shipper gone),
// the held events go once the window has passed on the wall clock.
func TestReorderIdleStreamReleasesByWallClock(t *testing.T) {
	ms := &memStream{}
	ms.add(evMsg("a", 0, 0, 1))
	now := rt0.Add(time.Second)
	o := newReorder(&memReader{m: ms}, eventlog.Position{}, models.ReleaseMark{}, 10*time.Second, 1000, func() time.Time { return now })
	if got := drain(t, o); len(got) != 0 {
		t.Fatal("released before the window")
	}
	now = rt0.Add(11 * time.Second)
	if got := drain(t, o); len(got) != 1 {
		t.Fatalf("released %d after the window, want 1", len(got))
	}
}

// TestReorderResumesExactlyOnce: hosts ship interleaved and out of order (backlogs of up to
// 8 s), with heartbeats; the consumer is "killed" after random releases and resumed from the
// last Position and mark it returned — as committed with a batch — again and again. Every
// event is applied exactly once. With a window longer than the backlogs and room to hold
// them, every event is applied in event-time order, restarts included; with a short window
// and a small bound on held events (late and early-released events), still exactly once.
func TestReorderResumesExactlyOnce(t *testing.T) {
	t.Run("ordered", func(t *testing.T) {
		outOfOrder, late, forced := reorderCrashes(t, 10*time.Second, 1<<20)
		if outOfOrder != 0 || late != 0 || forced != 0 {
			t.Fatalf("%d events applied after a later one (%d late, %d released early), want 0", outOfOrder, late, forced)
		}
	})
	t.Run("short-window", func(t *testing.T) {
		outOfOrder, late, forced := reorderCrashes(t, 3*time.Second, 0)
		if late == 0 || forced == 0 {
			t.Fatal("the streams had no late or no early-released events: the test does not cover them")
		}
		if outOfOrder > late+forced {
			t.Fatalf("%d events applied out of order, more than the %d late and %d forced", outOfOrder, late, forced)
		}
	})
}

// reorderCrashes runs 200 random streams through reorders that crash and resume (maxHeld 0:
// a random small bound) and checks that each event is applied exactly once.
func reorderCrashes(t *testing.T, window time.Duration, maxHeld int) (outOfOrder, late, forced int64) {
	var total int64
	for seed := uint64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		ms, want := randomStream(rng)
		applied := map[uint64]int{}
		var pos eventlog.Position
		var mark models.ReleaseMark
		end := ms.msgs[len(ms.msgs)-1].Stored.Add(10 * time.Second)
		now := rt0
		clock := func() time.Time { return now }
		held := maxHeld
		if held == 0 {
			held = 5 + rng.IntN(60)
		}
		var last models.Event
		for restarts := 0; ; restarts++ {
			o := newReorder(&memReader{m: ms, next: uint64(pos.Offset), upTo: clock}, pos, mark, window, held, clock)
			// What the warm-up does: the reorder learns the hosts' clocks from the messages
			// up to the mark's readThrough.
			for i := 0; i < len(ms.msgs) && ms.msgs[i].Seq <= max(uint64(pos.Offset), mark.ReadThrough); i++ {
				o.learn(&ms.msgs[i])
			}
			// Reads as the messages reach the stream, until the wall clock is past them all
			// by more than the window, or a crash.
			crashAfter := rng.IntN(40)
			crashed := false
			for {
				var ev models.Event
				p, err := o.Next(&ev)
				if errors.Is(err, io.EOF) {
					if now.After(end) {
						break
					}
					now = now.Add(time.Duration(50+rng.IntN(400)) * time.Millisecond)
					continue
				} else if err != nil {
					t.Fatal(err)
				}
				if ev.Time.Before(last.Time) {
					outOfOrder++
				}
				last = ev
				applied[idOf(&ev)]++
				pos, mark = p, o.Mark()
				if restarts < crashesPerStream && crashAfter == 0 {
					crashed = true
					break
				}
				crashAfter--
			}
			st := o.Stats()
			late, forced = late+st.Late, forced+st.Forced
			if !crashed {
				break
			}
		}
		total += int64(len(want))
		for id := range want {
			if applied[id] != 1 {
				t.Fatalf("seed %d: event %d applied %d times", seed, id, applied[id])
			}
		}
		if len(applied) != len(want) {
			t.Fatalf("seed %d: %d events applied, %d shipped", seed, len(applied), len(want))
		}
	}
	t.Logf("%d events: %d applied after a later one, %d late, %d released early (bound on held events)", total, outOfOrder, late, forced)
	return outOfOrder, late, forced
}

// randomStream returns a stream of 3 hosts' events and heartbeats as shippers make them: each
// host ships its events in time order, through a link with its own delays (backlogs of up to
// 8 s, the messages keeping their order), and sends a heartbeat every second saying that its
// events older than two seconds before it are shipped (the shipper's watermark).
func randomStream(rng *rand.Rand) (*memStream, map[uint64]bool) {
	type pending struct {
		m     StreamMessage
		ready int // stored at (ms)
	}
	var all []pending
	want := map[uint64]bool{}
	n := uint64(0)
	for _, host := range []string{"a", "b", "c"} {
		delay, lastReady, nextBeat := 0, 0, 0
		send := func(m StreamMessage, created int) {
			ready := max(created+delay+rng.IntN(50), lastReady)
			lastReady = ready
			all = append(all, pending{m: m, ready: ready})
		}
		for ms := 0; ms < 20000; ms += 10 + rng.IntN(200) {
			for nextBeat <= ms {
				send(StreamMessage{Host: host, Through: rt0.Add(time.Duration(nextBeat-2000) * time.Millisecond)}, nextBeat)
				nextBeat += 1000
			}
			if ms > 2000 && rng.IntN(40) == 0 {
				delay = rng.IntN(8000) // a link cut or a failover: the backlog arrives later
			} else if delay > 0 && rng.IntN(10) == 0 {
				delay = 0
			}
			n++
			want[n] = true
			send(StreamMessage{Host: host, Event: evAt(ms, n)}, ms)
		}
	}
	// The stream stores messages by the time they reach it; each host's keep their order.
	slices.SortStableFunc(all, func(x, y pending) int { return x.ready - y.ready })
	ms := &memStream{}
	for _, p := range all {
		p.m.Stored = rt0.Add(time.Duration(p.ready) * time.Millisecond)
		ms.add(p.m)
	}
	return ms, want
}

// behindReader is a stream reader momentarily empty while the stream still holds a backlog.
type behindReader struct {
	StreamReader
	lag uint64
}

func (r *behindReader) Lag() uint64 { return r.lag }

// TestReorderCatchingUpIgnoresWallClock: catching up on an hour-old backlog, a reader that is
// momentarily empty is not the end of the stream: the wall clock does not release held
// events past the hosts' heartbeats; at the end of the stream it does.
func TestReorderCatchingUpIgnoresWallClock(t *testing.T) {
	ms := &memStream{}
	ms.add(beat("a", 0, 0))
	ms.add(beat("b", 0, 0))
	ms.add(evMsg("b", 1000, 1000, 1))
	ms.add(beat("b", 2000, 1500))
	now := rt0.Add(time.Hour)
	r := &behindReader{StreamReader: &memReader{m: ms}, lag: 5000}
	o := newReorder(r, eventlog.Position{}, models.ReleaseMark{}, 10*time.Second, 1000, func() time.Time { return now })
	if got := drain(t, o); len(got) != 0 {
		t.Fatalf("released %d events while host a may still ship earlier ones further on in the backlog", len(got))
	}
	r.lag = 0
	if got := drain(t, o); len(got) != 1 {
		t.Fatalf("released %d events at the end of the stream, an hour after them; want 1", len(got))
	}
}

// BenchmarkReorder: what ordering the stream by event time costs per event — three hosts'
// interleaved events, out of order by up to 200 ms, and their heartbeats; ns and allocations
// per event released (the reader's own cost is excluded: messages are pre-built). Compare
// with BenchmarkProcess (the verdicts and aggregation of one event) in the same run.
func BenchmarkReorder(b *testing.B) {
	const n = 1 << 16
	ms := &memStream{}
	for i := range n {
		host := []string{"a", "b", "c"}[i%3]
		at := i*10 - (i%3)*200 // host b and c lag a by 200 and 400 ms
		ms.add(evMsg(host, i*10, at, uint64(i)))
		if i%300 == 299 {
			for _, h := range []string{"a", "b", "c"} {
				ms.add(beat(h, i*10, i*10-2000))
			}
		}
	}
	now := rt0.Add(time.Hour)
	clock := func() time.Time { return now }
	b.ReportAllocs()
	b.ResetTimer()
	released := 0
	for released < b.N {
		o := newReorder(&memReader{m: ms}, eventlog.Position{}, models.ReleaseMark{}, 30*time.Second, 1<<20, clock)
		var ev models.Event
		for released < b.N {
			if _, err := o.Next(&ev); err != nil {
				break
			}
			released++
		}
	}
}
