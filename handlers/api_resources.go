package handlers

import (
	"context"
	"net/http"
	"time"

	"adnet/models"
)

// listQuery is what every list route reads from its query: the page, status, approval and
// search filters, and the id filters it takes. Reading it once keeps each list route to the
// one call it makes.
type listQuery struct {
	page     models.Page
	status   models.Status
	approval models.Approval
	search   string
	ids      map[string]*int64
}

// readList parses r's list parameters; idNames are the id filters the route takes.
func readList(r *http.Request, idNames ...string) (*listQuery, error) {
	q := &listQuery{search: r.URL.Query().Get("q"), approval: models.Approval(r.URL.Query().Get("approval")),
		ids: map[string]*int64{}}
	var err error
	if q.page, err = page(r); err != nil {
		return nil, err
	}
	if q.status, err = status(r); err != nil {
		return nil, err
	}
	if q.approval != "" && !q.approval.Valid() {
		return nil, models.Invalid("approval", "approval = %q: must be pending, approved or rejected", q.approval)
	}
	for _, name := range idNames {
		if q.ids[name], err = queryID(r, name); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// listed answers a list route: the items of the page, or the error.
func listed[T any](items []T, err error, q *listQuery) (int, any, error) {
	return http.StatusOK, list(items, q.page), err
}

// createFrom decodes the body onto v (preset with the route's defaults), creates it and
// answers 201 with its Location.
func createFrom[T any](r *http.Request, a *models.Actor, v *T, create func(context.Context, *models.Actor, *T) error,
	location func(*T) string) (int, any, error) {
	if err := decodeBody(r, v); err != nil {
		return 0, nil, err
	}
	if err := create(ctx(r), a, v); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, created{location(v), v}, nil
}

func (h *API) listAdvertisers(r *http.Request, a *models.Actor) (int, any, error) {
	q, err := readList(r)
	if err != nil {
		return 0, nil, err
	}
	l, err := h.opt.Manage.ListAdvertisers(ctx(r), a, models.AdvertiserFilter{Status: q.status, Search: q.search, Page: q.page})
	return listed(l, err, q)
}

func (h *API) createAdvertiser(r *http.Request, a *models.Actor) (int, any, error) {
	return createFrom(r, a, &models.Advertiser{}, h.opt.Manage.CreateAdvertiser,
		func(v *models.Advertiser) string { return "/api/v1/advertisers/" + itoa(v.ID) })
}

func (h *API) getPostbackSecret(r *http.Request, a *models.Actor) (int, any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return 0, nil, err
	}
	s, err := h.opt.Manage.PostbackSecret(ctx(r), a, id)
	return http.StatusOK, secretBody{s}, err
}

func (h *API) rotatePostbackSecret(r *http.Request, a *models.Actor) (int, any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return 0, nil, err
	}
	s, err := h.opt.Manage.RotatePostbackSecret(ctx(r), a, id)
	return http.StatusOK, secretBody{s}, err
}

func (h *API) listCampaigns(r *http.Request, a *models.Actor) (int, any, error) {
	q, err := readList(r, "advertiser_id")
	if err != nil {
		return 0, nil, err
	}
	l, err := h.opt.Manage.ListCampaigns(ctx(r), a, models.CampaignFilter{AdvertiserID: q.ids["advertiser_id"],
		Status: q.status, Approval: q.approval, Search: q.search, Page: q.page})
	return listed(l, err, q)
}

func (h *API) createCampaign(r *http.Request, a *models.Actor) (int, any, error) {
	v := &models.Campaign{Tier: models.TierRemnant, Weight: 1, Pricing: models.PricingCPM, Pacing: models.PacingASAP}
	return createFrom(r, a, v, h.opt.Manage.CreateCampaign,
		func(v *models.Campaign) string { return "/api/v1/campaigns/" + itoa(v.ID) })
}

func (h *API) listCreatives(r *http.Request, a *models.Actor) (int, any, error) {
	q, err := readList(r, "campaign_id")
	if err != nil {
		return 0, nil, err
	}
	l, err := h.opt.Manage.ListCreatives(ctx(r), a, models.CreativeFilter{CampaignID: q.ids["campaign_id"],
		Status: q.status, Approval: q.approval, Search: q.search, Page: q.page})
	return listed(l, err, q)
}

func (h *API) createCreative(r *http.Request, a *models.Actor) (int, any, error) {
	return createFrom(r, a, &models.Creative{}, h.opt.Manage.CreateCreative,
		func(v *models.Creative) string { return "/api/v1/creatives/" + itoa(v.ID) })
}

