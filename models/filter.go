package models

// Page selects a window of a list, ordered by id.
type Page struct {
	Offset int // rows to skip
	Limit  int // rows to return: 0 means 1000, at most 10000
}

// AdvertiserFilter selects advertisers for ListAdvertisers. Nil and zero fields do not filter.
type AdvertiserFilter struct {
	// ID restricts the list to one advertiser: set it from the signed-in user's advertiser so
	// that ownership is imposed by the query, not by the caller remembering to check.
	ID     *int64
	Status Status
	Search string // a substring of the name (sites: or of the domain); LIKE wildcards are taken literally
	Page
}

// CampaignFilter selects campaigns for ListCampaigns. Nil and zero fields do not filter.
type CampaignFilter struct {
	// AdvertiserID is the owner: set it from the signed-in advertiser user.
	AdvertiserID *int64
	Status       Status
	Search       string   // a substring of the name (sites: or of the domain); LIKE wildcards are taken literally
	Approval     Approval // only campaigns or creatives in this approval state
	Page
}

// CreativeFilter selects creatives for ListCreatives. Nil and zero fields do not filter.
type CreativeFilter struct {
	// AdvertiserID is the owner: only creatives of this advertiser's campaigns.
	AdvertiserID *int64
	CampaignID   *int64
	Status       Status
	Search       string   // a substring of the name (sites: or of the domain); LIKE wildcards are taken literally
	Approval     Approval // only campaigns or creatives in this approval state
	Page
}

// PublisherFilter selects publishers for ListPublishers. Nil and zero fields do not filter.
type PublisherFilter struct {
	// ID restricts the list to one publisher: set it from the signed-in publisher user.
	ID     *int64
	Status Status
	Search string // a substring of the name (sites: or of the domain); LIKE wildcards are taken literally
	Page
}

// SiteFilter selects sites for ListSites. Nil and zero fields do not filter.
type SiteFilter struct {
	PublisherID *int64 // the owner
	Status      Status
	Search      string // a substring of the name (sites: or of the domain); LIKE wildcards are taken literally
	Page
}

// ZoneFilter selects zones for ListZones. Nil and zero fields do not filter.
type ZoneFilter struct {
	PublisherID *int64 // the owner: only zones on this publisher's sites
	SiteID      *int64
	Status      Status
	Search      string // a substring of the name (sites: or of the domain); LIKE wildcards are taken literally
	Page
}

// ZoneCampaignFilter selects links for ListZoneCampaigns. Nil fields do not filter.
type ZoneCampaignFilter struct {
	ZoneID     *int64
	CampaignID *int64
	Page
}
