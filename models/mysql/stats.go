package mysql

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"adnet/models"
)

// MaxClickRowsPerImpression bounds the rows kept in clicks (and in conversions) for one
// impression id. Replaying one valid click URL millions of times must neither overflow the
// INT seq column (which would stop the statistics pipeline) nor grow the table without bound;
// every replay is still counted in the statistics, as an invalid duplicate.
const MaxClickRowsPerImpression = 100

// FlushBatch commits b in ONE transaction: the multi-row upserts of stats_hourly, stats_daily,
// stats_zone_daily, their stats_invalid_* twins and campaign_daily, the click and conversion
// rows, and the new event-log offsets. Either all of it is committed or none, which is what makes the
// statistics exactly-once: the offsets say precisely which events the counts contain.
//
// Counters are added (col = col + VALUES(col)); the *_micros money columns are recomputed from
// the exact nano totals in the same statement. Denormalised owner ids are filled in when a row
// was first written without them (an entity the aggregator did not know yet). Rows are written
// in primary-key order, which keeps the inserts at the end of the clustered indexes.
func (s *Store) FlushBatch(ctx context.Context, b *models.Batch) error {
	if err := b.Validate(); err != nil {
		return err
	}
	now := s.timestamp()
	err := s.inTx(ctx, nil, func(tx *sqlx.Tx) error {
		if err := checkOffsets(ctx, tx, b.Expect); err != nil {
			return err
		}
		if err := upsertStats(ctx, tx, b.Stats); err != nil {
			return err
		}
		if err := upsertInvalid(ctx, tx, b.Invalid); err != nil {
			return err
		}
		if err := upsertCampaignDaily(ctx, tx, b.Stats); err != nil {
			return err
		}
		if err := insertClicks(ctx, tx, b.Clicks); err != nil {
			return err
		}
		if err := insertConversions(ctx, tx, b.Conversions); err != nil {
			return err
		}
		return upsertOffsets(ctx, tx, b.Offsets, now)
	})
	if err != nil {
		return mapError(err, "flush statistics")
	}
	return nil
}

// maxPlaceholders keeps one statement well under MariaDB's 65535 placeholders and its
// max_allowed_packet.
const (
	maxPlaceholders = 30000
	maxRowsPerStmt  = 2000
)

// insertChunks runs head + "(?,…),(?,…)" + tail for n rows of cols values each, as few
// statements as the limits allow; args appends row i's values.
func insertChunks(ctx context.Context, tx *sqlx.Tx, head, tail string, cols, n int, args func(dst []any, i int) []any) error {
	per := min(maxRowsPerStmt, maxPlaceholders/cols)
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	for start := 0; start < n; start += per {
		end := min(n, start+per)
		var sb strings.Builder
		sb.Grow(len(head) + (end-start)*(len(tuple)+1) + len(tail))
		sb.WriteString(head)
		vals := make([]any, 0, (end-start)*cols)
		for i := start; i < end; i++ {
			if i > start {
				sb.WriteByte(',')
			}
			sb.WriteString(tuple)
			vals = args(vals, i)
		}
		sb.WriteString(tail)
		if _, err := tx.ExecContext(ctx, sb.String(), vals...); err != nil {
			return err
		}
	}
	return nil
}

// statsRow is one row of stats_hourly or stats_daily: a StatsDelta summed over the other
// time column.
type statsRow struct {
	at                                         time.Time // hour, or the day at 00:00 UTC
	zone, campaign, creative                   int64
	country                                    string
	advertiser, publisher, site                int64
	requests, served, imps, clicks, convs      int64
	invImps, invClicks, invConvs, spend, reven int64
}

type statsKey struct {
	at                       int64
	zone, campaign, creative int64
	country                  string
}

func (k statsKey) cmp(o statsKey) int {
	return cmp.Or(cmp.Compare(k.at, o.at), cmp.Compare(k.zone, o.zone), cmp.Compare(k.campaign, o.campaign),
		cmp.Compare(k.creative, o.creative), strings.Compare(k.country, o.country))
}

// dayOf returns the date of d as midnight UTC, the form DATE columns are compared in.
func dayOf(d time.Time) time.Time {
	y, m, dd := d.Date()
	return time.Date(y, m, dd, 0, 0, 0, 0, time.UTC)
}

