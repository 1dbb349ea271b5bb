package manage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"adnet/models"
)

// tokenPrefix starts every API token, so that a leaked one is recognisable (secret scanners,
// logs) and cannot be mistaken for a session id.
const tokenPrefix = "adn_"

// minPassword and maxPassword bound a password: bcrypt reads at most 72 bytes.
const (
	minPassword = 10
	maxPassword = 72
)

// dummyHash is compared against when the email is unknown, so that a sign-in takes as long
// for a missing account as for a wrong password (no user enumeration by timing).
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("adnet-no-such-user-password"), bcrypt.DefaultCost)

// errBadLogin is the one answer to a wrong email or a wrong password: which one is not said.
var errBadLogin = models.Errorf(models.EUNAUTHORIZED, "Wrong email or password.")

// errSession is the answer to a missing, expired or forged session or token.
var errSession = models.Errorf(models.EUNAUTHORIZED, "Sign in again: the session has ended.")

// randomSecret returns n random bytes as unpadded base64url.
func randomSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// secretHash is what the store keeps of a session id or token.
func secretHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// SignIn is a successful sign-in: the session id for the cookie (shown once, stored hashed),
// its CSRF token and who signed in.
type SignIn struct {
	SessionID string
	CSRFToken string
	ExpiresAt time.Time
	Actor     models.Actor
}

// Login checks an email and password and opens a session. Sign-ins are throttled per account
// and per client address (ETOOMANY while over the limit, whatever the password); a wrong email
// and a wrong password get the same EUNAUTHORIZED answer.
func (s *Service) Login(ctx context.Context, email, password, ip string) (*SignIn, error) {
	now := s.opt.Now()
	email = strings.TrimSpace(email)
	byEmail, byIP, err := s.opt.Store.CountLoginFailures(ctx, email, ip, now.Add(-s.opt.FailureWindow))
	if err != nil {
		return nil, err
	}
	if byEmail >= s.opt.MaxFailuresPerAccount || byIP >= s.opt.MaxFailuresPerIP {
		return nil, models.Errorf(models.ETOOMANY, "Too many failed sign-ins: try again in %s.", s.opt.FailureWindow.Round(time.Minute))
	}
	u, err := s.opt.Store.GetUserByEmail(ctx, email)
	if err != nil && models.ErrorCode(err) != models.ENOTFOUND {
		return nil, err
	}
	hash := dummyHash
	if u != nil {
		hash = []byte(u.PasswordHash)
	}
	if len(password) > maxPassword || bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || u == nil {
		if err := s.opt.Store.AddLoginFailure(ctx, email, ip, now); err != nil {
			return nil, err
		}
		s.opt.Logger.WithField("ip", ip).Info("console: failed sign-in")
		return nil, errBadLogin
	}
	if err := s.opt.Store.ClearLoginFailures(ctx, email); err != nil {
		return nil, err
	}
	in := &SignIn{SessionID: randomSecret(32), CSRFToken: randomSecret(32), ExpiresAt: now.Add(s.opt.SessionMax), Actor: models.ActorOf(u)}
	in.Actor.IP = ip
	se := models.Session{IDHash: secretHash(in.SessionID), UserID: u.ID, CSRFToken: in.CSRFToken,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: in.ExpiresAt}
	err = s.audited(ctx, &in.Actor, func(tx Store) (change, error) {
		return change{action: "login", entity: "user", id: u.ID}, tx.CreateSession(ctx, &se)
	})
	if err != nil {
		return nil, err
	}
	return in, nil
}

// SessionActor returns who holds the session id and the session's CSRF token; EUNAUTHORIZED
// when the session is unknown or has expired (idle or absolute), in which case it is deleted.
func (s *Service) SessionActor(ctx context.Context, sessionID, ip string) (*models.Actor, string, error) {
	if sessionID == "" || len(sessionID) > 100 {
		return nil, "", errSession
	}
	now := s.opt.Now()
	h := secretHash(sessionID)
	se, err := s.opt.Store.GetSession(ctx, h)
	if models.ErrorCode(err) == models.ENOTFOUND {
		return nil, "", errSession
	} else if err != nil {
		return nil, "", err
	}
	if !now.Before(se.ExpiresAt) || now.Sub(se.LastSeenAt) > s.opt.SessionIdle {
		_ = s.opt.Store.DeleteSession(ctx, h)
		return nil, "", errSession
	}
	// One write a minute at most per session: the idle expiry does not need more precision.
	if now.Sub(se.LastSeenAt) > time.Minute {
		if err := s.opt.Store.TouchSession(ctx, h, now); err != nil {
			return nil, "", err
		}
	}
	a, err := s.actor(ctx, se.UserID, ip)
	if err != nil {
		return nil, "", err
	}
	return a, se.CSRFToken, nil
}

// actor loads user id as an actor; a deleted user's credentials no longer work.
func (s *Service) actor(ctx context.Context, id int64, ip string) (*models.Actor, error) {
	u, err := s.opt.Store.GetUser(ctx, id)
	if models.ErrorCode(err) == models.ENOTFOUND {
		return nil, errSession
	} else if err != nil {
		return nil, err
	}
	a := models.ActorOf(u)
	a.IP = ip
	return &a, nil
}

// CheckCSRF reports whether a form's token matches the session's (constant time).
func CheckCSRF(sessionToken, formToken string) bool {
	return sessionToken != "" && subtle.ConstantTimeCompare([]byte(sessionToken), []byte(formToken)) == 1
}

// Logout ends the session; ending an unknown one is not an error.
func (s *Service) Logout(ctx context.Context, sessionID string) error {
	if sessionID == "" {
		return nil
	}
	return s.opt.Store.DeleteSession(ctx, secretHash(sessionID))
}

// TokenActor returns who holds the API token; EUNAUTHORIZED when it is unknown or revoked.
func (s *Service) TokenActor(ctx context.Context, token, ip string) (*models.Actor, error) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > 100 {
		return nil, models.Errorf(models.EUNAUTHORIZED, "The API token is not valid.")
	}
	t, err := s.opt.Store.GetAPITokenByHash(ctx, secretHash(token))
	if models.ErrorCode(err) == models.ENOTFOUND || err == nil && t.RevokedAt != nil {
		return nil, models.Errorf(models.EUNAUTHORIZED, "The API token is not valid (unknown or revoked).")
	} else if err != nil {
		return nil, err
	}
	now := s.opt.Now()
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > time.Minute {
		if err := s.opt.Store.TouchAPIToken(ctx, t.ID, now); err != nil {
			return nil, err
		}
	}
	return s.actor(ctx, t.UserID, ip)
}

// NewToken is a created API token: the secret (shown once) and its record.
type NewToken struct {
	Token string          `json:"token"`
	Info  models.APIToken `json:"info"`
}

// CreateToken creates an API token for the actor itself; it acts with the actor's role and
// account.
func (s *Service) CreateToken(ctx context.Context, a *models.Actor, name string) (*NewToken, error) {
	if a.UserID == 0 {
		return nil, forbidden("create a token without a user")
	}
	return s.createToken(ctx, a, a.UserID, name)
}

func (s *Service) createToken(ctx context.Context, a *models.Actor, userID int64, name string) (*NewToken, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = "API token"
	}
	if len(name) > 200 {
		return nil, models.Invalid("name", "token name: at most 200 characters")
	}
	tok := tokenPrefix + randomSecret(32)
	nt := &NewToken{Token: tok, Info: models.APIToken{UserID: userID, Name: name, Hash: secretHash(tok), Prefix: tok[:12]}}
	err := s.audited(ctx, a, func(tx Store) (change, error) {
		if err := tx.CreateAPIToken(ctx, &nt.Info); err != nil {
			return change{}, err
		}
		return change{action: "create", entity: "api_token", id: nt.Info.ID, after: nt.Info}, nil
	})
	if err != nil {
		return nil, err
	}
	return nt, nil
}

// ListTokens lists the actor's own tokens (never their secrets).
func (s *Service) ListTokens(ctx context.Context, a *models.Actor) ([]models.APIToken, error) {
	return s.opt.Store.ListAPITokens(ctx, a.UserID)
}

// RevokeToken revokes one of the actor's own tokens; another user's token is not found.
func (s *Service) RevokeToken(ctx context.Context, a *models.Actor, id int64) error {
	return s.audited(ctx, a, func(tx Store) (change, error) {
		if err := tx.RevokeAPIToken(ctx, a.UserID, id, s.opt.Now()); err != nil {
			return change{}, hide(err, "API token", id)
		}
		return change{action: "revoke", entity: "api_token", id: id}, nil
	})
}

// CommandLine is the actor of the command line: an operator with shell access to the server.
func CommandLine() *models.Actor {
	return &models.Actor{Role: models.RoleAdmin, Email: "(command line)"}
}

// NewUser is the account AddUser created and its generated password, shown once.
type NewUser struct {
	User     models.User `json:"user"`
	Password string      `json:"password"`
}

