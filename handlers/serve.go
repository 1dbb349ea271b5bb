package handlers

import (
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"adnet/internal/decision"
	"adnet/internal/token"
	"adnet/models"
)

// Limits on what a tag may pass: they bound the work and memory of one ad request.
const (
	maxKeyValues = 16
	maxKVKey     = 64
	maxKVValue   = 256
	viewerCookie = "adnet_v"
	clickCookie  = "adnet_c"
	viewerMaxAge = 365 * 24 * 3600
)

// reservedParams are the tag's own query parameters, never taken as targeting key-values.
var reservedParams = map[string]bool{"zone": true, "cb": true, "page": true, "ref": true}

// served is one ad decision with everything needed to render it.
type served struct {
	d      decision.Decision
	ok     bool
	id     models.ImpressionID
	now    time.Time
	impTok []byte
	clkTok []byte
}

// decide runs the decision for an ad request, records the serve event and manages the viewer
// cookie. It returns false when it has already answered (bad request, event log down).
func (a *Ads) decide(w http.ResponseWriter, r *http.Request, s *served) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return false
	}
	q := r.URL.Query()
	zoneID, err := strconv.ParseInt(q.Get("zone"), 10, 64)
	if err != nil || zoneID <= 0 {
		http.Error(w, "zone must be a positive integer zone id", http.StatusBadRequest)
		return false
	}
	now := a.opt.Now()
	s.now = now
	req := decision.Request{ZoneID: zoneID, Time: now, Country: a.country(r), PageURL: q.Get("page")}
	if req.PageURL == "" {
		req.PageURL = r.Referer()
	}
	if a.opt.UA != nil {
		req.UA = a.opt.UA.Parse(r.UserAgent())
	}
	var kv [maxKeyValues]decision.KV
	n := 0
	for k, vs := range q {
		if reservedParams[k] || len(k) > maxKVKey || len(vs) == 0 || len(vs[0]) > maxKVValue || n == maxKeyValues {
			continue
		}
		kv[n] = decision.KV{Key: k, Value: vs[0]}
		n++
	}
	req.KeyValues = kv[:n]

	var viewer token.Viewer
	tracked := a.tracked(r)
	if tracked {
		if c, err := r.Cookie(viewerCookie); err == nil {
			a.opt.Signer.DecodeViewer(&viewer, c.Value)
		}
		if viewer.ID == 0 {
			rng := a.rngs.Get().(*mrand.Rand)
			viewer.Reset(rng.Uint64() | 1)
			a.rngs.Put(rng)
		}
		req.Viewer = &viewer
	} else {
		req.NoFrequencyCap = true
	}

	rng := a.rngs.Get().(*mrand.Rand)
	d, ok := a.opt.Engine.Decide(&req, rng)
	a.rngs.Put(rng)
	s.d, s.ok = d, ok

	ip := a.clientIP(r)
	ev := models.Event{Type: models.EventServe, ZoneID: zoneID, ServedAt: now}
	a.fillEvent(&ev, r, ip, req.Country, now)
	if tracked {
		ev.ViewerID = viewer.ID
	}
	if isPrefetch(r) {
		ev.Reason = models.ReasonPrefetch
	} else if a.opt.Verdicts != nil {
		ev.Reason = a.opt.Verdicts.Check(r, ip, models.EventServe, &token.Claims{ZoneID: zoneID})
	}
	if ok {
		s.id = a.newImpressionID()
		ev.ImpressionID = s.id
		ev.CampaignID = d.CampaignID
		ev.CreativeID = d.Creative.ID
		ev.PriceMicros = d.PriceMicros
		c := token.Claims{ImpressionID: s.id, ZoneID: zoneID, CampaignID: d.CampaignID, CreativeID: d.Creative.ID,
			PriceMicros: d.PriceMicros, IssuedAt: now.Unix()}
		c.Kind = token.KindImpression
		s.impTok = a.opt.Signer.Sign(nil, &c)
		c.Kind = token.KindClick
		s.clkTok = a.opt.Signer.Sign(nil, &c)
	}
	if !a.record(w, r, &ev) {
		return false
	}
	if tracked {
		if ok {
			d.RecordFrequency(&viewer, now)
		}
		a.setCookie(w, viewerCookie, string(a.opt.Signer.EncodeViewer(nil, &viewer)), viewerMaxAge)
	}
	return true
}

