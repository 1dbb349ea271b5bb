package fraud

import (
	"hash/maphash"
	"math"
	"math/bits"
	"sync"
	"time"

	"adnet/models"
)

// A Bloom block is 1024 bits: two adjacent 64-byte cache lines, which the CPU fetches
// together. Every key sets and tests bits of one block only, so a membership test costs one
// block per segment instead of one cache miss per hash function. (512-bit blocks are 20%
// faster but need 7% more memory for the same false-positive rate; memory is the budget.)
const (
	blockLog2  = 10
	blockBits  = 1 << blockLog2
	blockWords = blockBits / 64
)

// DedupOptions configures a Dedup.
type DedupOptions struct {
	// Window is how long an occurrence is remembered: a second occurrence less than Window
	// after it is always reported as a duplicate.
	Window time.Duration
	// Segments is the number of segments the window is cut into (default 10). More segments
	// forget sooner after Window (at most Window/Segments late) but test more filters.
	Segments int
	// ExpectedPerWindow is the design load: occurrences added per Window.
	ExpectedPerWindow int
	// FalsePositiveRate is the highest acceptable probability, at the design load, that a
	// never-seen key is reported as a duplicate (default 0.001).
	FalsePositiveRate float64
}

// Dedup answers "was this key seen within the window?" in bounded memory, for duplicate
// clicks, impressions and conversions. It is a jumping-window segmented Bloom filter in the
// spirit of Metwally, Agrawal and El Abbadi (WWW 2005) and the timing Bloom filters of Zhang
// and Guan (ICDCS 2008): time is cut into slots of Window/Segments; each of the Segments+1
// live slots has its own blocked Bloom filter; a key is tested against all of them and added
// to the current one; when time moves on, the filter of the slot that fell out of the
// window is cleared and reused.
//
// Guarantees: no false negatives for two occurrences less than Window apart (the older one
// is still in a live filter) while no slot gets more than about 104% of its share of the
// design load (see sizingHeadroom); an occurrence is forgotten at most Window*(1+1/Segments) after it (rounded up
// to whole nanoseconds per slot); a key never seen is reported as a duplicate with
// probability at most FalsePositiveRate at any load. Filters are sized per slot
// (ExpectedPerWindow/Segments keys each, and 5% more).
//
// Above the design load (or in a burst that puts more than about 104% of
// ExpectedPerWindow/Segments keys into one slot) a Dedup degrades toward counting, never toward calling fresh keys
// duplicates: each filter counts the bits it has set, and once its fill reaches the point
// where its own false-positive rate would pass its share of FalsePositiveRate, it is
// saturated and records nothing more until its slot leaves the window. Lookups still test
// it, so the false-positive rate stays at most FalsePositiveRate at any load; what is lost
// is memory: an occurrence refused by a saturated filter is not remembered, so its repeat
// may pass as fresh (counted, not called a duplicate). Stats reports the fill, the
// estimated false-positive rate and the occurrences left unrecorded; the complete answer of
// Lookup tells a caller for whom "not seen" is the incriminating answer (no_impression)
// that the window is not fully remembered. Memory never grows.
//
// Time is the event's time, but it never goes backwards: an event older than the newest one
// seen (events from several workers arrive slightly out of order) is treated as happening
// at the newest time, which only makes it remembered longer.
//
// A Dedup is safe for concurrent use; SeenOrAdd is atomic, so of many concurrent calls with
// one key exactly one gets false.
type Dedup struct {
	mu      sync.Mutex
	seed    maphash.Seed
	slotNs  int64    // slot length in nanoseconds, ceil(Window/Segments)
	nf      int      // filters: Segments+1
	blocks  uint64   // blocks per filter
	k       int      // bits set per key
	words   []uint64 // block-major: the nf blocks of one block index are adjacent
	cur     int64    // newest slot seen
	started bool
	designP float64 // predicted false-positive rate at the design load
	boundP  float64 // the configured FalsePositiveRate

	// Capacity accounting, per filter (indexed like the filters): bits set, and occurrences
	// refused because the filter was saturated. maxBits is the saturation point.
	setBits    []int64
	refused    []int64
	maxBits    int64
	saturated  int   // filters with refused[f] != 0
	unrecorded int64 // occurrences refused since NewDedup
	incomplete int64 // Lookup answers "not seen" that were not Complete, since NewDedup
}

