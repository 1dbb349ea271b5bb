package models

import "time"

// Actor is who makes a request: a signed-in user (console session or API token), or the
// command line (UserID 0, role admin). Every use case takes the actor and decides from it
// what may be seen and changed; ownership is never taken from the request.
type Actor struct {
	UserID       int64
	Email        string
	Role         Role
	AdvertiserID int64 // the advertiser account of an advertiser user
	PublisherID  int64 // the publisher account of a publisher user
	IP           string
}

// IsAdmin reports whether the actor is a network operator.
func (a *Actor) IsAdmin() bool { return a.Role == RoleAdmin }

// OwnsAdvertiser reports whether the actor may see and change advertiser id's objects.
func (a *Actor) OwnsAdvertiser(id int64) bool {
	return a.IsAdmin() || a.Role == RoleAdvertiser && a.AdvertiserID == id && id != 0
}

// OwnsPublisher reports whether the actor may see and change publisher id's objects.
func (a *Actor) OwnsPublisher(id int64) bool {
	return a.IsAdmin() || a.Role == RolePublisher && a.PublisherID == id && id != 0
}

// ActorOf returns the actor of user u.
func ActorOf(u *User) Actor {
	a := Actor{UserID: u.ID, Email: u.Email, Role: u.Role}
	if u.AdvertiserID != nil {
		a.AdvertiserID = *u.AdvertiserID
	}
	if u.PublisherID != nil {
		a.PublisherID = *u.PublisherID
	}
	return a
}

// Session is a console sign-in, stored server-side. Only the hash of its id is stored.
type Session struct {
	IDHash     []byte
	UserID     int64
	CSRFToken  string // the form token of this session
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute expiry
}

// APIToken is a user's API credential. Only its hash is stored; the token is shown once.
type APIToken struct {
	ID         int64      `json:"id" db:"id"`
	UserID     int64      `json:"user_id" db:"user_id"`
	Name       string     `json:"name" db:"name"`
	Hash       []byte     `json:"-" db:"token_hash"`
	Prefix     string     `json:"prefix" db:"prefix"`
	CreatedAt  time.Time  `json:"created_at" db:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty" db:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty" db:"revoked_at"`
}

// AuditEntry is one change, kept in the append-only audit log: who, what, before → after
// (JSON), when and from where.
type AuditEntry struct {
	ID        int64     `json:"id" db:"id"`
	At        time.Time `json:"at" db:"at"`
	UserID    *int64    `json:"user_id,omitempty" db:"user_id"`
	UserEmail string    `json:"user_email" db:"user_email"`
	Action    string    `json:"action" db:"action"` // create, update, delete, approve, reject, link, unlink, login, …
	Entity    string    `json:"entity" db:"entity"`
	EntityID  int64     `json:"entity_id" db:"entity_id"`
	Before    *string   `json:"before,omitempty" db:"before_json"`
	After     *string   `json:"after,omitempty" db:"after_json"`
	IP        string    `json:"ip" db:"ip"`
}

// AuditFilter selects audit entries, newest first. Zero fields do not filter.
type AuditFilter struct {
	Entity   string
	EntityID int64
	UserID   int64
	Page
}

// UserFilter selects users. Zero fields do not filter.
type UserFilter struct {
	Role         Role
	AdvertiserID int64
	PublisherID  int64
	Search       string // a substring of the email
	Page
}