// AddUser creates a user with a generated password: admins only. accountID is the advertiser
// (role advertiser) or publisher (role publisher) the user belongs to; 0 for an admin.
func (s *Service) AddUser(ctx context.Context, a *models.Actor, email string, role models.Role, accountID int64) (*NewUser, error) {
	if !a.IsAdmin() {
		return nil, forbidden("add users")
	}
	nu := &NewUser{User: models.User{Email: strings.TrimSpace(email), Role: role}, Password: randomSecret(15)}
	switch role {
	case models.RoleAdvertiser:
		nu.User.AdvertiserID = &accountID
	case models.RolePublisher:
		nu.User.PublisherID = &accountID
	case models.RoleAdmin:
		if accountID != 0 {
			return nil, models.Invalid("account", "an admin belongs to no advertiser or publisher: leave the account empty")
		}
	default:
		return nil, models.Invalid("role", "role %q: must be admin, advertiser or publisher", role)
	}
	if role != models.RoleAdmin && accountID <= 0 {
		return nil, models.Invalid("account", "a %s user needs the id of its %s account", role, role)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(nu.Password), s.bcryptCost())
	if err != nil {
		return nil, err
	}
	nu.User.PasswordHash = string(hash)
	err = s.audited(ctx, a, func(tx Store) (change, error) {
		if err := tx.CreateUser(ctx, &nu.User); err != nil {
			return change{}, err
		}
		return change{action: "create", entity: "user", id: nu.User.ID, after: nu.User}, nil
	})
	if err != nil {
		return nil, err
	}
	return nu, nil
}

func (s *Service) bcryptCost() int {
	if s.opt.BcryptCost > 0 {
		return s.opt.BcryptCost
	}
	return bcrypt.DefaultCost
}

// TokenForEmail creates an API token for the user with the given email: the command line's
// `adnet token create`, for the first steps of an installation.
func (s *Service) TokenForEmail(ctx context.Context, a *models.Actor, email, name string) (*NewToken, error) {
	if !a.IsAdmin() {
		return nil, forbidden("create tokens for others")
	}
	u, err := s.opt.Store.GetUserByEmail(ctx, email)
	if err != nil {
		return nil, err
	}
	return s.createToken(ctx, a, u.ID, name)
}

// ChangePassword sets the actor's own password after checking the current one, and ends
// every other session of the user.
func (s *Service) ChangePassword(ctx context.Context, a *models.Actor, current, next string) error {
	u, err := s.opt.Store.GetUser(ctx, a.UserID)
	if err != nil {
		return err
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(current)) != nil {
		return models.Invalid("current_password", "The current password is wrong.")
	}
	if len(next) < minPassword || len(next) > maxPassword {
		return models.Invalid("new_password", "A password has %d to %d characters.", minPassword, maxPassword)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(next), s.bcryptCost())
	if err != nil {
		return err
	}
	return s.audited(ctx, a, func(tx Store) (change, error) {
		if err := tx.SetUserPassword(ctx, u.ID, string(hash)); err != nil {
			return change{}, err
		}
		return change{action: "password", entity: "user", id: u.ID}, tx.DeleteUserSessions(ctx, u.ID)
	})
}

// ListUsers lists users: admins see all, others only themselves.
func (s *Service) ListUsers(ctx context.Context, a *models.Actor, f models.UserFilter) ([]models.User, error) {
	if !a.IsAdmin() {
		u, err := s.opt.Store.GetUser(ctx, a.UserID)
		if err != nil {
			return nil, err
		}
		return []models.User{*u}, nil
	}
	return s.opt.Store.ListUsers(ctx, f)
}

// GetUser returns a user: admins any, others only themselves.
func (s *Service) GetUser(ctx context.Context, a *models.Actor, id int64) (*models.User, error) {
	if !a.IsAdmin() && id != a.UserID {
		return nil, notFound("user", id)
	}
	u, err := s.opt.Store.GetUser(ctx, id)
	return u, hide(err, "user", id)
}

// DeleteUser deletes a user with its sessions and tokens: admins only, not themselves.
func (s *Service) DeleteUser(ctx context.Context, a *models.Actor, id int64) error {
	if !a.IsAdmin() {
		return forbidden("delete users")
	}
	if id == a.UserID {
		return models.Errorf(models.ECONFLICT, "You cannot delete your own account.")
	}
	return s.audited(ctx, a, func(tx Store) (change, error) {
		u, err := tx.GetUser(ctx, id)
		if err != nil {
			return change{}, hide(err, "user", id)
		}
		return change{action: "delete", entity: "user", id: id, before: u}, tx.DeleteUser(ctx, id)
	})
}

// Housekeeping deletes expired sessions and old login failures; run it now and then.
func (s *Service) Housekeeping(ctx context.Context) error {
	now := s.opt.Now()
	return s.opt.Store.DeleteExpiredSessions(ctx, now, now.Add(-s.opt.SessionIdle), now.Add(-24*time.Hour))
}
