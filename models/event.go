package models

import "time"

// EventType is what happened: an ad request with its decision, a rendered impression, a click,
// or a conversion. The numeric values are part of the event-log format: never renumber.
type EventType uint8

// Event types. Served is recorded at decision time (for pacing and fill rate) and is not
// billable; Impression is recorded when the creative begins to render (IAB/MRC) and is.
const (
	EventServe      EventType = 1 // an ad request; CreativeID == 0 means nothing was served (unfilled)
	EventImpression EventType = 2 // the impression beacon fired: the creative began to render
	EventClick      EventType = 3 // a click went through the redirect
	EventConversion EventType = 4 // a conversion (pixel or server-to-server postback)
)

// String returns the lower-case name used in logs, reports and the API.
func (t EventType) String() string {
	switch t {
	case EventServe:
		return "serve"
	case EventImpression:
		return "impression"
	case EventClick:
		return "click"
	case EventConversion:
		return "conversion"
	}
	return "unknown"
}

// Reason says why an event is invalid (not billable). ReasonValid (0) means it counts.
// The numeric values are part of the event-log format and the statistics tables: never renumber,
// only append.
type Reason uint8

// Invalid-traffic reasons (MRC GIVT classes and adnet's own rules). The names returned by
// String are the public codes shown in reports.
const (
	ReasonValid               Reason = 0
	ReasonBadToken            Reason = 1  // token signature does not verify
	ReasonExpiredToken        Reason = 2  // token older than tracking.token_ttl (a beacon: older than fraud.click_window)
	ReasonBotUA               Reason = 3  // crawler, bot or non-browser user agent
	ReasonPrefetch            Reason = 4  // prefetch/prerender or HEAD request
	ReasonBlockedIP           Reason = 5  // IP in the blocklist
	ReasonDatacenter          Reason = 6  // IP in a data-center range (soft)
	ReasonDuplicateClick      Reason = 7  // impression already clicked within fraud.click_window
	ReasonDuplicateImpression Reason = 8  // impression id already beaconed
	ReasonClickFlood          Reason = 9  // too many clicks from one IP (/64) or viewer in the window
	ReasonFastClick           Reason = 10 // click sooner than fraud.min_click_delay after serve
	ReasonNoImpression        Reason = 11 // click whose impression never beaconed (soft)
	ReasonReferrerMismatch    Reason = 12 // Referer host is not the zone's site domain
	ReasonDuplicateConversion Reason = 13 // click id already converted
	ReasonNoClick             Reason = 14 // conversion that matches no known valid click
	ReasonPausedZone          Reason = 15 // zone paused (by fraud.auto_pause or a person), archived or deleted
	ReasonPausedCampaign      Reason = 16 // campaign paused, archived or deleted
	ReasonTokenMismatch       Reason = 17 // click or conversion from another network (/24, IPv6 /48) or User-Agent family than its serve
	ReasonAutomation          Reason = 18 // the tag saw an automated browser (navigator.webdriver, headless hints)
)

// reasonNames is indexed by Reason; it is read-only after package initialisation.
var reasonNames = [...]string{
	ReasonValid:               "valid",
	ReasonBadToken:            "bad_token",
	ReasonExpiredToken:        "expired_token",
	ReasonBotUA:               "bot_ua",
	ReasonPrefetch:            "prefetch",
	ReasonBlockedIP:           "blocked_ip",
	ReasonDatacenter:          "datacenter",
	ReasonDuplicateClick:      "duplicate_click",
	ReasonDuplicateImpression: "duplicate_impression",
	ReasonClickFlood:          "click_flood",
	ReasonFastClick:           "fast_click",
	ReasonNoImpression:        "no_impression",
	ReasonReferrerMismatch:    "referrer_mismatch",
	ReasonDuplicateConversion: "duplicate_conversion",
	ReasonNoClick:             "no_click",
	ReasonPausedZone:          "paused_zone",
	ReasonPausedCampaign:      "paused_campaign",
	ReasonTokenMismatch:       "token_mismatch",
	ReasonAutomation:          "automation",
}

// IVTClass is the MRC invalid-traffic class of a Reason: general invalid traffic (GIVT),
// caught by routine, list-based or parameter checks, or sophisticated invalid traffic (SIVT),
// which needs corroboration across events or signals from the page.
type IVTClass uint8