// statsGrain says which table a grouping is for.
type statsGrain int

const (
	grainHourly statsGrain = iota // stats_hourly: (hour, zone, campaign, creative, country)
	grainDaily                    // stats_daily: (day, zone, campaign, creative, country)
	grainZone                     // stats_zone_daily: (day, zone)
)

// groupStats sums deltas by the key of the grain's table and returns the rows in primary-key
// order.
func groupStats(deltas []models.StatsDelta, grain statsGrain) []statsRow {
	idx := make(map[statsKey]int, len(deltas))
	keys := make([]statsKey, 0, len(deltas))
	rows := make([]statsRow, 0, len(deltas))
	for i := range deltas {
		d := &deltas[i]
		at := d.Hour.UTC().Truncate(time.Hour)
		if grain != grainHourly {
			at = dayOf(d.Day)
		}
		k := statsKey{at.Unix(), d.ZoneID, d.CampaignID, d.CreativeID, d.Country}
		if grain == grainZone {
			k.campaign, k.creative, k.country = 0, 0, ""
		}
		j, ok := idx[k]
		if !ok {
			j = len(rows)
			idx[k] = j
			keys = append(keys, k)
			rows = append(rows, statsRow{at: at, zone: k.zone, campaign: k.campaign, creative: k.creative, country: k.country})
		}
		r := &rows[j]
		r.advertiser = cmp.Or(r.advertiser, d.AdvertiserID)
		r.publisher = cmp.Or(r.publisher, d.PublisherID)
		r.site = cmp.Or(r.site, d.SiteID)
		r.requests += d.Requests
		r.served += d.Served
		r.imps += d.Impressions
		r.clicks += d.Clicks
		r.convs += d.Conversions
		r.invImps += d.InvalidImpressions
		r.invClicks += d.InvalidClicks
		r.invConvs += d.InvalidConversions
		r.spend += d.SpendNanos
		r.reven += d.RevenueNanos
	}
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return keys[a].cmp(keys[b]) })
	sorted := make([]statsRow, len(rows))
	for i, j := range order {
		sorted[i] = rows[j]
	}
	return sorted
}

// statsUpdate is the ON DUPLICATE KEY UPDATE clause shared by the hourly and daily tables. The
// micro-unit columns come before the nano columns they are computed from: MariaDB assigns left
// to right, so they still see the old nano totals (and with SIMULTANEOUS_ASSIGNMENT they see
// them anyway).
const statsUpdate = ` ON DUPLICATE KEY UPDATE
	advertiser_id = IF(advertiser_id = 0, VALUES(advertiser_id), advertiser_id),
	publisher_id = IF(publisher_id = 0, VALUES(publisher_id), publisher_id),
	site_id = IF(site_id = 0, VALUES(site_id), site_id),
	requests = requests + VALUES(requests),
	served = served + VALUES(served),
	impressions = impressions + VALUES(impressions),
	clicks = clicks + VALUES(clicks),
	conversions = conversions + VALUES(conversions),
	invalid_impressions = invalid_impressions + VALUES(invalid_impressions),
	invalid_clicks = invalid_clicks + VALUES(invalid_clicks),
	invalid_conversions = invalid_conversions + VALUES(invalid_conversions),
	spend_micros = (spend_nanos + VALUES(spend_nanos)) DIV 1000,
	spend_nanos = spend_nanos + VALUES(spend_nanos),
	publisher_revenue_micros = (publisher_revenue_nanos + VALUES(publisher_revenue_nanos)) DIV 1000,
	publisher_revenue_nanos = publisher_revenue_nanos + VALUES(publisher_revenue_nanos)`

