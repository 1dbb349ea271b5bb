package console

import (
	"net/http"
	"net/url"

	"adnet/internal/manage"
	"adnet/models"
)

// linksData is the links page (admin): every link with its effective share, and the
// campaigns and zones to link.
type linksData struct {
	Links     []manage.Link
	Campaigns map[int64]string
	Zones     map[int64]string
	CampList  []models.Campaign
	ZoneList  []models.Zone
}

func (c *Console) links(w http.ResponseWriter, r *http.Request, s *session) {
	c.renderLinks(w, r, s, http.StatusOK, url.Values{"campaign_id": {r.URL.Query().Get("campaign")}, "zone_id": {r.URL.Query().Get("zone")}, "weight": {"1"}}, nil)
}

func (c *Console) renderLinks(w http.ResponseWriter, r *http.Request, s *session, status int, v url.Values, formErr error) {
	if !s.actor.IsAdmin() {
		c.fail(w, r, s, models.Errorf(models.ENOTFOUND, "There is no such page."))
		return
	}
	d := linksData{Campaigns: map[int64]string{}, Zones: map[int64]string{}}
	var err error
	if d.Links, err = c.opt.Manage.ListLinks(ctx(r), s.actor, models.ZoneCampaignFilter{Page: models.Page{Limit: 1000}}); err != nil {
		c.fail(w, r, s, err)
		return
	}
	if d.CampList, err = c.opt.Manage.ListCampaigns(ctx(r), s.actor, models.CampaignFilter{Page: models.Page{Limit: 1000}}); err != nil {
		c.fail(w, r, s, err)
		return
	}
	if d.ZoneList, err = c.opt.Manage.ListZones(ctx(r), s.actor, models.ZoneFilter{Page: models.Page{Limit: 1000}}); err != nil {
		c.fail(w, r, s, err)
		return
	}
	for _, cp := range d.CampList {
		d.Campaigns[cp.ID] = cp.Name
	}
	for _, z := range d.ZoneList {
		d.Zones[z.ID] = z.Name
	}
	vw := &view{Title: "Zone links", Nav: "links", Notice: notice(r), Form: newForm(v, formErr), D: d}
	if formErr != nil {
		vw.Error = models.ErrorMessage(formErr)
	}
	c.render(w, r, s, status, "links", vw)
}

// link is POST /admin/links: link (or re-weight) a campaign in a zone; manage checks both ends.
func (c *Console) link(w http.ResponseWriter, r *http.Request, s *session) {
	var l models.ZoneCampaign
	var err error
	if l.CampaignID, err = formInt(r.PostForm, "campaign_id"); err == nil {
		if l.ZoneID, err = formInt(r.PostForm, "zone_id"); err == nil {
			var wgt int64
			if wgt, err = formInt(r.PostForm, "weight"); err == nil {
				l.Weight = int(wgt)
				err = c.opt.Manage.LinkCampaign(ctx(r), s.actor, &l)
			}
		}
	}
	if err != nil {
		if models.ErrorCode(err) == models.EFORBIDDEN {
			c.fail(w, r, s, hideForbidden(err))
			return
		}
		c.renderLinks(w, r, s, handlersStatus(err), r.PostForm, err)
		return
	}
	redirect(w, r, backTo(r, "/admin/links"), "linked")
}

// unlink is POST /admin/links/delete.
func (c *Console) unlink(w http.ResponseWriter, r *http.Request, s *session) {
	cid, err := formInt(r.PostForm, "campaign_id")
	if err == nil {
		var zid int64
		if zid, err = formInt(r.PostForm, "zone_id"); err == nil {
			err = c.opt.Manage.UnlinkCampaign(ctx(r), s.actor, zid, cid)
		}
	}
	if err != nil {
		c.fail(w, r, s, hideForbidden(err))
		return
	}
	redirect(w, r, backTo(r, "/admin/links"), "unlinked")
}
