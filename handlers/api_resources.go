package handlers

import (
	"adnet/models"
	"net/http"
)

// listAdvertisers is GET /api/v1/advertisers.
func (h *API) listAdvertisers(r *http.Request, a *models.Actor) (int, any, error) {
	m := h.opt.Manage
	p, err := page(r)
	if err != nil {
		return 0, nil, err
	}
	st, err := status(r)
	if err != nil {
		return 0, nil, err
	}
	l, err := m.ListAdvertisers(ctx(r), a, models.AdvertiserFilter{Status: st, Search: r.URL.Query().Get("q"), Page: p})
	return http.StatusOK, list(l, p), err
}

// createAdvertiser is POST /api/v1/advertisers.
func (h *API) createAdvertiser(r *http.Request, a *models.Actor) (int, any, error) {
	m := h.opt.Manage
	var v models.Advertiser
	if err := decodeBody(r, &v); err != nil {
		return 0, nil, err
	}
	err := m.CreateAdvertiser(ctx(r), a, &v)
	return http.StatusCreated, created{"/api/v1/advertisers/" + itoa(v.ID), v}, err
}

// getPostbackSecret is GET /api/v1/advertisers/{id}/postback-secret.
func (h *API) getPostbackSecret(r *http.Request, a *models.Actor) (int, any, error) {
	m := h.opt.Manage
	id, err := pathID(r, "id")
	if err != nil {
		return 0, nil, err
	}
	s, err := m.PostbackSecret(ctx(r), a, id)
	return http.StatusOK, secretBody{s}, err
}

// rotatePostbackSecret is POST /api/v1/advertisers/{id}/postback-secret.
func (h *API) rotatePostbackSecret(r *http.Request, a *models.Actor) (int, any, error) {
	m := h.opt.Manage
	id, err := pathID(r, "id")
	if err != nil {
		return 0, nil, err
	}
	s, err := m.RotatePostbackSecret(ctx(r), a, id)
	return http.StatusOK, secretBody{s}, err
}

// listCampaigns is GET /api/v1/campaigns.
func (h *API) listCampaigns(r *http.Request, a *models.Actor) (int, any, error) {
	m := h.opt.Manage
	p, err := page(r)
	if err != nil {
		return 0, nil, err
	}
	f := models.CampaignFilter{Search: r.URL.Query().Get("q"), Approval: models.Approval(r.URL.Query().Get("approval")), Page: p}
	if f.Status, err = status(r); err != nil {
		return 0, nil, err
	}
	if f.AdvertiserID, err = queryID(r, "advertiser_id"); err != nil {
		return 0, nil, err
	}
	l, err := m.ListCampaigns(ctx(r), a, f)
	return http.StatusOK, list(l, p), err
}

// createCampaign is POST /api/v1/campaigns.
func (h *API) createCampaign(r *http.Request, a *models.Actor) (int, any, error) {
	m := h.opt.Manage
	v := models.Campaign{Tier: models.TierRemnant, Weight: 1, Pricing: models.PricingCPM, Pacing: models.PacingASAP}
	if err := decodeBody(r, &v); err != nil {
		return 0, nil, err
	}
	err := m.CreateCampaign(ctx(r), a, &v)
	return http.StatusCreated, created{"/api/v1/campaigns/" + itoa(v.ID), v}, err
}

// listCreatives is GET /api/v1/creatives.
func (h *API) listCreatives(r *http.Request, a *models.Actor) (int, any, error) {
	m := h.opt.Manage
	p, err := page(r)
	if err != nil {
		return 0, nil, err
	}
	f := models.CreativeFilter{Search: r.URL.Query().Get("q"), Approval: models.Approval(r.URL.Query().Get("approval")), Page: p}
	if f.Status, err = status(r); err != nil {
		return 0, nil, err
	}
	if f.CampaignID, err = queryID(r, "campaign_id"); err != nil {
		return 0, nil, err
	}
	l, err := m.ListCreatives(ctx(r), a, f)
	return http.StatusOK, list(l, p), err
}

// createCreative is POST /api/v1/creatives.
func (h *API) createCreative(r *http.Request, a *models.Actor) (int, any, error) {
	m := h.opt.Manage
	var v models.Creative
	if err := decodeBody(r, &v); err != nil {
		return 0, nil, err
	}
	err := m.CreateCreative(ctx(r), a, &v)
	return http.StatusCreated, created{"/api/v1/creatives/" + itoa(v.ID), v}, err
}

