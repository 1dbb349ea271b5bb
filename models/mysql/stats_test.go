package mysql_test

import (
	"context"
	"math"
	"testing"
	"time"

	"adnet/models"
	"adnet/models/mysql"
)

// statsRowOf reads one stats_hourly or stats_daily row.
type statsDBRow struct {
	Advertiser, Publisher, Site                     int64
	Requests, Served, Imps, Clicks, Convs           int64
	InvImps, InvClicks, InvConvs                    int64
	SpendMicros, SpendNanos, RevenMicros, RevenNano int64
}

func readStatsRow(t *testing.T, db *mysql.DB, table, timeCol string, at any, zone, campaign, creative int64, country string) statsDBRow {
	t.Helper()
	var r statsDBRow
	err := mysql.SQLX(db).QueryRowContext(context.Background(), `SELECT advertiser_id, publisher_id, site_id,
		requests, served, impressions, clicks, conversions, invalid_impressions, invalid_clicks, invalid_conversions,
		spend_micros, spend_nanos, publisher_revenue_micros, publisher_revenue_nanos FROM `+table+`
		WHERE `+timeCol+` = ? AND zone_id = ? AND campaign_id = ? AND creative_id = ? AND country = ?`,
		at, zone, campaign, creative, country).Scan(&r.Advertiser, &r.Publisher, &r.Site, &r.Requests, &r.Served,
		&r.Imps, &r.Clicks, &r.Convs, &r.InvImps, &r.InvClicks, &r.InvConvs, &r.SpendMicros, &r.SpendNanos,
		&r.RevenMicros, &r.RevenNano)
	if err != nil {
		t.Fatalf("%s row at %v zone %d: %v", table, at, zone, err)
	}
	return r
}

