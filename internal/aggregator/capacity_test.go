package aggregator

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"adnet/models"
)

// TestVerdictsAboveDesignLoad feeds the verdicts ten times the beacons their filters are
// sized for, all distinct, and clicks on each: above the design load the filters must degrade
// toward counting — distinct beacons are not called duplicate_impression beyond the
// false-positive bound, and a click whose beacon the saturated filter could not record is
// not no_impression — and the status must say so, naming fraud.design_load.
func TestVerdictsAboveDesignLoad(t *testing.T) {
	// 1 event/s over 10 minutes: each filter is sized for its minimum, 1000 per window.
	v, err := newVerdicts(verdictOptions{Window: 10 * time.Minute, MaxClicksPerIP: 1 << 20, EventsPerSec: 1})
	if err != nil {
		t.Fatal(err)
	}
	if w := capacityWarning(1, v.MemoryBytes(), v.dedupStats()); w != "" {
		t.Errorf("warning before any load: %s", w)
	}
	// A click on a never-beaconed impression, at design load: no_impression.
	wantReason(t, "click without beacon below the design load", v.judge(click(impID(1<<20), t0, "192.0.2.1", 0)), models.ReasonNoImpression)

	const n = 10_000 // within one slot of the window: 100 times the slot's share
	dupImps, noImp := 0, 0
	for i := 0; i < n; i++ {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		if v.judge(beacon(impID(i), at)) == models.ReasonDuplicateImpression {
			dupImps++
		}
	}
	for i := 0; i < n; i++ {
		at := t0.Add(20*time.Second + time.Duration(i)*time.Millisecond)
		if v.judge(click(impID(i), at, "192.0.2.1", 0)) == models.ReasonNoImpression {
			noImp++
		}
	}
	st := v.dedupStats()
	t.Logf("%d distinct beacons: %d called duplicate_impression; %d clicks on them called no_impression, %d passed unchecked; beacons filter %+v",
		n, dupImps, noImp, v.unchecked.Load(), st["beacons"])
	if dupImps > n/1000 {
		t.Errorf("%d of %d distinct beacons called duplicate_impression: more than the 0.1%% bound", dupImps, n)
	}
	if noImp != 0 {
		t.Errorf("%d clicks on beaconed impressions called no_impression above the design load", noImp)
	}
	if v.unchecked.Load() == 0 || st["beacons"].SaturatedSegments == 0 || st["impressions"].Unrecorded == 0 {
		t.Errorf("saturation not reported: unchecked %d, %+v", v.unchecked.Load(), st)
	}
	for name, s := range st {
		if s.FalsePositiveRate > s.Bound {
			t.Errorf("%s: estimated false-positive rate %.4g above the bound %.4g", name, s.FalsePositiveRate, s.Bound)
		}
	}
	w := capacityWarning(1, v.MemoryBytes(), st)
	for _, want := range []string{"fraud.design_load = 1 events/s", "beacons (", "impressions ("} {
		if !strings.Contains(w, want) {
			t.Errorf("warning %q lacks %q", w, want)
		}
	}
}

// noStore is an aggregator.Store that Stats never touches.
type noStore struct{ Store }

// TestStatsCarryCapacity: the aggregator's status, as the master decodes it from the control
// socket, carries fraud.design_load, every duplicate filter's figures and, above the design
// load, the warning.
func TestStatsCarryCapacity(t *testing.T) {
	a, err := New(Options{DataDir: t.TempDir(), Store: noStore{}, IPHashKey: []byte(testHash), ExpectedEventsPerSecond: 1})
	if err != nil {
		t.Fatal(err)
	}
	decode := func() Stats {
		raw, err := json.Marshal(a.Stats())
		if err != nil {
			t.Fatal(err)
		}
		var st Stats
		if err := json.Unmarshal(raw, &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := decode()
	if st.DesignLoad != 1 || len(st.Dedup) != 4 || st.CapacityWarning != "" || st.Dedup["clicks"].Bound != dedupFalsePositive {
		t.Fatalf("idle status: %+v", st)
	}
	for i := 0; i < 5000; i++ {
		a.fraud.judge(beacon(impID(i), t0.Add(time.Duration(i)*time.Millisecond)))
	}
	st = decode()
	if d := st.Dedup["impressions"]; d.SaturatedSegments == 0 || d.Unrecorded == 0 || d.SegmentFill == 0 ||
		!strings.Contains(st.CapacityWarning, "fraud.design_load = 1 events/s") {
		t.Errorf("overloaded status: %+v", st)
	}
}
