package aggregator

import (
	"slices"
	"time"

	"adnet/internal/eventlog"
	"adnet/models"
)

// aggKey is the in-memory key of a statistics row: the UTC hour and the network-time-zone day
// of the events (both, because with a :30 offset one hour feeds two days), and the dimensions.
type aggKey struct {
	hour     int64 // Unix seconds of the UTC hour
	day      int64 // Unix seconds of the local date at 00:00 UTC
	zone     int64
	campaign int64
	creative int64
	country  [2]byte // normalised by countryCode; zero when unknown
}

// aggVal are the counters of one row.
type aggVal struct {
	requests, served, imps, clicks, convs int64
	invImps, invClicks, invConvs          int64
	spend, reven                          int64 // nano-units
}

func (v *aggVal) add(o *aggVal) {
	v.requests += o.requests
	v.served += o.served
	v.imps += o.imps
	v.clicks += o.clicks
	v.convs += o.convs
	v.invImps += o.invImps
	v.invClicks += o.invClicks
	v.invConvs += o.invConvs
	v.spend += o.spend
	v.reven += o.reven
}

type invKey struct {
	aggKey
	typ    models.EventType
	reason models.Reason
}

// pendingConv is a conversion whose aggregator verdict is taken at flush time, against the
// database (its click may be days old). Its price is fixed when it is read.
type pendingConv struct {
	key          aggKey
	id           models.ImpressionID
	time         time.Time
	reason       models.Reason // the worker's verdict
	zone         int64
	campaign     int64
	creative     int64
	payout       int64
	spend, reven int64 // nano-units, if approved
}

// pendingClick is a valid click later than the window after its serve, whose duplicate_click
// verdict is taken at flush time against the database (see batch.resolve).
type pendingClick struct {
	key          aggKey
	row          int   // index of its row in batch.clicks
	spend, reven int64 // nano-units, if it stays valid
}

// progress is how far a batch got in one source, and where that source stood before it.
type progress struct {
	base   eventlog.Position // committed position when the batch started on this source
	target eventlog.Position // position after the batch's last event of this source
	time   time.Time         // that event's time
	// The stream only: the release marks with base and target (models.ReleaseMark).
	baseMark, targetMark models.ReleaseMark
}

// batch is the statistics of the events consumed since the last commit, in memory.
type batch struct {
	rows    map[aggKey]*aggVal
	invalid map[invKey]int64
	clicks  []models.ClickRow
	clicked map[models.ImpressionID]time.Time // first valid click of an impression in this batch
	convs   []pendingConv
	late    []pendingClick // valid clicks judged at flush time, not yet in rows
	events  int
	sources map[string]*progress
	tally   [models.NumReasons]int64 // aggregator verdicts on impressions and clicks
	// convTally: verdicts on conversions, from the last resolve (they are taken at flush).
	convTally [models.NumReasons]int64
}

func newBatch() *batch {
	return &batch{
		rows:    map[aggKey]*aggVal{},
		invalid: map[invKey]int64{},
		clicked: map[models.ImpressionID]time.Time{},
		sources: map[string]*progress{},
	}
}

func (b *batch) row(k aggKey) *aggVal {
	v := b.rows[k]
	if v == nil {
		v = &aggVal{}
		b.rows[k] = v
	}
	return v
}

// consumed records that the head event of s, of time t, is in the batch.
func (b *batch) consumed(s *source, t time.Time) {
	p := b.sources[s.name]
	if p == nil {
		p = &progress{base: s.committed, baseMark: s.committedMark}
		b.sources[s.name] = p
	}
	p.target, p.targetMark, p.time = s.HeadPos, s.headMark, t
	b.events++
}

// absorb adds the later batch o into b (b keeps its bases, takes o's targets).
func (b *batch) absorb(o *batch) {
	for k, v := range o.rows {
		b.row(k).add(v)
	}
	for k, n := range o.invalid {
		b.invalid[k] += n
	}
	for _, p := range o.late {
		p.row += len(b.clicks)
		b.late = append(b.late, p)
	}
	b.clicks = append(b.clicks, o.clicks...)
	for id, t := range o.clicked {
		if old, ok := b.clicked[id]; !ok || t.Before(old) {
			b.clicked[id] = t
		}
	}
	b.convs = append(b.convs, o.convs...)
	b.events += o.events
	for src, p := range o.sources {
		if q := b.sources[src]; q != nil {
			q.target, q.targetMark, q.time = p.target, p.targetMark, p.time
		} else {
			cp := *p
			b.sources[src] = &cp
		}
	}
	for i, n := range o.tally {
		b.tally[i] += n
	}
}

// resolved is a batch made ready for the store: late clicks and conversions judged, owners
// filled in.
type resolved struct {
	mb    *models.Batch
	tally [models.NumReasons]int64 // the verdicts taken at flush time
}