func countRows(t *testing.T, db *mysql.DB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := mysql.SQLX(db).QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// TestFlushBatchSums checks the upsert arithmetic: counters add up across flushes, hourly rows
// sum over the days of their events and daily rows over the hours, micro-unit money is the
// exact nano total rounded down after every flush, owners are filled in once known and never
// overwritten, and campaign_daily gets the valid counts.
func TestFlushBatchSums(t *testing.T) {
	t.Parallel()
	s, db, _ := newStore(t)
	ctx := context.Background()
	hour := time.Date(2025, 3, 1, 18, 0, 0, 0, time.UTC)
	d1 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	d2 := time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC)
	// Asia/Kolkata (+5:30): the UTC hour 18:00 is 23:30–00:30 local, so it feeds two days.
	b1 := &models.Batch{
		Stats: []models.StatsDelta{
			{Hour: hour, Day: d1, ZoneID: 1, CampaignID: 2, CreativeID: 3, Country: "IN", PublisherID: 0, SiteID: 0,
				Requests: 5, Served: 4, Impressions: 3, Clicks: 1, InvalidImpressions: 1, SpendNanos: 1_234_567, RevenueNanos: 864_196},
			{Hour: hour, Day: d2, ZoneID: 1, CampaignID: 2, CreativeID: 3, Country: "IN", AdvertiserID: 7, PublisherID: 8, SiteID: 9,
				Requests: 2, Served: 2, Impressions: 2, Conversions: 1, InvalidClicks: 2, SpendNanos: 2_000_500, RevenueNanos: 1_400_350},
		},
		Invalid: []models.InvalidDelta{
			{Hour: hour, Day: d1, ZoneID: 1, CampaignID: 2, CreativeID: 3, Country: "IN", EventType: models.EventImpression, Reason: models.ReasonBotUA, Count: 1},
			{Hour: hour, Day: d2, ZoneID: 1, CampaignID: 2, CreativeID: 3, Country: "IN", EventType: models.EventClick, Reason: models.ReasonDuplicateClick, Count: 2},
		},
		Offsets: []models.Offset{{Source: "worker-1/w1-1", Segment: 1, Offset: 116, EventTime: hour.Add(90 * time.Minute)}},
	}
	if err := s.FlushBatch(ctx, b1); err != nil {
		t.Fatal(err)
	}
	got := readStatsRow(t, db, "stats_hourly", "hour", hour, 1, 2, 3, "IN")
	want := statsDBRow{Advertiser: 7, Publisher: 8, Site: 9, Requests: 7, Served: 6, Imps: 5, Clicks: 1, Convs: 1,
		InvImps: 1, InvClicks: 2, SpendNanos: 3_235_067, SpendMicros: 3235, RevenNano: 2_264_546, RevenMicros: 2264}
	same(t, "hourly row after one flush", got, want)
	same(t, "daily row 1", readStatsRow(t, db, "stats_daily", "day", "2025-03-01", 1, 2, 3, "IN"),
		statsDBRow{Requests: 5, Served: 4, Imps: 3, Clicks: 1, InvImps: 1, SpendNanos: 1_234_567, SpendMicros: 1234, RevenNano: 864_196, RevenMicros: 864})
	same(t, "daily row 2", readStatsRow(t, db, "stats_daily", "day", "2025-03-02", 1, 2, 3, "IN"),
		statsDBRow{Advertiser: 7, Publisher: 8, Site: 9, Requests: 2, Served: 2, Imps: 2, Convs: 1, InvClicks: 2,
			SpendNanos: 2_000_500, SpendMicros: 2000, RevenNano: 1_400_350, RevenMicros: 1400})

	// A second flush: 933 more nano-units carry the hourly total over a micro-unit boundary;
	// the owners of daily row 1 are filled in; different owners do not overwrite known ones.
	b2 := &models.Batch{
		Stats: []models.StatsDelta{
			{Hour: hour, Day: d1, ZoneID: 1, CampaignID: 2, CreativeID: 3, Country: "IN", AdvertiserID: 70, PublisherID: 8, SiteID: 9,
				Impressions: 1, SpendNanos: 933, RevenueNanos: 653},
		},
		Invalid: []models.InvalidDelta{
			{Hour: hour, Day: d1, ZoneID: 1, CampaignID: 2, CreativeID: 3, Country: "IN", EventType: models.EventImpression, Reason: models.ReasonBotUA, Count: 4},
		},
		Offsets: []models.Offset{{Source: "worker-1/w1-1", Segment: 2, Offset: 232, EventTime: hour.Add(100 * time.Minute)}},
	}
	if err := s.FlushBatch(ctx, b2); err != nil {
		t.Fatal(err)
	}
	got = readStatsRow(t, db, "stats_hourly", "hour", hour, 1, 2, 3, "IN")
	want.Imps, want.SpendNanos, want.SpendMicros, want.RevenNano, want.RevenMicros = 6, 3_236_000, 3236, 2_265_199, 2265
	same(t, "hourly row after two flushes", got, want)
	same(t, "daily row 1 after two flushes", readStatsRow(t, db, "stats_daily", "day", "2025-03-01", 1, 2, 3, "IN"),
		statsDBRow{Advertiser: 70, Publisher: 8, Site: 9, Requests: 5, Served: 4, Imps: 4, Clicks: 1, InvImps: 1,
			SpendNanos: 1_235_500, SpendMicros: 1235, RevenNano: 864_849, RevenMicros: 864})

	if n := countRows(t, db, `SELECT count FROM stats_invalid_hourly WHERE hour = ? AND event_type = ? AND reason = ?`,
		hour, models.EventImpression, models.ReasonBotUA); n != 5 {
		t.Errorf("invalid hourly bot_ua = %d, want 5", n)
	}
	if n := countRows(t, db, `SELECT count FROM stats_invalid_daily WHERE day = '2025-03-02' AND event_type = ? AND reason = ?`,
		models.EventClick, models.ReasonDuplicateClick); n != 2 {
		t.Errorf("invalid daily duplicate_click = %d, want 2", n)
	}
	var imps, clicks, convs, spendMicros, spendNanos int64
	if err := mysql.SQLX(db).QueryRowContext(ctx, `SELECT SUM(impressions), SUM(clicks), SUM(conversions), SUM(spend_micros), SUM(spend_nanos)
		FROM campaign_daily WHERE campaign_id = 2`).Scan(&imps, &clicks, &convs, &spendMicros, &spendNanos); err != nil {
		t.Fatal(err)
	}
	if imps != 6 || clicks != 1 || convs != 1 || spendNanos != 3_236_000 || spendMicros != 1235+2000 {
		t.Errorf("campaign_daily: imps %d clicks %d convs %d spend %d µ / %d n", imps, clicks, convs, spendMicros, spendNanos)
	}

	offs, err := s.LoadOffsets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "offsets", offs, map[string]models.Offset{"worker-1/w1-1": {Source: "worker-1/w1-1", Segment: 2, Offset: 232, EventTime: hour.Add(100 * time.Minute)}})
}

