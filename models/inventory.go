package models

import "time"

// Inventory is everything the decision engine needs, loaded from storage in one consistent read
// and turned into an immutable in-memory snapshot. Only active rows whose parents are active
// are included; Totals carry what the statistics pipeline has counted so far, for caps,
// budgets and pacing.
type Inventory struct {
	LoadedAt    time.Time
	Advertisers []Advertiser
	Campaigns   []Campaign
	Creatives   []Creative
	Publishers  []Publisher
	Sites       []Site
	Zones       []Zone
	Links       []ZoneCampaign
	Totals      []CampaignTotals
}

// Counts are the valid-event counts and spend of one campaign or creative over some period.
type Counts struct {
	Impressions int64 `json:"impressions" db:"impressions"`
	Clicks      int64 `json:"clicks" db:"clicks"`
	Conversions int64 `json:"conversions" db:"conversions"`
	SpendMicros int64 `json:"spend_micros" db:"spend_micros"`
}

// Add returns c + o.
func (c Counts) Add(o Counts) Counts {
	return Counts{c.Impressions + o.Impressions, c.Clicks + o.Clicks, c.Conversions + o.Conversions, c.SpendMicros + o.SpendMicros}
}

// CampaignTotals are a campaign's committed totals: today (network time zone) and lifetime.
type CampaignTotals struct {
	CampaignID int64
	Today      Counts
	Lifetime   Counts
}
