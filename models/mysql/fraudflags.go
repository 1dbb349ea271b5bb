package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"

	"adnet/models"
)

// fraudFlagColumns are read with the entity's display name, looked up by kind: a flag
// outlives neither its entity (no foreign key is possible on a polymorphic id) nor needs it,
// so a deleted entity just has no name.
const fraudFlagColumns = `f.id, f.entity_kind, f.entity_id, COALESCE(CASE f.entity_kind
		WHEN 'zone' THEN (SELECT name FROM zones WHERE id = f.entity_id)
		WHEN 'site' THEN (SELECT domain FROM sites WHERE id = f.entity_id)
		WHEN 'publisher' THEN (SELECT name FROM publishers WHERE id = f.entity_id)
		WHEN 'campaign' THEN (SELECT name FROM campaigns WHERE id = f.entity_id)
		WHEN 'advertiser' THEN (SELECT name FROM advertisers WHERE id = f.entity_id)
	END, '') AS entity_name,
	f.metric, f.value, f.baseline, f.z, f.volume, f.baseline_source, f.status, f.created_at,
	f.last_seen_at, f.scans, f.paused_at, f.reviewed_at`

// Column limits of fraud_flags: DECIMAL(24,6) for value and baseline, DECIMAL(12,4) for z.
const (
	maxFlagRate = 1e17
	maxFlagZ    = 99999999
)

func validFlagKind(k string) bool {
	switch k {
	case models.FlagZone, models.FlagSite, models.FlagPublisher, models.FlagCampaign, models.FlagAdvertiser:
		return true
	}
	return false
}

func validFlagStatus(s string) bool {
	return s == models.FlagOpen || s == models.FlagConfirmed || s == models.FlagDismissed
}

// decimal formats v for a DECIMAL column with the given scale, clamped to ±limit: the driver
// would send a float in exponent notation, and strict mode rejects out-of-range values.
func decimal(v, limit float64, scale int) string {
	if math.IsNaN(v) {
		v = 0
	}
	v = math.Max(-limit, math.Min(limit, v))
	return strconv.FormatFloat(v, 'f', scale, 64)
}

// UpsertFraudFlag records f as an open flag of its entity and metric. If one is already open,
// it is refreshed with f's figures and last-seen time instead (created false), so repeated scans
// keep exactly one open flag per entity and metric. f.LastSeenAt is the time of the scan (zero:
// now). On return f holds the stored flag, including its ID, CreatedAt and PausedAt.
func (s *Store) UpsertFraudFlag(ctx context.Context, f *models.FraudFlag) (created bool, err error) {
	if !validFlagKind(f.EntityKind) || f.EntityID <= 0 {
		return false, models.Errorf(models.EINVALID, "fraud flag: entity %s %d is not a zone, site, publisher, campaign or advertiser id", f.EntityKind, f.EntityID)
	}
	if f.Metric == "" || len(f.Metric) > 64 {
		return false, models.Errorf(models.EINVALID, "fraud flag: metric %q must be 1 to 64 characters", f.Metric)
	}
	if f.BaselineSource == "" {
		f.BaselineSource = models.BaselineOwn
	}
	if f.BaselineSource != models.BaselineOwn && f.BaselineSource != models.BaselinePeers {
		return false, models.Errorf(models.EINVALID, "fraud flag: baseline source %q must be own or peers", f.BaselineSource)
	}
	at := s.timestamp()
	if !f.LastSeenAt.IsZero() {
		at = dbTime(f.LastSeenAt)
	}
	err = s.inTx(ctx, nil, func(tx *sqlx.Tx) error {
		// id = LAST_INSERT_ID(id) makes the driver report the existing row's id on update.
		res, err := tx.ExecContext(ctx,
			`INSERT INTO fraud_flags (entity_kind, entity_id, metric, value, baseline, z, volume,
				baseline_source, created_at, last_seen_at, status)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open')
			 ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id), value = VALUES(value),
				baseline = VALUES(baseline), z = VALUES(z), volume = VALUES(volume),
				baseline_source = VALUES(baseline_source), scans = scans + 1,
				last_seen_at = GREATEST(last_seen_at, VALUES(last_seen_at))`,
			f.EntityKind, f.EntityID, f.Metric, decimal(f.Value, maxFlagRate, 6), decimal(f.Baseline, maxFlagRate, 6),
			decimal(f.Z, maxFlagZ, 4), f.Volume, f.BaselineSource, at, at)
		if err != nil {
			return mapError(err, "record fraud flag")
		}
		id, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("record fraud flag: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("record fraud flag: %w", err)
		}
		// MariaDB counts an insert as 1 row and an update of the duplicate as 2; scans changes
		// on every update, so an update is never counted as an unchanged row (1).
		created = n == 1
		err = sqlx.GetContext(ctx, tx, f, `SELECT `+fraudFlagColumns+` FROM fraud_flags f WHERE f.id = ?`, id)
		return notFound(err, "fraud flag", id)
	})
	return created, err
}

