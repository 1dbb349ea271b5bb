package decision

import (
	"math/rand/v2"
	"sync/atomic"
	"time"

	"adnet/internal/token"
	"adnet/models"
)

// Request is what the ad tag tells about one ad slot impression opportunity. The handler fills
// it from the query string, nginx's GeoIP header, the User-Agent (via UAParser) and the viewer
// cookie; Decide does not keep any of it.
type Request struct {
	ZoneID    int64
	Time      time.Time
	Country   [2]byte // ISO 3166-1 alpha-2, upper case; zero when unknown
	UA        UA
	PageURL   string // page URL from the tag's page parameter or Referer, for url_contains rules
	KeyValues []KV   // the tag's extra query parameters, for key-value rules
	// Viewer is the viewer's frequency state from the cookie. Nil, or NoFrequencyCap set, means
	// frequency capping is not applied to this request: the viewer sent no usable cookie or
	// asked not to be tracked (GPC, DNT, the network's no-viewer-id option). Capped campaigns
	// then serve as if the viewer had not seen them: a cap cannot be enforced without state.
	Viewer         *token.Viewer
	NoFrequencyCap bool
	// Invalid marks a request already found invalid (a bot, a prefetch or HEAD, a blocked
	// address): it is answered with an ad as usual — a bot's page must not change — chosen
	// among the campaigns within their limits, but it does not count against the caps or the
	// pacing, and the caller records no frequency for it. It is never billed, so it must not
	// spend what a campaign may deliver.
	Invalid bool
}

// Fallback says where a decision came from.
type Fallback uint8

// Fallback kinds.
const (
	FallbackNone     Fallback = iota // the requested zone's own campaigns
	FallbackZone                     // a campaign of a zone in the fallback chain
	FallbackCreative                 // the zone's fallback creative (not priced, not capped)
)

// Decision is the outcome of Decide. Zone, site, publisher and share are those of the requested
// zone (where the ad shows and who is paid), even when the ad came from a fallback zone.
type Decision struct {
	ZoneID       int64
	SiteID       int64
	PublisherID  int64
	ShareBP      int   // publisher's revenue share in basis points
	SourceZoneID int64 // zone whose inventory supplied the ad (≠ ZoneID after a zone fallback)
	CampaignID   int64
	Creative     *models.Creative // points into the snapshot: read-only, never copied
	Tier         models.Tier      // 0 for a fallback creative
	Pricing      models.PricingModel
	PriceMicros  int64 // the campaign's rate (0 for a fallback creative), as in models.Event
	Fallback     Fallback
	// FreqWindow is non-zero when the campaign is frequency-capped and capping applied to this
	// request: the handler records the impression in the viewer cookie (RecordFrequency).
	FreqWindow time.Duration
}

// RecordFrequency counts the decision's impression in the viewer state when the campaign is
// frequency-capped; the handler then re-encodes the cookie.
func (d *Decision) RecordFrequency(v *token.Viewer, now time.Time) {
	if d.FreqWindow > 0 && v != nil {
		v.Record(d.CampaignID, d.FreqWindow, now)
	}
}

// Engine decides which ad to serve. It holds the current snapshot and this worker's delivery
// since that snapshot's totals were read. It is safe for concurrent use.
type Engine struct {
	state atomic.Pointer[engineState]
	day   atomic.Pointer[dayInfo]
}

// engineState pairs a snapshot with the local counters that belong to it, so that a swap
// replaces both at once.
type engineState struct {
	snap  *Snapshot
	local []local // parallel to snap.camps
}

// local counts what this worker delivered of one campaign since its snapshot was installed:
// decisions served (counted as impressions for capping, a conservative stand-in for beacons
// that have not been counted yet), and clicks and conversions reported through Record*. Daily
// counters pack the day number into their high bits so that they restart at midnight (network
// time) without a reset pass. Padded to a cache line to keep workers' cores from sharing one.
type local struct {
	lifeImps, lifeClicks, lifeConvs atomic.Int64
	dayImps, dayClicks, dayConvs    atomic.Uint64
	_                               [16]byte
}

