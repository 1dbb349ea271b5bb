package fraud

import (
	"hash/maphash"
	"math"
	"sync"
	"time"

	"adnet/models"
)

// Rate counter slot layout: a 24-bit key fingerprint and an 8-bit saturating count packed
// in a uint32, 0 meaning empty. Tables are filled to at most rateMaxLoad so that linear
// probing stays short (about 8.5 slots for a miss at 0.75).
const (
	rateFPBits   = 24
	rateCountMax = 255
	rateMaxLoad  = 0.75
	rateCMSRows  = 4
)

// RateCounter counts events per key (an IP group from GroupKey, a viewer id) over a jumping
// window, for click_flood. Time is cut into slots of window/segments; each of the
// segments+1 live slots has its own open-addressing table of (fingerprint, count) pairs, and
// a key's count is the sum over the live slots, so the counted span is at least window and at
// most window*(1+1/segments) long. When a slot ends, the table of the slot that left the
// window is cleared. Memory is fixed at construction: 4/0.75 bytes per slot entry plus a
// small sketch, 6.2 bytes per event of the design load (capacity events per window, 10
// segments).
//
// Error bound. Below capacity the count is exact, except that (1) per-slot counts saturate at
// 255, so results are exact up to 255 and at least 255 beyond (flood thresholds are far
// lower), and (2) two keys whose 64-bit hashes agree on the table position and the 24-bit
// fingerprint share a count: probability about segments*8.5*2^-24 (5e-6) per Add, and it can
// only over-count. When a slot receives more distinct keys than its share of capacity, the
// newcomers are counted in that slot's small count-min sketch (4 rows, conservative update):
// never under-counted, and over-counted by at most e*N/w (N the slot's overflow events, w its
// sketch width) with probability at least 1-e^-4 per slot. Overflow is reported by
// Overflowed. Events older than the newest seen are counted in the newest slot.
//
// A RateCounter is safe for concurrent use.
type RateCounter struct {
	mu      sync.Mutex
	seed    maphash.Seed
	slotNs  int64
	tables  []rateTable // segments+1, indexed by slot mod len
	cur     int64
	started bool
	over    uint64 // events counted in a sketch since construction
}

// rateTable is one slot's counts.
type rateTable struct {
	slots   []uint32 // fingerprint<<8 | count; 0 = empty
	used    int
	limit   int     // max used slots, rateMaxLoad of len(slots)
	cms     []uint8 // rateCMSRows rows of cmsW counters; only touched after overflow
	cmsW    uint64
	spilled bool // some key of this slot went to the sketch
}

// NewRateCounter returns a counter over window cut into segments slots, sized for capacity
// events per window (the worst case: every event a different key). The error is a
// *models.Error (EINVALID) for arguments out of range.
func NewRateCounter(window time.Duration, segments, capacity int) (*RateCounter, error) {
	switch {
	case window <= 0:
		return nil, models.Errorf(models.EINVALID, "rate window must be positive")
	case segments < 1 || segments > 1000:
		return nil, models.Errorf(models.EINVALID, "rate segments must be 1..1000")
	case int64(window) < int64(segments):
		return nil, models.Errorf(models.EINVALID, "rate window shorter than one ns per segment")
	case capacity < 1 || capacity > 1<<31:
		return nil, models.Errorf(models.EINVALID, "rate capacity must be 1..2^31")
	}
	perSlot := (capacity + segments - 1) / segments
	size := int(math.Ceil(float64(perSlot)/rateMaxLoad)) + 1
	w := uint64(max(1024, size/16))
	r := &RateCounter{
		seed:   maphash.MakeSeed(),
		slotNs: (int64(window) + int64(segments) - 1) / int64(segments),
		tables: make([]rateTable, segments+1),
	}
	for i := range r.tables {
		r.tables[i] = rateTable{
			slots: make([]uint32, size),
			limit: int(float64(size) * rateMaxLoad),
			cms:   make([]uint8, rateCMSRows*w),
			cmsW:  w,
		}
	}
	return r, nil
}

// Add counts one event of key at t and returns the key's count in the window, this event
// included (so at least 1). It does not allocate.
func (r *RateCounter) Add(key [16]byte, t time.Time) uint32 {
	return r.count(key, t, true)
}

// Count returns key's count in the window at t without counting an event.
func (r *RateCounter) Count(key [16]byte, t time.Time) uint32 {
	return r.count(key, t, false)
}

