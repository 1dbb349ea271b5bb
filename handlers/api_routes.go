package handlers

import (
	"context"
	"net/http"
	"strconv"

	"adnet/internal/manage"
	"adnet/models"
)

// apiRoute is one endpoint: its method and path (net/http pattern syntax), its documentation,
// the Go types of its request and answer bodies (for the OpenAPI document), the statuses it
// answers besides the common errors, and the handler.
type apiRoute struct {
	Method, Path string
	Summary      string
	Request      any   // a value of the request body's type; nil: no body
	Response     any   // a value of the answer body's type; nil: no body
	Statuses     []int // success statuses
	handle       apiHandler
}

// apiRoutes is the API: every route, its documentation and its handler. Handlers decode,
// make one call to manage.Service (which decides what the actor may do) and return.
func (h *API) apiRoutes() []apiRoute {
	m := h.opt.Manage
	ok, made, gone := []int{http.StatusOK}, []int{http.StatusCreated}, []int{http.StatusNoContent}
	return []apiRoute{
		{"GET", "/api/v1/me", "The signed-in user and account.", nil, meBody{}, ok, h.me},

		{"GET", "/api/v1/advertisers", "List advertisers (admin: all; advertiser: its own).", nil, listBody[models.Advertiser]{}, ok, h.listAdvertisers},
		{"POST", "/api/v1/advertisers", "Create an advertiser (admin).", models.Advertiser{}, models.Advertiser{}, made, h.createAdvertiser},
		{"GET", "/api/v1/advertisers/{id}", "Get an advertiser.", nil, models.Advertiser{}, ok, getByID(m.GetAdvertiser)},
		{"PATCH", "/api/v1/advertisers/{id}", "Change an advertiser (admin: all; advertiser: its name).", models.Advertiser{}, models.Advertiser{}, ok, patchByID(m.UpdateAdvertiser)},
		{"GET", "/api/v1/advertisers/{id}/postback-secret", "The advertiser's postback secret (conversion setup).", nil, secretBody{}, ok, h.getPostbackSecret},
		{"POST", "/api/v1/advertisers/{id}/postback-secret", "Replace the postback secret with a new one.", nil, secretBody{}, ok, h.rotatePostbackSecret},

		{"GET", "/api/v1/campaigns", "List campaigns (filters: advertiser_id, status, approval, q).", nil, listBody[models.Campaign]{}, ok, h.listCampaigns},
		{"POST", "/api/v1/campaigns", "Create a campaign (an advertiser's waits for approval).", models.Campaign{}, models.Campaign{}, made, h.createCampaign},
		{"GET", "/api/v1/campaigns/{id}", "Get a campaign.", nil, models.Campaign{}, ok, getByID(m.GetCampaign)},
		{"PATCH", "/api/v1/campaigns/{id}", "Change a campaign.", models.Campaign{}, models.Campaign{}, ok, patchByID(m.UpdateCampaign)},
		{"POST", "/api/v1/campaigns/{id}/approve", "Approve a campaign (admin).", nil, models.Campaign{}, ok, reviewByID(m.ReviewCampaign, true)},
		{"POST", "/api/v1/campaigns/{id}/reject", "Reject a campaign with a reason (admin).", reasonBody{}, models.Campaign{}, ok, reviewByID(m.ReviewCampaign, false)},
		{"GET", "/api/v1/campaigns/{id}/delivery", "Delivery today and over the campaign's life against its limits.", nil, manage.Delivery{}, ok, getByID(m.Delivery)},

		{"GET", "/api/v1/creatives", "List creatives (filters: campaign_id, status, approval, q).", nil, listBody[models.Creative]{}, ok, h.listCreatives},
		{"POST", "/api/v1/creatives", "Create a creative (an advertiser's waits for approval).", models.Creative{}, models.Creative{}, made, h.createCreative},
		{"GET", "/api/v1/creatives/{id}", "Get a creative.", nil, models.Creative{}, ok, getByID(m.GetCreative)},
		{"PATCH", "/api/v1/creatives/{id}", "Change a creative (an advertiser's content change waits for approval again).", models.Creative{}, models.Creative{}, ok, patchByID(m.UpdateCreative)},
		{"POST", "/api/v1/creatives/{id}/approve", "Approve a creative (admin).", nil, models.Creative{}, ok, reviewByID(m.ReviewCreative, true)},
		{"POST", "/api/v1/creatives/{id}/reject", "Reject a creative with a reason (admin).", reasonBody{}, models.Creative{}, ok, reviewByID(m.ReviewCreative, false)},
		{"POST", "/api/v1/uploads", "Upload a creative image (multipart field \"file\"; PNG, JPEG, GIF or WebP by content).", nil, UploadResult{}, made, h.upload},

		{"GET", "/api/v1/publishers", "List publishers (admin: all; publisher: its own).", nil, listBody[models.Publisher]{}, ok, h.listPublishers},
		{"POST", "/api/v1/publishers", "Create a publisher (admin).", models.Publisher{}, models.Publisher{}, made, h.createPublisher},
		{"GET", "/api/v1/publishers/{id}", "Get a publisher.", nil, models.Publisher{}, ok, getByID(m.GetPublisher)},
		{"PATCH", "/api/v1/publishers/{id}", "Change a publisher (admin: all; publisher: its name).", models.Publisher{}, models.Publisher{}, ok, patchByID(m.UpdatePublisher)},

		{"GET", "/api/v1/sites", "List sites (filters: publisher_id, status, q).", nil, listBody[models.Site]{}, ok, h.listSites},
		{"POST", "/api/v1/sites", "Create a site.", models.Site{}, models.Site{}, made, h.createSite},
		{"GET", "/api/v1/sites/{id}", "Get a site.", nil, models.Site{}, ok, getByID(m.GetSite)},
		{"PATCH", "/api/v1/sites/{id}", "Change a site.", models.Site{}, models.Site{}, ok, patchByID(m.UpdateSite)},

		{"GET", "/api/v1/zones", "List zones (filters: site_id, status, q).", nil, listBody[models.Zone]{}, ok, h.listZones},
		{"POST", "/api/v1/zones", "Create a zone on a site.", models.Zone{}, models.Zone{}, made, h.createZone},
		{"GET", "/api/v1/zones/{id}", "Get a zone.", nil, models.Zone{}, ok, getByID(m.GetZone)},
		{"PATCH", "/api/v1/zones/{id}", "Change a zone.", models.Zone{}, models.Zone{}, ok, patchByID(m.UpdateZone)},
		{"GET", "/api/v1/zones/{id}/tag", "The zone's tag code (query parameters become targeting key-values).", nil, manage.TagCode{}, ok, h.zoneTag},

		{"GET", "/api/v1/links", "Campaign ↔ zone links with each campaign's effective share (filters: zone_id, campaign_id).", nil, listBody[manage.Link]{}, ok, h.listLinks},
		{"PUT", "/api/v1/zones/{zone}/campaigns/{campaign}", "Link a campaign to a zone, or change the link's weight (admin).", weightBody{}, models.ZoneCampaign{}, ok, h.linkCampaign},
		{"DELETE", "/api/v1/zones/{zone}/campaigns/{campaign}", "Unlink a campaign from a zone (admin).", nil, nil, gone, h.unlinkCampaign},

		{"GET", "/api/v1/users", "List users (admin: all; others: themselves).", nil, listBody[models.User]{}, ok, h.listUsers},
		{"POST", "/api/v1/users", "Add a user with a generated password, shown once (admin).", newUserBody{}, manage.NewUser{}, made, h.addUser},
		{"GET", "/api/v1/users/{id}", "Get a user.", nil, models.User{}, ok, getByID(m.GetUser)},
		{"DELETE", "/api/v1/users/{id}", "Delete a user with its sessions and tokens (admin).", nil, nil, gone, h.deleteUser},

		{"GET", "/api/v1/tokens", "Your API tokens (never their secrets).", nil, listBody[models.APIToken]{}, ok, h.listTokens},
		{"POST", "/api/v1/tokens", "Create an API token for yourself; the token is shown once.", tokenBody{}, manage.NewToken{}, made, h.createToken},
		{"DELETE", "/api/v1/tokens/{id}", "Revoke one of your API tokens.", nil, nil, gone, h.revokeToken},

		{"GET", "/api/v1/reports", "Statistics (see the README): from, to, group_by, advertiser, publisher, format=json|csv.", nil, ReportResponse{}, ok, h.report},
		{"GET", "/api/v1/statements", "Monthly statement from the restated figures: an advertiser's spend or a publisher's earnings per campaign or zone (month=YYYY-MM; admin: advertiser or publisher).", nil, models.Statement{}, ok, h.statement},
		{"GET", "/api/v1/fraud-flags", "The anomaly monitor's fraud flags, newest first (admin; filters: status, entity_kind, entity_id).", nil, listBody[models.FraudFlag]{}, ok, h.listFraudFlags},
		{"POST", "/api/v1/fraud-flags/{id}/confirm", "Confirm an open flag (admin): its period's billed events are restated as invalid (SIVT) through the adjustment ledger.", nil, manage.FlagReview{}, ok, h.reviewFraudFlag(true)},
		{"POST", "/api/v1/fraud-flags/{id}/dismiss", "Dismiss an open flag as a false alarm (admin): resumes the zone it auto-paused.", nil, manage.FlagReview{}, ok, h.reviewFraudFlag(false)},
		{"POST", "/api/v1/fraud-flags/{id}/unconfirm", "Withdraw a confirmation (admin): the flag becomes dismissed and the ledger gets the reverse of its entries.", nil, manage.FlagReview{}, ok, h.unconfirmFraudFlag},
		{"POST", "/api/v1/fraud-flags/{id}/restate", "Restate a confirmed flag's period again (admin): the events counted since the confirmation; nothing if there are none.", nil, models.Restatement{}, ok, h.restateFraudFlag},
		{"GET", "/api/v1/audit", "The audit log, newest first (admin; filters: entity, entity_id, user_id).", nil, listBody[models.AuditEntry]{}, ok, h.listAudit},
	}
}