// GetFraudFlag returns the flag with the given id, or ENOTFOUND.
func (s *Store) GetFraudFlag(ctx context.Context, id int64) (*models.FraudFlag, error) {
	var f models.FraudFlag
	err := sqlx.GetContext(ctx, s.q, &f, `SELECT `+fraudFlagColumns+` FROM fraud_flags f WHERE f.id = ?`, id)
	if err != nil {
		return nil, notFound(err, "fraud flag", id)
	}
	return &f, nil
}

// ListFraudFlags returns the flags matching filter, newest first.
func (s *Store) ListFraudFlags(ctx context.Context, filter models.FraudFlagFilter) ([]models.FraudFlag, error) {
	var w where
	if filter.Status != "" {
		if !validFlagStatus(filter.Status) {
			return nil, models.Errorf(models.EINVALID, "fraud flag status %q: must be open, confirmed or dismissed", filter.Status)
		}
		w.add("f.status = ?", filter.Status)
	}
	if filter.EntityKind != "" {
		if !validFlagKind(filter.EntityKind) {
			return nil, models.Errorf(models.EINVALID, "fraud flag entity kind %q: must be zone, site, publisher, campaign or advertiser", filter.EntityKind)
		}
		w.add("f.entity_kind = ?", filter.EntityKind)
	}
	if filter.EntityID != 0 {
		w.add("f.entity_id = ?", filter.EntityID)
	}
	limit, largs := pageClause(filter.Page)
	list := []models.FraudFlag{}
	err := sqlx.SelectContext(ctx, s.q, &list,
		`SELECT `+fraudFlagColumns+` FROM fraud_flags f`+w.String()+` ORDER BY f.id DESC`+limit,
		append(w.args, largs...)...)
	if err != nil {
		return nil, mapError(err, "list fraud flags")
	}
	return list, nil
}

// MarkFraudFlagPaused records that fraud.auto_pause paused the flag's zone at at. ENOTFOUND if
// the flag does not exist.
func (s *Store) MarkFraudFlagPaused(ctx context.Context, id int64, at time.Time) error {
	res, err := s.q.ExecContext(ctx, `UPDATE fraud_flags SET paused_at = ? WHERE id = ?`, dbTime(at), id)
	return updated(res, err, "fraud flag", id)
}

