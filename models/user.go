package models

import "time"

// Role decides what a user may see and change. Ownership is checked on every request:
// advertisers see only their advertiser's data, publishers only their publisher's.
type Role string

// Roles.
const (
	RoleAdmin      Role = "admin"      // a network operator: everything
	RoleAdvertiser Role = "advertiser" // one advertiser's campaigns, creatives and reports
	RolePublisher  Role = "publisher"  // one publisher's sites, zones, tags and earnings
)

// User is a person who signs in to the console or calls the API.
type User struct {
	ID           int64     `json:"id" db:"id"`
	Email        string    `json:"email" db:"email"`
	PasswordHash string    `json:"-" db:"password_hash"` // bcrypt; never serialised or logged
	Role         Role      `json:"role" db:"role"`
	AdvertiserID *int64    `json:"advertiser_id,omitempty" db:"advertiser_id"`
	PublisherID  *int64    `json:"publisher_id,omitempty" db:"publisher_id"`
	CreatedAt    time.Time `json:"created_at" db:"created_at"`
}
