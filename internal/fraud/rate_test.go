package fraud

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"adnet/models"
)

func newRate(t testing.TB, window time.Duration, segs, capacity int) *RateCounter {
	t.Helper()
	r, err := NewRateCounter(window, segs, capacity)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRateCounterWindowEdges(t *testing.T) {
	const window = 10 * time.Second
	const segs = 10
	slot := window / segs
	for _, off := range []time.Duration{0, 1, slot / 2, slot - 1} {
		r := newRate(t, window, segs, 1000)
		key := [16]byte{7}
		t0 := base.Add(off)
		if n := r.Add(key, t0); n != 1 {
			t.Fatalf("offset %v: first Add = %d, want 1", off, n)
		}
		if n := r.Add(key, t0.Add(window-1)); n != 2 {
			t.Errorf("offset %v: Add Window-1ns later = %d, want 2 (the first still counted)", off, n)
		}
		// The first event's slot leaves the window Segments+1 slots after it began.
		forget := base.Add(window + slot)
		if n := r.Count(key, forget.Add(-1)); n != 2 {
			t.Errorf("offset %v: Count just before the first slot leaves = %d, want 2", off, n)
		}
		if n := r.Count(key, forget); n != 1 {
			t.Errorf("offset %v: Count once the first slot left = %d, want 1", off, n)
		}
		if n := r.Count(key, base.Add(time.Hour)); n != 0 {
			t.Errorf("offset %v: Count an hour later = %d, want 0", off, n)
		}
	}
}

// rateModel is the exact reference: it keeps every event with its effective slot (late
// events count in the newest slot, as in RateCounter) and saturates per-slot counts.
type rateModel struct {
	slotNs int64
	segs   int64
	clock  int64
	events map[[16]byte][]int64
}

func (m *rateModel) add(key [16]byte, t time.Time) uint32 {
	s := floorDiv(t.UnixNano(), m.slotNs)
	if s > m.clock {
		m.clock = s
	}
	m.events[key] = append(m.events[key], m.clock)
	perSlot := map[int64]uint32{}
	for _, e := range m.events[key] {
		if e >= m.clock-m.segs {
			perSlot[e] = min(perSlot[e]+1, rateCountMax) // per-slot counts saturate
		}
	}
	n := uint32(0)
	for _, c := range perSlot {
		n += c
	}
	return n
}

// TestRateCounterExactBelowCapacity compares Add with the exact model on a random stream of
// bursty keys, with slightly out-of-order times, below capacity.
func TestRateCounterExactBelowCapacity(t *testing.T) {
	const window = time.Minute
	const segs = 6
	r := newRate(t, window, segs, 50_000)
	m := &rateModel{slotNs: r.slotNs, segs: segs, events: map[[16]byte][]int64{}}
	rng := rand.New(rand.NewPCG(11, 12))
	keys := make([][16]byte, 2000)
	for i := range keys {
		keys[i] = randKey(rng)
	}
	now := base
	maxSeen := uint32(0)
	for i := 0; i < 60_000; i++ {
		now = now.Add(time.Duration(rng.IntN(10)) * time.Millisecond / 2)
		at := now.Add(-time.Duration(rng.IntN(500)) * time.Millisecond) // up to 0.5s late
		// Zipf-like: a few keys are hot (flooders), most are rare.
		k := keys[int(math.Pow(rng.Float64(), 3)*float64(len(keys)))]
		got, want := r.Add(k, at), m.add(k, at)
		if got != want {
			t.Fatalf("event %d: Add = %d, exact count %d", i, got, want)
		}
		maxSeen = max(maxSeen, got)
	}
	if r.Overflowed() != 0 {
		t.Fatalf("overflowed below capacity: %d", r.Overflowed())
	}
	t.Logf("60000 events over %v: all counts exact (largest %d)", now.Sub(base), maxSeen)
}

// TestRateCounterOverflow drives one slot far past its capacity: counts must never be
// under-counted, and the over-count stays within the count-min bound.
func TestRateCounterOverflow(t *testing.T) {
	r := newRate(t, time.Minute, 10, 10_000) // 1000 keys per slot
	rng := rand.New(rand.NewPCG(13, 14))
	truth := map[[16]byte]uint32{}
	keys := make([][16]byte, 20_000)
	for i := range keys {
		keys[i] = randKey(rng)
	}
	for i := 0; i < 60_000; i++ {
		k := keys[rng.IntN(len(keys))]
		truth[k]++
		if got := r.Add(k, base); got < truth[k] {
			t.Fatalf("under-count: Add = %d, true %d", got, truth[k])
		}
	}
	if r.Overflowed() == 0 {
		t.Fatal("no overflow reported past capacity")
	}
	tb := &r.tables[modPos(r.cur, int64(len(r.tables)))]
	bound := math.E * float64(r.Overflowed()) / float64(tb.cmsW)
	over, beyond, maxOver := 0, 0, uint32(0)
	for k, n := range truth {
		got := r.Count(k, base)
		if got < n {
			t.Fatalf("under-count: Count = %d, true %d", got, n)
		}
		if got > n {
			over++
			maxOver = max(maxOver, got-n)
		}
		if float64(got-n) > bound {
			beyond++
		}
	}
	frac := float64(beyond) / float64(len(truth))
	t.Logf("%d events, %d keys, %d counted in the sketch: %d keys over-counted (max +%d), %.3f%% beyond the bound e*N/w=%.1f",
		60_000, len(truth), r.Overflowed(), over, maxOver, 100*frac, bound)
	if frac > math.Exp(-rateCMSRows) {
		t.Errorf("%.3f%% of keys exceed the count-min bound, more than e^-%d", 100*frac, rateCMSRows)
	}
}

func TestRateCounterSaturation(t *testing.T) {
	r := newRate(t, time.Minute, 10, 1000)
	k := [16]byte{3}
	var n uint32
	for i := 0; i < 300; i++ {
		n = r.Add(k, base)
	}
	if n != rateCountMax {
		t.Fatalf("after 300 events in one slot, count = %d, want saturation at %d", n, rateCountMax)
	}
	if n = r.Add(k, base.Add(6*time.Second)); n != rateCountMax+1 {
		t.Fatalf("next slot: count = %d, want %d", n, rateCountMax+1)
	}
}

func TestRateCounterConcurrent(t *testing.T) {
	r := newRate(t, time.Minute, 10, 1000)
	k := [16]byte{4}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				r.Add(k, base)
			}
		}()
	}
	wg.Wait()
	if n := r.Count(k, base); n != 200 {
		t.Fatalf("count after 8x25 concurrent Adds = %d, want 200", n)
	}
}