func upsertStats(ctx context.Context, tx *sqlx.Tx, deltas []models.StatsDelta) error {
	if len(deltas) == 0 {
		return nil
	}
	for _, daily := range []bool{false, true} {
		table, timeCol := "stats_hourly", "hour"
		if daily {
			table, timeCol = "stats_daily", "day"
		}
		grain := grainHourly
		if daily {
			grain = grainDaily
		}
		rows := groupStats(deltas, grain)
		head := `INSERT INTO ` + table + ` (` + timeCol + `, zone_id, campaign_id, creative_id, country,
			advertiser_id, publisher_id, site_id, requests, served, impressions, clicks, conversions,
			invalid_impressions, invalid_clicks, invalid_conversions, spend_micros, spend_nanos,
			publisher_revenue_micros, publisher_revenue_nanos) VALUES `
		err := insertChunks(ctx, tx, head, statsUpdate, 20, len(rows), func(dst []any, i int) []any {
			r := &rows[i]
			var at any = r.at
			if daily {
				at = r.at.Format(time.DateOnly)
			}
			return append(dst, at, r.zone, r.campaign, r.creative, r.country,
				r.advertiser, r.publisher, r.site, r.requests, r.served, r.imps, r.clicks, r.convs,
				r.invImps, r.invClicks, r.invConvs, r.spend/1000, r.spend, r.reven/1000, r.reven)
		})
		if err != nil {
			return fmt.Errorf("%s: %w", table, err)
		}
	}
	rows := groupStats(deltas, grainZone)
	head := `INSERT INTO stats_zone_daily (day, zone_id, publisher_id, site_id, requests, served, impressions,
		clicks, conversions, invalid_impressions, invalid_clicks, invalid_conversions, spend_micros, spend_nanos,
		publisher_revenue_micros, publisher_revenue_nanos) VALUES `
	tail := strings.Replace(statsUpdate, "advertiser_id = IF(advertiser_id = 0, VALUES(advertiser_id), advertiser_id),", "", 1)
	err := insertChunks(ctx, tx, head, tail, 16, len(rows), func(dst []any, i int) []any {
		r := &rows[i]
		return append(dst, r.at.Format(time.DateOnly), r.zone, r.publisher, r.site, r.requests, r.served, r.imps,
			r.clicks, r.convs, r.invImps, r.invClicks, r.invConvs, r.spend/1000, r.spend, r.reven/1000, r.reven)
	})
	if err != nil {
		return fmt.Errorf("stats_zone_daily: %w", err)
	}
	return nil
}

type invalidKey struct {
	statsKey
	typ    models.EventType
	reason models.Reason
}

func upsertInvalid(ctx context.Context, tx *sqlx.Tx, deltas []models.InvalidDelta) error {
	if len(deltas) == 0 {
		return nil
	}
	for _, grain := range []statsGrain{grainHourly, grainDaily, grainZone} {
		daily := grain != grainHourly
		table, timeCol := "stats_invalid_hourly", "hour"
		switch grain {
		case grainDaily:
			table, timeCol = "stats_invalid_daily", "day"
		case grainZone:
			table, timeCol = "stats_invalid_zone_daily", "day"
		}
		idx := make(map[invalidKey]int, len(deltas))
		var keys []invalidKey
		var rows []models.InvalidDelta
		for _, d := range deltas {
			n := d.Count
			at := d.Hour.UTC().Truncate(time.Hour)
			if daily {
				at = dayOf(d.Day)
			}
			k := invalidKey{statsKey{at.Unix(), d.ZoneID, d.CampaignID, d.CreativeID, d.Country}, d.EventType, d.Reason}
			if grain == grainZone {
				k.campaign, k.creative, k.country = 0, 0, ""
				d.CampaignID, d.CreativeID, d.Country = 0, 0, ""
			}
			j, ok := idx[k]
			if !ok {
				j = len(rows)
				idx[k] = j
				keys = append(keys, k)
				d.Hour, d.Count = at, 0
				rows = append(rows, d)
			}
			r := &rows[j]
			r.AdvertiserID = cmp.Or(r.AdvertiserID, d.AdvertiserID)
			r.PublisherID = cmp.Or(r.PublisherID, d.PublisherID)
			r.SiteID = cmp.Or(r.SiteID, d.SiteID)
			r.Count += n
		}
		order := make([]int, len(rows))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int {
			return cmp.Or(keys[a].cmp(keys[b].statsKey), cmp.Compare(keys[a].typ, keys[b].typ), cmp.Compare(keys[a].reason, keys[b].reason))
		})
		ownerUpdate := ` ON DUPLICATE KEY UPDATE
			publisher_id = IF(publisher_id = 0, VALUES(publisher_id), publisher_id),
			site_id = IF(site_id = 0, VALUES(site_id), site_id),
			count = count + VALUES(count)`
		var err error
		if grain == grainZone {
			head := `INSERT INTO stats_invalid_zone_daily (day, zone_id, event_type, reason, publisher_id, site_id, count) VALUES `
			err = insertChunks(ctx, tx, head, ownerUpdate, 7, len(rows), func(dst []any, i int) []any {
				r := &rows[order[i]]
				return append(dst, r.Hour.Format(time.DateOnly), r.ZoneID, uint8(r.EventType), uint8(r.Reason),
					r.PublisherID, r.SiteID, r.Count)
			})
		} else {
			head := `INSERT INTO ` + table + ` (` + timeCol + `, zone_id, campaign_id, creative_id, country,
				event_type, reason, advertiser_id, publisher_id, site_id, count) VALUES `
			tail := strings.Replace(ownerUpdate, "UPDATE", "UPDATE advertiser_id = IF(advertiser_id = 0, VALUES(advertiser_id), advertiser_id),", 1)
			err = insertChunks(ctx, tx, head, tail, 11, len(rows), func(dst []any, i int) []any {
				r := &rows[order[i]]
				var at any = r.Hour
				if daily {
					at = r.Hour.Format(time.DateOnly)
				}
				return append(dst, at, r.ZoneID, r.CampaignID, r.CreativeID, r.Country,
					uint8(r.EventType), uint8(r.Reason), r.AdvertiserID, r.PublisherID, r.SiteID, r.Count)
			})
		}
		if err != nil {
			return fmt.Errorf("%s: %w", table, err)
		}
	}
	return nil
}

