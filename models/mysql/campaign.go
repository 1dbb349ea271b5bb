package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"adnet/models"
)

const campaignColumns = `id, advertiser_id, name, status, approval, reject_reason, start_at, end_at, tier, weight, pricing,
	rate_micros, lifetime_impressions, lifetime_clicks, lifetime_conversions, lifetime_spend_micros,
	daily_impressions, daily_clicks, daily_conversions, daily_spend_micros, pacing, freq_cap,
	freq_window_seconds, conversion_window_seconds, targeting, created_at, updated_at`

// campaignRow is a campaigns row: models.Campaign with its limits flattened into columns, its
// durations in seconds and its targeting as JSON text.
type campaignRow struct {
	ID                      int64               `db:"id"`
	AdvertiserID            int64               `db:"advertiser_id"`
	Name                    string              `db:"name"`
	Status                  models.Status       `db:"status"`
	Approval                models.Approval     `db:"approval"`
	RejectReason            string              `db:"reject_reason"`
	StartAt                 sql.NullTime        `db:"start_at"`
	EndAt                   sql.NullTime        `db:"end_at"`
	Tier                    models.Tier         `db:"tier"`
	Weight                  int                 `db:"weight"`
	Pricing                 models.PricingModel `db:"pricing"`
	RateMicros              int64               `db:"rate_micros"`
	LifetimeImpressions     int64               `db:"lifetime_impressions"`
	LifetimeClicks          int64               `db:"lifetime_clicks"`
	LifetimeConversions     int64               `db:"lifetime_conversions"`
	LifetimeSpendMicros     int64               `db:"lifetime_spend_micros"`
	DailyImpressions        int64               `db:"daily_impressions"`
	DailyClicks             int64               `db:"daily_clicks"`
	DailyConversions        int64               `db:"daily_conversions"`
	DailySpendMicros        int64               `db:"daily_spend_micros"`
	Pacing                  models.Pacing       `db:"pacing"`
	FreqCap                 int                 `db:"freq_cap"`
	FreqWindowSeconds       int64               `db:"freq_window_seconds"`
	ConversionWindowSeconds int64               `db:"conversion_window_seconds"`
	Targeting               []byte              `db:"targeting"`
	CreatedAt               time.Time           `db:"created_at"`
	UpdatedAt               time.Time           `db:"updated_at"`
}

// campaign converts the row to the domain type.
func (r *campaignRow) campaign() (models.Campaign, error) {
	c := models.Campaign{
		ID:               r.ID,
		AdvertiserID:     r.AdvertiserID,
		Name:             r.Name,
		Status:           r.Status,
		Approval:         r.Approval,
		RejectReason:     r.RejectReason,
		StartAt:          timePtr(r.StartAt),
		EndAt:            timePtr(r.EndAt),
		Tier:             r.Tier,
		Weight:           r.Weight,
		Pricing:          r.Pricing,
		RateMicros:       r.RateMicros,
		Lifetime:         models.Limits{Impressions: r.LifetimeImpressions, Clicks: r.LifetimeClicks, Conversions: r.LifetimeConversions, SpendMicros: r.LifetimeSpendMicros},
		Daily:            models.Limits{Impressions: r.DailyImpressions, Clicks: r.DailyClicks, Conversions: r.DailyConversions, SpendMicros: r.DailySpendMicros},
		Pacing:           r.Pacing,
		FreqCap:          r.FreqCap,
		FreqWindow:       time.Duration(r.FreqWindowSeconds) * time.Second,
		ConversionWindow: time.Duration(r.ConversionWindowSeconds) * time.Second,
		CreatedAt:        r.CreatedAt.UTC(),
		UpdatedAt:        r.UpdatedAt.UTC(),
	}
	if err := json.Unmarshal(r.Targeting, &c.Targeting); err != nil {
		return c, fmt.Errorf("campaign %d: decode targeting: %w", r.ID, err)
	}
	return c, nil
}

// normaliseCampaign puts c's times and durations in the form the columns store, so that the
// value the caller holds after a write equals what a later read returns.
func normaliseCampaign(c *models.Campaign) {
	if c.Approval == "" {
		c.Approval = models.ApprovalApproved // created by the network itself (seeding, CLI)
	}
	c.StartAt = dbTimePtr(c.StartAt)
	c.EndAt = dbTimePtr(c.EndAt)
	c.FreqWindow = c.FreqWindow.Truncate(time.Second)
	c.ConversionWindow = c.ConversionWindow.Truncate(time.Second)
}

