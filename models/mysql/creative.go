package mysql

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"adnet/models"
)

const creativeColumns = `id, campaign_id, name, status, approval, reject_reason, kind, width, height, weight, image_url, html,
	title, body, click_url, created_at, updated_at`

// CreateCreative validates c and inserts it, setting its ID and timestamps. EINVALID if its
// campaign does not exist, ECONFLICT if the campaign already has a creative of that name.
func (s *Store) CreateCreative(ctx context.Context, c *models.Creative) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if c.Approval == "" {
		c.Approval = models.ApprovalApproved // created by the network itself (seeding, CLI)
	}
	now := s.timestamp()
	res, err := s.q.ExecContext(ctx,
		`INSERT INTO creatives (campaign_id, name, status, approval, reject_reason, kind, width, height, weight,
			image_url, html, title, body, click_url, created_at, updated_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.CampaignID, c.Name, c.Status, c.Approval, c.RejectReason, c.Kind, c.Width, c.Height, c.Weight, c.ImageURL, c.HTML,
		c.Title, c.Text, c.ClickURL, now, now)
	if err != nil {
		return mapError(err, "create creative")
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("create creative: %w", err)
	}
	c.ID, c.CreatedAt, c.UpdatedAt = id, now, now
	return nil
}

// GetCreative returns the creative with the given id, or ENOTFOUND.
func (s *Store) GetCreative(ctx context.Context, id int64) (*models.Creative, error) {
	var c models.Creative
	if err := getCreative(ctx, s.q, id, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

func getCreative(ctx context.Context, q sqlx.QueryerContext, id int64, c *models.Creative) error {
	err := sqlx.GetContext(ctx, q, c, `SELECT `+creativeColumns+` FROM creatives WHERE id = ?`, id)
	return notFound(err, "creative", id)
}

// ListCreatives returns the creatives matching f, ordered by id.
func (s *Store) ListCreatives(ctx context.Context, f models.CreativeFilter) ([]models.Creative, error) {
	var w where
	if f.AdvertiserID != nil {
		w.add("campaign_id IN (SELECT id FROM campaigns WHERE advertiser_id = ?)", *f.AdvertiserID)
	}
	if f.CampaignID != nil {
		w.add("campaign_id = ?", *f.CampaignID)
	}
	if f.Status != "" {
		w.add("status = ?", f.Status)
	}
	if f.Search != "" {
		w.add("name LIKE ?", likePattern(f.Search))
	}
	if f.Approval != "" {
		w.add("approval = ?", f.Approval)
	}
	limit, largs := pageClause(f.Page)
	list := []models.Creative{}
	err := sqlx.SelectContext(ctx, s.q, &list,
		`SELECT `+creativeColumns+` FROM creatives`+w.String()+` ORDER BY id`+limit,
		append(w.args, largs...)...)
	if err != nil {
		return nil, mapError(err, "list creatives")
	}
	return list, nil
}

// UpdateCreative validates c and stores everything but its campaign (a creative's statistics
// belong to its campaign), then reloads it. ENOTFOUND if it does not exist.
func (s *Store) UpdateCreative(ctx context.Context, c *models.Creative) error {
	if err := c.Validate(); err != nil {
		return err
	}
	return s.inTx(ctx, nil, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE creatives SET name = ?, status = ?, kind = ?, width = ?, height = ?, weight = ?,
				image_url = ?, html = ?, title = ?, body = ?, click_url = ?, updated_at = ?
			 WHERE id = ?`,
			c.Name, c.Status, c.Kind, c.Width, c.Height, c.Weight,
			c.ImageURL, c.HTML, c.Title, c.Text, c.ClickURL, s.timestamp(),
			c.ID)
		if err := updated(res, err, "creative", c.ID); err != nil {
			return err
		}
		return getCreative(ctx, tx, c.ID, c)
	})
}