// Bodies of the API that are not domain types.
type (
	meBody struct {
		UserID       int64       `json:"user_id"`
		Email        string      `json:"email"`
		Role         models.Role `json:"role"`
		AdvertiserID int64       `json:"advertiser_id,omitempty"`
		PublisherID  int64       `json:"publisher_id,omitempty"`
	}
	secretBody struct {
		PostbackSecret string `json:"postback_secret"`
	}
	reasonBody struct {
		Reason string `json:"reason"`
	}
	weightBody struct {
		Weight int `json:"weight"`
	}
	newUserBody struct {
		Email     string      `json:"email"`
		Role      models.Role `json:"role"`
		AccountID int64       `json:"account_id"` // the advertiser or publisher id; 0 for an admin
	}
	tokenBody struct {
		Name string `json:"name"`
	}
)

func (h *API) me(r *http.Request, a *models.Actor) (int, any, error) {
	return http.StatusOK, meBody{UserID: a.UserID, Email: a.Email, Role: a.Role, AdvertiserID: a.AdvertiserID, PublisherID: a.PublisherID}, nil
}

// getByID is a GET of one object by its {id}.
func getByID[T any](get func(ctx2 context.Context, a *models.Actor, id int64) (*T, error)) apiHandler {
	return func(r *http.Request, a *models.Actor) (int, any, error) {
		id, err := pathID(r, "id")
		if err != nil {
			return 0, nil, err
		}
		v, err := get(ctx(r), a, id)
		return http.StatusOK, v, err
	}
}

// patchByID is a PATCH of one object by its {id}: the body's fields change, others stay.
func patchByID[T any](update func(ctx2 context.Context, a *models.Actor, id int64, edit func(*T) error) (*T, error)) apiHandler {
	return func(r *http.Request, a *models.Actor) (int, any, error) {
		id, err := pathID(r, "id")
		if err != nil {
			return 0, nil, err
		}
		edit, err := patch[T](r)
		if err != nil {
			return 0, nil, err
		}
		v, err := update(ctx(r), a, id, edit)
		return http.StatusOK, v, err
	}
}

// reviewByID approves or rejects (with the body's reason) one object by its {id}.
func reviewByID[T any](review func(ctx2 context.Context, a *models.Actor, id int64, approve bool, reason string) (*T, error), approve bool) apiHandler {
	return func(r *http.Request, a *models.Actor) (int, any, error) {
		id, err := pathID(r, "id")
		if err != nil {
			return 0, nil, err
		}
		var b reasonBody
		if !approve {
			if err := decodeBody(r, &b); err != nil {
				return 0, nil, err
			}
		}
		v, err := review(ctx(r), a, id, approve, b.Reason)
		return http.StatusOK, v, err
	}
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }
