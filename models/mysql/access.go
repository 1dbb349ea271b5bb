package mysql

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"adnet/models"
)

// GetUser returns the user with the given id, or ENOTFOUND.
func (s *Store) GetUser(ctx context.Context, id int64) (*models.User, error) {
	var u models.User
	if err := sqlx.GetContext(ctx, s.q, &u, `SELECT `+userColumns+` FROM users WHERE id = ?`, id); err != nil {
		return nil, notFound(err, "user", id)
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return &u, nil
}

// ListUsers returns the users matching f, ordered by id.
func (s *Store) ListUsers(ctx context.Context, f models.UserFilter) ([]models.User, error) {
	var w where
	if f.Role != "" {
		w.add("role = ?", f.Role)
	}
	if f.AdvertiserID != 0 {
		w.add("advertiser_id = ?", f.AdvertiserID)
	}
	if f.PublisherID != 0 {
		w.add("publisher_id = ?", f.PublisherID)
	}
	if f.Search != "" {
		w.add("email LIKE ?", likePattern(f.Search))
	}
	limit, largs := pageClause(f.Page)
	list := []models.User{}
	if err := sqlx.SelectContext(ctx, s.q, &list, `SELECT `+userColumns+` FROM users`+w.String()+` ORDER BY id`+limit,
		append(w.args, largs...)...); err != nil {
		return nil, mapError(err, "list users")
	}
	return list, nil
}

// SetUserPassword stores a new password hash for user id; ENOTFOUND if there is no such user.
func (s *Store) SetUserPassword(ctx context.Context, id int64, hash string) error {
	res, err := s.q.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, id)
	return updated(res, err, "user", id)
}

// DeleteUser deletes user id with its sessions and tokens; ENOTFOUND if there is no such user.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	res, err := s.q.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
	return updated(res, err, "user", id)
}

// CreateSession stores a new console session.
func (s *Store) CreateSession(ctx context.Context, se *models.Session) error {
	_, err := s.q.ExecContext(ctx,
		`INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
		se.IDHash, se.UserID, se.CSRFToken, dbTime(se.CreatedAt), dbTime(se.LastSeenAt), dbTime(se.ExpiresAt))
	return mapError(err, "create session")
}

// GetSession returns the session whose id hashes to idHash, or ENOTFOUND.
func (s *Store) GetSession(ctx context.Context, idHash []byte) (*models.Session, error) {
	var se models.Session
	err := s.q.QueryRowxContext(ctx,
		`SELECT id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at FROM sessions WHERE id_hash = ?`, idHash).
		Scan(&se.IDHash, &se.UserID, &se.CSRFToken, &se.CreatedAt, &se.LastSeenAt, &se.ExpiresAt)
	if err != nil {
		return nil, notFound(err, "session", "")
	}
	se.CreatedAt, se.LastSeenAt, se.ExpiresAt = se.CreatedAt.UTC(), se.LastSeenAt.UTC(), se.ExpiresAt.UTC()
	return &se, nil
}

// TouchSession records activity on a session (its idle expiry counts from there).
func (s *Store) TouchSession(ctx context.Context, idHash []byte, at time.Time) error {
	_, err := s.q.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?`, dbTime(at), idHash)
	return mapError(err, "touch session")
}

// DeleteSession ends a session (logout); deleting a missing one is not an error.
func (s *Store) DeleteSession(ctx context.Context, idHash []byte) error {
	_, err := s.q.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash)
	return mapError(err, "delete session")
}

// DeleteUserSessions ends every session of user id (after a password change).
func (s *Store) DeleteUserSessions(ctx context.Context, userID int64) error {
	_, err := s.q.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID)
	return mapError(err, "delete sessions")
}

// DeleteExpiredSessions deletes sessions past their absolute expiry or idle since before
// idleBefore, and login failures older than failuresBefore: the housekeeping of sign-ins.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now, idleBefore, failuresBefore time.Time) error {
	if _, err := s.q.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at < ?`,
		dbTime(now), dbTime(idleBefore)); err != nil {
		return mapError(err, "delete expired sessions")
	}
	_, err := s.q.ExecContext(ctx, `DELETE FROM login_failures WHERE at < ?`, dbTime(failuresBefore))
	return mapError(err, "delete old login failures")
}

const tokenColumns = `id, user_id, name, token_hash, prefix, created_at, last_used_at, revoked_at`

// CreateAPIToken stores a new token (its hash), setting its ID.
func (s *Store) CreateAPIToken(ctx context.Context, t *models.APIToken) error {
	t.CreatedAt = s.timestamp()
	res, err := s.q.ExecContext(ctx,
		`INSERT INTO api_tokens (user_id, name, token_hash, prefix, created_at) VALUES (?, ?, ?, ?, ?)`,
		t.UserID, t.Name, t.Hash, t.Prefix, t.CreatedAt)
	if err != nil {
		return mapError(err, "create API token")
	}
	t.ID, err = res.LastInsertId()
	return err
}

// GetAPITokenByHash returns the token with the given hash, revoked or not, or ENOTFOUND.
func (s *Store) GetAPITokenByHash(ctx context.Context, hash []byte) (*models.APIToken, error) {
	var t models.APIToken
	if err := sqlx.GetContext(ctx, s.q, &t, `SELECT `+tokenColumns+` FROM api_tokens WHERE token_hash = ?`, hash); err != nil {
		return nil, notFound(err, "API token", "")
	}
	return &t, nil
}

// ListAPITokens returns user id's tokens, newest first.
func (s *Store) ListAPITokens(ctx context.Context, userID int64) ([]models.APIToken, error) {
	list := []models.APIToken{}
	err := sqlx.SelectContext(ctx, s.q, &list, `SELECT `+tokenColumns+` FROM api_tokens WHERE user_id = ? ORDER BY id DESC LIMIT 1000`, userID)
	return list, mapError(err, "list API tokens")
}

// RevokeAPIToken revokes token id of user userID; ENOTFOUND if that user has no such token.
func (s *Store) RevokeAPIToken(ctx context.Context, userID, id int64, at time.Time) error {
	res, err := s.q.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND user_id = ?`,
		dbTime(at), id, userID)
	return updated(res, err, "API token", id)
}

