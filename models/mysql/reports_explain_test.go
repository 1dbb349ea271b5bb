package mysql_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"adnet/models"
	"adnet/models/mysql"
	"adnet/models/mysql/mysqltest"
)

// reportShape is a synthetic statistics load: Zones zones, PerZone (campaign, creative, country)
// rows per zone and day for Days days ending with Last (UTC), the last HourlyDays of them also
// per hour. Zone z is on site (z-1)/4+1 of publisher (z-1)/20+1; campaign c belongs to
// advertiser (c-1)/10+1; 200 campaigns.
type reportShape struct {
	Days, Zones, PerZone, HourlyDays int
	Last                             time.Time
}

// fillReportStats generates the rows inside MariaDB from its sequence tables (seq_0_to_N), in
// time order as the aggregator writes them.
func fillReportStats(tb testing.TB, db *sqlx.DB, sh reportShape) {
	tb.Helper()
	ctx := context.Background()
	combos := fmt.Sprintf(`SELECT ((z.seq * 7 + k.seq DIV 4) %% 200) + 1 AS campaign,
			ELT(k.seq %% 4 + 1, 'US', 'DE', 'FR', 'GB') AS country, z.seq AS zone
		FROM seq_1_to_%d z CROSS JOIN seq_0_to_%d k`, sh.Zones, sh.PerZone-1)
	cols := `zone_id, campaign_id, creative_id, country, advertiser_id, publisher_id, site_id, requests, served,
		impressions, clicks, conversions, invalid_impressions, invalid_clicks, spend_micros, spend_nanos,
		publisher_revenue_micros, publisher_revenue_nanos`
	vals := `c.zone, c.campaign, c.campaign * 10 + 1, c.country, (c.campaign - 1) DIV 10 + 1, (c.zone - 1) DIV 20 + 1,
		(c.zone - 1) DIV 4 + 1, 100, 90, 80, 3, 1, 2, 1, 200, 200500, 140, 140350`
	first := sh.Last.AddDate(0, 0, 1-sh.Days)
	stmts := []struct {
		q   string
		arg any
	}{
		{fmt.Sprintf(`INSERT INTO stats_daily (day, %s) SELECT ? + INTERVAL d.seq DAY, %s
			FROM seq_0_to_%d d CROSS JOIN (%s) c ORDER BY d.seq`, cols, vals, sh.Days-1, combos), first.Format(time.DateOnly)},
		{fmt.Sprintf(`INSERT INTO stats_invalid_daily (day, zone_id, campaign_id, creative_id, country, event_type, reason,
				advertiser_id, publisher_id, site_id, count)
			SELECT ? + INTERVAL d.seq DAY, c.zone, c.campaign, c.campaign * 10 + 1, c.country, 2, 3,
				(c.campaign - 1) DIV 10 + 1, (c.zone - 1) DIV 20 + 1, (c.zone - 1) DIV 4 + 1, 2
			FROM seq_0_to_%d d CROSS JOIN (%s) c ORDER BY d.seq`, sh.Days-1, combos), first.Format(time.DateOnly)},
	}
	if sh.HourlyDays > 0 {
		stmts = append(stmts, struct {
			q   string
			arg any
		}{fmt.Sprintf(`INSERT INTO stats_hourly (hour, %s) SELECT ? + INTERVAL h.seq HOUR, %s
			FROM seq_0_to_%d h CROSS JOIN (%s) c ORDER BY h.seq`, cols, vals, sh.HourlyDays*24-1, combos),
			sh.Last.AddDate(0, 0, 1-sh.HourlyDays)})
	}
	for _, st := range stmts {
		if _, err := db.ExecContext(ctx, st.q, st.arg); err != nil {
			tb.Fatal(err)
		}
	}
	// The zone tables are stats_daily summed over campaign, creative and country, as
	// FlushBatch writes them.
	for _, q := range []string{
		`INSERT INTO stats_zone_daily (day, zone_id, publisher_id, site_id, requests, served, impressions, clicks,
			conversions, invalid_impressions, invalid_clicks, invalid_conversions, spend_micros, spend_nanos,
			publisher_revenue_micros, publisher_revenue_nanos)
		SELECT day, zone_id, MAX(publisher_id), MAX(site_id), SUM(requests), SUM(served), SUM(impressions), SUM(clicks),
			SUM(conversions), SUM(invalid_impressions), SUM(invalid_clicks), SUM(invalid_conversions),
			SUM(spend_nanos) DIV 1000, SUM(spend_nanos), SUM(publisher_revenue_nanos) DIV 1000, SUM(publisher_revenue_nanos)
		FROM stats_daily GROUP BY day, zone_id`,
		`INSERT INTO stats_invalid_zone_daily (day, zone_id, event_type, reason, publisher_id, site_id, count)
		SELECT day, zone_id, event_type, reason, MAX(publisher_id), MAX(site_id), SUM(count)
		FROM stats_invalid_daily GROUP BY day, zone_id, event_type, reason`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `ANALYZE TABLE stats_daily, stats_invalid_daily, stats_hourly, stats_invalid_hourly,
		stats_zone_daily, stats_invalid_zone_daily`); err != nil {
		tb.Fatal(err)
	}
}

