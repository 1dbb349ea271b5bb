package mysql_test

import (
	"context"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"adnet/models/mysql"
	"adnet/models/mysql/mysqltest"
)

// fillInventory creates a network of 100 advertisers with 1000 campaigns (every tenth paused)
// of 3 creatives each, 50 publishers with 200 sites and 1000 zones, 10 campaigns linked to each
// zone, and 90 days of campaign_daily for every campaign and creative (270k rows). Generated
// server-side from MariaDB's sequence tables.
func fillInventory(tb testing.TB, db *sqlx.DB, last time.Time) {
	tb.Helper()
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO advertisers (id, name, status, postback_secret, created_at, updated_at)
		 SELECT seq, CONCAT('advertiser ', seq), 'active', 'secret', NOW(6), NOW(6) FROM seq_1_to_100`,
		`INSERT INTO campaigns (id, advertiser_id, name, status, start_at, end_at, tier, weight, pricing,
			rate_micros, lifetime_impressions, lifetime_clicks, lifetime_conversions, lifetime_spend_micros,
			daily_impressions, daily_clicks, daily_conversions, daily_spend_micros, pacing, freq_cap,
			freq_window_seconds, conversion_window_seconds, targeting, created_at, updated_at)
		 SELECT seq, (seq - 1) DIV 10 + 1, CONCAT('campaign ', seq), IF(seq % 10 = 0, 'paused', 'active'),
			NULL, NULL, 2, 10, 'cpm', 2500000, 0, 0, 0, 1000000000000, 100000, 0, 0, 0, 'even', 3, 86400, 604800,
			'{"countries":["US","DE"],"devices":["mobile","desktop"],"key_values":{"section":["sport"]}}',
			NOW(6), NOW(6)
		 FROM seq_1_to_1000`,
		`INSERT INTO creatives (id, campaign_id, name, status, kind, width, height, weight, image_url, html,
			title, body, click_url, created_at, updated_at)
		 SELECT seq, (seq - 1) DIV 3 + 1, CONCAT('creative ', seq), 'active', 'image', 300, 250, 1,
			CONCAT('https://cdn.example/', seq, '.png'), '', '', '', CONCAT('https://shop.example/?c=', seq),
			NOW(6), NOW(6)
		 FROM seq_1_to_3000`,
		`INSERT INTO publishers (id, name, status, revenue_share_bp, created_at, updated_at)
		 SELECT seq, CONCAT('publisher ', seq), 'active', 7000, NOW(6), NOW(6) FROM seq_1_to_50`,
		`INSERT INTO sites (id, publisher_id, name, domain, status, created_at, updated_at)
		 SELECT seq, (seq - 1) DIV 4 + 1, CONCAT('site ', seq), CONCAT('s', seq, '.example'), 'active', NOW(6), NOW(6)
		 FROM seq_1_to_200`,
		`INSERT INTO zones (id, site_id, name, width, height, status, fallback_zone_id, fallback_creative_id,
			created_at, updated_at)
		 SELECT seq, (seq - 1) DIV 5 + 1, CONCAT('zone ', seq), 300, 250, 'active', NULL, NULL, NOW(6), NOW(6)
		 FROM seq_1_to_1000`,
		`INSERT INTO zone_campaigns (zone_id, campaign_id, weight)
		 SELECT z.seq, ((z.seq * 13 + k.seq * 97) % 1000) + 1, 1 FROM seq_1_to_1000 z CROSS JOIN seq_0_to_9 k`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx,
		`INSERT INTO campaign_daily (day, campaign_id, creative_id, impressions, clicks, conversions, spend_micros)
		 SELECT ? + INTERVAL d.seq DAY, c.seq, (c.seq - 1) * 3 + k.seq, 1000, 10, 1, 2500000
		 FROM seq_0_to_89 d CROSS JOIN seq_1_to_1000 c CROSS JOIN seq_1_to_3 k
		 ORDER BY d.seq`, last.AddDate(0, 0, -89).Format(time.DateOnly)); err != nil {
		tb.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `ANALYZE TABLE campaigns, creatives, zones, zone_campaigns, campaign_daily`); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkLoadInventory loads the inventory of fillInventory: what every worker does every
// few seconds.
func BenchmarkLoadInventory(b *testing.B) {
	db := mysqltest.MustOpenDB(b)
	s := mysql.NewStore(db)
	now := time.Date(2025, 6, 30, 12, 0, 0, 0, time.UTC)
	fillInventory(b, mysql.SQLX(db), now)
	inv, err := s.LoadInventory(b.Context(), now, time.UTC)
	if err != nil {
		b.Fatal(err)
	}
	if len(inv.Campaigns) != 900 || len(inv.Creatives) != 2700 || len(inv.Zones) != 1000 || len(inv.Totals) != 900 {
		b.Fatalf("loaded %d campaigns, %d creatives, %d zones, %d totals", len(inv.Campaigns), len(inv.Creatives), len(inv.Zones), len(inv.Totals))
	}
	if inv.Totals[0].Lifetime.Impressions != 90*3*1000 || inv.Totals[0].Today.Impressions != 3*1000 {
		b.Fatalf("totals %+v", inv.Totals[0])
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.LoadInventory(b.Context(), now, time.UTC); err != nil {
			b.Fatal(err)
		}
	}
}
