package fraud

import (
	"net/netip"
	"sync/atomic"
	"time"

	"adnet/models"
)

// RequestFacts are what a worker knows about one tracking or ad request, as plain values.
type RequestFacts struct {
	Type       models.EventType
	UA         string
	Referer    string
	IP         netip.Addr
	SiteDomain string    // the zone's site domain ("" when the zone is unknown)
	ServedAt   time.Time // decision time from the token (clicks); zero for serve requests
	Now        time.Time
}

// RequestFilter takes the per-request invalid-traffic verdicts in a worker: cheap, bounded,
// allocation-free on a UA cache hit. Verdicts needing every worker's events (duplicates,
// floods, missing impressions) are the aggregator's. It is safe for concurrent use; the IP
// lists are swapped atomically when they are reloaded.
type RequestFilter struct {
	UA            *UAClassifier
	MinClickDelay time.Duration
	// AdHost is the ad server's own host: a click or beacon from inside adnet's iframe carries
	// the frame's URL as Referer, which is not a mismatch.
	AdHost string

	blocked    atomic.Pointer[IPSet]
	datacenter atomic.Pointer[IPSet]
}

// SetLists replaces the blocklist and the data-center list (nil = empty).
func (f *RequestFilter) SetLists(blocked, datacenter *IPSet) {
	f.blocked.Store(blocked)
	f.datacenter.Store(datacenter)
}

// Check returns the first reason the request is invalid, or models.ReasonValid. The order is
// from the most certain to the softest: a known bot on a data-center IP is reported as a bot.
func (f *RequestFilter) Check(in *RequestFacts) models.Reason {
	if f.UA != nil && f.UA.Classify(in.UA).Bot {
		return models.ReasonBotUA
	}
	if in.IP.IsValid() {
		if f.blocked.Load().Contains(in.IP) {
			return models.ReasonBlockedIP
		}
	}
	if in.Referer != "" && in.SiteDomain != "" && in.Type != models.EventConversion &&
		!RefererMatches(in.Referer, in.SiteDomain) && (f.AdHost == "" || !RefererMatches(in.Referer, f.AdHost)) {
		return models.ReasonReferrerMismatch
	}
	if in.Type == models.EventClick && f.MinClickDelay > 0 && !in.ServedAt.IsZero() && in.Now.Sub(in.ServedAt) < f.MinClickDelay {
		return models.ReasonFastClick
	}
	if in.IP.IsValid() && f.datacenter.Load().Contains(in.IP) {
		return models.ReasonDatacenter
	}
	return models.ReasonValid
}
