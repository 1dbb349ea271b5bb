package mysql_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"adnet/models/mysql"
	"adnet/models/mysql/mysqltest"
)

// statsShape describes synthetic statistics: Zones zones over Days days ending at LastDay,
// PerZone (campaign, creative, country) rows per zone and day. Zone z belongs to site
// (z-1)/4+1 and publisher (z-1)/20+1; campaign c to advertiser (c-1)/10+1; 200 campaigns.
type statsShape struct {
	Days, Zones, PerZone int
	LastDay              time.Time
}

// fillStats generates the rows server-side from MariaDB's sequence tables (seq_0_to_N), which
// is orders of magnitude faster than sending them. Daily rows go to stats_daily; the last
// hourlyDays days also go to stats_hourly, one row per hour. Rows are inserted the way the
// aggregator writes them: time ascending, in no particular order within an hour or day. (Time
// descending would be pathological: InnoDB then splits pages so that they stay ~5 % full.)
func fillStats(tb testing.TB, db *sqlx.DB, sh statsShape, hourlyDays int) {
	tb.Helper()
	ctx := context.Background()
	// k numbers a zone's rows: four countries per campaign, PerZone/4 campaigns per zone.
	combos := fmt.Sprintf(`SELECT k.seq AS k, ((z.seq * 7 + k.seq DIV 4) %% 200) + 1 AS campaign,
			ELT(k.seq %% 4 + 1, 'US', 'DE', 'FR', 'GB') AS country, z.seq AS zone
		FROM seq_1_to_%d z CROSS JOIN seq_0_to_%d k`, sh.Zones, sh.PerZone-1)
	daily := fmt.Sprintf(`INSERT INTO stats_daily (day, zone_id, campaign_id, creative_id, country,
			advertiser_id, publisher_id, site_id, requests, served, impressions, clicks, conversions,
			spend_micros, publisher_revenue_micros)
		SELECT ? + INTERVAL d.seq DAY, c.zone, c.campaign, c.campaign * 10 + 1, c.country,
			(c.campaign - 1) DIV 10 + 1, (c.zone - 1) DIV 20 + 1, (c.zone - 1) DIV 4 + 1,
			100, 90, 80 + d.seq %% 7, 3, 1, 200000, 140000
		FROM seq_0_to_%d d CROSS JOIN (%s) c
		ORDER BY d.seq, RAND(1)`, sh.Days-1, combos)
	first := sh.LastDay.AddDate(0, 0, 1-sh.Days)
	if _, err := db.ExecContext(ctx, daily, first.Format(time.DateOnly)); err != nil {
		tb.Fatal(err)
	}
	if hourlyDays > 0 {
		hourly := fmt.Sprintf(`INSERT INTO stats_hourly (hour, zone_id, campaign_id, creative_id, country,
				advertiser_id, publisher_id, site_id, requests, served, impressions, clicks, conversions,
				spend_micros, publisher_revenue_micros)
			SELECT ? + INTERVAL h.seq HOUR, c.zone, c.campaign, c.campaign * 10 + 1, c.country,
				(c.campaign - 1) DIV 10 + 1, (c.zone - 1) DIV 20 + 1, (c.zone - 1) DIV 4 + 1,
				5, 4, 4, 1, 0, 10000, 7000
			FROM seq_0_to_%d h CROSS JOIN (%s) c
			ORDER BY h.seq, RAND(1)`, hourlyDays*24-1, combos)
		if _, err := db.ExecContext(ctx, hourly, sh.LastDay.AddDate(0, 0, 1-hourlyDays)); err != nil {
			tb.Fatal(err)
		}
	}
	for _, table := range []string{"stats_daily", "stats_hourly"} {
		if _, err := db.ExecContext(ctx, "ANALYZE TABLE "+table); err != nil {
			tb.Fatal(err)
		}
	}
}

// reportQuery is one shape of report the console and API will run.
type reportQuery struct {
	name  string
	query string
	args  []any
}