// TestFlushBatchIsAtomic makes the last statement of a flush fail (an offset out of the
// column's range) and checks that nothing of the batch remains: not the statistics written
// before it, not the clicks, not the offsets.
func TestFlushBatchIsAtomic(t *testing.T) {
	t.Parallel()
	s, db, _ := newStore(t)
	ctx := context.Background()
	hour := time.Date(2025, 3, 1, 18, 0, 0, 0, time.UTC)
	b := &models.Batch{
		Stats:       []models.StatsDelta{{Hour: hour, Day: hour, ZoneID: 1, CampaignID: 2, CreativeID: 3, Requests: 1, Impressions: 1, SpendNanos: 5000}},
		Invalid:     []models.InvalidDelta{{Hour: hour, Day: hour, ZoneID: 1, EventType: models.EventClick, Reason: models.ReasonFastClick, Count: 1}},
		Clicks:      []models.ClickRow{{ImpressionID: models.ImpressionID{1}, Time: hour, ServedAt: hour, ZoneID: 1, CampaignID: 2, CreativeID: 3}},
		Conversions: []models.ConversionRow{{ImpressionID: models.ImpressionID{1}, Time: hour, ZoneID: 1, CampaignID: 2, CreativeID: 3}},
		Offsets: []models.Offset{
			{Source: "worker-1/a", Segment: 1, Offset: 116},
			{Source: "worker-1/b", Segment: math.MaxUint64, Offset: 116}, // BIGINT overflow: strict mode fails the statement
		},
	}
	if err := s.FlushBatch(ctx, b); err == nil {
		t.Fatal("FlushBatch with an out-of-range offset succeeded")
	}
	for _, table := range []string{"stats_hourly", "stats_daily", "stats_invalid_hourly", "stats_invalid_daily",
		"campaign_daily", "clicks", "conversions", "eventlog_offsets"} {
		if n := countRows(t, db, "SELECT COUNT(*) FROM "+table); n != 0 {
			t.Errorf("%s has %d rows after a failed flush", table, n)
		}
	}
	b.Offsets = b.Offsets[:1]
	if err := s.FlushBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, "SELECT SUM(spend_micros) FROM stats_hourly"); n != 5 {
		t.Errorf("spend after the retry = %d, want 5", n)
	}
}

