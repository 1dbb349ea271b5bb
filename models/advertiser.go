package models

import "time"

// Advertiser buys ads: it owns campaigns and pays for valid events.
type Advertiser struct {
	ID     int64  `json:"id" db:"id"`
	Name   string `json:"name" db:"name"`
	Status Status `json:"status" db:"status"`
	// PostbackSecret authenticates the advertiser's server-to-server conversion postbacks.
	// It is never serialised to JSON and never logged.
	PostbackSecret string    `json:"-" db:"postback_secret"`
	CreatedAt      time.Time `json:"created_at" db:"created_at"`
	UpdatedAt      time.Time `json:"updated_at" db:"updated_at"`
}

// Validate returns an EINVALID error naming the first bad field.
func (a *Advertiser) Validate() error {
	if err := validName("name", "advertiser name", a.Name); err != nil {
		return err
	}
	if !a.Status.Valid() {
		return Invalid("status", "advertiser status %q: must be active, paused or archived", a.Status)
	}
	return nil
}
