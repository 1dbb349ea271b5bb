package models

// Status is the lifecycle state of an advertiser, campaign, creative, publisher, site or zone.
// Only active entities take part in serving.
type Status string

// Statuses.
const (
	StatusActive   Status = "active"
	StatusPaused   Status = "paused"
	StatusArchived Status = "archived"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	return s == StatusActive || s == StatusPaused || s == StatusArchived
}
