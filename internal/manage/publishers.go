package manage

import (
	"context"

	"adnet/models"
)

// ListPublishers lists publishers: admins all (filtered), a publisher user only its own, an
// advertiser user none.
func (s *Service) ListPublishers(ctx context.Context, a *models.Actor, f models.PublisherFilter) ([]models.Publisher, error) {
	switch a.Role {
	case models.RoleAdmin:
	case models.RolePublisher:
		f.ID = &a.PublisherID
	default:
		return []models.Publisher{}, nil
	}
	return s.opt.Store.ListPublishers(ctx, f)
}

// GetPublisher returns a publisher the actor may see.
func (s *Service) GetPublisher(ctx context.Context, a *models.Actor, id int64) (*models.Publisher, error) {
	if !a.OwnsPublisher(id) {
		return nil, notFound("publisher", id)
	}
	p, err := s.opt.Store.GetPublisher(ctx, id)
	return p, hide(err, "publisher", id)
}

// CreatePublisher creates a publisher account: admins only.
func (s *Service) CreatePublisher(ctx context.Context, a *models.Actor, p *models.Publisher) error {
	if !a.IsAdmin() {
		return forbidden("create publishers")
	}
	if p.Status == "" {
		p.Status = models.StatusActive
	}
	return s.audited(ctx, a, func(tx Store) (change, error) {
		if err := tx.CreatePublisher(ctx, p); err != nil {
			return change{}, err
		}
		return change{action: "create", entity: "publisher", id: p.ID, after: p}, nil
	})
}

// UpdatePublisher applies edit to a publisher: admins everything; a publisher user its own
// account's name only (status and revenue share are the network's terms).
func (s *Service) UpdatePublisher(ctx context.Context, a *models.Actor, id int64, edit func(*models.Publisher) error) (*models.Publisher, error) {
	if !a.OwnsPublisher(id) {
		return nil, notFound("publisher", id)
	}
	var out *models.Publisher
	err := s.audited(ctx, a, func(tx Store) (change, error) {
		before, err := tx.GetPublisher(ctx, id)
		if err != nil {
			return change{}, hide(err, "publisher", id)
		}
		next := *before
		if err := edit(&next); err != nil {
			return change{}, err
		}
		next.ID, next.CreatedAt = before.ID, before.CreatedAt
		if !a.IsAdmin() {
			next.Status, next.RevenueShareBP = before.Status, before.RevenueShareBP
		}
		if err := tx.UpdatePublisher(ctx, &next); err != nil {
			return change{}, err
		}
		out = &next
		return change{action: "update", entity: "publisher", id: id, before: before, after: &next}, nil
	})
	return out, err
}

// ListSites lists sites: admins all (filtered), a publisher user only its own.
func (s *Service) ListSites(ctx context.Context, a *models.Actor, f models.SiteFilter) ([]models.Site, error) {
	switch a.Role {
	case models.RoleAdmin:
	case models.RolePublisher:
		f.PublisherID = &a.PublisherID
	default:
		return []models.Site{}, nil
	}
	return s.opt.Store.ListSites(ctx, f)
}

// GetSite returns a site the actor may see.
func (s *Service) GetSite(ctx context.Context, a *models.Actor, id int64) (*models.Site, error) {
	return s.ownSite(ctx, s.opt.Store, a, id)
}

func (s *Service) ownSite(ctx context.Context, st Store, a *models.Actor, id int64) (*models.Site, error) {
	if a.Role != models.RoleAdmin && a.Role != models.RolePublisher {
		return nil, notFound("site", id)
	}
	site, err := st.GetSite(ctx, id)
	if err != nil {
		return nil, hide(err, "site", id)
	}
	if !a.OwnsPublisher(site.PublisherID) {
		return nil, notFound("site", id)
	}
	return site, nil
}

// CreateSite creates a site: a publisher user for its own account, an admin for any.
func (s *Service) CreateSite(ctx context.Context, a *models.Actor, site *models.Site) error {
	switch a.Role {
	case models.RoleAdmin:
		if site.PublisherID <= 0 {
			return models.Invalid("publisher_id", "publisher_id: name the publisher the site belongs to")
		}
	case models.RolePublisher:
		site.PublisherID = a.PublisherID
	default:
		return forbidden("create sites")
	}
	if site.Status == "" {
		site.Status = models.StatusActive
	}
	return s.audited(ctx, a, func(tx Store) (change, error) {
		if _, err := tx.GetPublisher(ctx, site.PublisherID); err != nil {
			return change{}, models.Invalid("publisher_id", "publisher_id %d: no such publisher", site.PublisherID)
		}
		if err := tx.CreateSite(ctx, site); err != nil {
			return change{}, err
		}
		return change{action: "create", entity: "site", id: site.ID, after: site}, nil
	})
}