func TestRateCounterArgs(t *testing.T) {
	for _, a := range []struct {
		w    time.Duration
		s, c int
	}{{0, 10, 1}, {time.Minute, 0, 1}, {time.Minute, 10, 0}, {5, 10, 1}} {
		if _, err := NewRateCounter(a.w, a.s, a.c); models.ErrorCode(err) != models.EINVALID {
			t.Errorf("NewRateCounter(%v, %d, %d) error = %v, want EINVALID", a.w, a.s, a.c, err)
		}
	}
	r := newRate(t, time.Minute, 10, 1000)
	k := [16]byte{1}
	if n := testing.AllocsPerRun(100, func() { r.Add(k, base) }); n != 0 {
		t.Fatalf("Add allocates %v times", n)
	}
}

// BenchmarkRateCounterAdd runs at a design size of 1.5M events per 10-minute window with
// random keys (every Add misses the caches).
func BenchmarkRateCounterAdd(b *testing.B) {
	r := newRate(b, 10*time.Minute, 10, 1_500_000)
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([][16]byte, 1<<16)
	for i := range keys {
		keys[i] = randKey(rng)
	}
	step := 10 * time.Minute / 1_500_000
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := keys[i&(len(keys)-1)]
		k[0] ^= byte(i >> 16)
		r.Add(k, base.Add(time.Duration(i)*step))
	}
	b.ReportMetric(float64(r.MemoryBytes())/1.5e6, "bytes/event")
}
