package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"adnet/internal/manage"
	"adnet/models"
)

func (c *Console) advertisers(w http.ResponseWriter, r *http.Request, s *session) {
	if s.actor.Role == models.RoleAdvertiser {
		// An advertiser has one account: its page is the list.
		http.Redirect(w, r, "/admin/advertisers/"+strconv.FormatInt(s.actor.AdvertiserID, 10), http.StatusSeeOther)
		return
	}
	if !s.actor.IsAdmin() {
		c.fail(w, r, s, models.Errorf(models.ENOTFOUND, "There is no such page."))
		return
	}
	p := newPager(r)
	list, err := c.opt.Manage.ListAdvertisers(ctx(r), s.actor, models.AdvertiserFilter{Search: p.Q, Page: p.page()})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	list = list[:p.trim(len(list))]
	c.render(w, r, s, 0, "advertisers", &view{Title: "Advertisers", Nav: "advertisers", Notice: notice(r), D: struct {
		Advertisers []models.Advertiser
		Pager       *pager
	}{list, p}})
}

// advertiserData is the advertiser page: the account and its conversion setup.
type advertiserData struct {
	Advertiser *models.Advertiser
	Secret     string
	PixelCode  string
	Postback   string
}

func (c *Console) advertiserForm(w http.ResponseWriter, r *http.Request, s *session) {
	v := url.Values{"status": {"active"}}
	var d advertiserData
	if r.PathValue("id") != "" {
		id, err := pathID(r, "id")
		if err == nil {
			d.Advertiser, err = c.opt.Manage.GetAdvertiser(ctx(r), s.actor, id)
		}
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		v = url.Values{"name": {d.Advertiser.Name}, "status": {string(d.Advertiser.Status)}}
	} else if !s.actor.IsAdmin() {
		c.fail(w, r, s, models.Errorf(models.ENOTFOUND, "There is no such page."))
		return
	}
	c.renderAdvertiser(w, r, s, http.StatusOK, d, v, nil)
}

func (c *Console) renderAdvertiser(w http.ResponseWriter, r *http.Request, s *session, status int, d advertiserData, v url.Values, err error) {
	title := "New advertiser"
	if d.Advertiser != nil {
		title = d.Advertiser.Name
		d.Secret = d.Advertiser.PostbackSecret
		base := strings.TrimRight(c.opt.BaseURL, "/")
		d.PixelCode = `<img src="` + base + `/track/conv?type=pixel" width="1" height="1" alt="" style="display:none">`
		d.Postback = base + "/track/conv?click_id={click_id}&secret=" + d.Secret + "&payout=1.50"
	}
	vw := &view{Title: title, Nav: "advertisers", Notice: notice(r), Form: newForm(v, err), D: d}
	if err != nil {
		vw.Error = models.ErrorMessage(err)
	}
	c.render(w, r, s, status, "advertiser", vw)
}

func (c *Console) saveAdvertiser(w http.ResponseWriter, r *http.Request, s *session) {
	v := r.PostForm
	apply := func(a *models.Advertiser) error {
		a.Name, a.Status = strings.TrimSpace(v.Get("name")), models.Status(v.Get("status"))
		return nil
	}
	var d advertiserData
	var err error
	if r.PathValue("id") != "" {
		var id int64
		if id, err = pathID(r, "id"); err == nil {
			if d.Advertiser, err = c.opt.Manage.GetAdvertiser(ctx(r), s.actor, id); err == nil {
				_, err = c.opt.Manage.UpdateAdvertiser(ctx(r), s.actor, id, apply)
			}
		}
		if models.ErrorCode(err) == models.ENOTFOUND {
			c.fail(w, r, s, err)
			return
		}
	} else {
		a := &models.Advertiser{}
		_ = apply(a)
		if err = c.opt.Manage.CreateAdvertiser(ctx(r), s.actor, a); err == nil {
			d.Advertiser = a
		}
	}
	if err != nil {
		if models.ErrorCode(err) == models.EFORBIDDEN {
			c.fail(w, r, s, err)
			return
		}
		c.renderAdvertiser(w, r, s, handlersStatus(err), d, v, err)
		return
	}
	redirect(w, r, "/admin/advertisers/"+strconv.FormatInt(d.Advertiser.ID, 10), "advertiser-saved")
}

