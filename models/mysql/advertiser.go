package mysql

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"adnet/models"
)

const advertiserColumns = `id, name, status, postback_secret, created_at, updated_at`

// CreateAdvertiser validates a and inserts it, setting its ID and timestamps.
func (s *Store) CreateAdvertiser(ctx context.Context, a *models.Advertiser) error {
	if err := a.Validate(); err != nil {
		return err
	}
	now := s.timestamp()
	res, err := s.q.ExecContext(ctx,
		`INSERT INTO advertisers (name, status, postback_secret, created_at, updated_at)
		 VALUES (?, ?, ?, ?, ?)`,
		a.Name, a.Status, a.PostbackSecret, now, now)
	if err != nil {
		return mapError(err, "create advertiser")
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("create advertiser: %w", err)
	}
	a.ID, a.CreatedAt, a.UpdatedAt = id, now, now
	return nil
}

// GetAdvertiser returns the advertiser with the given id, or ENOTFOUND.
func (s *Store) GetAdvertiser(ctx context.Context, id int64) (*models.Advertiser, error) {
	var a models.Advertiser
	if err := getAdvertiser(ctx, s.q, id, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

func getAdvertiser(ctx context.Context, q sqlx.QueryerContext, id int64, a *models.Advertiser) error {
	err := sqlx.GetContext(ctx, q, a, `SELECT `+advertiserColumns+` FROM advertisers WHERE id = ?`, id)
	return notFound(err, "advertiser", id)
}

// ListAdvertisers returns the advertisers matching f, ordered by id.
func (s *Store) ListAdvertisers(ctx context.Context, f models.AdvertiserFilter) ([]models.Advertiser, error) {
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
	list := []models.Advertiser{}
	err := sqlx.SelectContext(ctx, s.q, &list,
		`SELECT `+advertiserColumns+` FROM advertisers`+w.String()+` ORDER BY id`+limit,
		append(w.args, largs...)...)
	if err != nil {
		return nil, mapError(err, "list advertisers")
	}
	return list, nil
}

// UpdateAdvertiser validates a and stores its name, status and postback secret, then reloads
// it (CreatedAt, UpdatedAt) from the database. ENOTFOUND if it does not exist.
func (s *Store) UpdateAdvertiser(ctx context.Context, a *models.Advertiser) error {
	if err := a.Validate(); err != nil {
		return err
	}
	return s.inTx(ctx, nil, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE advertisers SET name = ?, status = ?, postback_secret = ?, updated_at = ? WHERE id = ?`,
			a.Name, a.Status, a.PostbackSecret, s.timestamp(), a.ID)
		if err := updated(res, err, "advertiser", a.ID); err != nil {
			return err
		}
		return getAdvertiser(ctx, tx, a.ID, a)
	})
}