// NewDedup sizes a Dedup for the design load and false-positive rate. The error is a
// *models.Error (EINVALID) for options out of range.
func NewDedup(o DedupOptions) (*Dedup, error) {
	if o.Segments == 0 {
		o.Segments = 10
	}
	if o.FalsePositiveRate == 0 {
		o.FalsePositiveRate = 0.001
	}
	switch {
	case o.Window <= 0:
		return nil, models.Errorf(models.EINVALID, "dedup window must be positive")
	case o.Segments < 1 || o.Segments > 1000:
		return nil, models.Errorf(models.EINVALID, "dedup segments must be 1..1000")
	case int64(o.Window) < int64(o.Segments):
		return nil, models.Errorf(models.EINVALID, "dedup window shorter than one ns per segment")
	case o.ExpectedPerWindow < 1 || o.ExpectedPerWindow > 1<<34:
		return nil, models.Errorf(models.EINVALID, "dedup expected load must be 1..2^34")
	case !(o.FalsePositiveRate > 0 && o.FalsePositiveRate < 0.5):
		return nil, models.Errorf(models.EINVALID, "dedup false-positive rate must be in (0, 0.5)")
	}
	nf := o.Segments + 1
	// A never-seen key is tested against nf full filters in the worst case (the current slot
	// about to end), so each filter gets the share p1 with 1-(1-p1)^nf = p.
	p1 := -math.Expm1(math.Log1p(-o.FalsePositiveRate) / float64(nf))
	perSlot := float64(o.ExpectedPerWindow) / float64(o.Segments)
	blocks, k := sizeBlockedBloom(perSlot*sizingHeadroom, p1)
	if blocks > 1<<32 { // mulHi maps onto at most 2^32 blocks; also "not found" (MaxUint64)
		return nil, models.Errorf(models.EINVALID, "dedup too large for its false-positive rate")
	}
	d := &Dedup{
		seed:   maphash.MakeSeed(),
		slotNs: (int64(o.Window) + int64(o.Segments) - 1) / int64(o.Segments),
		nf:     nf,
		blocks: blocks,
		k:      k,
		words:  make([]uint64, blocks*uint64(nf)*blockWords),
	}
	d.designP = -math.Expm1(float64(nf) * math.Log1p(-blockedFP(perSlot/float64(blocks), k)))
	d.boundP = o.FalsePositiveRate
	d.setBits, d.refused = make([]int64, nf), make([]int64, nf)
	d.maxBits = int64(saturationFill(k, saturationShare*p1) * float64(blocks*blockBits))
	return d, nil
}

// sizingHeadroom is how much more than its share of the design load each filter is sized
// for. A filter saturates a little below the load it is sized for (saturationShare), and the
// bits a given number of keys sets vary from run to run; sized for the design load exactly, a
// filter fed at the design load saturated in one run in six (TestDedupNoFalseNegatives) and
// forgot occurrences. With 5% more bits, saturation comes at about 104% of the design load,
// so the design load is remembered in full, for 5% more memory.
const sizingHeadroom = 1.05

// saturationShare is the share of its part of FalsePositiveRate at which a filter is
// saturated: a margin for the randomness of which keys a filter holds, so that the rate
// measured stays under the bound, not only its estimate. With 9-12 bits per key the
// false-positive rate grows as a high power of the load, so 95% of the rate is reached at
// 99.2-99.4% of the design load (1% and 0.1% bounds).
const saturationShare = 0.95

