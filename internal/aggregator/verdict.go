package aggregator

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"
	"time"

	"adnet/internal/fraud"
	"adnet/models"
)

// Shares of the design load (Options.ExpectedEventsPerSecond) used to size the fraud state:
// every impression follows a serve event, so impressions are at most about half of all events
// (0.4 leaves room for unfilled requests); clicks are a few percent of impressions in practice,
// a tenth of all events leaves room for floods. Above its design load a Dedup degrades toward
// counting (its false-positive rate stays under dedupFalsePositive; repeats of what it could
// not record are billed, and a click whose beacon may have gone unrecorded is not
// no_impression) and a RateCounter's over-count grows smoothly; memory never grows.
const (
	impressionShare = 0.4
	clickShare      = 0.1
	// taintedShare sizes the memory of beacons judged automation, referrer_mismatch or
	// token_mismatch: a small part of the traffic; above it the filter degrades toward
	// counting (a click on such an impression is then judged on its own).
	taintedShare = 0.05
	// taintedFalsePositive is lower than dedupFalsePositive because a false positive here
	// calls a real person's click invalid, and a click asks up to len(inheritedReasons) keys.
	taintedFalsePositive = 0.0001
	// dedupFalsePositive is the design false-positive rate of the duplicate filters: at most one
	// valid impression or click in 1000 wrongly called a duplicate at the design load.
	dedupFalsePositive = 0.001
	rateSegments       = 10
)

// verdicts holds the aggregator's fraud state: the verdicts that need every worker's events.
// It is fed every event in (roughly) time order, worker-invalid ones included, and is
// deterministic given that order: warm-up replays the same events through it to rebuild the
// state after a restart.
type verdicts struct {
	impValid  *fraud.Dedup       // impression ids counted valid: duplicate_impression
	beacons   *fraud.Dedup       // impression ids beaconed (or asked about by a click): no_impression
	clicked   *fraud.Dedup       // impression ids clicked (worker-valid clicks): duplicate_click
	tainted   *fraud.Dedup       // (impression id, reason) of beacons with an inherited reason (inheritedReasons)
	perIP     *fraud.RateCounter // clicks per IP group (IPv4 /32, IPv6 /64): click_flood
	perViewer *fraud.RateCounter // clicks per viewer cookie: click_flood
	maxClicks uint32
	minDelay  time.Duration
	window    time.Duration
	// unchecked counts the clicks that passed the no_impression rule only because the beacon
	// filter was saturated (its "not seen" was incomplete). Read by Stats from another
	// goroutine.
	unchecked atomic.Int64
}

// verdictOptions sizes and tunes verdicts.
type verdictOptions struct {
	Window         time.Duration // fraud.click_window
	MaxClicksPerIP int           // fraud.max_clicks_per_ip
	MinClickDelay  time.Duration // fraud.min_click_delay; 0 disables fast_click
	EventsPerSec   int           // design load
}

func newVerdicts(o verdictOptions) (*verdicts, error) {
	perWindow := func(share float64) int {
		return max(1000, int(share*float64(o.EventsPerSec)*o.Window.Seconds()))
	}
	dedup := func(share float64) (*fraud.Dedup, error) {
		return fraud.NewDedup(fraud.DedupOptions{Window: o.Window, ExpectedPerWindow: perWindow(share), FalsePositiveRate: dedupFalsePositive})
	}
	v := &verdicts{maxClicks: uint32(o.MaxClicksPerIP), minDelay: o.MinClickDelay, window: o.Window}
	var err error
	if v.impValid, err = dedup(impressionShare); err != nil {
		return nil, err
	}
	if v.beacons, err = dedup(impressionShare); err != nil {
		return nil, err
	}
	if v.clicked, err = dedup(clickShare); err != nil {
		return nil, err
	}
	if v.tainted, err = fraud.NewDedup(fraud.DedupOptions{Window: o.Window, ExpectedPerWindow: perWindow(taintedShare), FalsePositiveRate: taintedFalsePositive}); err != nil {
		return nil, err
	}
	if v.perIP, err = fraud.NewRateCounter(o.Window, rateSegments, perWindow(clickShare)); err != nil {
		return nil, err
	}
	if v.perViewer, err = fraud.NewRateCounter(o.Window, rateSegments, perWindow(clickShare)); err != nil {
		return nil, err
	}
	return v, nil
}

// MemoryBytes is the fixed memory of the fraud state.
func (v *verdicts) MemoryBytes() int {
	return v.impValid.MemoryBytes() + v.beacons.MemoryBytes() + v.clicked.MemoryBytes() +
		v.tainted.MemoryBytes() + v.perIP.MemoryBytes() + v.perViewer.MemoryBytes()
}

// dedupStats returns the capacity figures of the duplicate filters, by the name shown in
// /status and /metrics (filter="impressions", "beacons", "clicks", "tainted"). Safe from any
// goroutine.
func (v *verdicts) dedupStats() map[string]fraud.DedupStats {
	return map[string]fraud.DedupStats{
		"impressions": v.impValid.Stats(),
		"beacons":     v.beacons.Stats(),
		"clicks":      v.clicked.Stats(),
		"tainted":     v.tainted.Stats(),
	}
}