// TouchAPIToken records a use of token id.
func (s *Store) TouchAPIToken(ctx context.Context, id int64, at time.Time) error {
	_, err := s.q.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, dbTime(at), id)
	return mapError(err, "touch API token")
}

// AddLoginFailure records a failed sign-in for throttling.
func (s *Store) AddLoginFailure(ctx context.Context, email, ip string, at time.Time) error {
	_, err := s.q.ExecContext(ctx, `INSERT INTO login_failures (at, email, ip) VALUES (?, ?, ?)`,
		dbTime(at), truncate(strings.ToLower(strings.TrimSpace(email)), 254), truncate(ip, 45))
	return mapError(err, "record login failure")
}

// CountLoginFailures counts the failed sign-ins since since for the account email and from
// the address ip.
func (s *Store) CountLoginFailures(ctx context.Context, email, ip string, since time.Time) (byEmail, byIP int, err error) {
	err = s.q.QueryRowxContext(ctx,
		`SELECT (SELECT COUNT(*) FROM login_failures WHERE email = ? AND at >= ?),
		        (SELECT COUNT(*) FROM login_failures WHERE ip = ? AND at >= ?)`,
		truncate(strings.ToLower(strings.TrimSpace(email)), 254), dbTime(since), truncate(ip, 45), dbTime(since)).
		Scan(&byEmail, &byIP)
	if err != nil {
		return 0, 0, mapError(err, "count login failures")
	}
	return byEmail, byIP, nil
}

// ClearLoginFailures forgets an account's failed sign-ins (after a successful one).
func (s *Store) ClearLoginFailures(ctx context.Context, email string) error {
	_, err := s.q.ExecContext(ctx, `DELETE FROM login_failures WHERE email = ?`, truncate(strings.ToLower(strings.TrimSpace(email)), 254))
	return mapError(err, "clear login failures")
}

// truncate cuts s to at most n bytes (a bound for what a client sends into a fixed column).
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// likePattern makes a LIKE pattern matching s anywhere, with LIKE's wildcards in s escaped.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

const auditColumns = `id, at, user_id, user_email, action, entity, entity_id, before_json, after_json, ip`

// AddAudit appends e to the audit log, setting its ID. Call it in the transaction of the
// change it records (WithTx), so that there is no change without its entry.
func (s *Store) AddAudit(ctx context.Context, e *models.AuditEntry) error {
	e.At = s.timestamp()
	res, err := s.q.ExecContext(ctx,
		`INSERT INTO audit_log (at, user_id, user_email, action, entity, entity_id, before_json, after_json, ip)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.At, e.UserID, truncate(e.UserEmail, 254), e.Action, e.Entity, e.EntityID, e.Before, e.After, truncate(e.IP, 45))
	if err != nil {
		return mapError(err, "write audit log")
	}
	e.ID, err = res.LastInsertId()
	return err
}

// ListAudit returns the audit entries matching f, newest first.
func (s *Store) ListAudit(ctx context.Context, f models.AuditFilter) ([]models.AuditEntry, error) {
	var w where
	if f.Entity != "" {
		w.add("entity = ?", f.Entity)
	}
	if f.EntityID != 0 {
		w.add("entity_id = ?", f.EntityID)
	}
	if f.UserID != 0 {
		w.add("user_id = ?", f.UserID)
	}
	limit, largs := pageClause(f.Page)
	list := []models.AuditEntry{}
	if err := sqlx.SelectContext(ctx, s.q, &list, `SELECT `+auditColumns+` FROM audit_log`+w.String()+` ORDER BY id DESC`+limit,
		append(w.args, largs...)...); err != nil {
		return nil, mapError(err, "list audit log")
	}
	for i := range list {
		list[i].At = list[i].At.UTC()
	}
	return list, nil
}

// SetCampaignApproval sets a campaign's approval state and rejection reason.
func (s *Store) SetCampaignApproval(ctx context.Context, id int64, a models.Approval, reason string) error {
	return s.setApproval(ctx, "campaigns", "campaign", id, a, reason)
}

// SetCreativeApproval sets a creative's approval state and rejection reason.
func (s *Store) SetCreativeApproval(ctx context.Context, id int64, a models.Approval, reason string) error {
	return s.setApproval(ctx, "creatives", "creative", id, a, reason)
}

func (s *Store) setApproval(ctx context.Context, table, kind string, id int64, a models.Approval, reason string) error {
	if !a.Valid() {
		return models.Invalid("approval", "approval %q: must be pending, approved or rejected", a)
	}
	res, err := s.q.ExecContext(ctx,
		fmt.Sprintf(`UPDATE %s SET approval = ?, reject_reason = ?, updated_at = ? WHERE id = ?`, table),
		a, truncate(reason, 500), s.timestamp(), id)
	return updated(res, err, kind, id)
}