// resolve judges the batch's conversions with the database's facts (facts: the click and
// conversion history of their impression ids) and builds the store's batch. It does not modify
// b, so a failed commit can be retried with fresh facts.
//
// Rules, for a conversion the worker found valid: duplicate_conversion when its click already
// has an approved conversion (stored, or earlier in this batch); no_click when its impression
// has no valid click (none stored, none in this batch): a conversion after an invalid click is
// invalid too.
func (b *batch) resolve(facts map[models.ImpressionID]models.ConversionFact, dims *models.Dimensions) resolved {
	var r resolved
	extra := map[aggKey]*aggVal{}
	extraInv := map[invKey]int64{}
	approved := map[models.ImpressionID]bool{}
	var zero models.ImpressionID
	mb := &models.Batch{}
	clicks := b.clicks
	if len(b.late) > 0 {
		// duplicate_click for a late click when its impression already has a valid click,
		// stored or earlier in this batch: exactly once per impression id for the token's
		// whole life, beyond what the window's filter remembers.
		clicks = slices.Clone(b.clicks)
		validBefore := map[models.ImpressionID]bool{}
		next := 0
		for i := range clicks {
			c := &clicks[i]
			if next < len(b.late) && b.late[next].row == i {
				p := &b.late[next]
				next++
				v := extra[p.key]
				if v == nil {
					v = &aggVal{}
					extra[p.key] = v
				}
				if !facts[c.ImpressionID].ClickTime.IsZero() || validBefore[c.ImpressionID] {
					c.Reason = models.ReasonDuplicateClick
					r.tally[c.Reason]++
					v.invClicks++
					extraInv[invKey{p.key, models.EventClick, c.Reason}]++
					continue
				}
				v.clicks++
				v.spend += p.spend
				v.reven += p.reven
			}
			if c.Reason == models.ReasonValid {
				validBefore[c.ImpressionID] = true
			}
		}
	}
	for i := range b.convs {
		c := &b.convs[i]
		reason := c.reason
		var clickTime time.Time
		if c.id != zero {
			f := facts[c.id]
			clickTime = f.ClickTime
			if t, ok := b.clicked[c.id]; ok && (clickTime.IsZero() || t.Before(clickTime)) {
				clickTime = t
			}
			if reason == models.ReasonValid {
				switch {
				case f.Converted || approved[c.id]:
					reason = models.ReasonDuplicateConversion
				case clickTime.IsZero():
					reason = models.ReasonNoClick
				}
				if reason != models.ReasonValid {
					r.tally[reason]++
				}
			}
		} else if reason == models.ReasonValid {
			reason = models.ReasonNoClick // unattributable
			r.tally[reason]++
		}
		v := extra[c.key]
		if v == nil {
			v = &aggVal{}
			extra[c.key] = v
		}
		if reason == models.ReasonValid {
			approved[c.id] = true
			v.convs++
			v.spend += c.spend
			v.reven += c.reven
		} else {
			v.invConvs++
			extraInv[invKey{c.key, models.EventConversion, reason}]++
		}
		if c.id != zero {
			mb.Conversions = append(mb.Conversions, models.ConversionRow{
				ImpressionID: c.id, Time: c.time, ClickTime: clickTime, ZoneID: c.zone, CampaignID: c.campaign,
				CreativeID: c.creative, AdvertiserID: dims.Campaigns[c.campaign].AdvertiserID,
				PayoutMicros: c.payout, Reason: reason,
			})
		}
	}

	mb.Stats = make([]models.StatsDelta, 0, len(b.rows)+len(extra))
	addRow := func(k aggKey, v *aggVal) {
		z, c := dims.Zones[k.zone], dims.Campaigns[k.campaign]
		mb.Stats = append(mb.Stats, models.StatsDelta{
			Hour: time.Unix(k.hour, 0).UTC(), Day: time.Unix(k.day, 0).UTC(),
			ZoneID: k.zone, CampaignID: k.campaign, CreativeID: k.creative, Country: countryString(k.country),
			AdvertiserID: c.AdvertiserID, PublisherID: z.PublisherID, SiteID: z.SiteID,
			Requests: v.requests, Served: v.served, Impressions: v.imps, Clicks: v.clicks, Conversions: v.convs,
			InvalidImpressions: v.invImps, InvalidClicks: v.invClicks, InvalidConversions: v.invConvs,
			SpendNanos: v.spend, RevenueNanos: v.reven,
		})
	}
	for k, v := range b.rows {
		if e := extra[k]; e != nil {
			sum := *v
			sum.add(e)
			delete(extra, k)
			addRow(k, &sum)
		} else {
			addRow(k, v)
		}
	}
	for k, v := range extra {
		addRow(k, v)
	}
	addInv := func(k invKey, n int64) {
		z, c := dims.Zones[k.zone], dims.Campaigns[k.campaign]
		mb.Invalid = append(mb.Invalid, models.InvalidDelta{
			Hour: time.Unix(k.hour, 0).UTC(), Day: time.Unix(k.day, 0).UTC(),
			ZoneID: k.zone, CampaignID: k.campaign, CreativeID: k.creative, Country: countryString(k.country),
			AdvertiserID: c.AdvertiserID, PublisherID: z.PublisherID, SiteID: z.SiteID,
			EventType: k.typ, Reason: k.reason, Count: n,
		})
	}
	for k, n := range b.invalid {
		addInv(k, n+extraInv[k])
		delete(extraInv, k)
	}
	for k, n := range extraInv {
		addInv(k, n)
	}
	mb.Clicks = clicks
	for src, p := range b.sources {
		mb.Offsets = append(mb.Offsets, models.Offset{Source: src, Segment: p.target.Segment, Offset: p.target.Offset, EventTime: p.time, Mark: p.targetMark})
	}
	r.mb = mb
	return r
}

// factIDs returns the impression ids the batch's conversions and late clicks need facts about.
func (b *batch) factIDs() []models.ImpressionID {
	var zero models.ImpressionID
	seen := map[models.ImpressionID]bool{}
	var ids []models.ImpressionID
	for _, p := range b.late {
		if id := b.clicks[p.row].ImpressionID; !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for i := range b.convs {
		if id := b.convs[i].id; id != zero && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

func countryString(c [2]byte) string {
	if c == ([2]byte{}) {
		return ""
	}
	return string(c[:])
}
