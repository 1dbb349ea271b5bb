package models

import "time"

// Tier is a campaign's priority class. Higher tiers are always considered first:
// override > contract > remnant > house. Values are stored in MariaDB: never renumber.
type Tier int8

// Priority tiers, highest first.
const (
	TierOverride Tier = 4 // always wins when eligible (sponsorships, takeovers)
	TierContract Tier = 3 // booked volumes, paced
	TierRemnant  Tier = 2 // fills the rest by weight
	TierHouse    Tier = 1 // the network's own ads, shown when nothing else is eligible
)

// String returns the tier's name.
func (t Tier) String() string {
	switch t {
	case TierOverride:
		return "override"
	case TierContract:
		return "contract"
	case TierRemnant:
		return "remnant"
	case TierHouse:
		return "house"
	}
	return "unknown"
}

// MarshalText writes the tier's name: the API and the audit log show "contract", not 3.
func (t Tier) MarshalText() ([]byte, error) {
	if t.String() == "unknown" {
		return nil, Invalid("tier", "tier %d: not a tier", int(t))
	}
	return []byte(t.String()), nil
}

// UnmarshalText reads a tier's name.
func (t *Tier) UnmarshalText(b []byte) error {
	v, err := ParseTier(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// ParseTier returns the tier named s.
func ParseTier(s string) (Tier, error) {
	for _, t := range []Tier{TierOverride, TierContract, TierRemnant, TierHouse} {
		if t.String() == s {
			return t, nil
		}
	}
	return 0, Invalid("tier", "tier %q: must be override, contract, remnant or house", s)
}

// PricingModel says what the advertiser pays for.
type PricingModel string

// Pricing models. RateMicros is per 1000 valid impressions for CPM, per valid click for CPC
// and per approved conversion for CPA.
const (
	PricingCPM PricingModel = "cpm"
	PricingCPC PricingModel = "cpc"
	PricingCPA PricingModel = "cpa"
)

// PricingCode is the pricing model's number in binary formats (tracking tokens, event-log
// records): 0 for none or unknown, 1 CPM, 2 CPC, 3 CPA. Never renumber.
func (p PricingModel) PricingCode() uint8 {
	switch p {
	case PricingCPM:
		return 1
	case PricingCPC:
		return 2
	case PricingCPA:
		return 3
	}
	return 0
}

// PricingFromCode is the inverse of PricingCode; unknown codes give "" and false.
func PricingFromCode(c uint64) (PricingModel, bool) {
	switch c {
	case 0:
		return "", true
	case 1:
		return PricingCPM, true
	case 2:
		return PricingCPC, true
	case 3:
		return PricingCPA, true
	}
	return "", false
}

// Pacing says how a campaign's daily volume is spread over the day.
type Pacing string

// Pacing modes.
const (
	PacingASAP Pacing = "asap" // serve whenever eligible until the cap is hit
	PacingEven Pacing = "even" // spread the daily limit evenly over the remaining hours
)

// Limits caps a campaign's volume. Zero means unlimited for that measure.
type Limits struct {
	Impressions int64 `json:"impressions" db:"impressions"`
	Clicks      int64 `json:"clicks" db:"clicks"`
	Conversions int64 `json:"conversions" db:"conversions"`
	SpendMicros int64 `json:"spend_micros" db:"spend_micros"`
}

// IsZero reports whether no limit is set.
func (l Limits) IsZero() bool { return l == Limits{} }

// Campaign is an advertiser's order: what to pay, where and when to serve, how much.
type Campaign struct {
	ID           int64  `json:"id" db:"id"`
	AdvertiserID int64  `json:"advertiser_id" db:"advertiser_id"`
	Name         string `json:"name" db:"name"`
	Status       Status `json:"status" db:"status"`
	// Approval is set by the network (Approve/Reject), never by an update; RejectReason
	// says why a rejected campaign may not serve.
	Approval     Approval     `json:"approval" db:"approval"`
	RejectReason string       `json:"reject_reason,omitempty" db:"reject_reason"`
	StartAt      *time.Time   `json:"start_at,omitempty" db:"start_at"` // nil: from now on
	EndAt        *time.Time   `json:"end_at,omitempty" db:"end_at"`     // nil: open-ended
	Tier         Tier         `json:"tier" db:"tier"`
	Weight       int          `json:"weight" db:"weight"`
	Pricing      PricingModel `json:"pricing" db:"pricing"`
	RateMicros   int64        `json:"rate_micros" db:"rate_micros"`
	Lifetime     Limits       `json:"lifetime" db:"lifetime"`
	Daily        Limits       `json:"daily" db:"daily"`
	Pacing       Pacing       `json:"pacing" db:"pacing"`
	// FreqCap is the maximum number of impressions one viewer sees within FreqWindow; 0 = no cap.
	FreqCap    int           `json:"freq_cap" db:"freq_cap"`
	FreqWindow time.Duration `json:"freq_window" db:"freq_window"`
	// ConversionWindow is how long after a click a conversion is attributed to it.
	ConversionWindow time.Duration `json:"conversion_window" db:"conversion_window"`
	Targeting        Targeting     `json:"targeting" db:"targeting"`
	CreatedAt        time.Time     `json:"created_at" db:"created_at"`
	UpdatedAt        time.Time     `json:"updated_at" db:"updated_at"`
}

// Validate returns an EINVALID error naming the first bad field.
func (c *Campaign) Validate() error {
	if err := validName("name", "campaign name", c.Name); err != nil {
		return err
	}
	if !c.Status.Valid() {
		return Invalid("status", "campaign status %q: must be active, paused or archived", c.Status)
	}
	if c.StartAt != nil && c.EndAt != nil && !c.EndAt.After(*c.StartAt) {
		return Invalid("end_at", "campaign end_at must be after start_at")
	}
	if _, err := ParseTier(c.Tier.String()); err != nil {
		return err
	}
	if c.Weight < 1 || c.Weight > 1000000 {
		return Invalid("weight", "campaign weight %d: must be between 1 and 1000000", c.Weight)
	}
	switch c.Pricing {
	case PricingCPM, PricingCPC, PricingCPA:
	default:
		return Invalid("pricing", "campaign pricing %q: must be cpm, cpc or cpa", c.Pricing)
	}
	if c.RateMicros < 0 {
		return Invalid("rate_micros", "campaign rate_micros %d: must not be negative", c.RateMicros)
	}
	for name, l := range map[string]Limits{"lifetime": c.Lifetime, "daily": c.Daily} {
		if l.Impressions < 0 || l.Clicks < 0 || l.Conversions < 0 || l.SpendMicros < 0 {
			return Invalid(name, "campaign %s limits must not be negative (0 = unlimited)", name)
		}
	}
	switch c.Pacing {
	case PacingASAP, PacingEven:
	default:
		return Invalid("pacing", "campaign pacing %q: must be asap or even", c.Pacing)
	}
	if c.Pacing == PacingEven && c.Daily.IsZero() {
		return Invalid("pacing", "campaign pacing even needs a daily limit to spread")
	}
	if c.FreqCap < 0 || (c.FreqCap > 0 && c.FreqWindow < time.Minute) {
		return Invalid("freq_cap", "campaign frequency cap: freq_cap must be ≥ 0 and freq_window at least 1m when capped")
	}
	if c.ConversionWindow < 0 {
		return Invalid("conversion_window", "campaign conversion_window must not be negative")
	}
	return c.Targeting.Validate()
}

// Cost returns what one valid event of type t costs the advertiser under pricing model p at
// rateMicros. CPM is priced per 1000 impressions, so one impression costs rate/1000 micro-units,
// rounded down. Aggregated statistics price CPM on the count of impressions instead, so that
// the rounding does not accumulate.
func Cost(p PricingModel, rateMicros int64, t EventType) int64 {
	switch {
	case p == PricingCPM && t == EventImpression:
		return rateMicros / 1000
	case p == PricingCPC && t == EventClick:
		return rateMicros
	case p == PricingCPA && t == EventConversion:
		return rateMicros
	}
	return 0
}
