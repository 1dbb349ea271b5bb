package manage

import (
	"context"

	"adnet/models"
)

// Link is a campaign ↔ zone link with the campaign's effective share of the zone, as the
// decision engine computes it from the current snapshot.
type Link struct {
	models.ZoneCampaign
	// Tier is the campaign's priority tier; TierShareBP the probability, in basis points,
	// that it is chosen when its tier is reached and every campaign of the tier is eligible
	// (higher tiers take precedence). Both are zero when the campaign or the zone is not
	// serving now (paused, pending approval, out of its dates).
	Tier        string `json:"tier,omitempty"`
	TierShareBP int64  `json:"tier_share_bp"`
	Serving     bool   `json:"serving"`
}

// ListLinks lists links: admins all (filtered by zone or campaign); an advertiser user those
// of its campaigns; a publisher user those of its zones. Each carries its effective share.
func (s *Service) ListLinks(ctx context.Context, a *models.Actor, f models.ZoneCampaignFilter) ([]Link, error) {
	var links []models.ZoneCampaign
	switch a.Role {
	case models.RoleAdmin:
		var err error
		if links, err = s.opt.Store.ListZoneCampaigns(ctx, f); err != nil {
			return nil, err
		}
	case models.RoleAdvertiser, models.RolePublisher:
		// The actor's own campaigns or zones, each filtered by the store.
		own, err := s.ownedLinkEnds(ctx, a, f)
		if err != nil {
			return nil, err
		}
		for _, ff := range own {
			l, err := s.opt.Store.ListZoneCampaigns(ctx, ff)
			if err != nil {
				return nil, err
			}
			links = append(links, l...)
		}
	default:
		return []Link{}, nil
	}
	return s.withShares(links), nil
}

// ownedLinkEnds returns one link filter per campaign (advertiser) or zone (publisher) of
// the actor, narrowed by f.
func (s *Service) ownedLinkEnds(ctx context.Context, a *models.Actor, f models.ZoneCampaignFilter) ([]models.ZoneCampaignFilter, error) {
	var out []models.ZoneCampaignFilter
	if a.Role == models.RoleAdvertiser {
		camps, err := s.opt.Store.ListCampaigns(ctx, models.CampaignFilter{AdvertiserID: &a.AdvertiserID, Page: models.Page{Limit: 10000}})
		if err != nil {
			return nil, err
		}
		for i := range camps {
			id := camps[i].ID
			if f.CampaignID == nil || *f.CampaignID == id {
				out = append(out, models.ZoneCampaignFilter{CampaignID: &id, ZoneID: f.ZoneID})
			}
		}
		return out, nil
	}
	zones, err := s.opt.Store.ListZones(ctx, models.ZoneFilter{PublisherID: &a.PublisherID, Page: models.Page{Limit: 10000}})
	if err != nil {
		return nil, err
	}
	for i := range zones {
		id := zones[i].ID
		if f.ZoneID == nil || *f.ZoneID == id {
			out = append(out, models.ZoneCampaignFilter{ZoneID: &id, CampaignID: f.CampaignID})
		}
	}
	return out, nil
}

// withShares adds the decision engine's shares to links.
func (s *Service) withShares(links []models.ZoneCampaign) []Link {
	out := make([]Link, len(links))
	cache := map[int64]map[int64][2]int64{} // zone → campaign → tier, share
	for i, l := range links {
		out[i].ZoneCampaign = l
		if s.opt.Snapshot == nil {
			continue
		}
		shares, ok := cache[l.ZoneID]
		if !ok {
			shares = map[int64][2]int64{}
			if snap := s.opt.Snapshot(); snap != nil {
				list, _ := snap.Shares(l.ZoneID)
				for _, sh := range list {
					shares[sh.CampaignID] = [2]int64{int64(sh.Tier), sh.TierBP}
				}
			}
			cache[l.ZoneID] = shares
		}
		if sh, ok := shares[l.CampaignID]; ok {
			out[i].Serving, out[i].Tier, out[i].TierShareBP = true, models.Tier(sh[0]).String(), sh[1]
		}
	}
	return out
}

// LinkCampaign links a campaign to a zone: admins only (the network decides where ads run).
// Both ends must exist; a link that exists gets the new weight.
func (s *Service) LinkCampaign(ctx context.Context, a *models.Actor, l *models.ZoneCampaign) error {
	if !a.IsAdmin() {
		return forbidden("link campaigns to zones")
	}
	if l.Weight == 0 {
		l.Weight = 1
	}
	return s.audited(ctx, a, func(tx Store) (change, error) {
		if _, err := tx.GetZone(ctx, l.ZoneID); err != nil {
			return change{}, models.Invalid("zone_id", "zone_id %d: no such zone", l.ZoneID)
		}
		if _, err := tx.GetCampaign(ctx, l.CampaignID); err != nil {
			return change{}, models.Invalid("campaign_id", "campaign_id %d: no such campaign", l.CampaignID)
		}
		if err := tx.LinkZoneCampaign(ctx, l); err != nil {
			return change{}, err
		}
		return change{action: "link", entity: "zone", id: l.ZoneID, after: l}, nil
	})
}

// UnlinkCampaign removes a link: admins only; ENOTFOUND when there is none.
func (s *Service) UnlinkCampaign(ctx context.Context, a *models.Actor, zoneID, campaignID int64) error {
	if !a.IsAdmin() {
		return forbidden("unlink campaigns from zones")
	}
	return s.audited(ctx, a, func(tx Store) (change, error) {
		if err := tx.UnlinkZoneCampaign(ctx, zoneID, campaignID); err != nil {
			return change{}, err
		}
		return change{action: "unlink", entity: "zone", id: zoneID, before: models.ZoneCampaign{ZoneID: zoneID, CampaignID: campaignID}}, nil
	})
}