// reportQueries returns the report shapes over the 90 days ending at last.
func reportQueries(last time.Time) []reportQuery {
	from, to := last.AddDate(0, 0, -89).Format(time.DateOnly), last.AddDate(0, 0, 1).Format(time.DateOnly)
	today, tomorrow := last, last.Add(24*time.Hour)
	return []reportQuery{
		{"advertiser by day and campaign, 90 days", `SELECT day, campaign_id, SUM(impressions), SUM(clicks),
			SUM(conversions), SUM(spend_micros) FROM stats_daily
			WHERE advertiser_id = ? AND day >= ? AND day < ? GROUP BY day, campaign_id`, []any{3, from, to}},
		{"network by zone, 90 days", `SELECT zone_id, SUM(requests), SUM(served), SUM(impressions), SUM(clicks),
			SUM(spend_micros), SUM(publisher_revenue_micros) FROM stats_daily
			WHERE day >= ? AND day < ? GROUP BY zone_id`, []any{from, to}},
		{"publisher by zone, 90 days", `SELECT zone_id, SUM(requests), SUM(impressions), SUM(clicks),
			SUM(publisher_revenue_micros) FROM stats_daily
			WHERE publisher_id = ? AND day >= ? AND day < ? GROUP BY zone_id`, []any{2, from, to}},
		{"publisher's site by day, 90 days", `SELECT day, SUM(impressions), SUM(publisher_revenue_micros)
			FROM stats_daily WHERE publisher_id = ? AND site_id = ? AND day >= ? AND day < ? GROUP BY day`,
			[]any{2, 6, from, to}},
		{"advertiser by hour and campaign, today", `SELECT hour, campaign_id, SUM(impressions), SUM(clicks),
			SUM(spend_micros) FROM stats_hourly
			WHERE advertiser_id = ? AND hour >= ? AND hour < ? GROUP BY hour, campaign_id`, []any{3, today, tomorrow}},
		{"network by zone, today", `SELECT zone_id, SUM(requests), SUM(impressions), SUM(spend_micros)
			FROM stats_hourly WHERE hour >= ? AND hour < ? GROUP BY zone_id`, []any{today, tomorrow}},
	}
}

// explainRow is one row of MariaDB's tabular EXPLAIN.
type explainRow struct {
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

func (r explainRow) String() string {
	return fmt.Sprintf("table=%s type=%s key=%s key_len=%s ref=%s rows=%d extra=%q",
		r.Table.String, r.Type.String, nullable(r.Key), r.KeyLen.String, r.Ref.String, r.Rows.Int64, r.Extra.String)
}

func nullable(s sql.NullString) string {
	if !s.Valid {
		return "NULL"
	}
	return s.String
}

// TestReportQueriesUseIndexes prints the EXPLAIN of the report shapes over 400 days of
// statistics (so that 90 days are a real subset) and fails if one of them reads a table
// without an index range or lookup.
func TestReportQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	db := mysql.SQLX(mysqltest.MustOpenDB(t))
	last := time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC)
	fillStats(t, db, statsShape{Days: 400, Zones: 200, PerZone: 4, LastDay: last}, 3)

	for _, q := range reportQueries(last) {
		var plan []explainRow
		if err := db.SelectContext(t.Context(), &plan, "EXPLAIN "+q.query, q.args...); err != nil {
			t.Fatalf("%s: %v", q.name, err)
		}
		start := time.Now()
		rows, err := db.QueryContext(t.Context(), q.query, q.args...)
		if err != nil {
			t.Fatalf("%s: %v", q.name, err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		var lines []string
		for _, r := range plan {
			lines = append(lines, r.String())
			switch {
			case !r.Key.Valid:
				t.Errorf("%s: table %s read without an index", q.name, r.Table.String)
			case r.Type.String != "range" && r.Type.String != "ref" && r.Type.String != "eq_ref" && r.Type.String != "const":
				t.Errorf("%s: table %s read by a %s scan of %s, not a range or lookup", q.name, r.Table.String, r.Type.String, r.Key.String)
			}
		}
		t.Logf("%s (%d result rows in %v):\n    %s", q.name, n, elapsed.Round(time.Microsecond), strings.Join(lines, "\n    "))
	}
}

// BenchmarkReport90Days runs the report shapes over the statistics of 1000 zones for 100 days,
// 8 rows per zone and day (800k rows in stats_daily): the "90 days × 1000 zones" target.
// Filling takes a while; run with -bench Report90Days -benchtime 5x.
func BenchmarkReport90Days(b *testing.B) {
	db := mysql.SQLX(mysqltest.MustOpenDB(b))
	last := time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC)
	start := time.Now()
	fillStats(b, db, statsShape{Days: 100, Zones: 1000, PerZone: 8, LastDay: last}, 1)
	b.Logf("filled stats_daily with %d rows in %v", 100*1000*8, time.Since(start).Round(time.Millisecond))
	for _, q := range reportQueries(last) {
		b.Run(strings.ReplaceAll(q.name, " ", "_"), func(b *testing.B) {
			for b.Loop() {
				rows, err := db.QueryContext(b.Context(), q.query, q.args...)
				if err != nil {
					b.Fatal(err)
				}
				for rows.Next() {
				}
				if err := rows.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