// listPublishers is GET /api/v1/publishers.
func (h *API) listPublishers(r *http.Request, a *models.Actor) (int, any, error) {
	m := h.opt.Manage
	p, err := page(r)
	if err != nil {
		return 0, nil, err
	}
	st, err := status(r)
	if err != nil {
		return 0, nil, err
	}
	l, err := m.ListPublishers(ctx(r), a, models.PublisherFilter{Status: st, Search: r.URL.Query().Get("q"), Page: p})
	return http.StatusOK, list(l, p), err
}

// createPublisher is POST /api/v1/publishers.
func (h *API) createPublisher(r *http.Request, a *models.Actor) (int, any, error) {
	m := h.opt.Manage
	v := models.Publisher{RevenueShareBP: 7000}
	if err := decodeBody(r, &v); err != nil {
		return 0, nil, err
	}
	err := m.CreatePublisher(ctx(r), a, &v)
	return http.StatusCreated, created{"/api/v1/publishers/" + itoa(v.ID), v}, err
}

// listSites is GET /api/v1/sites.
func (h *API) listSites(r *http.Request, a *models.Actor) (int, any, error) {
	m := h.opt.Manage
	p, err := page(r)
	if err != nil {
		return 0, nil, err
	}
	f := models.SiteFilter{Search: r.URL.Query().Get("q"), Page: p}
	if f.Status, err = status(r); err != nil {
		return 0, nil, err
	}
	if f.PublisherID, err = queryID(r, "publisher_id"); err != nil {
		return 0, nil, err
	}
	l, err := m.ListSites(ctx(r), a, f)
	return http.StatusOK, list(l, p), err
}

// createSite is POST /api/v1/sites.
func (h *API) createSite(r *http.Request, a *models.Actor) (int, any, error) {
	m := h.opt.Manage
	var v models.Site
	if err := decodeBody(r, &v); err != nil {
		return 0, nil, err
	}
	err := m.CreateSite(ctx(r), a, &v)
	return http.StatusCreated, created{"/api/v1/sites/" + itoa(v.ID), v}, err
}

// listZones is GET /api/v1/zones.
func (h *API) listZones(r *http.Request, a *models.Actor) (int, any, error) {
	m := h.opt.Manage
	p, err := page(r)
	if err != nil {
		return 0, nil, err
	}
	f := models.ZoneFilter{Search: r.URL.Query().Get("q"), Page: p}
	if f.Status, err = status(r); err != nil {
		return 0, nil, err
	}
	if f.SiteID, err = queryID(r, "site_id"); err != nil {
		return 0, nil, err
	}
	l, err := m.ListZones(ctx(r), a, f)
	return http.StatusOK, list(l, p), err
}

// createZone is POST /api/v1/zones.
func (h *API) createZone(r *http.Request, a *models.Actor) (int, any, error) {
	m := h.opt.Manage
	var v models.Zone
	if err := decodeBody(r, &v); err != nil {
		return 0, nil, err
	}
	err := m.CreateZone(ctx(r), a, &v)
	return http.StatusCreated, created{"/api/v1/zones/" + itoa(v.ID), v}, err
}

// zoneTag is GET /api/v1/zones/{id}/tag.
func (h *API) zoneTag(r *http.Request, a *models.Actor) (int, any, error) {
	m := h.opt.Manage
	id, err := pathID(r, "id")
	if err != nil {
		return 0, nil, err
	}
	kv := map[string]string{}
	for k, vs := range r.URL.Query() {
		if len(kv) < 16 && len(vs) > 0 {
			kv[k] = vs[0]
		}
	}
	t, err := m.ZoneTag(ctx(r), a, id, h.opt.BaseURL, kv)
	return http.StatusOK, t, err
}

// listLinks is GET /api/v1/links.
func (h *API) listLinks(r *http.Request, a *models.Actor) (int, any, error) {
	m := h.opt.Manage
	var f models.ZoneCampaignFilter
	var err error
	if f.ZoneID, err = queryID(r, "zone_id"); err != nil {
		return 0, nil, err
	}
	if f.CampaignID, err = queryID(r, "campaign_id"); err != nil {
		return 0, nil, err
	}
	f.Page = models.Page{Limit: 10000}
	l, err := m.ListLinks(ctx(r), a, f)
	return http.StatusOK, list(l, f.Page), err
}

