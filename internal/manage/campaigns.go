package manage

import (
	"context"
	"strings"

	"adnet/models"
)

// ListCampaigns lists campaigns: admins all (filtered), an advertiser user only its own, a
// publisher user none.
func (s *Service) ListCampaigns(ctx context.Context, a *models.Actor, f models.CampaignFilter) ([]models.Campaign, error) {
	switch a.Role {
	case models.RoleAdmin:
	case models.RoleAdvertiser:
		f.AdvertiserID = &a.AdvertiserID
	default:
		return []models.Campaign{}, nil
	}
	return s.opt.Store.ListCampaigns(ctx, f)
}

// GetCampaign returns a campaign the actor may see.
func (s *Service) GetCampaign(ctx context.Context, a *models.Actor, id int64) (*models.Campaign, error) {
	return s.ownCampaign(ctx, s.opt.Store, a, id)
}

// ownCampaign reads campaign id and checks that the actor owns it; a foreign campaign is not
// found.
func (s *Service) ownCampaign(ctx context.Context, st Store, a *models.Actor, id int64) (*models.Campaign, error) {
	if a.Role != models.RoleAdmin && a.Role != models.RoleAdvertiser {
		return nil, notFound("campaign", id)
	}
	c, err := st.GetCampaign(ctx, id)
	if err != nil {
		return nil, hide(err, "campaign", id)
	}
	if !a.OwnsAdvertiser(c.AdvertiserID) {
		return nil, notFound("campaign", id)
	}
	return c, nil
}

// CreateCampaign creates a campaign. An advertiser user creates it for its own account and it
// waits for an admin's approval; an admin's is approved at once (and names its advertiser).
func (s *Service) CreateCampaign(ctx context.Context, a *models.Actor, c *models.Campaign) error {
	switch a.Role {
	case models.RoleAdmin:
		c.Approval = models.ApprovalApproved
		if c.AdvertiserID <= 0 {
			return models.Invalid("advertiser_id", "advertiser_id: name the advertiser the campaign is for")
		}
	case models.RoleAdvertiser:
		c.AdvertiserID, c.Approval = a.AdvertiserID, models.ApprovalPending
		if err := advertiserTier(c.Tier); err != nil {
			return err
		}
	default:
		return forbidden("create campaigns")
	}
	c.RejectReason = ""
	if c.Status == "" {
		c.Status = models.StatusActive
	}
	return s.audited(ctx, a, func(tx Store) (change, error) {
		if _, err := tx.GetAdvertiser(ctx, c.AdvertiserID); err != nil {
			return change{}, models.Invalid("advertiser_id", "advertiser_id %d: no such advertiser", c.AdvertiserID)
		}
		if err := tx.CreateCampaign(ctx, c); err != nil {
			return change{}, err
		}
		return change{action: "create", entity: "campaign", id: c.ID, after: c}, nil
	})
}

// UpdateCampaign applies edit to a campaign the actor owns and stores it. Its advertiser and
// approval never change through an edit; a rejected campaign an advertiser edits goes back to
// the approval queue.
func (s *Service) UpdateCampaign(ctx context.Context, a *models.Actor, id int64, edit func(*models.Campaign) error) (*models.Campaign, error) {
	var out *models.Campaign
	err := s.audited(ctx, a, func(tx Store) (change, error) {
		before, err := s.ownCampaign(ctx, tx, a, id)
		if err != nil {
			return change{}, err
		}
		next := *before
		if err := edit(&next); err != nil {
			return change{}, err
		}
		next.ID, next.AdvertiserID, next.CreatedAt = before.ID, before.AdvertiserID, before.CreatedAt
		next.Approval, next.RejectReason = before.Approval, before.RejectReason
		if !a.IsAdmin() && next.Tier != before.Tier {
			if err := advertiserTier(next.Tier); err != nil {
				return change{}, err
			}
		}
		if err := tx.UpdateCampaign(ctx, &next); err != nil {
			return change{}, err
		}
		if !a.IsAdmin() && before.Approval == models.ApprovalRejected {
			if err := tx.SetCampaignApproval(ctx, id, models.ApprovalPending, ""); err != nil {
				return change{}, err
			}
			next.Approval, next.RejectReason = models.ApprovalPending, ""
		}
		out = &next
		return change{action: "update", entity: "campaign", id: id, before: before, after: &next}, nil
	})
	return out, err
}

// ReviewCampaign approves or rejects a campaign: admins only; a rejection needs a reason.
func (s *Service) ReviewCampaign(ctx context.Context, a *models.Actor, id int64, approve bool, reason string) (*models.Campaign, error) {
	if !a.IsAdmin() {
		return nil, forbidden("approve campaigns")
	}
	state, reason, err := review(approve, reason)
	if err != nil {
		return nil, err
	}
	var out *models.Campaign
	err = s.audited(ctx, a, func(tx Store) (change, error) {
		before, err := tx.GetCampaign(ctx, id)
		if err != nil {
			return change{}, hide(err, "campaign", id)
		}
		if err := tx.SetCampaignApproval(ctx, id, state, reason); err != nil {
			return change{}, err
		}
		next := *before
		next.Approval, next.RejectReason = state, reason
		out = &next
		return change{action: string(state), entity: "campaign", id: id, before: before, after: &next}, nil
	})
	return out, err
}

// advertiserTier checks the tier an advertiser asks for: contract or remnant. Override (which
// always wins) and house (the network's own ads) are the network's to give.
func advertiserTier(t models.Tier) error {
	if t == models.TierOverride || t == models.TierHouse {
		return models.Invalid("tier", "tier %s: only the network sets override and house campaigns; choose contract or remnant", t)
	}
	return nil
}

