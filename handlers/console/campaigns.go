package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"adnet/internal/manage"
	"adnet/models"
)

func (c *Console) campaigns(w http.ResponseWriter, r *http.Request, s *session) {
	if !s.actor.IsAdmin() && s.actor.Role != models.RoleAdvertiser {
		c.fail(w, r, s, models.Errorf(models.ENOTFOUND, "There is no such page."))
		return
	}
	p := newPager(r)
	list, err := c.opt.Manage.ListCampaigns(ctx(r), s.actor, models.CampaignFilter{Search: p.Q, Page: p.page()})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	list = list[:p.trim(len(list))]
	c.render(w, r, s, 0, "campaigns", &view{Title: "Campaigns", Nav: "campaigns", Notice: notice(r), D: struct {
		Campaigns   []models.Campaign
		Pager       *pager
		Advertisers map[int64]string
	}{list, p, c.advertiserNames(r, s)}})
}

// campaignValues is a campaign as form values.
func campaignValues(cp *models.Campaign) url.Values {
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	v := url.Values{
		"name": {cp.Name}, "advertiser_id": {i(cp.AdvertiserID)}, "status": {string(cp.Status)}, "tier": {cp.Tier.String()},
		"weight": {strconv.Itoa(cp.Weight)}, "pricing": {string(cp.Pricing)}, "rate": {formatMicros(cp.RateMicros)},
		"pacing": {string(cp.Pacing)}, "freq_cap": {strconv.Itoa(cp.FreqCap)}, "freq_window": {durationText(cp.FreqWindow)},
		"conversion_window": {durationText(cp.ConversionWindow)}, "countries": {strings.Join(cp.Targeting.Countries, ", ")},
		"devices": cp.Targeting.Devices,
	}
	for _, l := range []struct {
		pre string
		lim models.Limits
	}{{"daily_", cp.Daily}, {"lifetime_", cp.Lifetime}} {
		v.Set(l.pre+"impressions", i(l.lim.Impressions))
		v.Set(l.pre+"clicks", i(l.lim.Clicks))
		v.Set(l.pre+"spend", formatMicros(l.lim.SpendMicros))
	}
	if cp.StartAt != nil {
		v.Set("start_at", cp.StartAt.Format(time.DateOnly))
	}
	if cp.EndAt != nil {
		v.Set("end_at", cp.EndAt.Format(time.DateOnly))
	}
	return v
}

func durationText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return strings.TrimSuffix(strings.TrimSuffix(d.String(), "0s"), "0m")
}

// applyCampaign reads the form into cp (the fields the form shows; the rest stay).
func (c *Console) applyCampaign(v url.Values, cp *models.Campaign) error {
	var err error
	cp.Name = strings.TrimSpace(v.Get("name"))
	cp.Status = models.Status(v.Get("status"))
	if cp.Tier, err = models.ParseTier(v.Get("tier")); err != nil {
		return err
	}
	w, err := formInt(v, "weight")
	if err != nil {
		return err
	}
	cp.Weight = int(w)
	cp.Pricing, cp.Pacing = models.PricingModel(v.Get("pricing")), models.Pacing(v.Get("pacing"))
	if cp.RateMicros, err = formMoney(v, "rate"); err != nil {
		return err
	}
	for _, l := range []struct {
		pre string
		lim *models.Limits
	}{{"daily_", &cp.Daily}, {"lifetime_", &cp.Lifetime}} {
		if l.lim.Impressions, err = formInt(v, l.pre+"impressions"); err != nil {
			return err
		}
		if l.lim.Clicks, err = formInt(v, l.pre+"clicks"); err != nil {
			return err
		}
		if l.lim.SpendMicros, err = formMoney(v, l.pre+"spend"); err != nil {
			return err
		}
	}
	fc, err := formInt(v, "freq_cap")
	if err != nil {
		return err
	}
	cp.FreqCap = int(fc)
	for _, d := range []struct {
		name string
		to   *time.Duration
	}{{"freq_window", &cp.FreqWindow}, {"conversion_window", &cp.ConversionWindow}} {
		*d.to = 0
		if s := strings.TrimSpace(v.Get(d.name)); s != "" {
			if *d.to, err = time.ParseDuration(s); err != nil {
				return models.Invalid(d.name, "Enter a duration such as 24h or 30m.")
			}
		}
	}
	for _, d := range []struct {
		name string
		to   **time.Time
	}{{"start_at", &cp.StartAt}, {"end_at", &cp.EndAt}} {
		*d.to = nil
		if s := strings.TrimSpace(v.Get(d.name)); s != "" {
			t, err := time.ParseInLocation(time.DateOnly, s, c.opt.Manage.Location())
			if err != nil {
				return models.Invalid(d.name, "Enter a date as YYYY-MM-DD.")
			}
			*d.to = &t
		}
	}
	cp.Targeting.Countries = formList(v, "countries")
	cp.Targeting.Devices = v["devices"]
	return nil
}

