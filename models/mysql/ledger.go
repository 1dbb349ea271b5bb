package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"adnet/models"
)

// flagSubjectColumn is the statistics column that selects a flag's subject.
var flagSubjectColumn = map[string]string{
	models.FlagZone:       "zone_id",
	models.FlagSite:       "site_id",
	models.FlagPublisher:  "publisher_id",
	models.FlagCampaign:   "campaign_id",
	models.FlagAdvertiser: "advertiser_id",
}

// ledgerBucket is a statistics bucket of stats_hourly.
type ledgerBucket struct {
	hour                        time.Time
	zone, campaign, creative    int64
	country                     string
	advertiser, publisher, site int64
}

// ledgerFigures are a bucket's valid counts and money (nano-units).
type ledgerFigures struct {
	imps, clicks, convs, spend, reven int64
}

func (f *ledgerFigures) add(o ledgerFigures) {
	f.imps += o.imps
	f.clicks += o.clicks
	f.convs += o.convs
	f.spend += o.spend
	f.reven += o.reven
}

func (f ledgerFigures) zero() bool { return f == ledgerFigures{} }

// adjustmentColumns are the ledger's columns, in the order insertAdjustments writes them.
const adjustmentColumns = `flag_id, run, kind, hour, zone_id, campaign_id, creative_id, country, advertiser_id,
	publisher_id, site_id, impressions, clicks, conversions, spend_nanos, publisher_revenue_nanos, class, reason,
	confirmed_by, created_at`