// reportShapes are the reports the API and the console run, over the 90 days ending with last.
func reportShapes(last time.Time) []struct {
	name string
	q    models.ReportQuery
} {
	from, to := last.AddDate(0, 0, -89), last.AddDate(0, 0, 1)
	return []struct {
		name string
		q    models.ReportQuery
	}{
		{"network by zone, 90 days", models.ReportQuery{From: from, To: to, GroupBy: []string{"zone"}}},
		{"network by day, 90 days", models.ReportQuery{From: from, To: to, GroupBy: []string{"day"}}},
		{"network by month and country, 90 days", models.ReportQuery{From: from, To: to, GroupBy: []string{"month", "country"}}},
		{"advertiser by day and campaign, 90 days", models.ReportQuery{From: from, To: to, GroupBy: []string{"day", "campaign"}, AdvertiserID: 3}},
		{"publisher by zone, 90 days", models.ReportQuery{From: from, To: to, GroupBy: []string{"zone"}, PublisherID: 2}},
		{"publisher by site and day, 90 days", models.ReportQuery{From: from, To: to, GroupBy: []string{"site", "day"}, PublisherID: 2}},
		{"network by zone, 90 days from 12:00", models.ReportQuery{From: from.Add(12 * time.Hour), To: to.Add(-12 * time.Hour), GroupBy: []string{"zone"}}},
		{"network by hour, last day", models.ReportQuery{From: last, To: to, GroupBy: []string{"hour"}}},
		{"advertiser by hour and campaign, last day", models.ReportQuery{From: last, To: to, GroupBy: []string{"hour", "campaign"}, AdvertiserID: 3}},
	}
}

type explainLine struct {
	ID           sql.NullInt64  `db:"id"`
	SelectType   sql.NullString `db:"select_type"`
	Table        sql.NullString `db:"table"`
	Type         sql.NullString `db:"type"`
	PossibleKeys sql.NullString `db:"possible_keys"`
	Key          sql.NullString `db:"key"`
	KeyLen       sql.NullString `db:"key_len"`
	Ref          sql.NullString `db:"ref"`
	Rows         sql.NullInt64  `db:"rows"`
	Extra        sql.NullString `db:"Extra"`
}

// TestReportExplain prints the EXPLAIN of every statement of the report shapes over 90 days ×
// 1000 zones (720k daily rows, plus a day of hourly rows) and the time each report took, and
// fails if a statement reads a table without an index range or lookup. The speed itself is
// measured by BenchmarkReport90Days1000Zones.
func TestReportExplain(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 900k rows")
	}
	db := mysqltest.MustOpenDB(t)
	x := mysql.SQLX(db)
	s := mysql.NewStore(db)
	last := time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC)
	start := time.Now()
	fillReportStats(t, x, reportShape{Days: 90, Zones: 1000, PerZone: 8, HourlyDays: 1, Last: last})
	t.Logf("filled 720k daily and 192k hourly rows in %v", time.Since(start).Round(time.Millisecond))
	for _, sh := range reportShapes(last) {
		stmts, err := mysql.ReportStatements(sh.q)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, st := range stmts {
			var plan []explainLine
			if err := x.SelectContext(t.Context(), &plan, "EXPLAIN "+st.Query, st.Args...); err != nil {
				t.Fatalf("%s: %v", sh.name, err)
			}
			fmt.Fprintf(&b, "\n  %s", st.Query)
			for _, p := range plan {
				fmt.Fprintf(&b, "\n    -> table=%s type=%s key=%s rows=%d extra=%q", p.Table.String, p.Type.String, p.Key.String, p.Rows.Int64, p.Extra.String)
				if !p.Key.Valid || p.Type.String != "range" && p.Type.String != "ref" {
					t.Errorf("%s: %s read by %s without an index range or lookup", sh.name, p.Table.String, p.Type.String)
				}
			}
		}
		start := time.Now()
		rep, err := s.Report(t.Context(), sh.q)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d rows in %v%s", sh.name, len(rep.Rows), time.Since(start).Round(time.Millisecond), b.String())
	}
}

// BenchmarkReport90Days1000Zones runs the report shapes over 90 days × 1000 zones × 8 rows per
// zone and day. Run with: go test ./models/mysql -run XXX -bench Report90Days -benchtime 3x
func BenchmarkReport90Days1000Zones(b *testing.B) {
	db := mysqltest.MustOpenDB(b)
	s := mysql.NewStore(db)
	last := time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC)
	fillReportStats(b, mysql.SQLX(db), reportShape{Days: 90, Zones: 1000, PerZone: 8, HourlyDays: 1, Last: last})
	for _, sh := range reportShapes(last) {
		b.Run(strings.ReplaceAll(sh.name, " ", "_"), func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Report(b.Context(), sh.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
