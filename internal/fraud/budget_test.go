package fraud

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// Design load of the aggregator: 25,000 events/s over a 10-minute window.
const (
	designWindow    = 10 * time.Minute
	designPerWindow = 25_000 * 600 // 15M events
	designBudget    = 64 << 20
)

// heapGrowth returns how much the live heap grew while build ran, keeping its result alive.
func heapGrowth(build func() any) (uint64, any) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return after.HeapAlloc - before.HeapAlloc, v
}

// TestMemoryBudget builds the aggregator's fraud state at the design load and checks it
// against the 64 MB budget: one Dedup sized for all 15M events of the window (impressions,
// clicks and conversions keyed by type and id; serves need none) at a 0.1% false-positive
// rate, and two RateCounters (IP group and viewer) sized for clicks being 10% of all events,
// far above real click-through rates. It also checks that MemoryBytes reports what the heap
// actually holds.
func TestMemoryBudget(t *testing.T) {
	const clicksPerWindow = designPerWindow / 10
	type part struct {
		name     string
		reported int
		heap     uint64
		events   int
	}
	var parts []part
	var keep []any
	add := func(name string, events int, build func() (any, int)) {
		var reported int
		heap, v := heapGrowth(func() any {
			v, n := build()
			reported = n
			return v
		})
		keep = append(keep, v)
		parts = append(parts, part{name, reported, heap, events})
	}
	add("dedup impressions+clicks+conversions (15M, 0.1% FP)", designPerWindow, func() (any, int) {
		d := newDedup(t, DedupOptions{Window: designWindow, Segments: 10, ExpectedPerWindow: designPerWindow, FalsePositiveRate: 0.001})
		return d, d.MemoryBytes()
	})
	for _, name := range []string{"rate click_flood by IP /64 group (1.5M)", "rate click_flood by viewer (1.5M)"} {
		add(name, clicksPerWindow, func() (any, int) {
			r := newRate(t, designWindow, 10, clicksPerWindow)
			return r, r.MemoryBytes()
		})
	}
	total := 0
	for _, p := range parts {
		t.Logf("%-52s %6.1f MB reported, %6.1f MB heap, %.2f bytes/event",
			p.name, float64(p.reported)/1e6, float64(p.heap)/1e6, float64(p.reported)/float64(p.events))
		total += p.reported
		if d := float64(p.heap) - float64(p.reported); d > 0.05*float64(p.reported) || d < -0.05*float64(p.reported) {
			t.Errorf("%s: MemoryBytes %d is off the heap growth %d by more than 5%%", p.name, p.reported, p.heap)
		}
	}
	t.Logf("total aggregator fraud state at 25,000 events/s, 10-minute window: %.1f MB (%.1f MiB) of a %d MiB budget",
		float64(total)/1e6, float64(total)/(1<<20), designBudget>>20)
	if total > designBudget {
		t.Errorf("fraud state %d bytes exceeds the budget of %d", total, designBudget)
	}
	runtime.KeepAlive(keep)
}

// TestWorkerMemory reports the per-worker fraud state: a full UA verdict cache (default
// size, realistic 130-byte UA strings) and an IP set of 1M entries. It is informational
// (workers have their own budget), but checks that the cache stays bounded.
func TestWorkerMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a 10,000-entry UA cache through crawlerdetect (about a second)")
	}
	heap, v := heapGrowth(func() any {
		c := NewUAClassifier(UAOptions{})
		for i := 0; i < 2*defaultUACacheSize; i++ { // twice the size: the LRU must evict
			c.Classify(fmt.Sprintf("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.%d.%d Safari/537.36", i/1000, i%1000))
		}
		return c
	})
	c := v.(*UAClassifier)
	if c.cache.Len() != defaultUACacheSize {
		t.Errorf("UA cache holds %d entries, want %d", c.cache.Len(), defaultUACacheSize)
	}
	t.Logf("UA cache, %d entries: %.1f MB heap (%.0f bytes/entry)", c.cache.Len(), float64(heap)/1e6, float64(heap)/float64(c.cache.Len()))
}