const (
	dayShift = 44 // low 44 bits: count (17.6e12), high 20 bits: day number (until year 4840)
	dayMask  = 1<<dayShift - 1
)

// dayTag is the day number as stored in a packed counter's high bits.
func dayTag(day int64) uint64 { return uint64(day) & (1<<(64-dayShift) - 1) }

// loadDay returns the packed counter's count for day, 0 if it holds another day.
func loadDay(a *atomic.Uint64, day int64) int64 {
	v := a.Load()
	if v>>dayShift != dayTag(day) {
		return 0
	}
	return int64(v & dayMask)
}

// addDay adds delta to the packed counter for day, restarting it when it holds another day,
// and returns the new count. A decrement of a counter that moved on to a new day is dropped:
// the unit it would undo was counted on a day that is over.
func addDay(a *atomic.Uint64, day int64, delta int64) int64 {
	for {
		v := a.Load()
		var n int64
		if v>>dayShift == dayTag(day) {
			n = int64(v&dayMask) + delta
		} else if delta > 0 {
			n = delta
		} else {
			return 0
		}
		n = max(0, min(n, dayMask))
		if a.CompareAndSwap(v, dayTag(day)<<dayShift|uint64(n)) {
			return n
		}
	}
}

// NewEngine returns an engine serving from s (nil: nothing until Swap).
func NewEngine(s *Snapshot) *Engine {
	e := &Engine{}
	e.Swap(s)
	return e
}

// Swap installs s and returns the previous snapshot. Local delivery counters restart from zero
// with it, because s carries newer totals; see the package documentation for what that costs.
func (e *Engine) Swap(s *Snapshot) *Snapshot {
	var st *engineState
	if s != nil {
		st = &engineState{snap: s, local: make([]local, len(s.camps))}
	}
	old := e.state.Swap(st)
	if old == nil {
		return nil
	}
	return old.snap
}

// Snapshot returns the current snapshot, or nil.
func (e *Engine) Snapshot() *Snapshot {
	if st := e.state.Load(); st != nil {
		return st.snap
	}
	return nil
}

// RecordClick counts a valid click of the campaign in this worker's local counters, so that
// click limits and CPC budgets react before the next snapshot.
func (e *Engine) RecordClick(campaignID int64, now time.Time) {
	if st, l, ok := e.local(campaignID); ok {
		l.lifeClicks.Add(1)
		addDay(&l.dayClicks, e.dayFor(st.snap.loc, now).num, 1)
	}
}

// RecordConversion counts an approved conversion like RecordClick.
func (e *Engine) RecordConversion(campaignID int64, now time.Time) {
	if st, l, ok := e.local(campaignID); ok {
		l.lifeConvs.Add(1)
		addDay(&l.dayConvs, e.dayFor(st.snap.loc, now).num, 1)
	}
}

func (e *Engine) local(campaignID int64) (*engineState, *local, bool) {
	st := e.state.Load()
	if st == nil {
		return nil, nil, false
	}
	i, ok := st.snap.campIdx[campaignID]
	if !ok {
		return nil, nil, false
	}
	return st, &st.local[i], true
}

// Delivered returns the campaign's delivery as this worker sees it at now: snapshot totals plus
// local counts, lifetime and for now's day. Spend includes locally counted serves, clicks and
// conversions priced at the campaign's rate.
func (e *Engine) Delivered(campaignID int64, now time.Time) (lifetime, today models.Counts, ok bool) {
	st, l, ok := e.local(campaignID)
	if !ok {
		return models.Counts{}, models.Counts{}, false
	}
	c := &st.snap.camps[st.snap.campIdx[campaignID]]
	day := e.dayFor(st.snap.loc, now).num
	return c.lifeView(l, 0), c.dayView(st.snap, l, day, 0), true
}