func (c *Console) rotateSecret(w http.ResponseWriter, r *http.Request, s *session) {
	id, err := pathID(r, "id")
	if err == nil {
		_, err = c.opt.Manage.RotatePostbackSecret(ctx(r), s.actor, id)
	}
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	redirect(w, r, "/admin/advertisers/"+strconv.FormatInt(id, 10), "secret-rotated")
}

func (c *Console) publishers(w http.ResponseWriter, r *http.Request, s *session) {
	if s.actor.Role == models.RolePublisher {
		http.Redirect(w, r, "/admin/publishers/"+strconv.FormatInt(s.actor.PublisherID, 10), http.StatusSeeOther)
		return
	}
	if !s.actor.IsAdmin() {
		c.fail(w, r, s, models.Errorf(models.ENOTFOUND, "There is no such page."))
		return
	}
	p := newPager(r)
	list, err := c.opt.Manage.ListPublishers(ctx(r), s.actor, models.PublisherFilter{Search: p.Q, Page: p.page()})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	list = list[:p.trim(len(list))]
	c.render(w, r, s, 0, "publishers", &view{Title: "Publishers", Nav: "publishers", Notice: notice(r), D: struct {
		Publishers []models.Publisher
		Pager      *pager
	}{list, p}})
}

func (c *Console) publisherForm(w http.ResponseWriter, r *http.Request, s *session) {
	v := url.Values{"status": {"active"}, "revenue_share_bp": {"7000"}}
	var pub *models.Publisher
	if r.PathValue("id") != "" {
		id, err := pathID(r, "id")
		if err == nil {
			pub, err = c.opt.Manage.GetPublisher(ctx(r), s.actor, id)
		}
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		v = url.Values{"name": {pub.Name}, "status": {string(pub.Status)}, "revenue_share_bp": {strconv.Itoa(pub.RevenueShareBP)}}
	} else if !s.actor.IsAdmin() {
		c.fail(w, r, s, models.Errorf(models.ENOTFOUND, "There is no such page."))
		return
	}
	c.renderPublisher(w, r, s, http.StatusOK, pub, v, nil)
}

// publisherData is the publisher page: the account and its sites.
type publisherData struct {
	Publisher *models.Publisher
	Sites     []models.Site
}

func (c *Console) renderPublisher(w http.ResponseWriter, r *http.Request, s *session, status int, pub *models.Publisher, v url.Values, err error) {
	d := publisherData{Publisher: pub}
	title := "New publisher"
	if pub != nil {
		title = pub.Name
		d.Sites, _ = c.opt.Manage.ListSites(ctx(r), s.actor, models.SiteFilter{PublisherID: &pub.ID, Page: models.Page{Limit: 200}})
	}
	vw := &view{Title: title, Nav: "publishers", Notice: notice(r), Form: newForm(v, err), D: d}
	if err != nil {
		vw.Error = models.ErrorMessage(err)
	}
	c.render(w, r, s, status, "publisher", vw)
}

func (c *Console) savePublisher(w http.ResponseWriter, r *http.Request, s *session) {
	v := r.PostForm
	apply := func(p *models.Publisher) error {
		p.Name, p.Status = strings.TrimSpace(v.Get("name")), models.Status(v.Get("status"))
		bp, err := formInt(v, "revenue_share_bp")
		p.RevenueShareBP = int(bp)
		return err
	}
	var pub *models.Publisher
	var err error
	if r.PathValue("id") != "" {
		var id int64
		if id, err = pathID(r, "id"); err == nil {
			if pub, err = c.opt.Manage.GetPublisher(ctx(r), s.actor, id); err == nil {
				_, err = c.opt.Manage.UpdatePublisher(ctx(r), s.actor, id, apply)
			}
		}
		if models.ErrorCode(err) == models.ENOTFOUND {
			c.fail(w, r, s, err)
			return
		}
	} else {
		p := &models.Publisher{}
		if err = apply(p); err == nil {
			if err = c.opt.Manage.CreatePublisher(ctx(r), s.actor, p); err == nil {
				pub = p
			}
		}
	}
	if err != nil {
		if models.ErrorCode(err) == models.EFORBIDDEN {
			c.fail(w, r, s, err)
			return
		}
		c.renderPublisher(w, r, s, handlersStatus(err), pub, v, err)
		return
	}
	redirect(w, r, "/admin/publishers/"+strconv.FormatInt(pub.ID, 10), "publisher-saved")
}

