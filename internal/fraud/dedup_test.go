package fraud

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"adnet/models"
)

// base is a fixed, slot-aligned instant so that tests can place events at exact offsets
// within a slot.
var base = time.Unix(1_700_000_000, 0)

func randKey(rng *rand.Rand) [16]byte {
	var k [16]byte
	binary.LittleEndian.PutUint64(k[:8], rng.Uint64())
	binary.LittleEndian.PutUint64(k[8:], rng.Uint64())
	return k
}

func newDedup(t testing.TB, o DedupOptions) *Dedup {
	t.Helper()
	d, err := NewDedup(o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDedupWindowEdges checks both ends of the jumping window: an occurrence is remembered
// for at least Window (wherever in its slot it falls) and forgotten exactly when its slot
// leaves the window, at most Window*(1+1/Segments) later.
func TestDedupWindowEdges(t *testing.T) {
	const window = 10 * time.Second
	const segs = 10
	slot := window / segs
	for _, off := range []time.Duration{0, 1, slot / 2, slot - 1} {
		d := newDedup(t, DedupOptions{Window: window, Segments: segs, ExpectedPerWindow: 1000})
		key := [16]byte{1, 2, 3}
		t0 := base.Add(off)
		if d.SeenOrAdd(key, t0) {
			t.Fatalf("offset %v: first occurrence reported as duplicate", off)
		}
		// At least Window: every instant up to t0+Window-1ns still sees it.
		for _, dt := range []time.Duration{0, 1, window / 2, window - 1} {
			if !d.Seen(key, t0.Add(dt)) {
				t.Errorf("offset %v: forgotten after %v < Window", off, dt)
			}
		}
		// Forgotten when its slot leaves the window: slot start + (Segments+1) slots.
		forget := base.Add(window + slot)
		if !d.Seen(key, forget.Add(-1)) {
			t.Errorf("offset %v: forgotten before its slot left the window", off)
		}
		if d.Seen(key, forget) {
			t.Errorf("offset %v: still remembered at %v, more than Window*(1+1/Segments)", off, forget.Sub(t0))
		}
		if forget.Sub(t0) > window+window/segs {
			t.Errorf("offset %v: remembered for %v > Window*(1+1/Segments)", off, forget.Sub(t0))
		}
	}
}

// TestDedupChain: every occurrence is recorded, so occurrences each less than Window after
// the previous one are all duplicates even when the first one has long been forgotten.
func TestDedupChain(t *testing.T) {
	const window = time.Minute
	d := newDedup(t, DedupOptions{Window: window, ExpectedPerWindow: 1000})
	key := [16]byte{9}
	d.SeenOrAdd(key, base)
	for i := 1; i <= 10; i++ {
		if !d.SeenOrAdd(key, base.Add(time.Duration(i)*(window-time.Second))) {
			t.Fatalf("occurrence %d, Window-1s after the previous one, not a duplicate", i)
		}
	}
}

// TestDedupLateAndJumps: an event older than the newest seen counts in the newest slot; a
// jump forward past the whole window forgets everything.
func TestDedupLateAndJumps(t *testing.T) {
	const window = time.Minute
	d := newDedup(t, DedupOptions{Window: window, ExpectedPerWindow: 1000})
	a, b := [16]byte{1}, [16]byte{2}
	d.SeenOrAdd(a, base.Add(time.Hour))
	if d.SeenOrAdd(b, base) { // an hour late: recorded at the newest time
		t.Fatal("late first occurrence reported as duplicate")
	}
	if !d.Seen(b, base.Add(time.Hour+window-time.Second)) {
		t.Fatal("late occurrence not remembered from the newest time on")
	}
	if d.Seen(a, base.Add(3*time.Hour)) || d.Seen(b, base.Add(3*time.Hour)) {
		t.Fatal("a jump past the window did not forget")
	}
}

// TestDedupNoFalseNegatives replays a random stream at the design load in which a tenth of
// the events repeat a key seen less than Window earlier; every repeat must be caught.
func TestDedupNoFalseNegatives(t *testing.T) {
	const window = time.Minute
	const perWindow = 100_000
	d := newDedup(t, DedupOptions{Window: window, Segments: 6, ExpectedPerWindow: perWindow, FalsePositiveRate: 0.01})
	rng := rand.New(rand.NewPCG(7, 8))
	type occ struct {
		key [16]byte
		at  time.Time
	}
	var recent []occ // fresh keys, in time order
	step := window / perWindow
	now := base.Add(123 * time.Millisecond)
	repeats, missed, fresh, fps := 0, 0, 0, 0
	for i := 0; i < 3*perWindow; i++ {
		now = now.Add(step)
		if len(recent) > 0 && rng.IntN(10) == 0 {
			// Repeat a key whose first occurrence is less than Window ago.
			for len(recent) > 0 && now.Sub(recent[0].at) >= window {
				recent = recent[1:]
			}
			if len(recent) > 0 {
				o := recent[rng.IntN(len(recent))]
				repeats++
				if !d.SeenOrAdd(o.key, now) {
					missed++
				}
				continue
			}
		}
		k := randKey(rng)
		fresh++
		if d.SeenOrAdd(k, now) {
			fps++
		}
		recent = append(recent, occ{k, now})
	}
	if missed != 0 {
		t.Fatalf("%d of %d repeats within the window were missed (false negatives)", missed, repeats)
	}
	t.Logf("%d repeats within the window, all caught; %d false positives among %d fresh keys (%.4f%%)",
		repeats, fps, fresh, 100*float64(fps)/float64(fresh))
}

// TestDedupFalsePositiveRate fills a Dedup to its design load with distinct keys and then
// measures, at the worst moment (the current slot full too), how often never-seen keys are
// reported as duplicates.
func TestDedupFalsePositiveRate(t *testing.T) {
	for _, p := range []float64{0.01, 0.001} {
		measureFP(t, 10*time.Minute, 10, 300_000, p, 1_000_000)
	}
}

func measureFP(t *testing.T, window time.Duration, segs, perWindow int, p float64, probes int) {
	d := newDedup(t, DedupOptions{Window: window, Segments: segs, ExpectedPerWindow: perWindow, FalsePositiveRate: p})
	rng := rand.New(rand.NewPCG(uint64(perWindow), uint64(p*1e6)))
	slot := (window + time.Duration(segs) - 1) / time.Duration(segs)
	// Fill all Segments+1 live slots at the design rate (perWindow per Window), from the
	// first instant of the oldest to the last instant of the current one, then probe.
	n := perWindow * (segs + 1) / segs
	span := time.Duration(segs+1) * slot
	start := slotStart(slot)
	streamFP := 0
	for i := 0; i < n; i++ {
		if d.SeenOrAdd(randKey(rng), start.Add(time.Duration(float64(span)*float64(i)/float64(n)))) {
			streamFP++
		}
	}
	end := start.Add(span - 1)
	fp := 0
	for i := 0; i < probes; i++ {
		if d.Seen(randKey(rng), end) {
			fp++
		}
	}
	rate := float64(fp) / float64(probes)
	t.Logf("design %d/window, configured FP %.3g%%: predicted worst %.4f%%, measured worst %.4f%% (%d/%d), "+
		"average while filling from empty %.4f%%; k=%d, %.2f bytes/event in window (%.1f MB)",
		perWindow, 100*p, 100*d.DesignFalsePositiveRate(), 100*rate, fp, probes,
		100*float64(streamFP)/float64(n), d.BitsPerKey(),
		float64(d.MemoryBytes())/float64(perWindow), float64(d.MemoryBytes())/1e6)
	if rate > 1.5*p {
		t.Errorf("measured false-positive rate %.4f%% exceeds 1.5x the configured %.3g%%", 100*rate, 100*p)
	}
	if d.DesignFalsePositiveRate() > p {
		t.Errorf("predicted rate %.4g above the configured %.4g", d.DesignFalsePositiveRate(), p)
	}
}

// TestDedupDesignLoadFullScale repeats the measurement at the full design load of 15M events
// per 10-minute window (25,000 events/s). Skipped with -short (it takes several seconds).
func TestDedupDesignLoadFullScale(t *testing.T) {
	if testing.Short() {
		t.Skip("full-scale load test skipped with -short")
	}
	measureFP(t, 10*time.Minute, 10, 15_000_000, 0.001, 2_000_000)
}

// TestDedupConcurrentSameKey: 64 goroutines clicking one token at once, exactly one valid.
func TestDedupConcurrentSameKey(t *testing.T) {
	d := newDedup(t, DedupOptions{Window: time.Minute, ExpectedPerWindow: 10_000})
	rng := rand.New(rand.NewPCG(5, 6))
	for round := 0; round < 50; round++ {
		key := randKey(rng)
		var wg sync.WaitGroup
		var mu sync.Mutex
		firsts := 0
		start := make(chan struct{})
		for g := 0; g < 64; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if !d.SeenOrAdd(key, base.Add(time.Duration(round)*time.Millisecond)) {
					mu.Lock()
					firsts++
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		if firsts != 1 {
			t.Fatalf("round %d: %d of 64 concurrent SeenOrAdd calls got false, want exactly 1", round, firsts)
		}
	}
}

func TestDedupNoAlloc(t *testing.T) {
	d := newDedup(t, DedupOptions{Window: time.Minute, ExpectedPerWindow: 10_000})
	k := [16]byte{1}
	if n := testing.AllocsPerRun(100, func() { d.SeenOrAdd(k, base); d.Seen(k, base) }); n != 0 {
		t.Fatalf("SeenOrAdd allocates %v times", n)
	}
}

func TestDedupOptions(t *testing.T) {
	bad := []DedupOptions{
		{Window: 0, ExpectedPerWindow: 1},
		{Window: time.Minute, ExpectedPerWindow: 0},
		{Window: time.Minute, ExpectedPerWindow: 1, FalsePositiveRate: 0.7},
		{Window: time.Minute, ExpectedPerWindow: 1, Segments: -1},
		{Window: 5, Segments: 10, ExpectedPerWindow: 1},
	}
	for _, o := range bad {
		if _, err := NewDedup(o); models.ErrorCode(err) != models.EINVALID {
			t.Errorf("NewDedup(%+v) error = %v, want EINVALID", o, err)
		}
	}
	d := newDedup(t, DedupOptions{Window: time.Minute, ExpectedPerWindow: 1})
	if d.nf != 11 || d.DesignFalsePositiveRate() > 0.001 {
		t.Errorf("defaults: %d filters, predicted FP %g; want 11 and <= 0.001", d.nf, d.DesignFalsePositiveRate())
	}
}

// BenchmarkDedupSeenOrAdd runs at the full design size (15M events per 10-minute window,
// 0.1% false positives) with random keys, so every call misses the CPU caches as in
// production.
func BenchmarkDedupSeenOrAdd(b *testing.B) {
	d := newDedup(b, DedupOptions{Window: 10 * time.Minute, ExpectedPerWindow: 15_000_000, FalsePositiveRate: 0.001})
	rng := rand.New(rand.NewPCG(1, 1))
	keys := make([][16]byte, 1<<16)
	for i := range keys {
		keys[i] = randKey(rng)
	}
	step := 10 * time.Minute / 15_000_000
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := keys[i&(len(keys)-1)]
		k[0] ^= byte(i >> 16) // a new key every round through the table
		k[1] ^= byte(i >> 24)
		d.SeenOrAdd(k, base.Add(time.Duration(i)*step))
	}
	b.ReportMetric(float64(d.MemoryBytes())/15e6, "bytes/event")
}

// BenchmarkDedupParallel measures contention on the mutex with both cores busy.
func BenchmarkDedupParallel(b *testing.B) {
	d := newDedup(b, DedupOptions{Window: 10 * time.Minute, ExpectedPerWindow: 1_000_000})
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
		for pb.Next() {
			d.SeenOrAdd(randKey(rng), base)
		}
	})
}
