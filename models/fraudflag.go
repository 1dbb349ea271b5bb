package models

import "time"

// Entity kinds of a fraud flag (fraud_flags.entity_kind).
const (
	FlagZone       = "zone"
	FlagSite       = "site"
	FlagPublisher  = "publisher"
	FlagCampaign   = "campaign"
	FlagAdvertiser = "advertiser"
)

// Review states of a fraud flag (fraud_flags.status).
const (
	FlagOpen      = "open"
	FlagConfirmed = "confirmed"
	FlagDismissed = "dismissed"
)

// Baseline sources of a fraud flag (fraud_flags.baseline_source).
const (
	BaselineOwn   = "own"   // the entity's own trailing history
	BaselinePeers = "peers" // the other entities of its kind (too little history of its own)
)

// FraudFlag is one anomaly found by the publisher-anomaly monitor, for an operator to review:
// an entity whose metric (a rate) stands Z standard deviations above its baseline.
type FraudFlag struct {
	ID             int64      `json:"id" db:"id"`
	EntityKind     string     `json:"entity_kind" db:"entity_kind"`
	EntityID       int64      `json:"entity_id" db:"entity_id"`
	EntityName     string     `json:"entity_name" db:"entity_name"` // read only: the zone's or publisher's name, the site's domain
	Metric         string     `json:"metric" db:"metric"`
	Value          float64    `json:"value" db:"value"`       // the metric over the recent window
	Baseline       float64    `json:"baseline" db:"baseline"` // what was expected
	Z              float64    `json:"z" db:"z"`
	Volume         int64      `json:"volume" db:"volume"` // events behind Value (the rate's denominator)
	BaselineSource string     `json:"baseline_source" db:"baseline_source"`
	Status         string     `json:"status" db:"status"`
	CreatedAt      time.Time  `json:"created_at" db:"created_at"`
	LastSeenAt     time.Time  `json:"last_seen_at" db:"last_seen_at"`
	Scans          int        `json:"scans" db:"scans"` // how many scans found the anomaly
	PausedAt       *time.Time `json:"paused_at,omitempty" db:"paused_at"`
	ReviewedAt     *time.Time `json:"reviewed_at,omitempty" db:"reviewed_at"`
}

// FraudFlagKey names what a flag is about: an entity's metric.
type FraudFlagKey struct {
	EntityKind string `db:"entity_kind"`
	EntityID   int64  `db:"entity_id"`
	Metric     string `db:"metric"`
}

// FraudFlagFilter selects flags for ListFraudFlags. Zero fields do not filter.
type FraudFlagFilter struct {
	Status     string // FlagOpen, FlagConfirmed, FlagDismissed
	EntityKind string
	EntityID   int64
	Page
}

// ZoneHour is one zone's valid and invalid impressions and clicks in one hour, with the site and
// publisher the aggregator filed them under: what the anomaly monitor computes its rates from.
type ZoneHour struct {
	Hour               time.Time // UTC, start of the hour
	ZoneID             int64
	SiteID             int64
	PublisherID        int64
	Impressions        int64
	Clicks             int64
	InvalidImpressions int64
	InvalidClicks      int64
}