// review checks an approval decision.
func review(approve bool, reason string) (models.Approval, string, error) {
	reason = strings.TrimSpace(reason)
	if approve {
		return models.ApprovalApproved, "", nil
	}
	if reason == "" {
		return "", "", models.Invalid("reason", "Say why it is rejected: the advertiser sees the reason.")
	}
	if len(reason) > 500 {
		return "", "", models.Invalid("reason", "reason: at most 500 characters")
	}
	return models.ApprovalRejected, reason, nil
}

// ListCreatives lists creatives: admins all (filtered), an advertiser user only those of its
// campaigns, a publisher user none.
func (s *Service) ListCreatives(ctx context.Context, a *models.Actor, f models.CreativeFilter) ([]models.Creative, error) {
	switch a.Role {
	case models.RoleAdmin:
	case models.RoleAdvertiser:
		f.AdvertiserID = &a.AdvertiserID
	default:
		return []models.Creative{}, nil
	}
	return s.opt.Store.ListCreatives(ctx, f)
}

// GetCreative returns a creative the actor may see.
func (s *Service) GetCreative(ctx context.Context, a *models.Actor, id int64) (*models.Creative, error) {
	return s.ownCreative(ctx, s.opt.Store, a, id)
}

func (s *Service) ownCreative(ctx context.Context, st Store, a *models.Actor, id int64) (*models.Creative, error) {
	if a.Role != models.RoleAdmin && a.Role != models.RoleAdvertiser {
		return nil, notFound("creative", id)
	}
	cr, err := st.GetCreative(ctx, id)
	if err != nil {
		return nil, hide(err, "creative", id)
	}
	if _, err := s.ownCampaign(ctx, st, a, cr.CampaignID); err != nil {
		return nil, notFound("creative", id)
	}
	return cr, nil
}

// CreateCreative creates a creative in a campaign the actor owns. An advertiser's creative
// waits for approval.
func (s *Service) CreateCreative(ctx context.Context, a *models.Actor, cr *models.Creative) error {
	if a.Role != models.RoleAdmin && a.Role != models.RoleAdvertiser {
		return forbidden("create creatives")
	}
	cr.Approval, cr.RejectReason = models.ApprovalApproved, ""
	if !a.IsAdmin() {
		cr.Approval = models.ApprovalPending
	}
	if cr.Status == "" {
		cr.Status = models.StatusActive
	}
	if cr.Weight == 0 {
		cr.Weight = 1
	}
	return s.audited(ctx, a, func(tx Store) (change, error) {
		if _, err := s.ownCampaign(ctx, tx, a, cr.CampaignID); err != nil {
			return change{}, models.Invalid("campaign_id", "campaign_id %d: no such campaign", cr.CampaignID)
		}
		if err := tx.CreateCreative(ctx, cr); err != nil {
			return change{}, err
		}
		return change{action: "create", entity: "creative", id: cr.ID, after: cr}, nil
	})
}

// UpdateCreative applies edit to a creative the actor owns. Its campaign and approval never
// change through an edit; an advertiser's edit of what the ad shows sends it back to the
// approval queue.
func (s *Service) UpdateCreative(ctx context.Context, a *models.Actor, id int64, edit func(*models.Creative) error) (*models.Creative, error) {
	var out *models.Creative
	err := s.audited(ctx, a, func(tx Store) (change, error) {
		before, err := s.ownCreative(ctx, tx, a, id)
		if err != nil {
			return change{}, err
		}
		next := *before
		if err := edit(&next); err != nil {
			return change{}, err
		}
		next.ID, next.CampaignID, next.CreatedAt = before.ID, before.CampaignID, before.CreatedAt
		next.Approval, next.RejectReason = before.Approval, before.RejectReason
		if err := tx.UpdateCreative(ctx, &next); err != nil {
			return change{}, err
		}
		if !a.IsAdmin() && contentChanged(before, &next) && before.Approval != models.ApprovalPending {
			if err := tx.SetCreativeApproval(ctx, id, models.ApprovalPending, ""); err != nil {
				return change{}, err
			}
			next.Approval, next.RejectReason = models.ApprovalPending, ""
		}
		out = &next
		return change{action: "update", entity: "creative", id: id, before: before, after: &next}, nil
	})
	return out, err
}

// contentChanged reports whether an edit changed what the ad shows or where it leads.
func contentChanged(a, b *models.Creative) bool {
	return a.Kind != b.Kind || a.ImageURL != b.ImageURL || a.HTML != b.HTML || a.Title != b.Title ||
		a.Text != b.Text || a.ClickURL != b.ClickURL || a.Width != b.Width || a.Height != b.Height
}

// ReviewCreative approves or rejects a creative: admins only; a rejection needs a reason.
func (s *Service) ReviewCreative(ctx context.Context, a *models.Actor, id int64, approve bool, reason string) (*models.Creative, error) {
	if !a.IsAdmin() {
		return nil, forbidden("approve creatives")
	}
	state, reason, err := review(approve, reason)
	if err != nil {
		return nil, err
	}
	var out *models.Creative
	err = s.audited(ctx, a, func(tx Store) (change, error) {
		before, err := tx.GetCreative(ctx, id)
		if err != nil {
			return change{}, hide(err, "creative", id)
		}
		if err := tx.SetCreativeApproval(ctx, id, state, reason); err != nil {
			return change{}, err
		}
		next := *before
		next.Approval, next.RejectReason = state, reason
		out = &next
		return change{action: string(state), entity: "creative", id: id, before: before, after: &next}, nil
	})
	return out, err
}
