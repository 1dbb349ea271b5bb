package mysql

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"adnet/models"
)

const (
	publisherColumns = `id, name, status, revenue_share_bp, created_at, updated_at`
	siteColumns      = `id, publisher_id, name, domain, status, created_at, updated_at`
	zoneColumns      = `id, site_id, name, width, height, status, fallback_zone_id, fallback_creative_id,
		created_at, updated_at`
	linkColumns = `zone_id, campaign_id, weight`
)

// CreatePublisher validates p and inserts it, setting its ID and timestamps.
func (s *Store) CreatePublisher(ctx context.Context, p *models.Publisher) error {
	if err := p.Validate(); err != nil {
		return err
	}
	now := s.timestamp()
	res, err := s.q.ExecContext(ctx,
		`INSERT INTO publishers (name, status, revenue_share_bp, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
		p.Name, p.Status, p.RevenueShareBP, now, now)
	if err != nil {
		return mapError(err, "create publisher")
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("create publisher: %w", err)
	}
	p.ID, p.CreatedAt, p.UpdatedAt = id, now, now
	return nil
}

// GetPublisher returns the publisher with the given id, or ENOTFOUND.
func (s *Store) GetPublisher(ctx context.Context, id int64) (*models.Publisher, error) {
	var p models.Publisher
	err := sqlx.GetContext(ctx, s.q, &p, `SELECT `+publisherColumns+` FROM publishers WHERE id = ?`, id)
	if err != nil {
		return nil, notFound(err, "publisher", id)
	}
	return &p, nil
}

// ListPublishers returns the publishers matching f, ordered by id.
func (s *Store) ListPublishers(ctx context.Context, f models.PublisherFilter) ([]models.Publisher, error) {
	var w where
	if f.ID != nil {
		w.add("id = ?", *f.ID)
	}
	if f.Status != "" {
		w.add("status = ?", f.Status)
	}
	if f.Search != "" {
		w.add("name LIKE ?", likePattern(f.Search))
	}
	limit, largs := pageClause(f.Page)
	list := []models.Publisher{}
	err := sqlx.SelectContext(ctx, s.q, &list,
		`SELECT `+publisherColumns+` FROM publishers`+w.String()+` ORDER BY id`+limit,
		append(w.args, largs...)...)
	if err != nil {
		return nil, mapError(err, "list publishers")
	}
	return list, nil
}

// UpdatePublisher validates p and stores its name, status and revenue share, then reloads it.
// ENOTFOUND if it does not exist.
func (s *Store) UpdatePublisher(ctx context.Context, p *models.Publisher) error {
	if err := p.Validate(); err != nil {
		return err
	}
	return s.inTx(ctx, nil, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE publishers SET name = ?, status = ?, revenue_share_bp = ?, updated_at = ? WHERE id = ?`,
			p.Name, p.Status, p.RevenueShareBP, s.timestamp(), p.ID)
		if err := updated(res, err, "publisher", p.ID); err != nil {
			return err
		}
		err = sqlx.GetContext(ctx, tx, p, `SELECT `+publisherColumns+` FROM publishers WHERE id = ?`, p.ID)
		return notFound(err, "publisher", p.ID)
	})
}

// CreateSite validates st (normalising its domain) and inserts it, setting its ID and
// timestamps. EINVALID if its publisher does not exist, ECONFLICT if the domain is taken.
func (s *Store) CreateSite(ctx context.Context, st *models.Site) error {
	if err := st.Validate(); err != nil {
		return err
	}
	now := s.timestamp()
	res, err := s.q.ExecContext(ctx,
		`INSERT INTO sites (publisher_id, name, domain, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		st.PublisherID, st.Name, st.Domain, st.Status, now, now)
	if err != nil {
		return mapError(err, "create site")
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("create site: %w", err)
	}
	st.ID, st.CreatedAt, st.UpdatedAt = id, now, now
	return nil
}

// GetSite returns the site with the given id, or ENOTFOUND.
func (s *Store) GetSite(ctx context.Context, id int64) (*models.Site, error) {
	var st models.Site
	err := sqlx.GetContext(ctx, s.q, &st, `SELECT `+siteColumns+` FROM sites WHERE id = ?`, id)
	if err != nil {
		return nil, notFound(err, "site", id)
	}
	return &st, nil
}

// ListSites returns the sites matching f, ordered by id.
func (s *Store) ListSites(ctx context.Context, f models.SiteFilter) ([]models.Site, error) {
	var w where
	if f.PublisherID != nil {
		w.add("publisher_id = ?", *f.PublisherID)
	}
	if f.Status != "" {
		w.add("status = ?", f.Status)
	}
	if f.Search != "" {
		w.add("(name LIKE ? OR domain LIKE ?)", likePattern(f.Search), likePattern(f.Search))
	}
	limit, largs := pageClause(f.Page)
	list := []models.Site{}
	err := sqlx.SelectContext(ctx, s.q, &list,
		`SELECT `+siteColumns+` FROM sites`+w.String()+` ORDER BY id`+limit,
		append(w.args, largs...)...)
	if err != nil {
		return nil, mapError(err, "list sites")
	}
	return list, nil
}

// UpdateSite validates st and stores everything but its publisher (a site never changes
// hands: its earnings belong to the publisher), then reloads it. ENOTFOUND if it does not exist.
func (s *Store) UpdateSite(ctx context.Context, st *models.Site) error {
	if err := st.Validate(); err != nil {
		return err
	}
	return s.inTx(ctx, nil, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE sites SET name = ?, domain = ?, status = ?, updated_at = ? WHERE id = ?`,
			st.Name, st.Domain, st.Status, s.timestamp(), st.ID)
		if err := updated(res, err, "site", st.ID); err != nil {
			return err
		}
		err = sqlx.GetContext(ctx, tx, st, `SELECT `+siteColumns+` FROM sites WHERE id = ?`, st.ID)
		return notFound(err, "site", st.ID)
	})
}

