package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"adnet/models"
)

// creativeFormData is the creative form's data: the campaign, the creative when editing (its
// approval state, and its HTML for the sandboxed preview).
type creativeFormData struct {
	Campaign *models.Campaign
	Creative *models.Creative
	Sizes    []models.Size
}

func creativeValues(cr *models.Creative) url.Values {
	return url.Values{"name": {cr.Name}, "status": {string(cr.Status)}, "kind": {string(cr.Kind)},
		"width": {strconv.Itoa(cr.Width)}, "height": {strconv.Itoa(cr.Height)}, "weight": {strconv.Itoa(cr.Weight)},
		"image_url": {cr.ImageURL}, "html": {cr.HTML}, "title": {cr.Title}, "text": {cr.Text}, "click_url": {cr.ClickURL}}
}

// creativeForm is GET /admin/campaigns/{id}/creatives/new (a new creative of campaign id) or
// GET /admin/creatives/{id} (edit).
func (c *Console) creativeForm(w http.ResponseWriter, r *http.Request, s *session) {
	id, err := pathID(r, "id")
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	var d creativeFormData
	v := url.Values{"kind": {"image"}, "status": {"active"}, "weight": {"1"}, "width": {"300"}, "height": {"250"}}
	if strings.HasPrefix(r.URL.Path, "/admin/creatives/") {
		if d.Creative, err = c.opt.Manage.GetCreative(ctx(r), s.actor, id); err != nil {
			c.fail(w, r, s, err)
			return
		}
		v, id = creativeValues(d.Creative), d.Creative.CampaignID
	}
	if d.Campaign, err = c.opt.Manage.GetCampaign(ctx(r), s.actor, id); err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.renderCreativeForm(w, r, s, http.StatusOK, d, v, nil)
}

func (c *Console) renderCreativeForm(w http.ResponseWriter, r *http.Request, s *session, status int, d creativeFormData, v url.Values, err error) {
	d.Sizes = models.IABSizes
	title := "New creative"
	if d.Creative != nil {
		title = "Creative " + d.Creative.Name
	}
	vw := &view{Title: title, Nav: "campaigns", Notice: notice(r), Form: newForm(v, err), D: d}
	if err != nil {
		vw.Error = models.ErrorMessage(err)
	}
	c.render(w, r, s, status, "creative_form", vw)
}

// applyCreative reads the form into cr; an uploaded file replaces the image URL (and sets the
// size from the image when the form left it empty).
func (c *Console) applyCreative(r *http.Request, cr *models.Creative) error {
	v := r.PostForm
	cr.Name, cr.Status, cr.Kind = strings.TrimSpace(v.Get("name")), models.Status(v.Get("status")), models.CreativeKind(v.Get("kind"))
	cr.ImageURL, cr.HTML = strings.TrimSpace(v.Get("image_url")), v.Get("html")
	cr.Title, cr.Text, cr.ClickURL = strings.TrimSpace(v.Get("title")), strings.TrimSpace(v.Get("text")), strings.TrimSpace(v.Get("click_url"))
	for _, f := range []struct {
		name string
		to   *int
	}{{"width", &cr.Width}, {"height", &cr.Height}, {"weight", &cr.Weight}} {
		n, err := formInt(v, f.name)
		if err != nil {
			return err
		}
		*f.to = int(n)
	}
	file, _, err := r.FormFile("file")
	if err != nil {
		return nil // no file chosen: keep the image URL
	}
	defer file.Close()
	if c.opt.Uploads == nil {
		return models.Invalid("file", "Uploads are not configured on this server.")
	}
	res, err := c.opt.Uploads.Save(file)
	if err != nil {
		if models.ErrorCode(err) == models.ETOOLARGE {
			return &models.Error{Code: models.ETOOLARGE, Message: models.ErrorMessage(err), Field: "file"}
		}
		if models.ErrorField(err) == "" {
			return models.Invalid("file", "%s", models.ErrorMessage(err))
		}
		return err
	}
	cr.Kind, cr.ImageURL = models.CreativeImage, res.URL
	if cr.Width == 0 || cr.Height == 0 {
		cr.Width, cr.Height = res.Width, res.Height
	}
	// The form shows the stored URL from now on, so a failed save does not lose the upload.
	r.PostForm.Set("image_url", res.URL)
	r.PostForm.Set("kind", string(models.CreativeImage))
	return nil
}

// saveCreative is POST /admin/campaigns/{id}/creatives (create) or POST /admin/creatives/{id}.
func (c *Console) saveCreative(w http.ResponseWriter, r *http.Request, s *session) {
	id, err := pathID(r, "id")
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	var d creativeFormData
	editing := strings.HasPrefix(r.URL.Path, "/admin/creatives/")
	if editing {
		if d.Creative, err = c.opt.Manage.GetCreative(ctx(r), s.actor, id); err != nil {
			c.fail(w, r, s, err)
			return
		}
		d.Campaign, err = c.opt.Manage.GetCampaign(ctx(r), s.actor, d.Creative.CampaignID)
	} else {
		d.Campaign, err = c.opt.Manage.GetCampaign(ctx(r), s.actor, id)
	}
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if editing {
		var saved *models.Creative
		saved, err = c.opt.Manage.UpdateCreative(ctx(r), s.actor, id, func(cr *models.Creative) error { return c.applyCreative(r, cr) })
		if err == nil {
			id = saved.ID
		}
	} else {
		cr := &models.Creative{CampaignID: d.Campaign.ID}
		if err = c.applyCreative(r, cr); err == nil {
			err = c.opt.Manage.CreateCreative(ctx(r), s.actor, cr)
			id = cr.ID
		}
	}
	if err != nil {
		c.renderCreativeForm(w, r, s, handlersStatus(err), d, r.PostForm, err)
		return
	}
	redirect(w, r, "/admin/creatives/"+strconv.FormatInt(id, 10), "creative-saved")
}

func (c *Console) reviewCreative(w http.ResponseWriter, r *http.Request, s *session) {
	c.review(w, r, s, "creative", func(id int64, approve bool, reason string) error {
		_, err := c.opt.Manage.ReviewCreative(ctx(r), s.actor, id, approve, reason)
		return err
	})
}
