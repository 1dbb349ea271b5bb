package models

import (
	"cmp"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Report groupings: time (at most one of hour, day, month, in the network time zone) and
// dimensions.
const (
	GroupHour       = "hour"
	GroupDay        = "day"
	GroupMonth      = "month"
	GroupAdvertiser = "advertiser"
	GroupCampaign   = "campaign"
	GroupCreative   = "creative"
	GroupPublisher  = "publisher"
	GroupSite       = "site"
	GroupZone       = "zone"
	GroupCountry    = "country"
)

// ReportDimension is one way to group a report: a time period or an owner/targeting
// dimension. ReportDimensions is the one list of them that the SQL builder, the JSON and CSV
// encoders and the command line read, so that adding a grouping is one row here.
type ReportDimension struct {
	// Name is the group_by value ("day", "campaign").
	Name string
	// Field is the name of the row key in JSON and CSV ("day", "campaign_id") and, for the
	// non-time dimensions, the statistics column grouped by.
	Field string
	// Time marks the period groupings: at most one of them per report, and rows carry their
	// start in ReportKey.Period.
	Time bool
	// layout formats a period (time groupings only).
	layout string
	// id addresses the key's id field (id dimensions only); nil for time and country.
	id func(*ReportKey) *int64
}

// ReportDimensions lists every grouping a report accepts, in the order of their JSON fields.
var ReportDimensions = []ReportDimension{
	{Name: GroupHour, Field: "hour", Time: true, layout: time.RFC3339},
	{Name: GroupDay, Field: "day", Time: true, layout: time.DateOnly},
	{Name: GroupMonth, Field: "month", Time: true, layout: "2006-01"},
	{Name: GroupAdvertiser, Field: "advertiser_id", id: func(k *ReportKey) *int64 { return &k.AdvertiserID }},
	{Name: GroupCampaign, Field: "campaign_id", id: func(k *ReportKey) *int64 { return &k.CampaignID }},
	{Name: GroupCreative, Field: "creative_id", id: func(k *ReportKey) *int64 { return &k.CreativeID }},
	{Name: GroupPublisher, Field: "publisher_id", id: func(k *ReportKey) *int64 { return &k.PublisherID }},
	{Name: GroupSite, Field: "site_id", id: func(k *ReportKey) *int64 { return &k.SiteID }},
	{Name: GroupZone, Field: "zone_id", id: func(k *ReportKey) *int64 { return &k.ZoneID }},
	{Name: GroupCountry, Field: "country"},
}

// LookupReportDimension returns the dimension named name (a group_by value).
func LookupReportDimension(name string) (*ReportDimension, bool) {
	for i := range ReportDimensions {
		if ReportDimensions[i].Name == name {
			return &ReportDimensions[i], true
		}
	}
	return nil, false
}

// MustReportDimension returns the dimension named name, which the caller has validated (a
// ReportQuery's GroupBy after Validate, a Report's GroupBy). It panics on an unknown name: a
// programming error, not bad input.
func MustReportDimension(name string) *ReportDimension {
	d, ok := LookupReportDimension(name)
	if !ok {
		panic("models: unknown report dimension " + name)
	}
	return d
}

// IsID reports whether the dimension's value is an entity id.
func (d *ReportDimension) IsID() bool { return d.id != nil }

// SetID stores id as the dimension's value in k (id dimensions only).
func (d *ReportDimension) SetID(k *ReportKey, id int64) { *d.id(k) = id }

// ID returns the dimension's value in k (id dimensions only).
func (d *ReportDimension) ID(k *ReportKey) int64 { return *d.id(k) }

// Format returns the dimension's value in k as text: a period in loc in the dimension's
// layout, an id in decimal, a country code.
func (d *ReportDimension) Format(k *ReportKey, loc *time.Location) string {
	switch {
	case d.Time:
		return k.Period.In(loc).Format(d.layout)
	case d.id != nil:
		return strconv.FormatInt(*d.id(k), 10)
	}
	return k.Country
}

// Compare orders a and b by the dimension's value.
func (d *ReportDimension) Compare(a, b *ReportKey) int {
	switch {
	case d.Time:
		return a.Period.Compare(b.Period)
	case d.id != nil:
		return cmp.Compare(*d.id(a), *d.id(b))
	}
	return strings.Compare(a.Country, b.Country)
}

// ReportGroupings lists every grouping Report accepts.
func ReportGroupings() []string {
	names := make([]string, len(ReportDimensions))
	for i := range ReportDimensions {
		names[i] = ReportDimensions[i].Name
	}
	return names
}

// CompareReportKeys orders rows by their groupings, in the order they were asked for.
func CompareReportKeys(a, b *ReportKey, groupBy []string) int {
	for _, g := range groupBy {
		if c := MustReportDimension(g).Compare(a, b); c != 0 {
			return c
		}
	}
	return 0
}

// Report limits: a report is read into memory, so its size is bounded; narrow the grouping or
// the range to get past them.
const (
	MaxReportRows = 100000
	MaxReportSpan = 3 * 366 * 24 * time.Hour
)

// ReportQuery selects a report.
type ReportQuery struct {
	// From and To delimit the report, [From, To). Statistics are kept per hour, so an hour is
	// in the report when it starts within the range; past stats.hourly_retention only days
	// are kept, and a day is in the report when its midnight (network time zone) is.
	From, To time.Time
	// GroupBy lists the groupings, in the order rows are sorted by; empty: one row of totals.
	GroupBy []string
	// Owner filter, imposed by the caller from the account (never from the client): only the
	// rows of this advertiser (its campaigns) or this publisher (its zones). 0: no filter.
	AdvertiserID int64
	PublisherID  int64
	// Location is the network time zone: days and months are its calendar days and months.
	Location *time.Location
}

// ReportKey identifies a report row: the values of its groupings (the others are zero).
type ReportKey struct {
	Period       time.Time // start of the hour, day or month, in the network time zone
	AdvertiserID int64
	CampaignID   int64
	CreativeID   int64
	PublisherID  int64
	SiteID       int64
	ZoneID       int64
	Country      string
}

// ReportMetrics are the counts, money and rates of a report row or of its totals. Counts are
// of valid (billable) events except the invalid_* ones; money is in micro-units.
//
// The top-level figures are the original ones, as the statistics counted them. Adjustment is
// what the adjustment ledger changes (confirmed fraud flags reclassify billed events as invalid
// SIVT: negative valid counts and money, positive invalid ones) and Restated is original plus
// adjustment: the figures advertisers pay and publishers are paid on. InvalidByClass splits
// the invalid billable events by MRC class (givt, sivt) as InvalidByReason splits them by
// reason.
type ReportMetrics struct {
	Requests               int64            `json:"requests"`
	Served                 int64            `json:"served"`
	Impressions            int64            `json:"impressions"`
	Clicks                 int64            `json:"clicks"`
	Conversions            int64            `json:"conversions"`
	InvalidImpressions     int64            `json:"invalid_impressions"`
	InvalidClicks          int64            `json:"invalid_clicks"`
	InvalidConversions     int64            `json:"invalid_conversions"`
	InvalidByReason        map[string]int64 `json:"invalid_by_reason"`
	InvalidByClass         map[string]int64 `json:"invalid_by_class"`
	SpendMicros            int64            `json:"spend_micros"`
	PublisherRevenueMicros int64            `json:"publisher_revenue_micros"`
	CTR                    float64          `json:"ctr"`             // clicks / impressions
	ConversionRate         float64          `json:"conversion_rate"` // conversions / clicks
	ECPMMicros             int64            `json:"ecpm_micros"`     // spend per 1000 impressions, rounded down
	ECPCMicros             int64            `json:"ecpc_micros"`     // spend per click, rounded down
	InvalidRate            float64          `json:"invalid_rate"`    // invalid / all impressions and clicks
	Adjustment             ReportFigures    `json:"adjustment"`
	Restated               ReportFigures    `json:"restated"`
}

// ReportRow is one row of a report.
type ReportRow struct {
	ReportKey
	ReportMetrics
}

// Report is the answer to a ReportQuery. Totals sum the rows.
type Report struct {
	From, To time.Time
	GroupBy  []string
	Timezone string
	Rows     []ReportRow
	Totals   ReportMetrics
}

// Add sums o into m (counts and money; rates are derived afterwards).
func (m *ReportMetrics) Add(o *ReportMetrics) {
	m.Requests += o.Requests
	m.Served += o.Served
	m.Impressions += o.Impressions
	m.Clicks += o.Clicks
	m.Conversions += o.Conversions
	m.InvalidImpressions += o.InvalidImpressions
	m.InvalidClicks += o.InvalidClicks
	m.InvalidConversions += o.InvalidConversions
	m.SpendMicros += o.SpendMicros
	m.PublisherRevenueMicros += o.PublisherRevenueMicros
	if m.InvalidByReason == nil {
		m.InvalidByReason = map[string]int64{}
	}
	for k, v := range o.InvalidByReason {
		m.InvalidByReason[k] += v
	}
	if m.InvalidByClass == nil {
		m.InvalidByClass = map[string]int64{}
	}
	for k, v := range o.InvalidByClass {
		m.InvalidByClass[k] += v
	}
	m.Adjustment.add(&o.Adjustment)
	m.Restated.add(&o.Restated)
}

// IVTClasses are the invalid-traffic classes reports show, in their order.
var IVTClasses = []IVTClass{ClassGIVT, ClassSIVT}

// ensureClasses gives c a key for every class, so that JSON and CSV columns do not depend on
// the data.
func ensureClasses(c map[string]int64) map[string]int64 {
	if c == nil {
		c = make(map[string]int64, len(IVTClasses))
	}
	for _, k := range IVTClasses {
		c[k.String()] += 0
	}
	return c
}

// Derive computes the rates from the counts.
func (m *ReportMetrics) Derive() {
	ratio := func(a, b int64) float64 {
		if b == 0 {
			return 0
		}
		return math.Round(float64(a)/float64(b)*1e6) / 1e6
	}
	m.CTR = ratio(m.Clicks, m.Impressions)
	m.ConversionRate = ratio(m.Conversions, m.Clicks)
	m.InvalidRate = ratio(m.InvalidImpressions+m.InvalidClicks, m.Impressions+m.Clicks+m.InvalidImpressions+m.InvalidClicks)
	m.ECPMMicros, m.ECPCMicros = 0, 0
	if m.Impressions > 0 {
		m.ECPMMicros = mulDiv(m.SpendMicros, 1000, m.Impressions)
	}
	if m.Clicks > 0 {
		m.ECPCMicros = m.SpendMicros / m.Clicks
	}
	if m.InvalidByReason == nil {
		m.InvalidByReason = map[string]int64{}
	}
	m.InvalidByClass = ensureClasses(m.InvalidByClass)
	m.Adjustment.InvalidByClass = ensureClasses(m.Adjustment.InvalidByClass)
	m.Restated.InvalidByClass = ensureClasses(m.Restated.InvalidByClass)
}

// mulDiv returns a*b/c rounded down for non-negative a, b and positive c, without overflowing
// in the product.
func mulDiv(a, b, c int64) int64 {
	if a <= 0 || b <= 0 || c <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, uint64(c))
	return int64(min(q, math.MaxInt64))
}