func (r *RateCounter) count(key [16]byte, t time.Time, add bool) uint32 {
	h := maphash.Comparable(r.seed, key)
	fp := uint32(h) & (1<<rateFPBits - 1)
	if fp == 0 {
		fp = 1
	}
	slot := floorDiv(t.UnixNano(), r.slotNs)

	r.mu.Lock()
	defer r.mu.Unlock()
	r.advance(slot)
	curIdx := int(modPos(r.cur, int64(len(r.tables))))
	var total uint32
	for i := range r.tables {
		tb := &r.tables[i]
		if i == curIdx && add {
			c, spilled := tb.add(h, fp)
			if spilled {
				r.over++
			}
			total += c
		} else {
			total += tb.get(h, fp)
		}
	}
	return total
}

// get returns the key's count in this slot.
func (tb *rateTable) get(h uint64, fp uint32) uint32 {
	n := uint64(len(tb.slots))
	for i := mulHi(h, n); ; {
		s := tb.slots[i]
		if s == 0 {
			break
		}
		if s>>8 == fp {
			return s & rateCountMax
		}
		if i++; i == n {
			i = 0
		}
	}
	if tb.spilled {
		return uint32(tb.cmsMin(h))
	}
	return 0
}

// add counts one event in this slot and returns the key's count here, and whether the event
// went to the sketch.
func (tb *rateTable) add(h uint64, fp uint32) (uint32, bool) {
	n := uint64(len(tb.slots))
	i := mulHi(h, n)
	for {
		s := tb.slots[i]
		if s == 0 {
			break
		}
		if s>>8 == fp {
			if s&rateCountMax < rateCountMax {
				s++
				tb.slots[i] = s
			}
			return s & rateCountMax, false
		}
		if i++; i == n {
			i = 0
		}
	}
	if tb.used < tb.limit {
		tb.slots[i] = fp<<8 | 1
		tb.used++
		return 1, false
	}
	tb.spilled = true
	return uint32(tb.cmsAdd(h)), true
}

// cmsIndex returns the cell of row r for hash h; rows use independent splitmix64 outputs.
func (tb *rateTable) cmsIndex(h uint64, row int) uint64 {
	return uint64(row)*tb.cmsW + mulHi(mix64(h+uint64(row+1)*0x9e3779b97f4a7c15), tb.cmsW)
}

func (tb *rateTable) cmsMin(h uint64) uint8 {
	m := uint8(rateCountMax)
	for row := 0; row < rateCMSRows; row++ {
		m = min(m, tb.cms[tb.cmsIndex(h, row)])
	}
	return m
}

// cmsAdd does a conservative update: only the cells holding the current minimum grow, which
// keeps the over-count of other keys as low as the sketch allows.
func (tb *rateTable) cmsAdd(h uint64) uint8 {
	m := tb.cmsMin(h)
	if m == rateCountMax {
		return m
	}
	m++
	for row := 0; row < rateCMSRows; row++ {
		c := &tb.cms[tb.cmsIndex(h, row)]
		if *c < m {
			*c = m
		}
	}
	return m
}

func (tb *rateTable) reset() {
	clear(tb.slots)
	if tb.spilled {
		clear(tb.cms)
	}
	tb.used, tb.spilled = 0, false
}

// advance moves the clock to slot, clearing the tables of the slots that left the window.
// Called with r.mu held.
func (r *RateCounter) advance(slot int64) {
	if !r.started {
		r.started, r.cur = true, slot
		return
	}
	if slot <= r.cur {
		return
	}
	n := int64(len(r.tables))
	if slot-r.cur >= n {
		for i := range r.tables {
			r.tables[i].reset()
		}
	} else {
		for s := r.cur + 1; s <= slot; s++ {
			r.tables[modPos(s, n)].reset()
		}
	}
	r.cur = slot
}

// Overflowed returns how many events were counted approximately (in a sketch) because their
// slot had more distinct keys than its share of capacity. Non-zero means capacity is too
// small for the traffic.
func (r *RateCounter) Overflowed() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.over
}

// MemoryBytes returns the bytes held by the tables and sketches.
func (r *RateCounter) MemoryBytes() int {
	total := 128
	for i := range r.tables {
		total += 4*len(r.tables[i].slots) + len(r.tables[i].cms) + 64
	}
	return total
}
