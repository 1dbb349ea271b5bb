package models

import "time"

// The adjustment ledger restates billed statistics without editing them. When an operator
// confirms a fraud flag, the valid (billed) events of the flag's subject over the flag's period
// are reclassified as invalid (SIVT) by ledger entries: one per statistics bucket (UTC hour,
// zone, campaign, creative, country), carrying the negative of the bucket's valid counts and
// of its money, exactly, in the statistics' stored precision (nano-units). The statistics
// tables keep what was counted (the original figures); reports add the ledger (the
// adjustment) to get the restated figures, which are what advertisers pay and publishers
// earn.
//
// Entries are append-only. A restatement writes, per bucket, only the difference between what
// the bucket should be restated to (nothing valid left) and what the ledger already restates:
// running it again writes nothing, and running it after late events of the period were
// counted writes exactly their reversal (a top-up). Withdrawing a confirmation writes the
// reverse of the flag's entries.

// Ledger entry kinds (adjustments.kind).
const (
	AdjustRestate = "restate" // a confirmation's reclassification (or its top-up)
	AdjustReverse = "reverse" // the reversal of a flag's restatement
)

// Adjustment is one ledger entry: the change of one statistics bucket's valid figures.
// Negative deltas reclassify valid events as invalid; a reversal's are positive.
type Adjustment struct {
	ID           int64     `json:"id" db:"id"`
	FlagID       int64     `json:"flag_id" db:"flag_id"`
	Run          int       `json:"run" db:"run"`   // the flag's restatement run that wrote it: 1, 2, …
	Kind         string    `json:"kind" db:"kind"` // AdjustRestate or AdjustReverse
	Hour         time.Time `json:"hour" db:"hour"` // the bucket: UTC hour of the statistics row
	ZoneID       int64     `json:"zone_id" db:"zone_id"`
	CampaignID   int64     `json:"campaign_id" db:"campaign_id"`
	CreativeID   int64     `json:"creative_id" db:"creative_id"`
	Country      string    `json:"country" db:"country"`
	AdvertiserID int64     `json:"advertiser_id" db:"advertiser_id"`
	PublisherID  int64     `json:"publisher_id" db:"publisher_id"`
	SiteID       int64     `json:"site_id" db:"site_id"`
	Impressions  int64     `json:"impressions" db:"impressions"` // valid impressions delta
	Clicks       int64     `json:"clicks" db:"clicks"`
	Conversions  int64     `json:"conversions" db:"conversions"`
	// Money deltas in nano-units, the statistics' stored precision (spend_nanos).
	SpendNanos            int64     `json:"spend_nanos" db:"spend_nanos"`
	PublisherRevenueNanos int64     `json:"publisher_revenue_nanos" db:"publisher_revenue_nanos"`
	Class                 string    `json:"class" db:"class"`   // IVT class of the reclassification: "sivt"
	Reason                string    `json:"reason" db:"reason"` // "fraud_flag:<metric>"
	ConfirmedBy           string    `json:"confirmed_by" db:"confirmed_by"`
	CreatedAt             time.Time `json:"created_at" db:"created_at"`
}

// AdjustmentReason is the ledger's reason code of a confirmed flag on metric.
func AdjustmentReason(metric string) string { return "fraud_flag:" + metric }

// RestatementPeriod is the period a confirmed flag restates: the statistics hours starting in
// [From, To). To is the confirmation: the period is closed then (see Restatement).
type RestatementPeriod struct {
	From, To time.Time
}

// Restatement is what one restatement run of a flag wrote: the run number (0: nothing was
// written, the ledger already restated the period as committed) and the sums of its entries.
type Restatement struct {
	FlagID  int64             `json:"flag_id"`
	Run     int               `json:"run"`
	Kind    string            `json:"kind"`
	Period  RestatementPeriod `json:"period"`
	Entries int               `json:"entries"`
	// Sums of the entries' deltas; money in micro-units is the nano sum rounded toward zero.
	Impressions            int64 `json:"impressions"`
	Clicks                 int64 `json:"clicks"`
	Conversions            int64 `json:"conversions"`
	SpendNanos             int64 `json:"spend_nanos"`
	PublisherRevenueNanos  int64 `json:"publisher_revenue_nanos"`
	SpendMicros            int64 `json:"spend_micros"`
	PublisherRevenueMicros int64 `json:"publisher_revenue_micros"`
}

// ReportFigures are the billable figures of a report row that the ledger restates: valid and
// invalid counts of the billable events, the invalid ones by class, and money in micro-units.
type ReportFigures struct {
	Impressions            int64            `json:"impressions"`
	Clicks                 int64            `json:"clicks"`
	Conversions            int64            `json:"conversions"`
	InvalidImpressions     int64            `json:"invalid_impressions"`
	InvalidClicks          int64            `json:"invalid_clicks"`
	InvalidConversions     int64            `json:"invalid_conversions"`
	InvalidByClass         map[string]int64 `json:"invalid_by_class"`
	SpendMicros            int64            `json:"spend_micros"`
	PublisherRevenueMicros int64            `json:"publisher_revenue_micros"`
}

// add sums o into f.
func (f *ReportFigures) add(o *ReportFigures) {
	f.Impressions += o.Impressions
	f.Clicks += o.Clicks
	f.Conversions += o.Conversions
	f.InvalidImpressions += o.InvalidImpressions
	f.InvalidClicks += o.InvalidClicks
	f.InvalidConversions += o.InvalidConversions
	f.SpendMicros += o.SpendMicros
	f.PublisherRevenueMicros += o.PublisherRevenueMicros
	if f.InvalidByClass == nil {
		f.InvalidByClass = map[string]int64{}
	}
	for k, v := range o.InvalidByClass {
		f.InvalidByClass[k] += v
	}
}

// Statement is an account's monthly statement: what an advertiser spent or a publisher
// earned in a month of the network time zone, from the restated figures, with the original
// figures and the adjustment that lead to them.
type Statement struct {
	Month        string `json:"month"` // YYYY-MM, network time zone
	Timezone     string `json:"timezone"`
	AdvertiserID int64  `json:"advertiser_id,omitempty"`
	PublisherID  int64  `json:"publisher_id,omitempty"`
	// Kind is "spend" (an advertiser's) or "earnings" (a publisher's).
	Kind string `json:"kind"`
	// AmountMicros is the amount due: restated spend or restated publisher revenue.
	AmountMicros     int64           `json:"amount_micros"`
	OriginalMicros   int64           `json:"original_micros"`
	AdjustmentMicros int64           `json:"adjustment_micros"`
	Lines            []StatementLine `json:"lines"` // per campaign (advertiser) or zone (publisher)
}

// StatementLine is one campaign's or zone's part of a Statement.
type StatementLine struct {
	CampaignID       int64 `json:"campaign_id,omitempty"`
	ZoneID           int64 `json:"zone_id,omitempty"`
	Impressions      int64 `json:"impressions"` // restated
	Clicks           int64 `json:"clicks"`
	Conversions      int64 `json:"conversions"`
	OriginalMicros   int64 `json:"original_micros"`
	AdjustmentMicros int64 `json:"adjustment_micros"`
	AmountMicros     int64 `json:"amount_micros"`
}