// ReviewFraudFlag closes an open flag as confirmed or dismissed at at (zero: now) and returns
// it. ENOTFOUND if it does not exist, ECONFLICT if it was already reviewed.
func (s *Store) ReviewFraudFlag(ctx context.Context, id int64, status string, at time.Time) (*models.FraudFlag, error) {
	if status != models.FlagConfirmed && status != models.FlagDismissed {
		return nil, models.Errorf(models.EINVALID, "fraud flag review %q: must be confirmed or dismissed", status)
	}
	if at.IsZero() {
		at = s.timestamp()
	}
	var f models.FraudFlag
	err := s.inTx(ctx, nil, func(tx *sqlx.Tx) error {
		err := sqlx.GetContext(ctx, tx, &f, `SELECT `+fraudFlagColumns+` FROM fraud_flags f WHERE f.id = ? FOR UPDATE`, id)
		if err != nil {
			return notFound(err, "fraud flag", id)
		}
		if f.Status != models.FlagOpen {
			return models.Errorf(models.ECONFLICT, "fraud flag %d was already %s", id, f.Status)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE fraud_flags SET status = ?, reviewed_at = ? WHERE id = ?`,
			status, dbTime(at), id); err != nil {
			return mapError(err, "review fraud flag")
		}
		err = sqlx.GetContext(ctx, tx, &f, `SELECT `+fraudFlagColumns+` FROM fraud_flags f WHERE f.id = ?`, id)
		return notFound(err, "fraud flag", id)
	})
	if err != nil {
		return nil, err
	}
	return &f, nil
}

// WithdrawFraudFlagConfirmation turns a confirmed flag into a dismissed one at at (zero: now)
// and returns it: an operator who confirmed by mistake. The restatement's reversal is the
// caller's (RestateFraudFlag with reverse, in the same transaction). ENOTFOUND if it does not
// exist, ECONFLICT unless it is confirmed.
func (s *Store) WithdrawFraudFlagConfirmation(ctx context.Context, id int64, at time.Time) (*models.FraudFlag, error) {
	if at.IsZero() {
		at = s.timestamp()
	}
	var f models.FraudFlag
	err := s.inTx(ctx, nil, func(tx *sqlx.Tx) error {
		err := sqlx.GetContext(ctx, tx, &f, `SELECT `+fraudFlagColumns+` FROM fraud_flags f WHERE f.id = ? FOR UPDATE`, id)
		if err != nil {
			return notFound(err, "fraud flag", id)
		}
		if f.Status != models.FlagConfirmed {
			return models.Errorf(models.ECONFLICT, "fraud flag %d is %s, not confirmed", id, f.Status)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE fraud_flags SET status = ?, reviewed_at = ? WHERE id = ?`,
			models.FlagDismissed, dbTime(at), id); err != nil {
			return mapError(err, "withdraw fraud flag confirmation")
		}
		err = sqlx.GetContext(ctx, tx, &f, `SELECT `+fraudFlagColumns+` FROM fraud_flags f WHERE f.id = ?`, id)
		return notFound(err, "fraud flag", id)
	})
	if err != nil {
		return nil, err
	}
	return &f, nil
}

// ReviewedFraudFlags returns the entities and metrics whose flags an operator reviewed at or
// after since: the scanner leaves them alone for a while, so that a dismissed false alarm is
// not raised again by the next scan.
func (s *Store) ReviewedFraudFlags(ctx context.Context, since time.Time) ([]models.FraudFlagKey, error) {
	keys := []models.FraudFlagKey{}
	err := sqlx.SelectContext(ctx, s.q, &keys,
		`SELECT DISTINCT entity_kind, entity_id, metric FROM fraud_flags WHERE reviewed_at >= ?`, dbTime(since))
	if err != nil {
		return nil, mapError(err, "list reviewed fraud flags")
	}
	return keys, nil
}

// EachZoneHour calls fn for every zone's totals of every hour from the one holding from up to
// (excluding) to, in
// order of hour then zone, streaming: a week of hourly rows of a large network is read without
// holding it in memory. Rows of no zone (forged tokens carry none) are left out. fn's error
// stops the scan and is returned. The hour-first primary key of stats_hourly makes this one
// range scan of exactly the period.
func (s *Store) EachZoneHour(ctx context.Context, from, to time.Time, fn func(*models.ZoneHour) error) error {
	rows, err := s.q.QueryContext(ctx,
		`SELECT hour, zone_id, site_id, publisher_id, SUM(impressions), SUM(clicks),
			SUM(invalid_impressions), SUM(invalid_clicks)
		 FROM stats_hourly
		 WHERE hour >= ? AND hour < ? AND zone_id <> 0
		 GROUP BY hour, zone_id, site_id, publisher_id
		 ORDER BY hour, zone_id, site_id, publisher_id`,
		from.UTC().Truncate(time.Hour), to.UTC())
	if err != nil {
		return mapError(err, "read hourly zone statistics")
	}
	defer rows.Close()
	var h models.ZoneHour
	for rows.Next() {
		var imps, clicks, invImps, invClicks sql.NullInt64
		if err := rows.Scan(&h.Hour, &h.ZoneID, &h.SiteID, &h.PublisherID, &imps, &clicks, &invImps, &invClicks); err != nil {
			return fmt.Errorf("read hourly zone statistics: %w", err)
		}
		h.Hour = h.Hour.UTC()
		h.Impressions, h.Clicks, h.InvalidImpressions, h.InvalidClicks = imps.Int64, clicks.Int64, invImps.Int64, invClicks.Int64
		if err := fn(&h); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return mapError(err, "read hourly zone statistics")
	}
	return nil
}