// RestateFraudFlag runs one restatement of confirmed flag id over period p, as confirmedBy, in
// one transaction (the caller's, when in WithTx) and returns what it wrote.
//
// reverse false: every stats_hourly bucket of the flag's subject whose hour starts in p gets
// an entry bringing its valid counts and money to zero, net of what the ledger already
// restates in that bucket (any flag's entries). The statistics are read from the transaction's
// consistent snapshot: committed statistics, not the aggregator's flush in progress. Events of
// the period committed after it (late events) are not restated by this run; running it again
// (a top-up) writes exactly their reversal, and nothing when there are none. A component is
// only ever moved toward zero, never back up, so a snapshot older than another flag's
// concurrent entries cannot undo them.
//
// reverse true: the flag's entries are summed per bucket and the opposite appended.
//
// Restatements of overlapping subjects are serialised by the locking read of the ledger's
// range; restatements of one flag by the lock on its row. Overlapping flags (a zone's and its
// publisher's) restate a bucket once: the second finds nothing valid left there. A reversal
// undoes exactly its own flag's entries, so reversing the first of two overlapping flags
// leaves their common buckets valid again until the other is topped up (RestateFraudFlag
// again), which restates them for it.
//
// Only stats_hourly is read: hours older than stats.hourly_retention (at least 48 h, 90 days
// by default), folded into daily rows, are not restated.
func (s *Store) RestateFraudFlag(ctx context.Context, id int64, p models.RestatementPeriod, confirmedBy string, reverse bool) (*models.Restatement, error) {
	from, to := p.From.UTC().Truncate(time.Hour), p.To.UTC()
	if !from.Before(to) {
		return nil, models.Errorf(models.EINVALID, "restatement of fraud flag %d: the period must end after it starts", id)
	}
	out := &models.Restatement{FlagID: id, Kind: models.AdjustRestate, Period: models.RestatementPeriod{From: from, To: to}}
	if reverse {
		out.Kind = models.AdjustReverse
	}
	err := s.inTx(ctx, nil, func(tx *sqlx.Tx) error {
		var flag struct {
			Kind   string `db:"entity_kind"`
			Entity int64  `db:"entity_id"`
			Metric string `db:"metric"`
			Status string `db:"status"`
		}
		err := sqlx.GetContext(ctx, tx, &flag,
			`SELECT entity_kind, entity_id, metric, status FROM fraud_flags WHERE id = ? FOR UPDATE`, id)
		if err != nil {
			return notFound(err, "fraud flag", id)
		}
		col, ok := flagSubjectColumn[flag.Kind]
		if !ok {
			return models.Errorf(models.EINVALID, "fraud flag %d: unknown entity kind %q", id, flag.Kind)
		}
		if !reverse && flag.Status != models.FlagConfirmed {
			return models.Errorf(models.ECONFLICT, "fraud flag %d is %s, not confirmed: nothing to restate", id, flag.Status)
		}
		var run int
		if err := sqlx.GetContext(ctx, tx, &run, `SELECT COALESCE(MAX(run), 0) + 1 FROM adjustments WHERE flag_id = ?`, id); err != nil {
			return mapError(err, "restate fraud flag")
		}
		// What the ledger restates already, per bucket: every flag's entries (a restatement),
		// or this flag's (a reversal). A locking read: it sees the latest entries and keeps
		// another restatement of the same range from writing until this one commits.
		ledger, err := s.ledgerSums(ctx, tx, col, flag.Entity, from, to, id, reverse)
		if err != nil {
			return err
		}
		var entries []models.Adjustment
		entry := func(b ledgerBucket, d ledgerFigures) {
			entries = append(entries, models.Adjustment{FlagID: id, Run: run, Kind: out.Kind, Hour: b.hour,
				ZoneID: b.zone, CampaignID: b.campaign, CreativeID: b.creative, Country: b.country,
				AdvertiserID: b.advertiser, PublisherID: b.publisher, SiteID: b.site,
				Impressions: d.imps, Clicks: d.clicks, Conversions: d.convs, SpendNanos: d.spend, PublisherRevenueNanos: d.reven,
				Class: models.ClassSIVT.String(), Reason: models.AdjustmentReason(flag.Metric), ConfirmedBy: confirmedBy})
		}
		if reverse {
			for _, b := range ledger.order {
				if d := ledger.sums[b]; !d.zero() {
					entry(b, ledgerFigures{-d.imps, -d.clicks, -d.convs, -d.spend, -d.reven})
				}
			}
		} else {
			stats, err := s.validBuckets(ctx, tx, col, flag.Entity, from, to)
			if err != nil {
				return err
			}
			for _, b := range stats.order {
				v := stats.sums[b]
				v.add(ledger.sums[b])
				// Toward zero only: what is left valid, never a negative (which another
				// flag's newer entries can make of an older snapshot).
				d := ledgerFigures{-max(v.imps, 0), -max(v.clicks, 0), -max(v.convs, 0), -max(v.spend, 0), -max(v.reven, 0)}
				if !d.zero() {
					entry(b, d)
				}
			}
		}
		if len(entries) == 0 {
			return nil
		}
		out.Run = run
		if err := insertAdjustments(ctx, tx, entries, s.timestamp()); err != nil {
			return err
		}
		for _, e := range entries {
			out.Entries++
			out.Impressions += e.Impressions
			out.Clicks += e.Clicks
			out.Conversions += e.Conversions
			out.SpendNanos += e.SpendNanos
			out.PublisherRevenueNanos += e.PublisherRevenueNanos
		}
		out.SpendMicros, out.PublisherRevenueMicros = out.SpendNanos/1000, out.PublisherRevenueNanos/1000
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// bucketSums are figures per bucket, with the buckets in the order they were read.
type bucketSums struct {
	order []ledgerBucket
	sums  map[ledgerBucket]ledgerFigures
}

func (b *bucketSums) add(k ledgerBucket, f ledgerFigures) {
	if b.sums == nil {
		b.sums = map[ledgerBucket]ledgerFigures{}
	}
	cur, ok := b.sums[k]
	if !ok {
		b.order = append(b.order, k)
	}
	cur.add(f)
	b.sums[k] = cur
}

// validBuckets reads the valid figures of the subject's stats_hourly buckets in [from, to).
func (s *Store) validBuckets(ctx context.Context, tx *sqlx.Tx, col string, entity int64, from, to time.Time) (*bucketSums, error) {
	rows, err := tx.QueryContext(ctx,
		`SELECT hour, zone_id, campaign_id, creative_id, country, advertiser_id, publisher_id, site_id,
			impressions, clicks, conversions, spend_nanos, publisher_revenue_nanos
		 FROM stats_hourly
		 WHERE hour >= ? AND hour < ? AND `+col+` = ?
		   AND (impressions <> 0 OR clicks <> 0 OR conversions <> 0 OR spend_nanos <> 0 OR publisher_revenue_nanos <> 0)
		 ORDER BY hour, zone_id, campaign_id, creative_id, country`, from, to, entity)
	if err != nil {
		return nil, mapError(err, "read statistics to restate")
	}
	return scanBucketSums(rows, "read statistics to restate")
}

// ledgerSums sums the ledger's entries per bucket of the subject in [from, to): every flag's,
// or only flag id's when own. A locking read (see RestateFraudFlag).
func (s *Store) ledgerSums(ctx context.Context, tx *sqlx.Tx, col string, entity int64, from, to time.Time, id int64, own bool) (*bucketSums, error) {
	q := `SELECT hour, zone_id, campaign_id, creative_id, country, advertiser_id, publisher_id, site_id,
			impressions, clicks, conversions, spend_nanos, publisher_revenue_nanos
		 FROM adjustments WHERE `
	args := []any{}
	if own {
		q += `flag_id = ?`
		args = append(args, id)
	} else {
		q += `hour >= ? AND hour < ? AND ` + col + ` = ?`
		args = append(args, from, to, entity)
	}
	rows, err := tx.QueryContext(ctx, q+` ORDER BY hour, zone_id, campaign_id, creative_id, country, id FOR UPDATE`, args...)
	if err != nil {
		return nil, mapError(err, "read the adjustment ledger")
	}
	return scanBucketSums(rows, "read the adjustment ledger")
}

// scanBucketSums sums rows of (bucket, owners, figures) — stats_hourly's or the ledger's, in
// the column order both queries select — per bucket, and closes rows. what names the read in
// errors.
func scanBucketSums(rows *sql.Rows, what string) (*bucketSums, error) {
	defer rows.Close()
	out := &bucketSums{}
	for rows.Next() {
		var b ledgerBucket
		var f ledgerFigures
		if err := rows.Scan(&b.hour, &b.zone, &b.campaign, &b.creative, &b.country, &b.advertiser, &b.publisher, &b.site,
			&f.imps, &f.clicks, &f.convs, &f.spend, &f.reven); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		b.hour = b.hour.UTC()
		out.add(b, f)
	}
	return out, mapError(rows.Err(), what)
}

// insertAdjustments appends entries, a few hundred rows per statement.
func insertAdjustments(ctx context.Context, tx *sqlx.Tx, entries []models.Adjustment, at time.Time) error {
	const batch = 500
	for len(entries) > 0 {
		n := min(len(entries), batch)
		ph := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?),", n), ",")
		args := make([]any, 0, n*20)
		for _, e := range entries[:n] {
			args = append(args, e.FlagID, e.Run, e.Kind, e.Hour, e.ZoneID, e.CampaignID, e.CreativeID, e.Country,
				e.AdvertiserID, e.PublisherID, e.SiteID, e.Impressions, e.Clicks, e.Conversions, e.SpendNanos,
				e.PublisherRevenueNanos, e.Class, e.Reason, e.ConfirmedBy, at)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO adjustments (`+adjustmentColumns+`) VALUES `+ph, args...); err != nil {
			return mapError(err, "write the adjustment ledger")
		}
		entries = entries[n:]
	}
	return nil
}

// ListAdjustments returns the ledger entries of flag id, in the order they were written.
func (s *Store) ListAdjustments(ctx context.Context, flagID int64) ([]models.Adjustment, error) {
	list := []models.Adjustment{}
	err := sqlx.SelectContext(ctx, s.q, &list, `SELECT id, `+adjustmentColumns+` FROM adjustments WHERE flag_id = ? ORDER BY id`, flagID)
	if err != nil {
		return nil, mapError(err, "list adjustments")
	}
	for i := range list {
		list[i].Hour = list[i].Hour.UTC()
		list[i].CreatedAt = list[i].CreatedAt.UTC()
	}
	return list, nil
}