// campaignFormData is the campaign form's extra data: the advertisers an admin chooses from.
type campaignFormData struct {
	ID          int64
	Advertisers []models.Advertiser
	Devices     []string
}

func (c *Console) campaignForm(w http.ResponseWriter, r *http.Request, s *session) {
	v := url.Values{"status": {"active"}, "tier": {"remnant"}, "weight": {"1"}, "pricing": {"cpm"}, "pacing": {"asap"}, "rate": {"1.00"}}
	var id int64
	if r.PathValue("id") != "" {
		var err error
		if id, err = pathID(r, "id"); err != nil {
			c.fail(w, r, s, err)
			return
		}
		cp, err := c.opt.Manage.GetCampaign(ctx(r), s.actor, id)
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		v = campaignValues(cp)
	} else if s.actor.Role != models.RoleAdmin && s.actor.Role != models.RoleAdvertiser {
		c.fail(w, r, s, models.Errorf(models.ENOTFOUND, "There is no such page."))
		return
	}
	c.renderCampaignForm(w, r, s, http.StatusOK, id, v, nil)
}

func (c *Console) renderCampaignForm(w http.ResponseWriter, r *http.Request, s *session, status int, id int64, v url.Values, err error) {
	d := campaignFormData{ID: id, Devices: models.TargetDevices}
	if s.actor.IsAdmin() && id == 0 {
		d.Advertisers, _ = c.opt.Manage.ListAdvertisers(ctx(r), s.actor, models.AdvertiserFilter{Page: models.Page{Limit: 1000}})
	}
	title := "New campaign"
	if id != 0 {
		title = "Edit campaign " + v.Get("name")
	}
	vw := &view{Title: title, Nav: "campaigns", Form: newForm(v, err), D: d}
	if err != nil {
		vw.Error = models.ErrorMessage(err)
	}
	c.render(w, r, s, status, "campaign_form", vw)
}

func (c *Console) saveCampaign(w http.ResponseWriter, r *http.Request, s *session) {
	v := r.PostForm
	var id int64
	var err error
	if r.PathValue("id") != "" {
		if id, err = pathID(r, "id"); err != nil {
			c.fail(w, r, s, err)
			return
		}
		_, err = c.opt.Manage.UpdateCampaign(ctx(r), s.actor, id, func(cp *models.Campaign) error { return c.applyCampaign(v, cp) })
		if models.ErrorCode(err) == models.ENOTFOUND {
			c.fail(w, r, s, err)
			return
		}
	} else {
		cp := &models.Campaign{}
		if err = c.applyCampaign(v, cp); err == nil {
			if cp.AdvertiserID, err = formInt(v, "advertiser_id"); err == nil {
				err = c.opt.Manage.CreateCampaign(ctx(r), s.actor, cp)
				id = cp.ID
			}
		}
	}
	if err != nil {
		if models.ErrorCode(err) == models.EFORBIDDEN {
			c.fail(w, r, s, err)
			return
		}
		c.renderCampaignForm(w, r, s, handlersStatus(err), id, v, err)
		return
	}
	redirect(w, r, "/admin/campaigns/"+strconv.FormatInt(id, 10), "campaign-saved")
}

// campaignData is the campaign page: the campaign, its delivery, creatives, links with their
// effective shares, and its report over the last days.
type campaignData struct {
	Campaign  *models.Campaign
	Delivery  *manage.Delivery
	Creatives []models.Creative
	Links     []manage.Link
	Zones     map[int64]string
	Chart     *chart
	Report    *models.Report
}

func (c *Console) campaign(w http.ResponseWriter, r *http.Request, s *session) {
	id, err := pathID(r, "id")
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	cp, err := c.opt.Manage.GetCampaign(ctx(r), s.actor, id)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d := campaignData{Campaign: cp, Zones: map[int64]string{}}
	if d.Delivery, err = c.opt.Manage.Delivery(ctx(r), s.actor, id); err != nil {
		c.fail(w, r, s, err)
		return
	}
	if d.Creatives, err = c.opt.Manage.ListCreatives(ctx(r), s.actor, models.CreativeFilter{CampaignID: &id, Page: models.Page{Limit: 200}}); err != nil {
		c.fail(w, r, s, err)
		return
	}
	if d.Links, err = c.opt.Manage.ListLinks(ctx(r), s.actor, models.ZoneCampaignFilter{CampaignID: &id}); err != nil {
		c.fail(w, r, s, err)
		return
	}
	if s.actor.IsAdmin() {
		for _, l := range d.Links {
			if z, err := c.opt.Manage.GetZone(ctx(r), s.actor, l.ZoneID); err == nil {
				d.Zones[z.ID] = z.Name
			}
		}
	}
	d.Report, d.Chart, err = c.campaignReport(r, s, cp)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, s, 0, "campaign", &view{Title: cp.Name, Nav: "campaigns", Notice: notice(r), D: d})
}

