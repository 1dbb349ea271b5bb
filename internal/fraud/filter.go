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

	// ServeNetwork and ServeUAFamily are the serve's binding from the token (NetworkOf and
	// UAFamily of the client the ad was served to): a beacon, click or conversion pixel from
	// another network or User-Agent family is token_mismatch. Zero: unknown (an older token,
	// or a serve request), not checked.
	ServeNetwork  uint32
	ServeUAFamily uint8
	// TagBeacon is an impression beacon of an ad served to the script or iframe tag (from the
	// token): the tag always sends Signals and PageOrigin with it, so a beacon without them
	// was not fired by the tag.
	TagBeacon bool
	Signals   Signals // what the tag saw in the browser (impression beacons)
	// PageOrigin is the publisher page's origin the tag reported (`po`): location.origin for
	// the script tag, the embedding page's (location.ancestorOrigins, else document.referrer)
	// for the iframe tag, whose own requests carry the frame's URL as Referer. "" when absent.
	PageOrigin string
}

// PixelNetworkWindow bounds the network half of token_mismatch for conversion pixels: a
// pixel may fire hours or days after the serve (the campaign's conversion window), by when a
// person has often changed networks (home, office, cellular), so its network is compared
// only within this time of the serve. Its User-Agent family is always compared.
const PixelNetworkWindow = time.Hour

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
//
// The beacon-only verdicts: automation when the tag's signals show an automated browser
// (Signals.Automated) or when a tag-served ad's beacon lacks them; and for referrer_mismatch,
// a tag beacon without a Referer (or with adnet's own frame as Referer) is judged on the page
// origin the tag reported, and one with neither is a mismatch — a missing Referer on a tag
// beacon is a signal, not a pass. Other requests without a Referer still match (privacy
// settings strip it; /serve/json integrations fire beacons from apps and servers).
func (f *RequestFilter) Check(in *RequestFacts) models.Reason {
	var family uint8
	if f.UA != nil {
		v := f.UA.Classify(in.UA)
		if v.Bot {
			return models.ReasonBotUA
		}
		family = v.Family
	} else if in.ServeUAFamily != 0 {
		family = UAFamily(in.UA)
	}
	if in.IP.IsValid() {
		if f.blocked.Load().Contains(in.IP) {
			return models.ReasonBlockedIP
		}
	}
	if in.Type == models.EventImpression && (in.Signals.Automated() || (in.TagBeacon && !in.Signals.Present)) {
		return models.ReasonAutomation
	}
	if in.SiteDomain != "" && in.Type != models.EventConversion && !f.pageMatches(in) {
		return models.ReasonReferrerMismatch
	}
	if f.mismatch(in, family) {
		return models.ReasonTokenMismatch
	}
	if in.Type == models.EventClick && f.MinClickDelay > 0 && !in.ServedAt.IsZero() && in.Now.Sub(in.ServedAt) < f.MinClickDelay {
		return models.ReasonFastClick
	}
	if in.IP.IsValid() && f.datacenter.Load().Contains(in.IP) {
		return models.ReasonDatacenter
	}
	return models.ReasonValid
}

// pageMatches is the referrer_mismatch rule (see Check) for a request with a site domain.
func (f *RequestFilter) pageMatches(in *RequestFacts) bool {
	page := in.Referer
	if in.TagBeacon && (page == "" || f.isAdHost(page)) {
		page = in.PageOrigin
		if page == "" || len(page) > MaxPageOriginLen {
			return false
		}
	}
	return page == "" || RefererMatches(page, in.SiteDomain) || f.isAdHost(page)
}

// isAdHost reports whether u is on the ad server's own host (adnet's iframe, or the demo page
// adnet serves itself).
func (f *RequestFilter) isAdHost(u string) bool {
	return f.AdHost != "" && RefererMatches(u, f.AdHost)
}

// TokenMismatch is token_mismatch alone, for the events Check does not judge (conversion
// pixels): the request comes from another network than the serve's (IPv4 /24, IPv6 /48;
// for a conversion, only within PixelNetworkWindow of the serve) or from another User-Agent
// family. Unknown sides (zero binding, no address) are not compared.
//
// It is a per-event verdict, and a soft one for real people: a phone moving between Wi-Fi
// and cellular between the serve and the click changes networks (the beacon, fired within
// seconds, rarely does), and so does a laptop moving between networks or a browser behind a
// relay that rotates its egress addresses (iCloud Private Relay, some VPNs); such a click is not
// billed but the person still reaches the landing page, and the impression stays valid.
// Harvested tokens and injected clicks, which come from elsewhere, are what it is for.
func (f *RequestFilter) TokenMismatch(in *RequestFacts) bool {
	var family uint8
	if in.ServeUAFamily != 0 {
		family = f.UAFamily(in.UA)
	}
	return f.mismatch(in, family)
}

// mismatch compares the request with the serve's binding; family is UAFamily(in.UA).
func (f *RequestFilter) mismatch(in *RequestFacts, family uint8) bool {
	if in.ServeUAFamily != 0 && family != 0 && family != in.ServeUAFamily {
		return true
	}
	if in.ServeNetwork == 0 || !in.IP.IsValid() {
		return false
	}
	if in.Type == models.EventConversion && (in.ServedAt.IsZero() || in.Now.Sub(in.ServedAt) > PixelNetworkWindow) {
		return false
	}
	return NetworkOf(in.IP) != in.ServeNetwork
}

// UAFamily returns UAFamily(ua), from the bot verdict's cache when there is a classifier
// (the serve has just classified the same string: a cache hit, no allocation).
func (f *RequestFilter) UAFamily(ua string) uint8 {
	if f != nil && f.UA != nil && f.UA.cache != nil {
		return f.UA.Classify(ua).Family
	}
	return UAFamily(ua) // without a cache, Classify would run every pattern again
}
