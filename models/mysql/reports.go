package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"adnet/models"
)

// reportPart is one range read from one table.
type reportPart struct {
	daily    bool
	from, to time.Time // hourly: instants; daily: local midnights (their dates are compared)
}

// planReport splits the range between the daily tables (whole days, the cheap read) and the hourly
// ones (hour grouping, and the partial days at the ends of a range that does not start or end
// at midnight). In a time zone whose midnights are not UTC hour boundaries (offsets of :30 or
// :45) an hour row cannot be split at midnight, so such a range is read from one table: the
// daily one when it runs from midnight to midnight, the hourly one otherwise.
func planReport(q *models.ReportQuery, timeGroup string) []reportPart {
	if timeGroup == models.GroupHour {
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
	cols    []*models.ReportDimension // the dimension groupings selected, in order
	timed   bool                      // the first column is the time
}

// reportStatements returns the SQL of q: for each part, the counts and the invalid counts by reason.
func reportStatements(q *models.ReportQuery) ([]reportStatement, string, error) {
	timeGroup, err := q.Validate()
	if err != nil {
		return nil, "", err
	}
	var dims []*models.ReportDimension
	// The zone tables (stats_daily summed over campaign, creative and country) answer the
	// reports that need none of those: a fraction of the rows to read.
	zoneTables := q.AdvertiserID == 0
	for _, g := range q.GroupBy {
		if d := models.MustReportDimension(g); !d.Time {
			dims = append(dims, d)
			zoneTables = zoneTables && (g == models.GroupPublisher || g == models.GroupSite || g == models.GroupZone)
		}
	}
	var out []reportStatement
	for _, p := range planReport(q, timeGroup) {
		for _, invalid := range []bool{false, true} {
			var sel, group []string
			timed := timeGroup != ""
			if timed {
				expr := "hour"
				if p.daily {
					expr = "day"
					if timeGroup == models.GroupMonth {
						expr = "day - INTERVAL (DAYOFMONTH(day) - 1) DAY"
					}
				}
				sel = append(sel, expr)
				group = append(group, expr)
			}
			for _, d := range dims {
				sel = append(sel, d.Field)
				group = append(group, d.Field)
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
	m            models.ReportMetrics
	spend, reven int64 // nano-units
	adj          ledgerFigures
	adjClass     map[string]int64 // reclassified events by class
}

// Report answers q from the statistics tables. Money is summed exactly in nano-units and
// rounded down to micro-units once per report row; the totals sum the rows.
func (s *Store) Report(ctx context.Context, q models.ReportQuery) (*models.Report, error) {
	stmts, timeGroup, err := reportStatements(&q)
	if err != nil {
		return nil, err
	}
	accs := map[models.ReportKey]*reportAcc{}
	for _, st := range stmts {
		if err := s.readReport(ctx, &q, timeGroup, st, accs); err != nil {
			return nil, err
		}
	}
	if err := s.readAdjustments(ctx, &q, timeGroup, accs); err != nil {
		return nil, err
	}
	rep := &models.Report{From: q.From, To: q.To, GroupBy: slices.Clone(q.GroupBy), Timezone: q.Location.String(),
		Rows: make([]models.ReportRow, 0, len(accs))}
	if rep.GroupBy == nil {
		rep.GroupBy = []string{}
	}
	// The totals' money is the stored nano-unit sum rounded once, not the sum of the rows'
	// rounded-down micro-units: otherwise the totals would change with the grouping. The same
	// holds for the restated money (original plus the ledger's nano-unit deltas), and the
	// adjustment in micro-units is restated minus original, so that original + adjustment =
	// restated to the unit in every row and in the totals.
	var total reportAcc
	for k, a := range accs {
		total.spend += a.spend
		total.reven += a.reven
		total.adj.add(a.adj)
		a.finish()
		rep.Rows = append(rep.Rows, models.ReportRow{ReportKey: k, ReportMetrics: a.m})
	}
	slices.SortFunc(rep.Rows, func(a, b models.ReportRow) int {
		return models.CompareReportKeys(&a.ReportKey, &b.ReportKey, q.GroupBy)
	})
	for i := range rep.Rows {
		rep.Totals.Add(&rep.Rows[i].ReportMetrics)
	}
	rep.Totals.SpendMicros, rep.Totals.PublisherRevenueMicros = total.spend/1000, total.reven/1000
	rep.Totals.Restated.SpendMicros = (total.spend + total.adj.spend) / 1000
	rep.Totals.Restated.PublisherRevenueMicros = (total.reven + total.adj.reven) / 1000
	rep.Totals.Adjustment.SpendMicros = rep.Totals.Restated.SpendMicros - rep.Totals.SpendMicros
	rep.Totals.Adjustment.PublisherRevenueMicros = rep.Totals.Restated.PublisherRevenueMicros - rep.Totals.PublisherRevenueMicros
	rep.Totals.Derive()
	return rep, nil
}

// finish computes the row's money in micro-units, its classes, its adjustment and its
// restated figures.
func (a *reportAcc) finish() {
	m := &a.m
	m.SpendMicros = a.spend / 1000
	m.PublisherRevenueMicros = a.reven / 1000
	m.Adjustment = models.ReportFigures{
		Impressions: a.adj.imps, Clicks: a.adj.clicks, Conversions: a.adj.convs,
		// A reclassified event leaves the valid counts for the invalid ones.
		InvalidImpressions: -a.adj.imps, InvalidClicks: -a.adj.clicks, InvalidConversions: -a.adj.convs,
		InvalidByClass: map[string]int64{},
	}
	for k, v := range a.adjClass {
		m.Adjustment.InvalidByClass[k] += v
	}
	m.Restated = models.ReportFigures{
		Impressions: m.Impressions + a.adj.imps, Clicks: m.Clicks + a.adj.clicks, Conversions: m.Conversions + a.adj.convs,
		InvalidImpressions: m.InvalidImpressions - a.adj.imps, InvalidClicks: m.InvalidClicks - a.adj.clicks,
		InvalidConversions: m.InvalidConversions - a.adj.convs,
		SpendMicros:        (a.spend + a.adj.spend) / 1000, PublisherRevenueMicros: (a.reven + a.adj.reven) / 1000,
		InvalidByClass: map[string]int64{},
	}
	m.Adjustment.SpendMicros = m.Restated.SpendMicros - m.SpendMicros
	m.Adjustment.PublisherRevenueMicros = m.Restated.PublisherRevenueMicros - m.PublisherRevenueMicros
	for k, v := range m.InvalidByClass {
		m.Restated.InvalidByClass[k] += v
	}
	for k, v := range m.Adjustment.InvalidByClass {
		m.Restated.InvalidByClass[k] += v
	}
	m.Derive()
}

// readAdjustments adds the adjustment ledger's entries of the report's range to accs. The
// ledger is hourly and never rolled up; its hours in [From, To) are the ones the statistics
// parts of planReport cover together (a day of the daily tables is its local hours).
func (s *Store) readAdjustments(ctx context.Context, q *models.ReportQuery, timeGroup string, accs map[models.ReportKey]*reportAcc) error {
	var dims []*models.ReportDimension
	sel := []string{"hour"}
	group := []string{"hour"}
	for _, g := range q.GroupBy {
		if d := models.MustReportDimension(g); !d.Time {
			dims = append(dims, d)
			sel = append(sel, d.Field)
			group = append(group, d.Field)
		}
	}
	sel = append(sel, "class", "SUM(impressions)", "SUM(clicks)", "SUM(conversions)", "SUM(spend_nanos)", "SUM(publisher_revenue_nanos)")
	group = append(group, "class")
	where := []string{"hour >= ?", "hour < ?"}
	args := []any{dbTime(q.From), dbTime(q.To)}
	if q.AdvertiserID > 0 {
		where = append(where, "advertiser_id = ?")
		args = append(args, q.AdvertiserID)
	}
	if q.PublisherID > 0 {
		where = append(where, "publisher_id = ?")
		args = append(args, q.PublisherID)
	}
	rows, err := s.q.QueryContext(ctx, "SELECT "+strings.Join(sel, ", ")+" FROM adjustments WHERE "+
		strings.Join(where, " AND ")+" GROUP BY "+strings.Join(group, ", "), args...)
	if err != nil {
		return mapError(err, "report adjustments")
	}
	defer rows.Close()
	var (
		t       time.Time
		ids     [7]int64
		country string
		class   string
		f       ledgerFigures
	)
	for rows.Next() {
		dest := []any{&t}
		for i, d := range dims {
			if d.IsID() {
				dest = append(dest, &ids[i])
			} else {
				dest = append(dest, &country)
			}
		}
		dest = append(dest, &class, &f.imps, &f.clicks, &f.convs, &f.spend, &f.reven)
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("report adjustments: %w", err)
		}
		var k models.ReportKey
		if timeGroup != "" {
			k.Period = period(t.UTC(), false, timeGroup, q.Location)
		}
		for i, d := range dims {
			if d.IsID() {
				d.SetID(&k, ids[i])
			} else {
				k.Country = country
			}
		}
		a := accs[k]
		if a == nil {
			if len(accs) >= models.MaxReportRows {
				return models.Errorf(models.EINVALID, "Report has more than %d rows: narrow the range or the grouping.", models.MaxReportRows)
			}
			a = &reportAcc{m: models.ReportMetrics{InvalidByReason: map[string]int64{}, InvalidByClass: map[string]int64{}}}
			accs[k] = a
		}
		a.adj.add(f)
		if a.adjClass == nil {
			a.adjClass = map[string]int64{}
		}
		a.adjClass[class] -= f.imps + f.clicks + f.convs
	}
	return mapError(rows.Err(), "report adjustments")
}

// readReport runs one statement and adds its rows to accs.
func (s *Store) readReport(ctx context.Context, q *models.ReportQuery, timeGroup string, st reportStatement, accs map[models.ReportKey]*reportAcc) error {
	rows, err := s.q.QueryContext(ctx, st.query, st.args...)
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
		var k models.ReportKey
		dest := make([]any, 0, 16)
		if st.timed {
			dest = append(dest, &t)
		}
		for i, d := range st.cols {
			if d.IsID() {
				dest = append(dest, &ids[i])
			} else {
				dest = append(dest, &country)
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
		for i, d := range st.cols {
			if d.IsID() {
				d.SetID(&k, ids[i])
			} else {
				k.Country = country
			}
		}
		a := accs[k]
		if a == nil {
			if len(accs) >= models.MaxReportRows {
				return models.Errorf(models.EINVALID, "Report has more than %d rows: narrow the range or the grouping.", models.MaxReportRows)
			}
			a = &reportAcc{m: models.ReportMetrics{InvalidByReason: map[string]int64{}, InvalidByClass: map[string]int64{}}}
			accs[k] = a
		}
		if st.invalid {
			a.m.InvalidByReason[models.Reason(reason).String()] += vals[0].Int64
			a.m.InvalidByClass[models.Reason(reason).Class().String()] += vals[0].Int64
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
		if timeGroup == models.GroupMonth {
			d = 1
		}
		return time.Date(y, m, d, 0, 0, 0, 0, loc)
	}
	l := t.In(loc)
	switch timeGroup {
	case models.GroupDay:
		return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	case models.GroupMonth:
		return time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, loc)
	}
	return l
}