// judge returns the final reason of ev and records ev in the state. An event that already
// carries the worker's verdict keeps it. Conversions are judged at flush time against the
// database (see batch.resolveConversions); serve events have no aggregator verdict.
func (v *verdicts) judge(ev *models.Event) models.Reason {
	var zero models.ImpressionID
	switch ev.Type {
	case models.EventImpression:
		if ev.ImpressionID == zero {
			return ev.Reason
		}
		// Every beacon, valid or not, shows the impression rendered somewhere: a click on it
		// is not a no_impression click.
		v.beacons.SeenOrAdd(ev.ImpressionID, ev.Time)
		if ev.Reason != models.ReasonValid {
			if inherited(ev.Reason) {
				v.tainted.SeenOrAdd(taintKey(ev.ImpressionID, ev.Reason), ev.Time)
			}
			return ev.Reason
		}
		// The duplicate filter remembers a beacon for the window only, while the token lives
		// tracking.token_ttl: a beacon later than the window after its serve is not billed,
		// so that every billable beacon of an impression id is inside the filter's memory of
		// the first (a real beacon fires within seconds of the serve). The serve time is
		// signed into the token.
		if v.late(ev) {
			return models.ReasonExpiredToken
		}
		// Only valid beacons go into impValid: a prerendered (prefetch) beacon followed by the
		// real one must not make the real one a duplicate.
		if v.impValid.SeenOrAdd(ev.ImpressionID, ev.Time) {
			return models.ReasonDuplicateImpression
		}
		return models.ReasonValid
	case models.EventClick:
		if ev.Reason != models.ReasonValid || ev.ImpressionID == zero {
			return ev.Reason
		}
		// Every rule's state is updated whatever the outcome, so the state does not depend on
		// which rule fired first.
		dup := v.clicked.SeenOrAdd(ev.ImpressionID, ev.Time)
		flood := false
		if key, ok := ipGroup(ev.IP); ok && v.perIP.Add(key, ev.Time) > v.maxClicks {
			flood = true
		}
		if ev.ViewerID != 0 && v.perViewer.Add(viewerKey(ev.ViewerID), ev.Time) > v.maxClicks {
			flood = true
		}
		fast := v.minDelay > 0 && !ev.ServedAt.IsZero() && ev.Time.Sub(ev.ServedAt) < v.minDelay
		taint := v.taintOf(ev)
		// fraud.Dedup has no membership test that does not record: asking the beacon filter
		// records the click's impression id in it, which is harmless because only clicks ask
		// it and a later click on the same impression is a duplicate_click anyway.
		beaconed, complete := v.beacons.Lookup(ev.ImpressionID, ev.Time, true)
		if !beaconed && !complete {
			// The beacon may be among what a saturated filter could not record: above the
			// design load the rule passes rather than call a real click invalid.
			beaconed = true
			if !dup && !flood && !fast {
				v.unchecked.Add(1)
			}
		}
		switch {
		case dup:
			return models.ReasonDuplicateClick
		case taint != models.ReasonValid:
			return taint
		case flood:
			return models.ReasonClickFlood
		case fast:
			return models.ReasonFastClick
		case !beaconed:
			return models.ReasonNoImpression // soft: the weakest signal, reported last
		}
		return models.ReasonValid
	}
	return ev.Reason
}

// inheritedReasons are the beacon verdicts a click on the same impression inherits: they say
// the impression itself was not a person's view on the publisher's page — an automated
// browser (whose click comes from the same automation), a placement on another site than the
// zone's (whose click is on that other site too, but an iframe tag's click carries no page
// to check), a token used away from the browser it was served to. The others do not: a
// prefetched beacon says nothing of the click that follows, and the list-, User-Agent- and
// token-based ones are judged on the click itself.
var inheritedReasons = [...]models.Reason{models.ReasonAutomation, models.ReasonReferrerMismatch, models.ReasonTokenMismatch}

func inherited(r models.Reason) bool {
	for _, x := range inheritedReasons {
		if r == x {
			return true
		}
	}
	return false
}

// taintKey is the key of (impression id, reason) in the tainted filter: the impression id
// with the reason in the top byte of its sequence half. An impression id is a random
// per-process prefix (bytes 0–7) and a counter (bytes 8–15, adserver.Service), so ids of one
// process differ in their low bytes: changing a low byte would make the key of one impression
// another impression's (a real person's click inheriting a stranger's verdict, seen in the
// fraud evaluation), while the counter's top byte stays zero for 2^56 serves.
func taintKey(id models.ImpressionID, r models.Reason) [16]byte {
	id[8] ^= byte(r)
	return id
}

// taintOf returns the reason a click inherits from its impression's beacon, or ReasonValid.
// It only looks: a "not seen" of a saturated filter passes the click, judged on its own.
func (v *verdicts) taintOf(ev *models.Event) models.Reason {
	for _, r := range inheritedReasons {
		if seen, _ := v.tainted.Lookup(taintKey(ev.ImpressionID, r), ev.Time, false); seen {
			return r
		}
	}
	return models.ReasonValid
}

// late reports whether ev came more than the window after its serve (or its serve time is
// unknown): the duplicate filters cannot have remembered every earlier event of its impression.
func (v *verdicts) late(ev *models.Event) bool {
	return ev.ServedAt.IsZero() || ev.Time.Sub(ev.ServedAt) > v.window
}

// ipGroup returns the flood key of a client address: fraud.GroupKey of it (IPv6 by /64). The
// unknown address (all zero) has no group: unrelated clients must not share one counter.
func ipGroup(ip [16]byte) ([16]byte, bool) {
	if ip == ([16]byte{}) {
		return ip, false
	}
	a := netip.AddrFrom16(ip).Unmap()
	if a.IsUnspecified() {
		return [16]byte{}, false
	}
	return fraud.GroupKey(a), true
}

// viewerKey is the flood key of a viewer cookie id.
func viewerKey(id uint64) [16]byte {
	var k [16]byte
	binary.LittleEndian.PutUint64(k[:8], id)
	k[15] = 'v'
	return k
}