func (c *Console) sites(w http.ResponseWriter, r *http.Request, s *session) {
	if !s.actor.IsAdmin() && s.actor.Role != models.RolePublisher {
		c.fail(w, r, s, models.Errorf(models.ENOTFOUND, "There is no such page."))
		return
	}
	p := newPager(r)
	list, err := c.opt.Manage.ListSites(ctx(r), s.actor, models.SiteFilter{Search: p.Q, Page: p.page()})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	list = list[:p.trim(len(list))]
	c.render(w, r, s, 0, "sites", &view{Title: "Sites", Nav: "sites", Notice: notice(r), D: struct {
		Sites []models.Site
		Pager *pager
	}{list, p}})
}

// siteData is the site page: the site and its zones.
type siteData struct {
	Site  *models.Site
	Zones []models.Zone
}

func (c *Console) siteForm(w http.ResponseWriter, r *http.Request, s *session) {
	v := url.Values{"status": {"active"}, "publisher_id": {r.URL.Query().Get("publisher")}}
	var d siteData
	if r.PathValue("id") != "" {
		id, err := pathID(r, "id")
		if err == nil {
			d.Site, err = c.opt.Manage.GetSite(ctx(r), s.actor, id)
		}
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		v = url.Values{"name": {d.Site.Name}, "domain": {d.Site.Domain}, "status": {string(d.Site.Status)}}
		d.Zones, _ = c.opt.Manage.ListZones(ctx(r), s.actor, models.ZoneFilter{SiteID: &id, Page: models.Page{Limit: 200}})
	} else if !s.actor.IsAdmin() && s.actor.Role != models.RolePublisher {
		c.fail(w, r, s, models.Errorf(models.ENOTFOUND, "There is no such page."))
		return
	}
	c.renderSite(w, r, s, http.StatusOK, d, v, nil)
}

func (c *Console) renderSite(w http.ResponseWriter, r *http.Request, s *session, status int, d siteData, v url.Values, err error) {
	title := "New site"
	if d.Site != nil {
		title = d.Site.Name
	}
	vw := &view{Title: title, Nav: "sites", Notice: notice(r), Form: newForm(v, err), D: d}
	if err != nil {
		vw.Error = models.ErrorMessage(err)
	}
	c.render(w, r, s, status, "site", vw)
}

func (c *Console) saveSite(w http.ResponseWriter, r *http.Request, s *session) {
	v := r.PostForm
	apply := func(st *models.Site) error {
		st.Name, st.Domain, st.Status = strings.TrimSpace(v.Get("name")), strings.TrimSpace(v.Get("domain")), models.Status(v.Get("status"))
		return nil
	}
	var d siteData
	var err error
	if r.PathValue("id") != "" {
		var id int64
		if id, err = pathID(r, "id"); err == nil {
			if d.Site, err = c.opt.Manage.GetSite(ctx(r), s.actor, id); err == nil {
				_, err = c.opt.Manage.UpdateSite(ctx(r), s.actor, id, apply)
			}
		}
		if models.ErrorCode(err) == models.ENOTFOUND {
			c.fail(w, r, s, err)
			return
		}
	} else {
		st := &models.Site{}
		_ = apply(st)
		if st.PublisherID, err = formInt(v, "publisher_id"); err == nil {
			if err = c.opt.Manage.CreateSite(ctx(r), s.actor, st); err == nil {
				d.Site = st
			}
		}
	}
	if err != nil {
		if models.ErrorCode(err) == models.EFORBIDDEN {
			c.fail(w, r, s, err)
			return
		}
		c.renderSite(w, r, s, handlersStatus(err), d, v, err)
		return
	}
	redirect(w, r, "/admin/sites/"+strconv.FormatInt(d.Site.ID, 10), "site-saved")
}

func (c *Console) zones(w http.ResponseWriter, r *http.Request, s *session) {
	if !s.actor.IsAdmin() && s.actor.Role != models.RolePublisher {
		c.fail(w, r, s, models.Errorf(models.ENOTFOUND, "There is no such page."))
		return
	}
	p := newPager(r)
	list, err := c.opt.Manage.ListZones(ctx(r), s.actor, models.ZoneFilter{Search: p.Q, Page: p.page()})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	list = list[:p.trim(len(list))]
	c.render(w, r, s, 0, "zones", &view{Title: "Zones", Nav: "zones", Notice: notice(r), D: struct {
		Zones []models.Zone
		Pager *pager
	}{list, p}})
}