// TestClickRowsNumberedAndCapped checks that an impression's clicks are numbered across
// flushes and that replays beyond MaxClickRowsPerImpression are not stored.
func TestClickRowsNumberedAndCapped(t *testing.T) {
	t.Parallel()
	s, db, _ := newStore(t)
	ctx := context.Background()
	at := time.Date(2025, 3, 1, 18, 0, 0, 0, time.UTC)
	imp, other := models.ImpressionID{7}, models.ImpressionID{8}
	click := func(id models.ImpressionID, reason models.Reason, sec int) models.ClickRow {
		return models.ClickRow{ImpressionID: id, Time: at.Add(time.Duration(sec) * time.Second), ServedAt: at,
			ZoneID: 1, CampaignID: 2, CreativeID: 3, IPHash: 42, UAHash: 43, ViewerID: 44, Country: "DE", Reason: reason}
	}
	if err := s.FlushBatch(ctx, &models.Batch{Clicks: []models.ClickRow{click(imp, 0, 1), click(other, 0, 1), click(imp, models.ReasonDuplicateClick, 2)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.FlushBatch(ctx, &models.Batch{Clicks: []models.ClickRow{click(imp, models.ReasonDuplicateClick, 3)}}); err != nil {
		t.Fatal(err)
	}
	type row struct {
		Seq    int           `db:"seq"`
		Valid  bool          `db:"valid"`
		Reason models.Reason `db:"reason"`
		Time   time.Time     `db:"time"`
		IP     uint64        `db:"ip_hash"`
	}
	var rows []row
	if err := mysql.SQLX(db).SelectContext(ctx, &rows, `SELECT seq, valid, reason, time, ip_hash FROM clicks WHERE impression_id = ? ORDER BY seq`, imp[:]); err != nil {
		t.Fatal(err)
	}
	same(t, "clicks of one impression", rows, []row{
		{0, true, 0, at.Add(time.Second), 42},
		{1, false, models.ReasonDuplicateClick, at.Add(2 * time.Second), 42},
		{2, false, models.ReasonDuplicateClick, at.Add(3 * time.Second), 42},
	})
	var many []models.ClickRow
	for i := 0; i < 2*mysql.MaxClickRowsPerImpression; i++ {
		many = append(many, click(imp, models.ReasonDuplicateClick, 10+i))
	}
	if err := s.FlushBatch(ctx, &models.Batch{Clicks: many}); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, `SELECT COUNT(*) FROM clicks WHERE impression_id = ?`, imp[:]); n != mysql.MaxClickRowsPerImpression {
		t.Errorf("%d click rows kept for one impression, want the cap %d", n, mysql.MaxClickRowsPerImpression)
	}
	if n := countRows(t, db, `SELECT COUNT(*) FROM clicks WHERE impression_id = ?`, other[:]); n != 1 {
		t.Errorf("other impression: %d rows, want 1", n)
	}
}

// TestConversionFacts checks the lookups behind no_click and duplicate_conversion.
func TestConversionFacts(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := context.Background()
	at := time.Date(2025, 3, 1, 18, 0, 0, 0, time.UTC)
	clicked, converted, rejected, never := models.ImpressionID{1}, models.ImpressionID{2}, models.ImpressionID{3}, models.ImpressionID{4}
	b := &models.Batch{
		Clicks: []models.ClickRow{
			{ImpressionID: clicked, Time: at.Add(time.Minute), ServedAt: at},
			{ImpressionID: clicked, Time: at.Add(2 * time.Minute), ServedAt: at, Reason: models.ReasonDuplicateClick},
			{ImpressionID: converted, Time: at.Add(3 * time.Minute), ServedAt: at},
		},
		Conversions: []models.ConversionRow{
			{ImpressionID: converted, Time: at.Add(time.Hour), ClickTime: at.Add(3 * time.Minute), PayoutMicros: 1_500_000},
			{ImpressionID: converted, Time: at.Add(2 * time.Hour), ClickTime: at.Add(3 * time.Minute), Reason: models.ReasonDuplicateConversion},
			{ImpressionID: rejected, Time: at.Add(time.Hour), Reason: models.ReasonNoClick},
		},
	}
	if err := s.FlushBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	facts, err := s.ConversionFacts(ctx, []models.ImpressionID{clicked, converted, rejected, never})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "facts", facts, map[models.ImpressionID]models.ConversionFact{
		clicked:   {ClickTime: at.Add(time.Minute)},
		converted: {ClickTime: at.Add(3 * time.Minute), Converted: true},
	})
}

// TestLoadDimensions checks the zone and campaign lookups, archived entities included.
func TestLoadDimensions(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	adv := mustAdvertiser(t, s, "adv", models.StatusActive)
	c := newCampaign(adv.ID, "camp")
	c.Pricing, c.RateMicros, c.Status = models.PricingCPC, 300_000, models.StatusArchived
	c = mustCampaign(t, s, c)
	pub := mustPublisher(t, s, "pub", models.StatusActive)
	site := mustSite(t, s, pub.ID, "news.example", models.StatusActive)
	z := mustZone(t, s, site.ID, "top", models.StatusPaused)
	d, err := s.LoadDimensions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	same(t, "zones", d.Zones, map[int64]models.ZoneDims{z.ID: {SiteID: site.ID, PublisherID: pub.ID, RevenueShareBP: 7000,
		Billing: models.Billing{Status: models.StatusPaused}}})
	same(t, "campaigns", d.Campaigns, map[int64]models.CampaignDims{c.ID: {AdvertiserID: adv.ID, Pricing: models.PricingCPC,
		Billing: models.Billing{Status: models.StatusArchived}}})
}

// TestRollupRetention checks that retention deletes exactly the hourly rows and event rows
// older than its limits, keeps the daily rows, and does nothing when run again.
func TestRollupRetention(t *testing.T) {
	t.Parallel()
	s, db, _ := newStore(t)
	ctx := context.Background()
	base := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	var b models.Batch
	for h := 0; h < 48; h++ {
		at := base.Add(time.Duration(h) * time.Hour)
		b.Stats = append(b.Stats, models.StatsDelta{Hour: at, Day: at, ZoneID: 1, Requests: 1})
		b.Invalid = append(b.Invalid, models.InvalidDelta{Hour: at, Day: at, ZoneID: 1, EventType: models.EventClick, Reason: models.ReasonBotUA, Count: 1})
		b.Clicks = append(b.Clicks, models.ClickRow{ImpressionID: models.ImpressionID{byte(h)}, Time: at, ServedAt: at})
		b.Conversions = append(b.Conversions, models.ConversionRow{ImpressionID: models.ImpressionID{byte(h)}, Time: at})
	}
	if err := s.FlushBatch(ctx, &b); err != nil {
		t.Fatal(err)
	}
	opt := models.RollupOptions{HourlyBefore: base.Add(30 * time.Hour), ClicksBefore: base.Add(10*time.Hour + time.Second)}
	res, err := s.Rollup(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "first rollup", res, models.RollupResult{HourlyRows: 30, InvalidHourlyRows: 30, Clicks: 11, Conversions: 11})
	if res, err = s.Rollup(ctx, opt); err != nil || res != (models.RollupResult{}) {
		t.Errorf("second rollup: %+v, %v; want nothing to do", res, err)
	}
	if n := countRows(t, db, `SELECT MIN(hour) = ? FROM stats_hourly`, base.Add(30*time.Hour)); n != 1 {
		t.Error("the oldest hourly row left is not the first hour within retention")
	}
	if n := countRows(t, db, `SELECT SUM(requests) FROM stats_daily`); n != 48 {
		t.Errorf("daily requests = %d after rollup, want all 48", n)
	}
	if n := countRows(t, db, `SELECT SUM(count) FROM stats_invalid_daily`); n != 48 {
		t.Errorf("daily invalid = %d after rollup, want all 48", n)
	}
}