// CreateCampaign validates c and inserts it, setting its ID and timestamps. EINVALID if its
// advertiser does not exist, ECONFLICT if the advertiser already has a campaign of that name.
func (s *Store) CreateCampaign(ctx context.Context, c *models.Campaign) error {
	if err := c.Validate(); err != nil {
		return err
	}
	normaliseCampaign(c)
	targeting, err := json.Marshal(c.Targeting)
	if err != nil {
		return fmt.Errorf("create campaign: encode targeting: %w", err)
	}
	now := s.timestamp()
	res, err := s.q.ExecContext(ctx,
		`INSERT INTO campaigns (advertiser_id, name, status, approval, reject_reason, start_at, end_at, tier, weight, pricing,
			rate_micros, lifetime_impressions, lifetime_clicks, lifetime_conversions, lifetime_spend_micros,
			daily_impressions, daily_clicks, daily_conversions, daily_spend_micros, pacing, freq_cap,
			freq_window_seconds, conversion_window_seconds, targeting, created_at, updated_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.AdvertiserID, c.Name, c.Status, c.Approval, c.RejectReason, nullTime(c.StartAt), nullTime(c.EndAt), c.Tier, c.Weight, c.Pricing,
		c.RateMicros, c.Lifetime.Impressions, c.Lifetime.Clicks, c.Lifetime.Conversions, c.Lifetime.SpendMicros,
		c.Daily.Impressions, c.Daily.Clicks, c.Daily.Conversions, c.Daily.SpendMicros, c.Pacing, c.FreqCap,
		int64(c.FreqWindow/time.Second), int64(c.ConversionWindow/time.Second), targeting, now, now)
	if err != nil {
		return mapError(err, "create campaign")
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("create campaign: %w", err)
	}
	c.ID, c.CreatedAt, c.UpdatedAt = id, now, now
	return nil
}

// GetCampaign returns the campaign with the given id, or ENOTFOUND.
func (s *Store) GetCampaign(ctx context.Context, id int64) (*models.Campaign, error) {
	var c models.Campaign
	if err := getCampaign(ctx, s.q, id, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

func getCampaign(ctx context.Context, q sqlx.QueryerContext, id int64, c *models.Campaign) error {
	var r campaignRow
	if err := sqlx.GetContext(ctx, q, &r, `SELECT `+campaignColumns+` FROM campaigns WHERE id = ?`, id); err != nil {
		return notFound(err, "campaign", id)
	}
	v, err := r.campaign()
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// ListCampaigns returns the campaigns matching f, ordered by id.
func (s *Store) ListCampaigns(ctx context.Context, f models.CampaignFilter) ([]models.Campaign, error) {
	var w where
	if f.AdvertiserID != nil {
		w.add("advertiser_id = ?", *f.AdvertiserID)
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
	list, err := selectCampaigns(ctx, s.q,
		`SELECT `+campaignColumns+` FROM campaigns`+w.String()+` ORDER BY id`+limit,
		append(w.args, largs...)...)
	if err != nil {
		return nil, mapError(err, "list campaigns")
	}
	return list, nil
}

func selectCampaigns(ctx context.Context, q sqlx.QueryerContext, query string, args ...any) ([]models.Campaign, error) {
	var rows []campaignRow
	if err := sqlx.SelectContext(ctx, q, &rows, query, args...); err != nil {
		return nil, err
	}
	list := make([]models.Campaign, 0, len(rows))
	for i := range rows {
		c, err := rows[i].campaign()
		if err != nil {
			return nil, err
		}
		list = append(list, c)
	}
	return list, nil
}

// UpdateCampaign validates c and stores everything but its advertiser (a campaign never
// changes hands: its statistics and invoices belong to the advertiser), then reloads it.
// ENOTFOUND if it does not exist.
func (s *Store) UpdateCampaign(ctx context.Context, c *models.Campaign) error {
	if err := c.Validate(); err != nil {
		return err
	}
	normaliseCampaign(c)
	targeting, err := json.Marshal(c.Targeting)
	if err != nil {
		return fmt.Errorf("update campaign: encode targeting: %w", err)
	}
	return s.inTx(ctx, nil, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE campaigns SET name = ?, status = ?, start_at = ?, end_at = ?, tier = ?, weight = ?,
				pricing = ?, rate_micros = ?, lifetime_impressions = ?, lifetime_clicks = ?,
				lifetime_conversions = ?, lifetime_spend_micros = ?, daily_impressions = ?, daily_clicks = ?,
				daily_conversions = ?, daily_spend_micros = ?, pacing = ?, freq_cap = ?,
				freq_window_seconds = ?, conversion_window_seconds = ?, targeting = ?, updated_at = ?
			 WHERE id = ?`,
			c.Name, c.Status, nullTime(c.StartAt), nullTime(c.EndAt), c.Tier, c.Weight,
			c.Pricing, c.RateMicros, c.Lifetime.Impressions, c.Lifetime.Clicks,
			c.Lifetime.Conversions, c.Lifetime.SpendMicros, c.Daily.Impressions, c.Daily.Clicks,
			c.Daily.Conversions, c.Daily.SpendMicros, c.Pacing, c.FreqCap,
			int64(c.FreqWindow/time.Second), int64(c.ConversionWindow/time.Second), targeting, s.timestamp(),
			c.ID)
		if err := updated(res, err, "campaign", c.ID); err != nil {
			return err
		}
		return getCampaign(ctx, tx, c.ID, c)
	})
}
