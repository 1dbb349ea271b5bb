package manage

import (
	"context"

	"adnet/models"
)

// ListAdvertisers lists advertisers: admins all (filtered), an advertiser user only its own,
// a publisher user none.
func (s *Service) ListAdvertisers(ctx context.Context, a *models.Actor, f models.AdvertiserFilter) ([]models.Advertiser, error) {
	switch a.Role {
	case models.RoleAdmin:
	case models.RoleAdvertiser:
		f.ID = &a.AdvertiserID
	default:
		return []models.Advertiser{}, nil
	}
	return s.opt.Store.ListAdvertisers(ctx, f)
}

// GetAdvertiser returns an advertiser the actor may see.
func (s *Service) GetAdvertiser(ctx context.Context, a *models.Actor, id int64) (*models.Advertiser, error) {
	if !a.OwnsAdvertiser(id) {
		return nil, notFound("advertiser", id)
	}
	adv, err := s.opt.Store.GetAdvertiser(ctx, id)
	return adv, hide(err, "advertiser", id)
}

// CreateAdvertiser creates an advertiser account: admins only. A postback secret is generated
// when none is given.
func (s *Service) CreateAdvertiser(ctx context.Context, a *models.Actor, adv *models.Advertiser) error {
	if !a.IsAdmin() {
		return forbidden("create advertisers")
	}
	if adv.Status == "" {
		adv.Status = models.StatusActive
	}
	if adv.PostbackSecret == "" {
		adv.PostbackSecret = randomSecret(24)
	}
	return s.audited(ctx, a, func(tx Store) (change, error) {
		if err := tx.CreateAdvertiser(ctx, adv); err != nil {
			return change{}, err
		}
		return change{action: "create", entity: "advertiser", id: adv.ID, after: adv}, nil
	})
}

// UpdateAdvertiser applies edit to an advertiser and stores it. Admins may change everything;
// an advertiser user may change its own account's name only (its status is the network's).
func (s *Service) UpdateAdvertiser(ctx context.Context, a *models.Actor, id int64, edit func(*models.Advertiser) error) (*models.Advertiser, error) {
	if !a.OwnsAdvertiser(id) {
		return nil, notFound("advertiser", id)
	}
	var out *models.Advertiser
	err := s.audited(ctx, a, func(tx Store) (change, error) {
		before, err := tx.GetAdvertiser(ctx, id)
		if err != nil {
			return change{}, hide(err, "advertiser", id)
		}
		next := *before
		if err := edit(&next); err != nil {
			return change{}, err
		}
		next.ID, next.CreatedAt, next.PostbackSecret = before.ID, before.CreatedAt, before.PostbackSecret
		if !a.IsAdmin() {
			next.Status = before.Status
		}
		if err := tx.UpdateAdvertiser(ctx, &next); err != nil {
			return change{}, err
		}
		out = &next
		return change{action: "update", entity: "advertiser", id: id, before: before, after: &next}, nil
	})
	return out, err
}

// PostbackSecret returns the advertiser's postback secret, for its conversion setup page.
func (s *Service) PostbackSecret(ctx context.Context, a *models.Actor, id int64) (string, error) {
	adv, err := s.GetAdvertiser(ctx, a, id)
	if err != nil {
		return "", err
	}
	return adv.PostbackSecret, nil
}

// RotatePostbackSecret replaces the advertiser's postback secret with a new random one and
// returns it; postbacks with the old one fail from the next inventory refresh on.
func (s *Service) RotatePostbackSecret(ctx context.Context, a *models.Actor, id int64) (string, error) {
	if !a.OwnsAdvertiser(id) {
		return "", notFound("advertiser", id)
	}
	secret := randomSecret(24)
	err := s.audited(ctx, a, func(tx Store) (change, error) {
		adv, err := tx.GetAdvertiser(ctx, id)
		if err != nil {
			return change{}, hide(err, "advertiser", id)
		}
		adv.PostbackSecret = secret
		return change{action: "rotate_secret", entity: "advertiser", id: id}, tx.UpdateAdvertiser(ctx, adv)
	})
	return secret, err
}
