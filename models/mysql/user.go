package mysql

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"adnet/models"
)

const userColumns = `id, email, password_hash, role, advertiser_id, publisher_id, created_at`

// validateUser checks what the users table needs. models.User has no Validate method (yet);
// the rules here mirror the table's constraints so that violations come back as EINVALID with
// a clear message instead of a constraint name.
func validateUser(u *models.User) error {
	u.Email = strings.TrimSpace(u.Email)
	if at := strings.IndexByte(u.Email, '@'); at < 1 || at == len(u.Email)-1 || len(u.Email) > 254 ||
		strings.ContainsAny(u.Email, " \t\r\n") {
		return models.Errorf(models.EINVALID, "user email %q: must be an address such as ann@example.com", u.Email)
	}
	if u.PasswordHash == "" {
		return models.Errorf(models.EINVALID, "user password hash must not be empty")
	}
	switch u.Role {
	case models.RoleAdmin:
		if u.AdvertiserID != nil || u.PublisherID != nil {
			return models.Errorf(models.EINVALID, "user role admin: must have neither advertiser_id nor publisher_id")
		}
	case models.RoleAdvertiser:
		if u.AdvertiserID == nil || u.PublisherID != nil {
			return models.Errorf(models.EINVALID, "user role advertiser: needs advertiser_id and no publisher_id")
		}
	case models.RolePublisher:
		if u.PublisherID == nil || u.AdvertiserID != nil {
			return models.Errorf(models.EINVALID, "user role publisher: needs publisher_id and no advertiser_id")
		}
	default:
		return models.Errorf(models.EINVALID, "user role %q: must be admin, advertiser or publisher", u.Role)
	}
	return nil
}

// CreateUser validates u and inserts it, setting its ID and CreatedAt. ECONFLICT if the email
// is taken (case-insensitively), EINVALID if its advertiser or publisher does not exist.
func (s *Store) CreateUser(ctx context.Context, u *models.User) error {
	if err := validateUser(u); err != nil {
		return err
	}
	now := s.timestamp()
	res, err := s.q.ExecContext(ctx,
		`INSERT INTO users (email, password_hash, role, advertiser_id, publisher_id, created_at)
		 VALUES (?, ?, ?, ?, ?, ?)`,
		u.Email, u.PasswordHash, u.Role, u.AdvertiserID, u.PublisherID, now)
	if err != nil {
		return mapError(err, "create user")
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	u.ID, u.CreatedAt = id, now
	return nil
}

// GetUserByEmail returns the user with the given email (compared case-insensitively), or
// ENOTFOUND.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (*models.User, error) {
	var u models.User
	err := sqlx.GetContext(ctx, s.q, &u,
		`SELECT `+userColumns+` FROM users WHERE email = ?`, strings.TrimSpace(email))
	if err != nil {
		return nil, notFound(err, "user", fmt.Sprintf("%q", email))
	}
	return &u, nil
}
