package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"adnet/models"
)

// LoadDimensions reads the zone and campaign dimensions in one consistent snapshot.
func (s *Store) LoadDimensions(ctx context.Context) (*models.Dimensions, error) {
	d := &models.Dimensions{LoadedAt: s.now(), Zones: map[int64]models.ZoneDims{}, Campaigns: map[int64]models.CampaignDims{}}
	err := s.inTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}, func(tx *sqlx.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT z.id, z.site_id, s.publisher_id, p.revenue_share_bp, z.status, z.status_changed_at
			FROM zones z JOIN sites s ON s.id = z.site_id JOIN publishers p ON p.id = s.publisher_id`)
		if err != nil {
			return fmt.Errorf("zones: %w", err)
		}
		for rows.Next() {
			var id int64
			var z models.ZoneDims
			var changed sql.NullTime
			if err := rows.Scan(&id, &z.SiteID, &z.PublisherID, &z.RevenueShareBP, &z.Billing.Status, &changed); err != nil {
				rows.Close()
				return err
			}
			if changed.Valid {
				z.Billing.ChangedAt = changed.Time.UTC()
			}
			d.Zones[id] = z
		}
		if err := rows.Close(); err != nil {
			return err
		}
		rows, err = tx.QueryContext(ctx, `SELECT id, advertiser_id, pricing, status, status_changed_at FROM campaigns`)
		if err != nil {
			return fmt.Errorf("campaigns: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var c models.CampaignDims
			var changed sql.NullTime
			if err := rows.Scan(&id, &c.AdvertiserID, &c.Pricing, &c.Billing.Status, &changed); err != nil {
				return err
			}
			if changed.Valid {
				c.Billing.ChangedAt = changed.Time.UTC()
			}
			d.Campaigns[id] = c
		}
		return rows.Err()
	})
	if err != nil {
		return nil, mapError(err, "load statistics dimensions")
	}
	return d, nil
}

// StatusChangedAt returns the latest change of status of any zone or campaign (zero if none
// was recorded): the aggregator's cheap test of whether the statuses it holds are current.
func (s *Store) StatusChangedAt(ctx context.Context) (time.Time, error) {
	var t sql.NullTime
	err := s.q.QueryRowxContext(ctx, `SELECT MAX(t) FROM (SELECT MAX(status_changed_at) AS t FROM zones
		UNION ALL SELECT MAX(status_changed_at) FROM campaigns) AS x`).Scan(&t)
	if err != nil {
		return time.Time{}, mapError(err, "look up status changes")
	}
	if !t.Valid {
		return time.Time{}, nil
	}
	return t.Time.UTC(), nil
}

// ConversionFacts looks up, for each impression id, its first valid click and whether it
// already has an approved conversion: the exact, database-backed part of the no_click,
// duplicate_conversion and duplicate_click verdicts (a conversion may arrive days after its
// click, and a replayed click hours after the first, far beyond what the in-memory fraud
// windows remember). Invalid clicks are not clicks here: a conversion after an invalid click is
// not attributable, and an invalid click does not make a later valid one a duplicate. Ids
// without any row are absent from the map.
func (s *Store) ConversionFacts(ctx context.Context, ids []models.ImpressionID) (map[models.ImpressionID]models.ConversionFact, error) {
	facts := make(map[models.ImpressionID]models.ConversionFact, len(ids))
	err := perImpression(ctx, s.q, `SELECT impression_id, MIN(time) FROM clicks WHERE impression_id IN (%s) AND valid GROUP BY impression_id`,
		ids, func(rows *sqlx.Rows) error {
			var id []byte
			var t time.Time
			if err := rows.Scan(&id, &t); err != nil {
				return err
			}
			f := facts[models.ImpressionID(id)]
			f.ClickTime = t.UTC()
			facts[models.ImpressionID(id)] = f
			return nil
		})
	if err == nil {
		err = perImpression(ctx, s.q, `SELECT DISTINCT impression_id FROM conversions WHERE impression_id IN (%s) AND status = 'approved'`,
			ids, func(rows *sqlx.Rows) error {
				var id []byte
				if err := rows.Scan(&id); err != nil {
					return err
				}
				f := facts[models.ImpressionID(id)]
				f.Converted = true
				facts[models.ImpressionID(id)] = f
				return nil
			})
	}
	if err != nil {
		return nil, mapError(err, "look up conversion clicks")
	}
	return facts, nil
}