// upsertCampaignDaily feeds the caps and budgets of the serving snapshot: valid counts and
// spend per campaign, day and creative.
func upsertCampaignDaily(ctx context.Context, tx *sqlx.Tx, deltas []models.StatsDelta) error {
	type key struct {
		campaign int64
		day      int64
		creative int64
	}
	type val struct{ imps, clicks, convs, spend int64 }
	idx := map[key]int{}
	var keys []key
	var vals []val
	for i := range deltas {
		d := &deltas[i]
		if d.CampaignID == 0 || d.Impressions == 0 && d.Clicks == 0 && d.Conversions == 0 && d.SpendNanos == 0 {
			continue
		}
		k := key{d.CampaignID, dayOf(d.Day).Unix(), d.CreativeID}
		j, ok := idx[k]
		if !ok {
			j = len(vals)
			idx[k] = j
			keys = append(keys, k)
			vals = append(vals, val{})
		}
		v := &vals[j]
		v.imps += d.Impressions
		v.clicks += d.Clicks
		v.convs += d.Conversions
		v.spend += d.SpendNanos
	}
	if len(keys) == 0 {
		return nil
	}
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		ka, kb := keys[a], keys[b]
		return cmp.Or(cmp.Compare(ka.campaign, kb.campaign), cmp.Compare(ka.day, kb.day), cmp.Compare(ka.creative, kb.creative))
	})
	head := `INSERT INTO campaign_daily (campaign_id, day, creative_id, impressions, clicks, conversions,
		spend_micros, spend_nanos) VALUES `
	tail := ` ON DUPLICATE KEY UPDATE
		impressions = impressions + VALUES(impressions),
		clicks = clicks + VALUES(clicks),
		conversions = conversions + VALUES(conversions),
		spend_micros = (spend_nanos + VALUES(spend_nanos)) DIV 1000,
		spend_nanos = spend_nanos + VALUES(spend_nanos)`
	err := insertChunks(ctx, tx, head, tail, 8, len(order), func(dst []any, i int) []any {
		k, v := keys[order[i]], vals[order[i]]
		return append(dst, k.campaign, time.Unix(k.day, 0).UTC().Format(time.DateOnly), k.creative,
			v.imps, v.clicks, v.convs, v.spend/1000, v.spend)
	})
	if err != nil {
		return fmt.Errorf("campaign_daily: %w", err)
	}
	return nil
}