func (a *Ads) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if a.secure {
		// Ads render on publishers' sites: the cookie is third-party there and must be
		// SameSite=None, which browsers accept only with Secure.
		c.Secure, c.SameSite = true, http.SameSiteNoneMode
	}
	http.SetCookie(w, c)
}

// impURL and clickURL are the signed tracking URLs of a decision.
func (a *Ads) impURL(s *served) string   { return a.opt.BaseURL + "/track/imp?t=" + string(s.impTok) }
func (a *Ads) clickURL(s *served) string { return a.opt.BaseURL + "/track/click?t=" + string(s.clkTok) }

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store, max-age=0")
}

// serveJS answers the script tag: JavaScript that renders the ad right where the tag sits
// (document.currentScript), without document.write, so several tags on one page and async
// loading work. Nothing to show → a script that does nothing.
func (a *Ads) serveJS(w http.ResponseWriter, r *http.Request) {
	var s served
	if !a.decide(w, r, &s) {
		return
	}
	noStore(w)
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	bp := a.bufs.Get().(*[]byte)
	b := a.renderJS((*bp)[:0], &s)
	_, _ = w.Write(b)
	*bp = b
	a.bufs.Put(bp)
}

// serveFrame answers the iframe tag with a small HTML document holding the ad.
func (a *Ads) serveFrame(w http.ResponseWriter, r *http.Request) {
	var s served
	if !a.decide(w, r, &s) {
		return
	}
	noStore(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	bp := a.bufs.Get().(*[]byte)
	b := a.renderFrame((*bp)[:0], &s)
	_, _ = w.Write(b)
	*bp = b
	a.bufs.Put(bp)
}

// ServeJSONAd is the documented answer of /serve/json, for apps and servers that render the ad
// themselves. They must fire ImpressionURL when the ad begins to render and send the user to
// ClickURL on a click.
type ServeJSONAd struct {
	ImpressionID  string `json:"impression_id"`
	ZoneID        int64  `json:"zone_id"`
	CampaignID    int64  `json:"campaign_id"`
	CreativeID    int64  `json:"creative_id"`
	Kind          string `json:"kind"`
	Width         int    `json:"width"`
	Height        int    `json:"height"`
	ImageURL      string `json:"image_url,omitempty"`
	HTML          string `json:"html,omitempty"`
	Title         string `json:"title,omitempty"`
	Text          string `json:"text,omitempty"`
	ClickURL      string `json:"click_url"`
	ImpressionURL string `json:"impression_url"`
}

// serveJSON answers /serve/json: the decision as JSON, or 204 No Content when nothing is eligible.
func (a *Ads) serveJSON(w http.ResponseWriter, r *http.Request) {
	var s served
	if !a.decide(w, r, &s) {
		return
	}
	noStore(w)
	if !s.ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	cr := s.d.Creative
	ad := ServeJSONAd{ImpressionID: hexID(s.id), ZoneID: s.d.ZoneID, CampaignID: s.d.CampaignID, CreativeID: cr.ID,
		Kind: string(cr.Kind), Width: cr.Width, Height: cr.Height, ImageURL: a.assetURL(cr.ImageURL), Title: cr.Title, Text: cr.Text,
		ClickURL: a.clickURL(&s), ImpressionURL: a.impURL(&s)}
	if cr.Kind == models.CreativeHTML {
		ad.HTML = string(a.expand(nil, cr.HTML, &s))
	}
	writeJSON(w, http.StatusOK, ad)
}

// expand fills the creative's macros for this decision.
func (a *Ads) expand(dst []byte, tpl string, s *served) []byte {
	m := decision.Macros{ClickURL: a.clickURL(s), ImpURL: a.impURL(s), Cachebuster: uint64(s.now.UnixNano()),
		ZoneID: s.d.ZoneID, CampaignID: s.d.CampaignID, CreativeID: s.d.Creative.ID, ImpressionID: s.id,
		Width: s.d.Creative.Width, Height: s.d.Creative.Height}
	return decision.ExpandMacros(dst, tpl, &m)
}

// assetURL makes a creative's relative /static/ URL absolute on the ad server.
func (a *Ads) assetURL(u string) string {
	if len(u) > 0 && u[0] == '/' {
		return a.opt.BaseURL + u
	}
	return u
}

func hexID(id models.ImpressionID) string {
	const digits = "0123456789abcdef"
	var b [32]byte
	for i, c := range id {
		b[2*i], b[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(b[:])
}