// saturationFill returns the fraction of its bits set at which a blocked Bloom filter with k
// bits per key has the false-positive rate p (keys spread over blocks as Poisson: a fill f
// means lambda = -ln(1-f)*blockBits/k keys per block).
func saturationFill(k int, p float64) float64 {
	lo, hi := 0.0, 1.0
	for range 60 {
		mid := (lo + hi) / 2
		if fillFP(mid, k) <= p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// fillFP is the false-positive rate of a blocked Bloom filter (k bits per key) of which the
// fraction fill of the bits is set. It is above the classic fill^k, because keys fall
// unevenly into blocks and the fuller blocks answer more of the lookups.
func fillFP(fill float64, k int) float64 {
	if fill <= 0 {
		return 0
	}
	if fill >= 1 {
		return 1
	}
	return blockedFP(-math.Log1p(-fill)*blockBits/float64(k), k)
}

// blockedFP is the false-positive probability of a blocked Bloom filter whose blocks hold a
// Poisson(lambda) number of keys, each setting k distinct random bits of the block: a block
// with j keys has each bit clear with probability (1-k/B)^j, and a test needs k set bits.
// The Poisson weights are computed in log space over lambda ± 12 standard deviations.
func blockedFP(lambda float64, k int) float64 {
	logQ := math.Log1p(-float64(k) / blockBits)
	spread := 12*math.Sqrt(lambda) + 30
	lo, hi := int(math.Max(0, lambda-spread)), int(lambda+spread)
	logL := math.Log(lambda)
	sum := 0.0
	for j := lo; j <= hi; j++ {
		lg, _ := math.Lgamma(float64(j) + 1)
		pj := math.Exp(float64(j)*logL - lambda - lg)
		sum += pj * math.Pow(-math.Expm1(float64(j)*logQ), float64(k))
	}
	return sum
}

// sizeBlockedBloom returns the fewest blocks (and the k achieving it) for which a filter
// holding n keys has a false-positive rate of at most p.
func sizeBlockedBloom(n, p float64) (blocks uint64, k int) {
	// A classic Bloom filter needs n*ln(1/p)/ln(2)^2 bits; a blocked one needs somewhat
	// more, never 4 times more, so searching from half to 4 times that is enough.
	classic := n * math.Log(1/p) / (math.Ln2 * math.Ln2) / blockBits
	best, bestK := uint64(math.MaxUint64), 1
	for kk := 1; kk <= 32; kk++ {
		lo, hi := uint64(math.Max(1, classic/2)), uint64(math.Max(2, 4*classic))
		if blockedFP(n/float64(hi), kk) > p {
			continue
		}
		for lo < hi { // smallest count meeting p
			mid := lo + (hi-lo)/2
			if blockedFP(n/float64(mid), kk) <= p {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		if lo < best {
			best, bestK = lo, kk
		}
	}
	return best, bestK
}

// SeenOrAdd reports whether key occurred less than Window before t (true: a duplicate) and
// records this occurrence. Every occurrence is recorded, duplicates included, so a chain of
// occurrences each less than Window after the previous one is reported in full — unless the
// current filter is saturated (see Dedup), when the occurrence is tested but not recorded.
// It does not allocate.
func (d *Dedup) SeenOrAdd(key [16]byte, t time.Time) bool {
	seen, _ := d.lookup(key, t, true)
	return seen
}

// Seen reports whether key occurred less than Window before t without recording anything,
// e.g. "was this click's impression beaconed?" (no_impression) against the impressions'
// Dedup. It does not allocate.
func (d *Dedup) Seen(key [16]byte, t time.Time) bool {
	seen, _ := d.lookup(key, t, false)
	return seen
}

// Lookup is SeenOrAdd (add true) or Seen (add false) with a second answer: complete is false
// when a filter of the window refused occurrences because it was saturated, so that "not
// seen" is not proof that key did not occur (a true seen is as reliable as ever). A caller
// that would call traffic invalid on "not seen" (no_impression) should treat an incomplete
// "not seen" as seen: above its design load a Dedup degrades toward counting. Such answers
// are counted in Stats.Incomplete. It does not allocate.
func (d *Dedup) Lookup(key [16]byte, t time.Time, add bool) (seen, complete bool) {
	return d.lookup(key, t, add)
}

func (d *Dedup) lookup(key [16]byte, t time.Time, add bool) (seen, complete bool) {
	h := maphash.Comparable(d.seed, key)
	var mask [blockWords]uint64
	blockMask(h, d.k, &mask)
	block := mulHi(h, d.blocks)
	slot := floorDiv(t.UnixNano(), d.slotNs)

	d.mu.Lock()
	defer d.mu.Unlock()
	d.advance(slot)
	base := int(block) * d.nf * blockWords
	group := d.words[base : base+d.nf*blockWords : base+d.nf*blockWords]
	for f := 0; f < d.nf && !seen; f++ {
		seen = hasMask(group[f*blockWords:f*blockWords+blockWords:f*blockWords+blockWords], &mask)
	}
	if add {
		f := int(modPos(d.cur, int64(d.nf)))
		c := f * blockWords
		cur := group[c : c+blockWords : c+blockWords]
		var fresh int
		for i := range cur {
			fresh += bits.OnesCount64(mask[i] &^ cur[i])
		}
		switch {
		case fresh == 0: // already in the current filter: nothing to record
		case d.setBits[f]+int64(fresh) > d.maxBits:
			if d.refused[f] == 0 {
				d.saturated++
			}
			d.refused[f]++
			d.unrecorded++
		default:
			for i := range cur {
				cur[i] |= mask[i]
			}
			d.setBits[f] += int64(fresh)
		}
	}
	complete = seen || d.saturated == 0
	if !complete {
		d.incomplete++
	}
	return seen, complete
}

// advance moves the clock to slot, clearing the filters of the slots that left the window.
// Called with d.mu held.
func (d *Dedup) advance(slot int64) {
	if !d.started {
		d.started, d.cur = true, slot
		return
	}
	if slot <= d.cur {
		return // late event: counted in the current slot
	}
	steps := slot - d.cur
	if steps >= int64(d.nf) {
		clear(d.words)
		clear(d.setBits)
		clear(d.refused)
		d.saturated = 0
	} else {
		for s := d.cur + 1; s <= slot; s++ {
			d.clearFilter(int(modPos(s, int64(d.nf))))
		}
	}
	d.cur = slot
}

// clearFilter zeroes one filter: one block in every group of nf adjacent blocks.
func (d *Dedup) clearFilter(f int) {
	stride := d.nf * blockWords
	for off := f * blockWords; off < len(d.words); off += stride {
		clear(d.words[off : off+blockWords])
	}
	if d.refused[f] != 0 {
		d.saturated--
	}
	d.setBits[f], d.refused[f] = 0, 0
}

// MemoryBytes returns the bytes held by the filters: (Segments+1) filters sized for
// ExpectedPerWindow/Segments keys each (and 5% more).
func (d *Dedup) MemoryBytes() int { return 8*len(d.words) + 128 }

// DesignFalsePositiveRate returns the predicted probability that a never-seen key is
// reported as a duplicate at the design load in the worst case (every live filter full).
// It is at most the configured FalsePositiveRate.
func (d *Dedup) DesignFalsePositiveRate() float64 { return d.designP }

// DedupStats describes a Dedup's use of its capacity, for /status and /metrics.
type DedupStats struct {
	// SegmentFill is the fraction of the current filter's bits that are set, WindowFill that
	// of all the live filters together.
	SegmentFill float64 `json:"segment_fill"`
	WindowFill  float64 `json:"window_fill"`
	// SegmentCapacityUsed is the current filter's bits set over its saturation point (about
	// 1: saturated, it records nothing more until its slot leaves the window).
	SegmentCapacityUsed float64 `json:"segment_capacity_used"`
	// FalsePositiveRate is the estimated probability that a never-seen key is reported as a
	// duplicate now, from the fill of each live filter (a blocked Bloom filter's rate at that
	// fill, close to but above the classic fill^k), combined: 1 - Π(1 - p_filter).
	FalsePositiveRate float64 `json:"false_positive_rate"`
	// Bound is the configured FalsePositiveRate, which the estimate never exceeds by design;
	// Design the predicted worst-case rate at the design load.
	Bound  float64 `json:"false_positive_bound"`
	Design float64 `json:"false_positive_design"`
	// SaturatedSegments is how many live filters are saturated (have refused an occurrence):
	// while it is not zero, the
	// load is above the design and repeats of unrecorded occurrences can pass as fresh.
	SaturatedSegments int `json:"saturated_segments"`
	// Unrecorded counts the occurrences refused by a saturated filter since start;
	// Incomplete the "not seen" answers given while such a refusal was in the window.
	Unrecorded int64 `json:"unrecorded"`
	Incomplete int64 `json:"incomplete"`
	BitsPerKey int   `json:"bits_per_key"`
}

// Stats returns the Dedup's fill, estimated false-positive rate and saturation.
func (d *Dedup) Stats() DedupStats {
	fills := make([]float64, d.nf)
	bitsPerFilter := float64(d.blocks * blockBits)
	d.mu.Lock()
	st := DedupStats{Unrecorded: d.unrecorded, Incomplete: d.incomplete, Bound: d.boundP, Design: d.designP, BitsPerKey: d.k}
	var total int64
	for f, n := range d.setBits {
		fills[f] = float64(n) / bitsPerFilter
		total += n
		if d.refused[f] != 0 {
			st.SaturatedSegments++
		}
	}
	cur := d.setBits[modPos(d.cur, int64(d.nf))]
	d.mu.Unlock()
	st.SegmentFill = float64(cur) / bitsPerFilter
	st.WindowFill = float64(total) / (bitsPerFilter * float64(d.nf))
	st.SegmentCapacityUsed = float64(cur) / float64(max(d.maxBits, 1))
	logMiss := 0.0
	for _, f := range fills {
		logMiss += math.Log1p(-fillFP(f, d.k))
	}
	st.FalsePositiveRate = -math.Expm1(logMiss)
	return st
}

// BitsPerKey returns k, the number of bits each key sets in its block (for reports).
func (d *Dedup) BitsPerKey() int { return d.k }

// blockMask sets k distinct pseudo-random bits of a block, drawn blockLog2 bits at a time
// from a splitmix64 stream seeded by the key's hash. Drawing fresh bits for every position
// (rather than double hashing) keeps the number of distinct patterns far above what a block
// holds, which matters at the low per-filter rates used here.
func blockMask(h uint64, k int, mask *[blockWords]uint64) {
	x := h
	var bits uint64
	avail := 0
	for set := 0; set < k; {
		if avail < blockLog2 {
			x += 0x9e3779b97f4a7c15
			bits = mix64(x)
			avail = 64
		}
		pos := bits & (blockBits - 1)
		bits >>= blockLog2
		avail -= blockLog2
		w, b := pos>>6, uint64(1)<<(pos&63)
		if mask[w]&b == 0 {
			mask[w] |= b
			set++
		}
	}
}

func hasMask(blk []uint64, mask *[blockWords]uint64) bool {
	blk = blk[:blockWords]
	var miss uint64
	for i, m := range mask {
		miss |= m &^ blk[i]
	}
	return miss == 0
}

// mix64 is the splitmix64 finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// mulHi maps h uniformly onto [0, n) (Lemire's multiply-shift, using the high 32 bits of h
// so the low bits stay independent for blockMask's stream).
func mulHi(h, n uint64) uint64 {
	return ((h >> 32) * n) >> 32
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func modPos(a, m int64) int64 {
	r := a % m
	if r < 0 {
		r += m
	}
	return r
}
