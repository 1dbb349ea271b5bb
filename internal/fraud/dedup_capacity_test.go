package fraud

import (
	"math/rand/v2"
	"testing"
	"time"
)

// slotStart returns the first instant of a slot of the given length at or after base, so that
// Segments+1 slots from it are exactly the live slots (base itself is 20 s into a minute).
func slotStart(slot time.Duration) time.Time {
	return time.Unix(0, (floorDiv(base.UnixNano()-1, int64(slot))+1)*int64(slot))
}

// overload fills a Dedup with distinct keys at load times its design rate over all
// Segments+1 live slots (the worst moment: the current slot about to end) and returns the
// share of those fresh keys it called duplicates on the way (the stream's false positives)
// and the share of never-seen probes it calls duplicates at the end.
func overload(t *testing.T, d *Dedup, o DedupOptions, load float64, probes int) (stream, worst float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(o.ExpectedPerWindow), uint64(load*1000)))
	slot := (o.Window + time.Duration(o.Segments) - 1) / time.Duration(o.Segments)
	n := int(load * float64(o.ExpectedPerWindow) * float64(o.Segments+1) / float64(o.Segments))
	span := time.Duration(o.Segments+1) * slot
	start := slotStart(slot)
	fp := 0
	for i := 0; i < n; i++ {
		if d.SeenOrAdd(randKey(rng), start.Add(time.Duration(float64(span)*float64(i)/float64(n)))) {
			fp++
		}
	}
	end := start.Add(span - 1)
	pfp := 0
	for i := 0; i < probes; i++ {
		if d.Seen(randKey(rng), end) {
			pfp++
		}
	}
	return float64(fp) / float64(n), float64(pfp) / float64(probes)
}

// TestDedupAboveDesignLoad drives Dedups at three times their design load with distinct keys
// (every "seen" is a false positive) and checks that the false-positive rate, both along the
// stream and at the worst moment, stays at most the configured bound: above its design load
// a Dedup stops recording (degrades toward counting) instead of filling up. Without the
// saturation limit (before it) the rate at 3x was many times the bound.
func TestDedupAboveDesignLoad(t *testing.T) {
	for _, p := range []float64{0.01, 0.001} {
		o := DedupOptions{Window: 10 * time.Minute, Segments: 10, ExpectedPerWindow: 300_000, FalsePositiveRate: p}
		d := newDedup(t, o)
		stream, worst := overload(t, d, o, 3, 2_000_000)
		t.Logf("bound %.3g%%, 3x design load: %.4f%% of the fresh keys called duplicates along the stream, %.4f%% of never-seen probes at the worst moment",
			100*p, 100*stream, 100*worst)
		if stream > p || worst > p {
			t.Errorf("bound %.3g%%: at 3x the design load the false-positive rate reached %.4f%% (stream) / %.4f%% (worst moment)",
				100*p, 100*stream, 100*worst)
		}
	}
}

// TestDedupSaturationReported: at 3x the design load the filters say they are saturated, the
// refused occurrences are counted, "not seen" answers are flagged incomplete, and the
// estimated false-positive rate (from the fill) agrees with the one measured.
func TestDedupSaturationReported(t *testing.T) {
	o := DedupOptions{Window: 10 * time.Minute, Segments: 10, ExpectedPerWindow: 300_000, FalsePositiveRate: 0.01}
	d := newDedup(t, o)
	_, worst := overload(t, d, o, 3, 1_000_000)
	st := d.Stats()
	t.Logf("3x design: %+v; measured worst %.4f%%", st, 100*worst)
	if st.SaturatedSegments != o.Segments+1 {
		t.Errorf("%d saturated segments, want all %d", st.SaturatedSegments, o.Segments+1)
	}
	// 3x the load: about two thirds of the occurrences found their filter saturated.
	n := 3 * o.ExpectedPerWindow * (o.Segments + 1) / o.Segments
	if r := float64(st.Unrecorded) / float64(n); r < 0.6 || r > 0.7 {
		t.Errorf("unrecorded %d of %d (%.2f), want about 2/3", st.Unrecorded, n, r)
	}
	if st.SegmentCapacityUsed < 0.99 || st.FalsePositiveRate > st.Bound {
		t.Errorf("capacity used %.3f (want about 1), estimate %.4g above the bound %.4g", st.SegmentCapacityUsed, st.FalsePositiveRate, st.Bound)
	}
	if r := st.FalsePositiveRate / worst; r < 0.8 || r > 1.25 {
		t.Errorf("estimated false-positive rate %.4g vs measured %.4g: off by more than 25%%", st.FalsePositiveRate, worst)
	}
	// A never-seen key is a false positive about 1% of the time (the hash seed is random):
	// the first of them answered "not seen" must say the answer is incomplete.
	var notSeen bool
	for i := range 100 {
		seen, complete := d.Lookup([16]byte{0xfe, 0xed, byte(i)}, base.Add(o.Window), false)
		if !seen {
			if complete {
				t.Error("after saturation a never-seen key was answered \"not seen\" as complete")
			}
			notSeen = true
			break
		}
	}
	if !notSeen {
		t.Error("100 never-seen keys all answered seen")
	}
	if st.Incomplete == 0 {
		t.Error("no incomplete answers counted")
	}
	// A jump past the window forgets everything, saturation included.
	d.SeenOrAdd([16]byte{1}, base.Add(24*time.Hour))
	if st := d.Stats(); st.SaturatedSegments != 0 || st.WindowFill > 0.001 {
		t.Errorf("after the window moved on: %+v", st)
	}
	if _, complete := d.Lookup([16]byte{2}, base.Add(24*time.Hour), false); !complete {
		t.Error("answers still incomplete after the saturated slots left the window")
	}
}

