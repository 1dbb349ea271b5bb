package mysql

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"time"

	"adnet/models"
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

// reportColumns maps the dimension groupings to their columns, in the order of ReportGroupings.
var reportColumns = map[string]string{
	GroupAdvertiser: "advertiser_id",
	GroupCampaign:   "campaign_id",
	GroupCreative:   "creative_id",
	GroupPublisher:  "publisher_id",
	GroupSite:       "site_id",
	GroupZone:       "zone_id",
	GroupCountry:    "country",
}

// ReportGroupings lists every grouping Report accepts.
func ReportGroupings() []string {
	return []string{GroupHour, GroupDay, GroupMonth, GroupAdvertiser, GroupCampaign, GroupCreative,
		GroupPublisher, GroupSite, GroupZone, GroupCountry}
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
	SpendMicros            int64            `json:"spend_micros"`
	PublisherRevenueMicros int64            `json:"publisher_revenue_micros"`
	CTR                    float64          `json:"ctr"`             // clicks / impressions
	ConversionRate         float64          `json:"conversion_rate"` // conversions / clicks
	ECPMMicros             int64            `json:"ecpm_micros"`     // spend per 1000 impressions, rounded down
	ECPCMicros             int64            `json:"ecpc_micros"`     // spend per click, rounded down
	InvalidRate            float64          `json:"invalid_rate"`    // invalid / all impressions and clicks
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

// add sums o into m (counts and money; rates are derived afterwards).
func (m *ReportMetrics) add(o *ReportMetrics) {
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
}

// derive computes the rates from the counts.
func (m *ReportMetrics) derive() {
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

// reportPart is one range read from one table.
type reportPart struct {
	daily    bool
	from, to time.Time // hourly: instants; daily: local midnights (their dates are compared)
}

// validate checks q and normalises it; the error is EINVALID with a message for the client.
func (q *ReportQuery) validate() (timeGroup string, err error) {
	if q.Location == nil {
		q.Location = time.UTC
	}
	if q.From.IsZero() || q.To.IsZero() || !q.From.Before(q.To) {
		return "", models.Errorf(models.EINVALID, "Report range: from must be before to.")
	}
	if q.To.Sub(q.From) > MaxReportSpan {
		return "", models.Errorf(models.EINVALID, "Report range: at most 3 years at a time.")
	}
	if q.AdvertiserID < 0 || q.PublisherID < 0 {
		return "", models.Errorf(models.EINVALID, "Report filter: advertiser and publisher ids must be positive.")
	}
	seen := map[string]bool{}
	for _, g := range q.GroupBy {
		switch {
		case seen[g]:
			return "", models.Errorf(models.EINVALID, "group_by: %q is listed twice.", g)
		case g == GroupHour || g == GroupDay || g == GroupMonth:
			if timeGroup != "" {
				return "", models.Errorf(models.EINVALID, "group_by: choose one of hour, day and month.")
			}
			timeGroup = g
		case reportColumns[g] == "":
			return "", models.Errorf(models.EINVALID, "group_by: %q is not one of %s.", g, strings.Join(ReportGroupings(), ", "))
		}
		seen[g] = true
	}
	return timeGroup, nil
}

// plan splits the range between the daily tables (whole days, the cheap read) and the hourly
// ones (hour grouping, and the partial days at the ends of a range that does not start or end
// at midnight). In a time zone whose midnights are not UTC hour boundaries (offsets of :30 or
// :45) an hour row cannot be split at midnight, so such a range is read from one table: the
// daily one when it runs from midnight to midnight, the hourly one otherwise.
func (q *ReportQuery) plan(timeGroup string) []reportPart {
	if timeGroup == GroupHour {
		return []reportPart{{from: q.From, to: q.To}}
	}
	loc := q.Location
	first := midnight(q.From, loc, false)
	last := midnight(q.To, loc, true)
	if !first.Before(last) {
		return []reportPart{{from: q.From, to: q.To}}
	}
	aligned := first.Unix()%3600 == 0 && last.Unix()%3600 == 0
	if !aligned {
		if first.Equal(q.From) && last.Equal(q.To) {
			return []reportPart{{daily: true, from: first, to: last}}
		}
		return []reportPart{{from: q.From, to: q.To}}
	}
	parts := []reportPart{{daily: true, from: first, to: last}}
	if q.From.Before(first) {
		parts = append(parts, reportPart{from: q.From, to: first})
	}
	if last.Before(q.To) {
		parts = append(parts, reportPart{from: last, to: q.To})
	}
	return parts
}

// midnight returns the first local midnight at or after t (down: the last one at or before t).
func midnight(t time.Time, loc *time.Location, down bool) time.Time {
	l := t.In(loc)
	m := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	if !down && m.Before(t) {
		m = time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, loc)
	}
	return m
}

// reportStatement is one SQL statement of a report.
type reportStatement struct {
	query   string
	args    []any
	invalid bool
	part    reportPart
	cols    []string // the dimension groupings selected, in order
	timed   bool     // the first column is the time
}

// statements returns the SQL of q: for each part, the counts and the invalid counts by reason.
func (q *ReportQuery) statements() ([]reportStatement, string, error) {
	timeGroup, err := q.validate()
	if err != nil {
		return nil, "", err
	}
	var dims []string
	// The zone tables (stats_daily summed over campaign, creative and country) answer the
	// reports that need none of those: a fraction of the rows to read.
	zoneTables := q.AdvertiserID == 0
	for _, g := range q.GroupBy {
		if c := reportColumns[g]; c != "" {
			dims = append(dims, g)
			zoneTables = zoneTables && (g == GroupPublisher || g == GroupSite || g == GroupZone)
		}
	}
	var out []reportStatement
	for _, p := range q.plan(timeGroup) {
		for _, invalid := range []bool{false, true} {
			var sel, group []string
			timed := timeGroup != ""
			if timed {
				expr := "hour"
				if p.daily {
					expr = "day"
					if timeGroup == GroupMonth {
						expr = "day - INTERVAL (DAYOFMONTH(day) - 1) DAY"
					}
				}
				sel = append(sel, expr)
				group = append(group, expr)
			}
			for _, g := range dims {
				sel = append(sel, reportColumns[g])
				group = append(group, reportColumns[g])
			}
			table, timeCol := "stats_hourly", "hour"
			var lo, hi any = dbTime(p.from), dbTime(p.to)
			if p.daily {
				table, timeCol = "stats_daily", "day"
				if zoneTables {
					table = "stats_zone_daily"
				}
				lo, hi = p.from.Format(time.DateOnly), p.to.Format(time.DateOnly)
			}
			if invalid {
				table = strings.Replace(table, "stats_", "stats_invalid_", 1)
				sel = append(sel, "reason", "SUM(count)")
				group = append(group, "reason")
			} else {
				sel = append(sel, "SUM(requests)", "SUM(served)", "SUM(impressions)", "SUM(clicks)", "SUM(conversions)",
					"SUM(invalid_impressions)", "SUM(invalid_clicks)", "SUM(invalid_conversions)",
					"SUM(spend_nanos)", "SUM(publisher_revenue_nanos)")
			}
			where := []string{timeCol + " >= ?", timeCol + " < ?"}
			args := []any{lo, hi}
			if q.AdvertiserID > 0 {
				where = append(where, "advertiser_id = ?")
				args = append(args, q.AdvertiserID)
			}
			if q.PublisherID > 0 {
				where = append(where, "publisher_id = ?")
				args = append(args, q.PublisherID)
			}
			if invalid {
				// Serve events carry verdicts too (a bot's ad requests), but invalid_by_reason
				// explains the billable events: impressions, clicks and conversions.
				where = append(where, fmt.Sprintf("event_type IN (%d, %d, %d)",
					models.EventImpression, models.EventClick, models.EventConversion))
			}
			query := "SELECT " + strings.Join(sel, ", ") + " FROM " + table + " WHERE " + strings.Join(where, " AND ")
			if len(group) > 0 {
				query += " GROUP BY " + strings.Join(group, ", ")
			} else {
				query += " HAVING COUNT(*) > 0"
			}
			out = append(out, reportStatement{query: query, args: args, invalid: invalid, part: p, cols: dims, timed: timed})
		}
	}
	return out, timeGroup, nil
}

// reportAcc accumulates one report row.
type reportAcc struct {
	m            ReportMetrics
	spend, reven int64 // nano-units
}

// Report answers q from the statistics tables. Money is summed exactly in nano-units and
// rounded down to micro-units once per report row; the totals sum the rows.
func (s *Store) Report(ctx context.Context, q ReportQuery) (*Report, error) {
	stmts, timeGroup, err := q.statements()
	if err != nil {
		return nil, err
	}
	accs := map[ReportKey]*reportAcc{}
	for _, st := range stmts {
		if err := s.readReport(ctx, &q, timeGroup, st, accs); err != nil {
			return nil, err
		}
	}
	rep := &Report{From: q.From, To: q.To, GroupBy: slices.Clone(q.GroupBy), Timezone: q.Location.String(),
		Rows: make([]ReportRow, 0, len(accs))}
	if rep.GroupBy == nil {
		rep.GroupBy = []string{}
	}
	for k, a := range accs {
		a.m.SpendMicros = a.spend / 1000
		a.m.PublisherRevenueMicros = a.reven / 1000
		a.m.derive()
		rep.Rows = append(rep.Rows, ReportRow{ReportKey: k, ReportMetrics: a.m})
	}
	slices.SortFunc(rep.Rows, func(a, b ReportRow) int { return compareKeys(&a.ReportKey, &b.ReportKey, q.GroupBy) })
	for i := range rep.Rows {
		rep.Totals.add(&rep.Rows[i].ReportMetrics)
	}
	rep.Totals.derive()
	return rep, nil
}

// readReport runs one statement and adds its rows to accs.
func (s *Store) readReport(ctx context.Context, q *ReportQuery, timeGroup string, st reportStatement, accs map[ReportKey]*reportAcc) error {
	rows, err := s.db.db.QueryContext(ctx, st.query, st.args...)
	if err != nil {
		return mapError(err, "report")
	}
	defer rows.Close()
	var (
		t       time.Time
		ids     [7]int64
		country string
		reason  uint8
		vals    [10]sql.NullInt64
	)
	for rows.Next() {
		var k ReportKey
		dest := make([]any, 0, 16)
		if st.timed {
			dest = append(dest, &t)
		}
		for i, g := range st.cols {
			if g == GroupCountry {
				dest = append(dest, &country)
			} else {
				dest = append(dest, &ids[i])
			}
		}
		if st.invalid {
			dest = append(dest, &reason, &vals[0])
		} else {
			for i := range vals {
				dest = append(dest, &vals[i])
			}
		}
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if st.timed {
			k.Period = period(t, st.part.daily, timeGroup, q.Location)
		}
		for i, g := range st.cols {
			switch g {
			case GroupAdvertiser:
				k.AdvertiserID = ids[i]
			case GroupCampaign:
				k.CampaignID = ids[i]
			case GroupCreative:
				k.CreativeID = ids[i]
			case GroupPublisher:
				k.PublisherID = ids[i]
			case GroupSite:
				k.SiteID = ids[i]
			case GroupZone:
				k.ZoneID = ids[i]
			case GroupCountry:
				k.Country = country
			}
		}
		a := accs[k]
		if a == nil {
			if len(accs) >= MaxReportRows {
				return models.Errorf(models.EINVALID, "Report has more than %d rows: narrow the range or the grouping.", MaxReportRows)
			}
			a = &reportAcc{m: ReportMetrics{InvalidByReason: map[string]int64{}}}
			accs[k] = a
		}
		if st.invalid {
			a.m.InvalidByReason[models.Reason(reason).String()] += vals[0].Int64
			continue
		}
		a.m.Requests += vals[0].Int64
		a.m.Served += vals[1].Int64
		a.m.Impressions += vals[2].Int64
		a.m.Clicks += vals[3].Int64
		a.m.Conversions += vals[4].Int64
		a.m.InvalidImpressions += vals[5].Int64
		a.m.InvalidClicks += vals[6].Int64
		a.m.InvalidConversions += vals[7].Int64
		a.spend += vals[8].Int64
		a.reven += vals[9].Int64
	}
	if err := rows.Err(); err != nil {
		return mapError(err, "report")
	}
	return nil
}

// period maps a row's time (an UTC hour, or a date of the daily table) to the start of its
// hour, day or month in loc.
func period(t time.Time, daily bool, timeGroup string, loc *time.Location) time.Time {
	if daily {
		y, m, d := t.Date() // DATE columns scan as midnight UTC of the stored date
		if timeGroup == GroupMonth {
			d = 1
		}
		return time.Date(y, m, d, 0, 0, 0, 0, loc)
	}
	l := t.In(loc)
	switch timeGroup {
	case GroupDay:
		return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	case GroupMonth:
		return time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, loc)
	}
	return l
}

// compareKeys orders rows by their groupings, in the order they were asked for.
func compareKeys(a, b *ReportKey, groupBy []string) int {
	for _, g := range groupBy {
		var c int
		switch g {
		case GroupHour, GroupDay, GroupMonth:
			c = a.Period.Compare(b.Period)
		case GroupAdvertiser:
			c = cmp.Compare(a.AdvertiserID, b.AdvertiserID)
		case GroupCampaign:
			c = cmp.Compare(a.CampaignID, b.CampaignID)
		case GroupCreative:
			c = cmp.Compare(a.CreativeID, b.CreativeID)
		case GroupPublisher:
			c = cmp.Compare(a.PublisherID, b.PublisherID)
		case GroupSite:
			c = cmp.Compare(a.SiteID, b.SiteID)
		case GroupZone:
			c = cmp.Compare(a.ZoneID, b.ZoneID)
		case GroupCountry:
			c = strings.Compare(a.Country, b.Country)
		}
		if c != 0 {
			return c
		}
	}
	return 0
}
