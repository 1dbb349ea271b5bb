package models

import (
	"strings"
	"time"
)

// CreativeKind is the format of a creative.
type CreativeKind string

// Creative kinds.
const (
	CreativeImage CreativeKind = "image" // an image (ImageURL) linking to ClickURL
	CreativeHTML  CreativeKind = "html"  // advertiser HTML with macros, rendered in the zone
	CreativeText  CreativeKind = "text"  // a title and a line of text linking to ClickURL
)

// Creative is one ad of a campaign.
type Creative struct {
	ID         int64  `json:"id" db:"id"`
	CampaignID int64  `json:"campaign_id" db:"campaign_id"`
	Name       string `json:"name" db:"name"`
	Status     Status `json:"status" db:"status"`
	// Approval is set by the network (Approve/Reject), never by an update.
	Approval     Approval     `json:"approval" db:"approval"`
	RejectReason string       `json:"reject_reason,omitempty" db:"reject_reason"`
	Kind         CreativeKind `json:"kind" db:"kind"`
	Width        int          `json:"width" db:"width"`
	Height       int          `json:"height" db:"height"`
	Weight       int          `json:"weight" db:"weight"`
	ImageURL     string       `json:"image_url,omitempty" db:"image_url"`
	HTML         string       `json:"html,omitempty" db:"html"`
	Title        string       `json:"title,omitempty" db:"title"`
	Text         string       `json:"text,omitempty" db:"body"`
	ClickURL     string       `json:"click_url" db:"click_url"`
	CreatedAt    time.Time    `json:"created_at" db:"created_at"`
	UpdatedAt    time.Time    `json:"updated_at" db:"updated_at"`
}

// Validate returns an EINVALID error naming the first bad field.
func (c *Creative) Validate() error {
	if err := validName("name", "creative name", c.Name); err != nil {
		return err
	}
	if !c.Status.Valid() {
		return Invalid("status", "creative status %q: must be active, paused or archived", c.Status)
	}
	if err := validSize(c.Width, c.Height); err != nil {
		return err
	}
	if c.Weight < 1 || c.Weight > 1000000 {
		return Invalid("weight", "creative weight %d: must be between 1 and 1000000", c.Weight)
	}
	if err := ValidateLandingURL("click_url", c.ClickURL); err != nil {
		return err
	}
	switch c.Kind {
	case CreativeImage:
		if err := ValidateLandingURL("image_url", c.ImageURL); err != nil {
			// Relative URLs under /static/ (the creatives directory) and /uploads/ (images
			// uploaded through the API or the console) are served by nginx; the ad server
			// makes them absolute.
			if !strings.HasPrefix(c.ImageURL, "/static/") && !strings.HasPrefix(c.ImageURL, "/uploads/") || strings.Contains(c.ImageURL, "..") {
				return err
			}
		}
	case CreativeHTML:
		if c.HTML == "" || len(c.HTML) > 65535 {
			return Invalid("html", "creative html: must be 1 to 65535 bytes")
		}
	case CreativeText:
		if err := validName("title", "creative title", c.Title); err != nil {
			return err
		}
		if len(c.Text) > 500 {
			return Invalid("text", "creative text: at most 500 bytes")
		}
	default:
		return Invalid("kind", "creative kind %q: must be image, html or text", c.Kind)
	}
	return nil
}