// Decide picks the ad for req. It returns false when nothing can be served; the Decision then
// still carries the zone, site and publisher when the zone is active (SiteID != 0), so that
// the handler can log an unfilled request against the zone. rng must not be shared between
// goroutines (each worker goroutine keeps its own). Decide does not allocate.
//
// Order: the zone's tiers from override down — within a tier a weighted random pick among the
// eligible campaigns, then a weighted random creative among those fitting the zone — then each
// zone of the fallback chain the same way, then the zone's fallback creative.
func (e *Engine) Decide(req *Request, rng *rand.Rand) (Decision, bool) {
	st := e.state.Load()
	if st == nil {
		return Decision{}, false
	}
	s := st.snap
	z := s.zones[req.ZoneID]
	if z == nil {
		return Decision{}, false
	}
	d := Decision{ZoneID: z.id, SiteID: z.siteID, PublisherID: z.publisherID, ShareBP: z.shareBP}
	tl := req.Time.In(s.loc)
	day := e.dayFor(s.loc, req.Time)
	now := req.Time.Unix()
	rc := reqCtx{
		now: now, day: day.num, elapsed: now - day.start, dayLen: day.end - day.start,
		weekday: uint8(tl.Weekday()), hour: uint8(tl.Hour()),
		domain: z.domain, freq: req.Viewer != nil && !req.NoFrequencyCap,
	}
	if e.decideZone(st, z, req, &rc, rng, &d) {
		d.SourceZoneID = z.id
		return d, true
	}
	for _, fz := range z.chain {
		if e.decideZone(st, fz, req, &rc, rng, &d) {
			d.SourceZoneID = fz.id
			d.Fallback = FallbackZone
			return d, true
		}
	}
	if z.fallback != nil {
		d.SourceZoneID = z.id
		d.CampaignID = z.fallback.CampaignID
		d.Creative = z.fallback
		d.Fallback = FallbackCreative
		return d, true
	}
	return d, false
}

// reqCtx is the per-request data derived once and shared by every eligibility check.
type reqCtx struct {
	now             int64 // unix seconds
	day             int64 // day number in the network time zone
	elapsed, dayLen int64 // seconds since the day began; length of the day (23–25 h with DST)
	weekday, hour   uint8
	domain          string // the requested zone's site domain (not the fallback zone's)
	freq            bool   // apply frequency caps
}

// decideZone tries z's tiers in order and fills d on success.
func (e *Engine) decideZone(st *engineState, z *zone, req *Request, rc *reqCtx, rng *rand.Rand, d *Decision) bool {
	for ti := range z.tiers {
		t := &z.tiers[ti]
		if len(t.cands) == 0 {
			continue
		}
		var m memo
		// A pick can still lose at commit (another goroutine took the last unit of a cap);
		// it is then marked ineligible and the tier is drawn again.
		for range len(t.cands) {
			i := e.pick(st, t, req, rc, rng, &m)
			if i < 0 {
				break
			}
			cd := &t.cands[i]
			c := &st.snap.camps[cd.camp]
			if req.Invalid {
				if !c.within(st.snap, &st.local[cd.camp], rc, 1) {
					m.set(i, false)
					continue
				}
			} else if !c.commit(st.snap, &st.local[cd.camp], rc) {
				m.set(i, false)
				continue
			}
			d.CampaignID = c.id
			d.Creative = pickCreative(cd, rng)
			d.Tier = c.tier
			d.Pricing = c.pricing
			d.PriceMicros = c.rate
			if rc.freq && c.freqCap > 0 {
				d.FreqWindow = c.freqWindow
			}
			return true
		}
	}
	return false
}

// maxRejections bounds the cheap draws before pick falls back to an exact scan.
const maxRejections = 4