// linkCampaign is PUT /api/v1/zones/{zone}/campaigns/{campaign}.
func (h *API) linkCampaign(r *http.Request, a *models.Actor) (int, any, error) {
	m := h.opt.Manage
	var l models.ZoneCampaign
	var err error
	if l.ZoneID, err = pathID(r, "zone"); err != nil {
		return 0, nil, err
	}
	if l.CampaignID, err = pathID(r, "campaign"); err != nil {
		return 0, nil, err
	}
	var b weightBody
	if err := decodeBody(r, &b); err != nil {
		return 0, nil, err
	}
	l.Weight = b.Weight
	err = m.LinkCampaign(ctx(r), a, &l)
	return http.StatusOK, l, err
}

// unlinkCampaign is DELETE /api/v1/zones/{zone}/campaigns/{campaign}.
func (h *API) unlinkCampaign(r *http.Request, a *models.Actor) (int, any, error) {
	m := h.opt.Manage
	zone, err := pathID(r, "zone")
	if err != nil {
		return 0, nil, err
	}
	camp, err := pathID(r, "campaign")
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, m.UnlinkCampaign(ctx(r), a, zone, camp)
}

// listUsers is GET /api/v1/users.
func (h *API) listUsers(r *http.Request, a *models.Actor) (int, any, error) {
	m := h.opt.Manage
	p, err := page(r)
	if err != nil {
		return 0, nil, err
	}
	l, err := m.ListUsers(ctx(r), a, models.UserFilter{Role: models.Role(r.URL.Query().Get("role")), Search: r.URL.Query().Get("q"), Page: p})
	return http.StatusOK, list(l, p), err
}

// addUser is POST /api/v1/users.
func (h *API) addUser(r *http.Request, a *models.Actor) (int, any, error) {
	m := h.opt.Manage
	var b newUserBody
	if err := decodeBody(r, &b); err != nil {
		return 0, nil, err
	}
	nu, err := m.AddUser(ctx(r), a, b.Email, b.Role, b.AccountID)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, created{"/api/v1/users/" + itoa(nu.User.ID), nu}, nil
}

// deleteUser is DELETE /api/v1/users/{id}.
func (h *API) deleteUser(r *http.Request, a *models.Actor) (int, any, error) {
	m := h.opt.Manage
	id, err := pathID(r, "id")
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, m.DeleteUser(ctx(r), a, id)
}

// listTokens is GET /api/v1/tokens.
func (h *API) listTokens(r *http.Request, a *models.Actor) (int, any, error) {
	m := h.opt.Manage
	l, err := m.ListTokens(ctx(r), a)
	return http.StatusOK, list(l, models.Page{Limit: 1000}), err
}

// createToken is POST /api/v1/tokens.
func (h *API) createToken(r *http.Request, a *models.Actor) (int, any, error) {
	m := h.opt.Manage
	var b tokenBody
	if err := decodeBody(r, &b); err != nil {
		return 0, nil, err
	}
	nt, err := m.CreateToken(ctx(r), a, b.Name)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, created{"/api/v1/tokens/" + itoa(nt.Info.ID), nt}, nil
}

// revokeToken is DELETE /api/v1/tokens/{id}.
func (h *API) revokeToken(r *http.Request, a *models.Actor) (int, any, error) {
	m := h.opt.Manage
	id, err := pathID(r, "id")
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, m.RevokeToken(ctx(r), a, id)
}

// listAudit is GET /api/v1/audit.
func (h *API) listAudit(r *http.Request, a *models.Actor) (int, any, error) {
	m := h.opt.Manage
	p, err := page(r)
	if err != nil {
		return 0, nil, err
	}
	f := models.AuditFilter{Entity: r.URL.Query().Get("entity"), Page: p}
	for name, dst := range map[string]*int64{"entity_id": &f.EntityID, "user_id": &f.UserID} {
		id, err := queryID(r, name)
		if err != nil {
			return 0, nil, err
		}
		if id != nil {
			*dst = *id
		}
	}
	l, err := m.ListAudit(ctx(r), a, f)
	return http.StatusOK, list(l, p), err
}