// The classes; ClassNone is the class of ReasonValid.
const (
	ClassNone IVTClass = iota
	ClassGIVT
	ClassSIVT
)

// String returns "givt", "sivt" or "" for ClassNone.
func (c IVTClass) String() string {
	switch c {
	case ClassGIVT:
		return "givt"
	case ClassSIVT:
		return "sivt"
	}
	return ""
}

// reasonClasses is indexed by Reason, like reasonNames. Paused zones and campaigns are not
// traffic quality at all, but the MRC's two classes are the only invalid buckets an invoice
// knows: they are routine, rule-based filtration, hence GIVT.
var reasonClasses = [...]IVTClass{
	ReasonValid:               ClassNone,
	ReasonBadToken:            ClassGIVT, // invalid tracking parameters
	ReasonExpiredToken:        ClassGIVT,
	ReasonBotUA:               ClassGIVT, // known crawlers, non-browser user agents
	ReasonPrefetch:            ClassGIVT,
	ReasonBlockedIP:           ClassGIVT, // list-based
	ReasonDatacenter:          ClassGIVT, // known data-center traffic
	ReasonDuplicateClick:      ClassGIVT, // routine duplicate filtration
	ReasonDuplicateImpression: ClassGIVT,
	ReasonClickFlood:          ClassSIVT, // rate anomalies across events
	ReasonFastClick:           ClassSIVT,
	ReasonNoImpression:        ClassSIVT, // multipoint corroboration: a click needs its impression
	ReasonReferrerMismatch:    ClassSIVT, // misappropriated or spoofed placement
	ReasonDuplicateConversion: ClassGIVT,
	ReasonNoClick:             ClassSIVT,
	ReasonPausedZone:          ClassGIVT,
	ReasonPausedCampaign:      ClassGIVT,
	ReasonTokenMismatch:       ClassSIVT, // harvested tokens, click injection
	ReasonAutomation:          ClassSIVT, // automated browsers that look human
}

// Class returns the reason's MRC class: ClassNone for ReasonValid, and ClassGIVT for a
// reason this build does not know (written by a newer one), which is invalid all the same.
func (r Reason) Class() IVTClass {
	if int(r) < len(reasonClasses) {
		return reasonClasses[r]
	}
	return ClassGIVT
}

// NumReasons is one more than the highest Reason; arrays indexed by Reason use it as length.
const NumReasons = len(reasonNames)

// String returns the public reason code ("bot_ua", …).
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// ParseReason returns the Reason named s, or false.
func ParseReason(s string) (Reason, bool) {
	for i, n := range reasonNames {
		if n == s {
			return Reason(i), true
		}
	}
	return 0, false
}

// ImpressionID identifies one ad decision (one served creative) for its whole life: the
// impression beacon, the click and the conversion all carry it. Random, 16 bytes.
type ImpressionID [16]byte

// Event is one record of a worker's event log and the input of the statistics pipeline.
// It is a flat value type so that the log codec can encode it without allocating.
type Event struct {
	Type         EventType
	Reason       Reason // the worker's own verdict; the aggregator may add one (duplicates, floods)
	Time         time.Time
	ImpressionID ImpressionID // zero for unfilled serve events
	ServedAt     time.Time    // when the decision was taken (from the token); equals Time for serve events
	ZoneID       int64
	CampaignID   int64
	CreativeID   int64
	PriceMicros  int64    // the campaign's rate at decision time (CPM rate per 1000, CPC/CPA per event)
	Country      [2]byte  // ISO 3166-1 alpha-2 from nginx GeoIP, zero if unknown
	IP           [16]byte // client IP, IPv4 as IPv4-mapped IPv6
	ViewerID     uint64   // first-party viewer cookie id, 0 when none (privacy or first visit)
	UAHash       uint64   // hash of the User-Agent string, for audits and per-UA rules
	PayoutMicros int64    // conversions: the payout reported by the advertiser's postback, else 0
	// Pricing and ShareBP are the terms the ad was sold on, frozen at decision time and signed
	// into the tracking tokens: the campaign's pricing model and the publisher's revenue share
	// in basis points. Pricing "" means not recorded (events of older tokens and log records):
	// the aggregator then prices with the current terms.
	Pricing PricingModel
	ShareBP int
}