// CreateZone validates z and inserts it, setting its ID and timestamps. EINVALID if its site or
// a fallback does not exist.
func (s *Store) CreateZone(ctx context.Context, z *models.Zone) error {
	if err := z.Validate(); err != nil {
		return err
	}
	now := s.timestamp()
	res, err := s.q.ExecContext(ctx,
		`INSERT INTO zones (site_id, name, width, height, status, fallback_zone_id, fallback_creative_id,
			created_at, updated_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		z.SiteID, z.Name, z.Width, z.Height, z.Status, z.FallbackZoneID, z.FallbackCreativeID, now, now)
	if err != nil {
		return mapError(err, "create zone")
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("create zone: %w", err)
	}
	z.ID, z.CreatedAt, z.UpdatedAt = id, now, now
	return nil
}

// GetZone returns the zone with the given id, or ENOTFOUND.
func (s *Store) GetZone(ctx context.Context, id int64) (*models.Zone, error) {
	var z models.Zone
	err := sqlx.GetContext(ctx, s.q, &z, `SELECT `+zoneColumns+` FROM zones WHERE id = ?`, id)
	if err != nil {
		return nil, notFound(err, "zone", id)
	}
	return &z, nil
}

// ListZones returns the zones matching f, ordered by id.
func (s *Store) ListZones(ctx context.Context, f models.ZoneFilter) ([]models.Zone, error) {
	var w where
	if f.PublisherID != nil {
		w.add("site_id IN (SELECT id FROM sites WHERE publisher_id = ?)", *f.PublisherID)
	}
	if f.SiteID != nil {
		w.add("site_id = ?", *f.SiteID)
	}
	if f.Status != "" {
		w.add("status = ?", f.Status)
	}
	if f.Search != "" {
		w.add("name LIKE ?", likePattern(f.Search))
	}
	limit, largs := pageClause(f.Page)
	list := []models.Zone{}
	err := sqlx.SelectContext(ctx, s.q, &list,
		`SELECT `+zoneColumns+` FROM zones`+w.String()+` ORDER BY id`+limit,
		append(w.args, largs...)...)
	if err != nil {
		return nil, mapError(err, "list zones")
	}
	return list, nil
}

// UpdateZone validates z and stores everything but its site, then reloads it. ENOTFOUND if it
// does not exist.
func (s *Store) UpdateZone(ctx context.Context, z *models.Zone) error {
	if err := z.Validate(); err != nil {
		return err
	}
	return s.inTx(ctx, nil, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE zones SET name = ?, width = ?, height = ?, status = ?, fallback_zone_id = ?,
				fallback_creative_id = ?, updated_at = ?
			 WHERE id = ?`,
			z.Name, z.Width, z.Height, z.Status, z.FallbackZoneID, z.FallbackCreativeID, s.timestamp(), z.ID)
		if err := updated(res, err, "zone", z.ID); err != nil {
			return err
		}
		err = sqlx.GetContext(ctx, tx, z, `SELECT `+zoneColumns+` FROM zones WHERE id = ?`, z.ID)
		return notFound(err, "zone", z.ID)
	})
}

// LinkZoneCampaign validates l and lets its campaign serve in its zone with its weight. Linking
// an already linked pair sets the new weight: the call is idempotent. EINVALID if the zone or
// the campaign does not exist.
func (s *Store) LinkZoneCampaign(ctx context.Context, l *models.ZoneCampaign) error {
	if err := l.Validate(); err != nil {
		return err
	}
	_, err := s.q.ExecContext(ctx,
		`INSERT INTO zone_campaigns (zone_id, campaign_id, weight) VALUES (?, ?, ?)
		 ON DUPLICATE KEY UPDATE weight = VALUES(weight)`,
		l.ZoneID, l.CampaignID, l.Weight)
	return mapError(err, "link campaign to zone")
}

// UnlinkZoneCampaign stops a campaign from serving in a zone. ENOTFOUND if they were not linked.
func (s *Store) UnlinkZoneCampaign(ctx context.Context, zoneID, campaignID int64) error {
	res, err := s.q.ExecContext(ctx,
		`DELETE FROM zone_campaigns WHERE zone_id = ? AND campaign_id = ?`, zoneID, campaignID)
	if err != nil {
		return mapError(err, "unlink campaign from zone")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("unlink campaign from zone: %w", err)
	}
	if n == 0 {
		return models.Errorf(models.ENOTFOUND, "campaign %d is not linked to zone %d", campaignID, zoneID)
	}
	return nil
}

// ListZoneCampaigns returns the links matching f, ordered by zone and campaign.
func (s *Store) ListZoneCampaigns(ctx context.Context, f models.ZoneCampaignFilter) ([]models.ZoneCampaign, error) {
	var w where
	if f.ZoneID != nil {
		w.add("zone_id = ?", *f.ZoneID)
	}
	if f.CampaignID != nil {
		w.add("campaign_id = ?", *f.CampaignID)
	}
	limit, largs := pageClause(f.Page)
	list := []models.ZoneCampaign{}
	err := sqlx.SelectContext(ctx, s.q, &list,
		`SELECT `+linkColumns+` FROM zone_campaigns`+w.String()+` ORDER BY zone_id, campaign_id`+limit,
		append(w.args, largs...)...)
	if err != nil {
		return nil, mapError(err, "list zone links")
	}
	return list, nil
}
