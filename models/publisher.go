package models

import (
	"strings"
	"time"
)

// Publisher sells ad space on its sites and is paid a share of the spend its zones generate.
type Publisher struct {
	ID     int64  `json:"id" db:"id"`
	Name   string `json:"name" db:"name"`
	Status Status `json:"status" db:"status"`
	// RevenueShareBP is the publisher's cut of advertiser spend in basis points
	// (7000 = 70 %). Integer so that payouts are exact: revenue = spend * bp / 10000.
	RevenueShareBP int       `json:"revenue_share_bp" db:"revenue_share_bp"`
	CreatedAt      time.Time `json:"created_at" db:"created_at"`
	UpdatedAt      time.Time `json:"updated_at" db:"updated_at"`
}

// Validate returns an EINVALID error naming the first bad field.
func (p *Publisher) Validate() error {
	if err := validName("name", "publisher name", p.Name); err != nil {
		return err
	}
	if !p.Status.Valid() {
		return Invalid("status", "publisher status %q: must be active, paused or archived", p.Status)
	}
	if p.RevenueShareBP < 0 || p.RevenueShareBP > 10000 {
		return Invalid("revenue_share_bp", "revenue_share_bp %d: must be between 0 and 10000 (basis points)", p.RevenueShareBP)
	}
	return nil
}

// PublisherRevenue returns the publisher's share of spend, rounded down to the micro-unit.
// Rounding down means the network never pays out more than it bills.
func PublisherRevenue(spendMicros int64, shareBP int) int64 {
	return spendMicros * int64(shareBP) / 10000
}

// Site is one web property (domain) of a publisher.
type Site struct {
	ID          int64     `json:"id" db:"id"`
	PublisherID int64     `json:"publisher_id" db:"publisher_id"`
	Name        string    `json:"name" db:"name"`
	Domain      string    `json:"domain" db:"domain"` // lower-case host, no scheme or port: "news.example"
	Status      Status    `json:"status" db:"status"`
	CreatedAt   time.Time `json:"created_at" db:"created_at"`
	UpdatedAt   time.Time `json:"updated_at" db:"updated_at"`
}

// Validate returns an EINVALID error naming the first bad field. It normalises Domain to lower case.
func (s *Site) Validate() error {
	if err := validName("name", "site name", s.Name); err != nil {
		return err
	}
	s.Domain = strings.ToLower(strings.TrimSpace(s.Domain))
	if !validHost(s.Domain) {
		return Invalid("domain", "site domain %q: must be a host name such as news.example (no scheme, path or port)", s.Domain)
	}
	if !s.Status.Valid() {
		return Invalid("status", "site status %q: must be active, paused or archived", s.Status)
	}
	return nil
}

// Zone is an ad slot of a fixed size on a site. When nothing is eligible for it, serving falls
// back to FallbackZoneID (another zone's inventory), then FallbackCreativeID, then nothing.
type Zone struct {
	ID                 int64     `json:"id" db:"id"`
	SiteID             int64     `json:"site_id" db:"site_id"`
	Name               string    `json:"name" db:"name"`
	Width              int       `json:"width" db:"width"`
	Height             int       `json:"height" db:"height"`
	Status             Status    `json:"status" db:"status"`
	FallbackZoneID     *int64    `json:"fallback_zone_id,omitempty" db:"fallback_zone_id"`
	FallbackCreativeID *int64    `json:"fallback_creative_id,omitempty" db:"fallback_creative_id"`
	CreatedAt          time.Time `json:"created_at" db:"created_at"`
	UpdatedAt          time.Time `json:"updated_at" db:"updated_at"`
}

// Validate returns an EINVALID error naming the first bad field.
func (z *Zone) Validate() error {
	if err := validName("name", "zone name", z.Name); err != nil {
		return err
	}
	if err := validSize(z.Width, z.Height); err != nil {
		return err
	}
	if !z.Status.Valid() {
		return Invalid("status", "zone status %q: must be active, paused or archived", z.Status)
	}
	if z.FallbackZoneID != nil && z.ID != 0 && *z.FallbackZoneID == z.ID {
		return Invalid("fallback_zone_id", "fallback_zone_id: a zone cannot fall back to itself")
	}
	return nil
}

// ZoneCampaign links a campaign to a zone with a weight: only linked campaigns serve in a zone.
type ZoneCampaign struct {
	ZoneID     int64 `json:"zone_id" db:"zone_id"`
	CampaignID int64 `json:"campaign_id" db:"campaign_id"`
	Weight     int   `json:"weight" db:"weight"` // relative, > 0; multiplied with the campaign's own weight
}

// Validate returns an EINVALID error naming the first bad field.
func (l *ZoneCampaign) Validate() error {
	if l.Weight < 1 || l.Weight > 1000000 {
		return Invalid("weight", "link weight %d: must be between 1 and 1000000", l.Weight)
	}
	return nil
}

// Size is an ad size in CSS pixels.
type Size struct{ Width, Height int }

// IABSizes are the standard sizes offered as presets; custom sizes are allowed too.
var IABSizes = []Size{
	{300, 250}, {728, 90}, {160, 600}, {300, 600}, {320, 50},
	{300, 50}, {970, 250}, {970, 90}, {468, 60}, {120, 600},
}