// Validate checks q and normalises it; the error is EINVALID with a message for the client.
func (q *ReportQuery) Validate() (timeGroup string, err error) {
	if q.Location == nil {
		q.Location = time.UTC
	}
	if q.From.IsZero() || q.To.IsZero() || !q.From.Before(q.To) {
		return "", Errorf(EINVALID, "Report range: from must be before to.")
	}
	if q.To.Sub(q.From) > MaxReportSpan {
		return "", Errorf(EINVALID, "Report range: at most 3 years at a time.")
	}
	if q.AdvertiserID < 0 || q.PublisherID < 0 {
		return "", Errorf(EINVALID, "Report filter: advertiser and publisher ids must be positive.")
	}
	seen := map[string]bool{}
	for _, g := range q.GroupBy {
		switch {
		case seen[g]:
			return "", Errorf(EINVALID, "group_by: %q is listed twice.", g)
		case !knownDimension(g):
			return "", Errorf(EINVALID, "group_by: %q is not one of %s.", g, strings.Join(ReportGroupings(), ", "))
		case MustReportDimension(g).Time:
			if timeGroup != "" {
				return "", Errorf(EINVALID, "group_by: choose one of hour, day and month.")
			}
			timeGroup = g
		}
		seen[g] = true
	}
	return timeGroup, nil
}

func knownDimension(name string) bool {
	_, ok := LookupReportDimension(name)
	return ok
}