// pick returns the index of a candidate drawn with probability proportional to its weight among
// the eligible candidates of t, or -1 when none is eligible. It first draws from all candidates
// by binary search on the cumulative weights and rejects ineligible draws (rejection sampling:
// an accepted draw has exactly the conditional distribution, and most requests accept on the
// first draw); after maxRejections it scans all candidates and draws among the eligible ones,
// which has the same distribution. Eligibility is memoised per request in m.
func (e *Engine) pick(st *engineState, t *tier, req *Request, rc *reqCtx, rng *rand.Rand, m *memo) int {
	for range maxRejections {
		i := searchCum(t.cands, int64(rng.Uint64N(uint64(t.total))))
		if e.eligible(st, t, i, req, rc, m) {
			return i
		}
	}
	var sum int64
	for i := range t.cands {
		if e.eligible(st, t, i, req, rc, m) {
			sum += t.weight(i)
		}
	}
	if sum == 0 {
		return -1
	}
	r := int64(rng.Uint64N(uint64(sum)))
	last := -1
	for i := range t.cands {
		if e.eligible(st, t, i, req, rc, m) {
			if r < t.weight(i) {
				return i
			}
			r -= t.weight(i)
			last = i
		}
	}
	return last // eligibility changed between the passes (beyond the memo): take the last seen
}

func (t *tier) weight(i int) int64 {
	if i == 0 {
		return t.cands[0].cum
	}
	return t.cands[i].cum - t.cands[i-1].cum
}

// searchCum returns the first index whose cumulative weight exceeds r.
func searchCum(cs []cand, r int64) int {
	lo, hi := 0, len(cs)-1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if cs[mid].cum > r {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

func pickCreative(cd *cand, rng *rand.Rand) *models.Creative {
	if len(cd.creatives) == 1 {
		return cd.creatives[0].c
	}
	r := int64(rng.Uint64N(uint64(cd.crTotal)))
	lo, hi := 0, len(cd.creatives)-1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if cd.creatives[mid].cum > r {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return cd.creatives[lo].c
}

// memo remembers eligibility of the first 512 candidates of a tier within one request.
type memo struct {
	known, ok [8]uint64
}

func (m *memo) get(i int) (known, ok bool) {
	if i >= 512 {
		return false, false
	}
	b := uint64(1) << (i & 63)
	return m.known[i>>6]&b != 0, m.ok[i>>6]&b != 0
}

func (m *memo) set(i int, ok bool) {
	if i >= 512 {
		return
	}
	b := uint64(1) << (i & 63)
	m.known[i>>6] |= b
	if ok {
		m.ok[i>>6] |= b
	} else {
		m.ok[i>>6] &^= b
	}
}

func (e *Engine) eligible(st *engineState, t *tier, i int, req *Request, rc *reqCtx, m *memo) bool {
	if known, ok := m.get(i); known {
		return ok
	}
	ci := t.cands[i].camp
	c := &st.snap.camps[ci]
	ok := rc.now >= c.start && rc.now < c.end &&
		c.t.match(req, rc) &&
		(!rc.freq || c.freqCap == 0 || req.Viewer.Count(c.id, c.freqWindow, req.Time) < c.freqCap) &&
		c.within(st.snap, &st.local[ci], rc, 1)
	m.set(i, ok)
	return ok
}

// dayInfo is a day in the network time zone: its number and bounds in unix seconds.
type dayInfo struct {
	loc        *time.Location
	num        int64
	start, end int64
}

// dayOf computes the day containing t in loc. The day number counts calendar days since
// 1970-01-01 (in loc's calendar), so it changes exactly at local midnight.
func dayOf(t time.Time, loc *time.Location) *dayInfo {
	y, m, d := t.In(loc).Date()
	return &dayInfo{
		loc:   loc,
		num:   time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400,
		start: time.Date(y, m, d, 0, 0, 0, 0, loc).Unix(),
		end:   time.Date(y, m, d+1, 0, 0, 0, 0, loc).Unix(),
	}
}

// dayFor returns the day containing t, from a cache that is replaced once a day.
func (e *Engine) dayFor(loc *time.Location, t time.Time) *dayInfo {
	u := t.Unix()
	if d := e.day.Load(); d != nil && d.loc == loc && u >= d.start && u < d.end {
		return d
	}
	d := dayOf(t, loc)
	e.day.Store(d)
	return d
}