func (h *API) listPublishers(r *http.Request, a *models.Actor) (int, any, error) {
	q, err := readList(r)
	if err != nil {
		return 0, nil, err
	}
	l, err := h.opt.Manage.ListPublishers(ctx(r), a, models.PublisherFilter{Status: q.status, Search: q.search, Page: q.page})
	return listed(l, err, q)
}

func (h *API) createPublisher(r *http.Request, a *models.Actor) (int, any, error) {
	return createFrom(r, a, &models.Publisher{RevenueShareBP: 7000}, h.opt.Manage.CreatePublisher,
		func(v *models.Publisher) string { return "/api/v1/publishers/" + itoa(v.ID) })
}

func (h *API) listSites(r *http.Request, a *models.Actor) (int, any, error) {
	q, err := readList(r, "publisher_id")
	if err != nil {
		return 0, nil, err
	}
	l, err := h.opt.Manage.ListSites(ctx(r), a, models.SiteFilter{PublisherID: q.ids["publisher_id"], Status: q.status,
		Search: q.search, Page: q.page})
	return listed(l, err, q)
}

func (h *API) createSite(r *http.Request, a *models.Actor) (int, any, error) {
	return createFrom(r, a, &models.Site{}, h.opt.Manage.CreateSite,
		func(v *models.Site) string { return "/api/v1/sites/" + itoa(v.ID) })
}

func (h *API) listZones(r *http.Request, a *models.Actor) (int, any, error) {
	q, err := readList(r, "site_id")
	if err != nil {
		return 0, nil, err
	}
	l, err := h.opt.Manage.ListZones(ctx(r), a, models.ZoneFilter{SiteID: q.ids["site_id"], Status: q.status,
		Search: q.search, Page: q.page})
	return listed(l, err, q)
}

func (h *API) createZone(r *http.Request, a *models.Actor) (int, any, error) {
	return createFrom(r, a, &models.Zone{}, h.opt.Manage.CreateZone,
		func(v *models.Zone) string { return "/api/v1/zones/" + itoa(v.ID) })
}

// zoneTag answers a zone's tag code; the query's parameters (at most 16) become the tag's
// targeting key-values.
func (h *API) zoneTag(r *http.Request, a *models.Actor) (int, any, error) {
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
	t, err := h.opt.Manage.ZoneTag(ctx(r), a, id, h.opt.BaseURL, kv)
	return http.StatusOK, t, err
}

func (h *API) listLinks(r *http.Request, a *models.Actor) (int, any, error) {
	q, err := readList(r, "zone_id", "campaign_id")
	if err != nil {
		return 0, nil, err
	}
	q.page = models.Page{Limit: 10000}
	l, err := h.opt.Manage.ListLinks(ctx(r), a, models.ZoneCampaignFilter{ZoneID: q.ids["zone_id"],
		CampaignID: q.ids["campaign_id"], Page: q.page})
	return listed(l, err, q)
}

// linkEnds reads the {zone} and {campaign} of a link route.
func linkEnds(r *http.Request) (l models.ZoneCampaign, err error) {
	if l.ZoneID, err = pathID(r, "zone"); err != nil {
		return l, err
	}
	l.CampaignID, err = pathID(r, "campaign")
	return l, err
}

func (h *API) linkCampaign(r *http.Request, a *models.Actor) (int, any, error) {
	l, err := linkEnds(r)
	if err != nil {
		return 0, nil, err
	}
	var b weightBody
	if err := decodeBody(r, &b); err != nil {
		return 0, nil, err
	}
	l.Weight = b.Weight
	return http.StatusOK, l, h.opt.Manage.LinkCampaign(ctx(r), a, &l)
}