// UpdateSite applies edit to a site the actor owns; its publisher never changes.
func (s *Service) UpdateSite(ctx context.Context, a *models.Actor, id int64, edit func(*models.Site) error) (*models.Site, error) {
	var out *models.Site
	err := s.audited(ctx, a, func(tx Store) (change, error) {
		before, err := s.ownSite(ctx, tx, a, id)
		if err != nil {
			return change{}, err
		}
		next := *before
		if err := edit(&next); err != nil {
			return change{}, err
		}
		next.ID, next.PublisherID, next.CreatedAt = before.ID, before.PublisherID, before.CreatedAt
		if err := tx.UpdateSite(ctx, &next); err != nil {
			return change{}, err
		}
		out = &next
		return change{action: "update", entity: "site", id: id, before: before, after: &next}, nil
	})
	return out, err
}

// ListZones lists zones: admins all (filtered), a publisher user only its own. An
// advertiser user sees none (zones are linked by the network).
func (s *Service) ListZones(ctx context.Context, a *models.Actor, f models.ZoneFilter) ([]models.Zone, error) {
	switch a.Role {
	case models.RoleAdmin:
	case models.RolePublisher:
		f.PublisherID = &a.PublisherID
	default:
		return []models.Zone{}, nil
	}
	return s.opt.Store.ListZones(ctx, f)
}

// GetZone returns a zone the actor may see.
func (s *Service) GetZone(ctx context.Context, a *models.Actor, id int64) (*models.Zone, error) {
	return s.ownZone(ctx, s.opt.Store, a, id)
}

func (s *Service) ownZone(ctx context.Context, st Store, a *models.Actor, id int64) (*models.Zone, error) {
	if a.Role != models.RoleAdmin && a.Role != models.RolePublisher {
		return nil, notFound("zone", id)
	}
	z, err := st.GetZone(ctx, id)
	if err != nil {
		return nil, hide(err, "zone", id)
	}
	if _, err := s.ownSite(ctx, st, a, z.SiteID); err != nil {
		return nil, notFound("zone", id)
	}
	return z, nil
}

// checkZoneRefs checks what a zone points at: its site and fallback zone must be the actor's
// (and the fallback of the same publisher), and only the network sets a fallback creative.
func (s *Service) checkZoneRefs(ctx context.Context, st Store, a *models.Actor, z *models.Zone, before *models.Zone) error {
	site, err := s.ownSite(ctx, st, a, z.SiteID)
	if err != nil {
		return models.Invalid("site_id", "site_id %d: no such site", z.SiteID)
	}
	if z.FallbackZoneID != nil && (before == nil || before.FallbackZoneID == nil || *before.FallbackZoneID != *z.FallbackZoneID) {
		fb, err := s.ownZone(ctx, st, a, *z.FallbackZoneID)
		if err != nil {
			return models.Invalid("fallback_zone_id", "fallback_zone_id %d: no such zone", *z.FallbackZoneID)
		}
		fbSite, err := st.GetSite(ctx, fb.SiteID)
		if err != nil || fbSite.PublisherID != site.PublisherID {
			return models.Invalid("fallback_zone_id", "fallback_zone_id %d: must be a zone of the same publisher", *z.FallbackZoneID)
		}
	}
	if !a.IsAdmin() {
		var was *int64
		if before != nil {
			was = before.FallbackCreativeID
		}
		if (z.FallbackCreativeID == nil) != (was == nil) || z.FallbackCreativeID != nil && *z.FallbackCreativeID != *was {
			return models.Invalid("fallback_creative_id", "fallback_creative_id: only the network sets a zone's fallback creative")
		}
	} else if z.FallbackCreativeID != nil {
		if _, err := st.GetCreative(ctx, *z.FallbackCreativeID); err != nil {
			return models.Invalid("fallback_creative_id", "fallback_creative_id %d: no such creative", *z.FallbackCreativeID)
		}
	}
	return nil
}

// CreateZone creates a zone on a site the actor owns.
func (s *Service) CreateZone(ctx context.Context, a *models.Actor, z *models.Zone) error {
	if a.Role != models.RoleAdmin && a.Role != models.RolePublisher {
		return forbidden("create zones")
	}
	if z.Status == "" {
		z.Status = models.StatusActive
	}
	return s.audited(ctx, a, func(tx Store) (change, error) {
		if err := s.checkZoneRefs(ctx, tx, a, z, nil); err != nil {
			return change{}, err
		}
		if err := tx.CreateZone(ctx, z); err != nil {
			return change{}, err
		}
		return change{action: "create", entity: "zone", id: z.ID, after: z}, nil
	})
}

// UpdateZone applies edit to a zone the actor owns; its site never changes.
func (s *Service) UpdateZone(ctx context.Context, a *models.Actor, id int64, edit func(*models.Zone) error) (*models.Zone, error) {
	var out *models.Zone
	err := s.audited(ctx, a, func(tx Store) (change, error) {
		before, err := s.ownZone(ctx, tx, a, id)
		if err != nil {
			return change{}, err
		}
		next := *before
		if err := edit(&next); err != nil {
			return change{}, err
		}
		next.ID, next.SiteID, next.CreatedAt = before.ID, before.SiteID, before.CreatedAt
		if err := s.checkZoneRefs(ctx, tx, a, &next, before); err != nil {
			return change{}, err
		}
		if err := tx.UpdateZone(ctx, &next); err != nil {
			return change{}, err
		}
		out = &next
		return change{action: "update", entity: "zone", id: id, before: before, after: &next}, nil
	})
	return out, err
}