// zoneData is the zone page: the zone, its tag code (with the key-values asked for) and its
// links with each campaign's effective share.
type zoneData struct {
	Campaigns map[int64]string // admins: the linked campaigns' names
	Zone      *models.Zone
	Tag       *manage.TagCode
	KV        string
	Links     []manage.Link
	Sizes     []models.Size
}

func (c *Console) zoneForm(w http.ResponseWriter, r *http.Request, s *session) {
	v := url.Values{"status": {"active"}, "site_id": {r.URL.Query().Get("site")}, "width": {"300"}, "height": {"250"}}
	var d zoneData
	if r.PathValue("id") != "" {
		id, err := pathID(r, "id")
		if err == nil {
			d.Zone, err = c.opt.Manage.GetZone(ctx(r), s.actor, id)
		}
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		v = url.Values{"name": {d.Zone.Name}, "status": {string(d.Zone.Status)}, "site_id": {strconv.FormatInt(d.Zone.SiteID, 10)},
			"width": {strconv.Itoa(d.Zone.Width)}, "height": {strconv.Itoa(d.Zone.Height)}}
	} else if !s.actor.IsAdmin() && s.actor.Role != models.RolePublisher {
		c.fail(w, r, s, models.Errorf(models.ENOTFOUND, "There is no such page."))
		return
	}
	c.renderZone(w, r, s, http.StatusOK, d, v, nil)
}

// keyValues parses "k=v, k2=v2" (the tag's optional targeting key-values).
func keyValues(s string) map[string]string {
	kv := map[string]string{}
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '&' || r == '\n' }) {
		if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.TrimSpace(k) != "" {
			kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return kv
}

func (c *Console) renderZone(w http.ResponseWriter, r *http.Request, s *session, status int, d zoneData, v url.Values, err error) {
	title := "New zone"
	d.Sizes = models.IABSizes
	if d.Zone != nil {
		title = d.Zone.Name
		d.KV = r.URL.Query().Get("kv")
		d.Tag, _ = c.opt.Manage.ZoneTag(ctx(r), s.actor, d.Zone.ID, c.opt.BaseURL, keyValues(d.KV))
		d.Links, _ = c.opt.Manage.ListLinks(ctx(r), s.actor, models.ZoneCampaignFilter{ZoneID: &d.Zone.ID})
		d.Campaigns = map[int64]string{}
		for _, l := range d.Links {
			if cp, err := c.opt.Manage.GetCampaign(ctx(r), s.actor, l.CampaignID); err == nil {
				d.Campaigns[cp.ID] = cp.Name
			}
		}
	}
	vw := &view{Title: title, Nav: "zones", Notice: notice(r), Form: newForm(v, err), D: d}
	if err != nil {
		vw.Error = models.ErrorMessage(err)
	}
	c.render(w, r, s, status, "zone", vw)
}

func (c *Console) saveZone(w http.ResponseWriter, r *http.Request, s *session) {
	v := r.PostForm
	apply := func(z *models.Zone) error {
		z.Name, z.Status = strings.TrimSpace(v.Get("name")), models.Status(v.Get("status"))
		for _, f := range []struct {
			name string
			to   *int
		}{{"width", &z.Width}, {"height", &z.Height}} {
			n, err := formInt(v, f.name)
			if err != nil {
				return err
			}
			*f.to = int(n)
		}
		return nil
	}
	var d zoneData
	var err error
	if r.PathValue("id") != "" {
		var id int64
		if id, err = pathID(r, "id"); err == nil {
			if d.Zone, err = c.opt.Manage.GetZone(ctx(r), s.actor, id); err == nil {
				_, err = c.opt.Manage.UpdateZone(ctx(r), s.actor, id, apply)
			}
		}
		if models.ErrorCode(err) == models.ENOTFOUND {
			c.fail(w, r, s, err)
			return
		}
	} else {
		z := &models.Zone{}
		if err = apply(z); err == nil {
			if z.SiteID, err = formInt(v, "site_id"); err == nil {
				if err = c.opt.Manage.CreateZone(ctx(r), s.actor, z); err == nil {
					d.Zone = z
				}
			}
		}
	}
	if err != nil {
		if models.ErrorCode(err) == models.EFORBIDDEN {
			c.fail(w, r, s, err)
			return
		}
		c.renderZone(w, r, s, handlersStatus(err), d, v, err)
		return
	}
	redirect(w, r, "/admin/zones/"+strconv.FormatInt(d.Zone.ID, 10), "zone-saved")
}