func (h *API) unlinkCampaign(r *http.Request, a *models.Actor) (int, any, error) {
	l, err := linkEnds(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, h.opt.Manage.UnlinkCampaign(ctx(r), a, l.ZoneID, l.CampaignID)
}

func (h *API) listUsers(r *http.Request, a *models.Actor) (int, any, error) {
	q, err := readList(r)
	if err != nil {
		return 0, nil, err
	}
	l, err := h.opt.Manage.ListUsers(ctx(r), a, models.UserFilter{Role: models.Role(r.URL.Query().Get("role")),
		Search: q.search, Page: q.page})
	return listed(l, err, q)
}

func (h *API) addUser(r *http.Request, a *models.Actor) (int, any, error) {
	var b newUserBody
	if err := decodeBody(r, &b); err != nil {
		return 0, nil, err
	}
	nu, err := h.opt.Manage.AddUser(ctx(r), a, b.Email, b.Role, b.AccountID)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, created{"/api/v1/users/" + itoa(nu.User.ID), nu}, nil
}

func (h *API) deleteUser(r *http.Request, a *models.Actor) (int, any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, h.opt.Manage.DeleteUser(ctx(r), a, id)
}

func (h *API) listTokens(r *http.Request, a *models.Actor) (int, any, error) {
	l, err := h.opt.Manage.ListTokens(ctx(r), a)
	return http.StatusOK, list(l, models.Page{Limit: 1000}), err
}

func (h *API) createToken(r *http.Request, a *models.Actor) (int, any, error) {
	var b tokenBody
	if err := decodeBody(r, &b); err != nil {
		return 0, nil, err
	}
	nt, err := h.opt.Manage.CreateToken(ctx(r), a, b.Name)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, created{"/api/v1/tokens/" + itoa(nt.Info.ID), nt}, nil
}

func (h *API) revokeToken(r *http.Request, a *models.Actor) (int, any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, h.opt.Manage.RevokeToken(ctx(r), a, id)
}

func (h *API) listAudit(r *http.Request, a *models.Actor) (int, any, error) {
	q, err := readList(r, "entity_id", "user_id")
	if err != nil {
		return 0, nil, err
	}
	f := models.AuditFilter{Entity: r.URL.Query().Get("entity"), Page: q.page}
	if id := q.ids["entity_id"]; id != nil {
		f.EntityID = *id
	}
	if id := q.ids["user_id"]; id != nil {
		f.UserID = *id
	}
	l, err := h.opt.Manage.ListAudit(ctx(r), a, f)
	return listed(l, err, q)
}

// listFraudFlags is GET /api/v1/fraud-flags: the anomaly monitor's flags (admins; filters:
// status, entity_kind, entity_id).
func (h *API) listFraudFlags(r *http.Request, a *models.Actor) (int, any, error) {
	q, err := readList(r, "entity_id")
	if err != nil {
		return 0, nil, err
	}
	f := models.FraudFlagFilter{Status: r.URL.Query().Get("status"), EntityKind: r.URL.Query().Get("entity_kind"), Page: q.page}
	if id := q.ids["entity_id"]; id != nil {
		f.EntityID = *id
	}
	l, err := h.opt.Manage.ListFraudFlags(ctx(r), a, f)
	return listed(l, err, q)
}

// reviewFraudFlag confirms (restating the flag's period through the adjustment ledger) or
// dismisses an open flag.
func (h *API) reviewFraudFlag(confirm bool) apiHandler {
	return func(r *http.Request, a *models.Actor) (int, any, error) {
		id, err := pathID(r, "id")
		if err != nil {
			return 0, nil, err
		}
		v, err := h.opt.Manage.ReviewFraudFlag(ctx(r), a, id, confirm)
		return http.StatusOK, v, err
	}
}

// unconfirmFraudFlag withdraws a confirmation, reversing its restatement.
func (h *API) unconfirmFraudFlag(r *http.Request, a *models.Actor) (int, any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return 0, nil, err
	}
	v, err := h.opt.Manage.WithdrawFraudConfirmation(ctx(r), a, id)
	return http.StatusOK, v, err
}

// restateFraudFlag tops up a confirmed flag's restatement.
func (h *API) restateFraudFlag(r *http.Request, a *models.Actor) (int, any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return 0, nil, err
	}
	v, err := h.opt.Manage.RestateFraudFlag(ctx(r), a, id)
	return http.StatusOK, v, err
}

// statement is GET /api/v1/statements: month (YYYY-MM, default the current one), and for an
// admin advertiser or publisher; accounts get their own.
func (h *API) statement(r *http.Request, a *models.Actor) (int, any, error) {
	v := r.URL.Query()
	month := v.Get("month")
	if month == "" {
		month = time.Now().In(h.opt.Manage.Location()).Format("2006-01")
	}
	adv, err := positiveID(v, "advertiser")
	if err != nil {
		return 0, nil, err
	}
	pub, err := positiveID(v, "publisher")
	if err != nil {
		return 0, nil, err
	}
	st, err := h.opt.Manage.Statement(ctx(r), a, month, adv, pub)
	return http.StatusOK, st, err
}
