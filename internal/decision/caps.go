package decision

import (
	"math"
	"math/bits"

	"adnet/models"
)

// within reports whether the campaign, having delivered what this worker sees plus extra more
// impressions, stays within its lifetime and daily limits and, for even pacing, within today's
// schedule. It only reads counters.
func (c *campaign) within(s *Snapshot, l *local, rc *reqCtx, extra int64) bool {
	if !c.life.IsZero() && !c.fits(&c.life, c.lifeView(l, extra)) {
		return false
	}
	if c.daily.IsZero() {
		return true
	}
	today := c.dayView(s, l, rc.day, extra)
	if !c.fits(&c.daily, today) {
		return false
	}
	if c.even {
		paced := c.paced(s, rc)
		return c.fits(&paced, today)
	}
	return true
}

// commit counts one served impression in the local counters and keeps it only if the campaign
// is still within its limits with it. Counting first and checking after makes the local count a
// reservation: of several goroutines racing for the last unit of a cap, exactly one keeps it, so
// a worker never overshoots on its own account (see the package documentation for the
// cross-worker bound).
func (c *campaign) commit(s *Snapshot, l *local, rc *reqCtx) bool {
	l.lifeImps.Add(1)
	addDay(&l.dayImps, rc.day, 1)
	if c.within(s, l, rc, 0) {
		return true
	}
	l.lifeImps.Add(-1)
	addDay(&l.dayImps, rc.day, -1)
	return false
}

// fits compares a delivery view with limits (zero = unlimited). Impressions, and the spend of a
// CPM campaign, include the impression about to be served, so they may reach the limit; clicks,
// conversions and CPC/CPA spend only arrive later, so the campaign stops once they reach it.
func (c *campaign) fits(lim *models.Limits, v models.Counts) bool {
	if lim.Impressions > 0 && v.Impressions > lim.Impressions ||
		lim.Clicks > 0 && v.Clicks >= lim.Clicks ||
		lim.Conversions > 0 && v.Conversions >= lim.Conversions {
		return false
	}
	if lim.SpendMicros > 0 {
		if c.pricing == models.PricingCPM {
			return v.SpendMicros <= lim.SpendMicros
		}
		return v.SpendMicros < lim.SpendMicros
	}
	return true
}

// lifeView is the lifetime delivery seen by this worker: snapshot totals, plus local counts,
// plus extra impressions.
func (c *campaign) lifeView(l *local, extra int64) models.Counts {
	imps, clicks, convs := l.lifeImps.Load()+extra, l.lifeClicks.Load(), l.lifeConvs.Load()
	return models.Counts{
		Impressions: c.totLife.Impressions + imps,
		Clicks:      c.totLife.Clicks + clicks,
		Conversions: c.totLife.Conversions + convs,
		SpendMicros: satAdd(c.totLife.SpendMicros, c.localSpend(imps, clicks, convs)),
	}
}

// dayView is the delivery on day seen by this worker. The snapshot's Today totals count only
// on the snapshot's own day: after midnight they belong to yesterday.
func (c *campaign) dayView(s *Snapshot, l *local, day, extra int64) models.Counts {
	var base models.Counts
	if day == s.day {
		base = c.totToday
	}
	imps, clicks, convs := loadDay(&l.dayImps, day)+extra, loadDay(&l.dayClicks, day), loadDay(&l.dayConvs, day)
	return models.Counts{
		Impressions: base.Impressions + imps,
		Clicks:      base.Clicks + clicks,
		Conversions: base.Conversions + convs,
		SpendMicros: satAdd(base.SpendMicros, c.localSpend(imps, clicks, convs)),
	}
}

// localSpend prices local counts at the campaign's rate. CPM spend is computed from the count
// (count × rate / 1000) rather than summed per impression, so rounding does not accumulate.
func (c *campaign) localSpend(imps, clicks, convs int64) int64 {
	switch c.pricing {
	case models.PricingCPM:
		return mulDiv(imps, c.rate, 1000, false)
	case models.PricingCPC:
		return mulDiv(clicks, c.rate, 1, false)
	case models.PricingCPA:
		return mulDiv(convs, c.rate, 1, false)
	}
	return 0
}

// paced returns today's even-pacing limits at rc's time: each daily limit L becomes
// ceil(L × (elapsed + step) / day length), at most L. A campaign behind schedule may catch up at
// once; one ahead waits for the schedule. The day length is the real one (23 or 25 hours on
// daylight-saving days).
func (c *campaign) paced(s *Snapshot, rc *reqCtx) models.Limits {
	num, den := rc.elapsed+s.pacingStep, rc.dayLen
	if num >= den || den <= 0 {
		return c.daily
	}
	p := func(l int64) int64 { return mulDiv(l, num, den, true) }
	return models.Limits{
		Impressions: p(c.daily.Impressions),
		Clicks:      p(c.daily.Clicks),
		Conversions: p(c.daily.Conversions),
		SpendMicros: p(c.daily.SpendMicros),
	}
}

// mulDiv returns a × b / d for non-negative a, b and positive d, rounded down (or up when
// ceil), computed in 128 bits and saturated at MaxInt64.
func mulDiv(a, b, d int64, ceil bool) int64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if ceil {
		var carry uint64
		lo, carry = bits.Add64(lo, uint64(d-1), 0)
		hi += carry
	}
	if hi >= uint64(d) {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, uint64(d))
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}

func satAdd(a, b int64) int64 {
	if s := a + b; (s > a) == (b > 0) {
		return s
	}
	if b > 0 {
		return math.MaxInt64
	}
	return math.MinInt64
}