// TestDedupBelowDesignLoad: at 80% of the design load nothing saturates, every repeat within
// the window is caught, every answer is complete, and the estimated rate is below the bound.
func TestDedupBelowDesignLoad(t *testing.T) {
	const window = 10 * time.Minute
	const perWindow = 300_000
	o := DedupOptions{Window: window, Segments: 10, ExpectedPerWindow: perWindow, FalsePositiveRate: 0.001}
	d := newDedup(t, o)
	rng := rand.New(rand.NewPCG(11, 12))
	type occ struct {
		key [16]byte
		at  time.Time
	}
	var recent []occ
	n := 3 * perWindow * 8 / 10 // three windows at 80% of the design rate
	step := 3 * window / time.Duration(n)
	now := base
	repeats, missed, incomplete := 0, 0, 0
	for i := 0; i < n; i++ {
		now = now.Add(step)
		if len(recent) > 0 && rng.IntN(10) == 0 {
			for len(recent) > 0 && now.Sub(recent[0].at) >= window {
				recent = recent[1:]
			}
			if len(recent) > 0 {
				repeats++
				if seen, _ := d.Lookup(recent[rng.IntN(len(recent))].key, now, true); !seen {
					missed++
				}
				continue
			}
		}
		k := randKey(rng)
		if _, complete := d.Lookup(k, now, true); !complete {
			incomplete++
		}
		recent = append(recent, occ{k, now})
	}
	st := d.Stats()
	t.Logf("80%% of design: %d repeats within the window, %d missed; %+v", repeats, missed, st)
	if missed != 0 || repeats < n/20 {
		t.Errorf("%d of %d repeats within the window missed", missed, repeats)
	}
	if incomplete != 0 || st.Unrecorded != 0 || st.SaturatedSegments != 0 {
		t.Errorf("below the design load: %d incomplete answers, %d unrecorded, %d saturated segments", incomplete, st.Unrecorded, st.SaturatedSegments)
	}
	if st.FalsePositiveRate > st.Bound || st.SegmentCapacityUsed >= 1 {
		t.Errorf("estimate %.4g (bound %.4g), capacity used %.2f", st.FalsePositiveRate, st.Bound, st.SegmentCapacityUsed)
	}
}

// TestDedupSaturationPoint: a filter fed distinct keys in one slot records its whole share of
// the design load and saturates before 110% of it: the design load is remembered in full (at
// exactly the design load a filter sized without headroom saturated in one run in six, and
// forgot occurrences), and degrading toward counting starts soon after it.
func TestDedupSaturationPoint(t *testing.T) {
	for _, p := range []float64{0.01, 0.001} {
		for _, segs := range []int{6, 10} {
			const perWindow = 600_000
			d := newDedup(t, DedupOptions{Window: time.Minute, Segments: segs, ExpectedPerWindow: perWindow, FalsePositiveRate: p})
			rng := rand.New(rand.NewPCG(uint64(segs), uint64(p*1e6)))
			share := perWindow / segs
			n := 0
			for ; d.Stats().Unrecorded == 0 && n < 2*share; n += 100 {
				for range 100 {
					d.SeenOrAdd(randKey(rng), base)
				}
			}
			at := float64(n) / float64(share)
			t.Logf("bound %.3g%%, %d segments: a filter saturates at %.3f of its share of the design load", 100*p, segs, at)
			if at <= 1 || at > 1.1 {
				t.Errorf("bound %.3g%%, %d segments: saturation at %.3f of the design share, want in (1, 1.1]", 100*p, segs, at)
			}
		}
	}
}