// campaignReport is the campaign's daily report over the last 14 days (from the rollups),
// and its chart.
func (c *Console) campaignReport(r *http.Request, s *session, cp *models.Campaign) (*models.Report, *chart, error) {
	loc := c.opt.Manage.Location()
	now := c.opt.Now().In(loc)
	to := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, loc)
	rep, err := c.opt.Manage.Report(ctx(r), s.actor, models.ReportQuery{From: to.AddDate(0, 0, -14), To: to,
		GroupBy: []string{models.GroupDay, models.GroupCampaign}, AdvertiserID: cp.AdvertiserID})
	if err != nil {
		return nil, nil, err
	}
	rows := rep.Rows[:0:0]
	var tot models.ReportMetrics
	for _, row := range rep.Rows {
		if row.CampaignID == cp.ID {
			rows = append(rows, row)
			tot.Add(&row.ReportMetrics)
		}
	}
	tot.Derive()
	rep.Rows, rep.Totals, rep.GroupBy = rows, tot, []string{models.GroupDay}
	return rep, newChart(rep, rep.From, rep.To, loc, "Spend"), nil
}

func (c *Console) reviewCampaign(w http.ResponseWriter, r *http.Request, s *session) {
	c.review(w, r, s, "campaign", func(id int64, approve bool, reason string) error {
		_, err := c.opt.Manage.ReviewCampaign(ctx(r), s.actor, id, approve, reason)
		return err
	})
}

// review answers an approval form of the queue: approve, or reject with the form's reason; a
// missing reason shows the queue again with the message.
func (c *Console) review(w http.ResponseWriter, r *http.Request, s *session, kind string, decide func(id int64, approve bool, reason string) error) {
	id, err := pathID(r, "id")
	if err == nil {
		err = decide(id, r.PostFormValue("decision") == "approve", r.PostFormValue("reason"))
	}
	if err != nil {
		if models.ErrorCode(err) == models.EINVALID {
			c.renderApprovals(w, r, s, http.StatusBadRequest, err)
			return
		}
		c.fail(w, r, s, err)
		return
	}
	redirect(w, r, backTo(r, "/admin/approvals"), kind+"-"+decided(r))
}

// backTo is the form's "back" field when it is a console path, else def.
func backTo(r *http.Request, def string) string {
	b := r.PostFormValue("back")
	if strings.HasPrefix(b, "/admin/") && !strings.HasPrefix(b, "//") {
		return b
	}
	return def
}

// approvalsData is the approval queue: pending campaigns and creatives.
type approvalsData struct {
	Campaigns []models.Campaign
	Creatives []models.Creative
}

func (c *Console) approvals(w http.ResponseWriter, r *http.Request, s *session) {
	c.renderApprovals(w, r, s, http.StatusOK, nil)
}

func (c *Console) renderApprovals(w http.ResponseWriter, r *http.Request, s *session, status int, formErr error) {
	if !s.actor.IsAdmin() {
		c.fail(w, r, s, models.Errorf(models.ENOTFOUND, "There is no such page."))
		return
	}
	var d approvalsData
	var err error
	if d.Campaigns, err = c.opt.Manage.ListCampaigns(ctx(r), s.actor, models.CampaignFilter{Approval: models.ApprovalPending, Page: models.Page{Limit: 200}}); err != nil {
		c.fail(w, r, s, err)
		return
	}
	if d.Creatives, err = c.opt.Manage.ListCreatives(ctx(r), s.actor, models.CreativeFilter{Approval: models.ApprovalPending, Page: models.Page{Limit: 200}}); err != nil {
		c.fail(w, r, s, err)
		return
	}
	v := &view{Title: "Approval queue", Nav: "approvals", Notice: notice(r), D: d}
	if formErr != nil {
		v.Error = models.ErrorMessage(formErr)
	}
	c.render(w, r, s, status, "approvals", v)
}

// advertiserNames maps the advertisers the actor sees to their names (admins' lists show them).
func (c *Console) advertiserNames(r *http.Request, s *session) map[int64]string {
	names := map[int64]string{}
	if !s.actor.IsAdmin() {
		return names
	}
	advs, _ := c.opt.Manage.ListAdvertisers(ctx(r), s.actor, models.AdvertiserFilter{Page: models.Page{Limit: 10000}})
	for _, a := range advs {
		names[a.ID] = a.Name
	}
	return names
}
