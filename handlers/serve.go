package handlers

import (
	"net/http"
	"strconv"

	"adnet/internal/adserver"
	"adnet/internal/decision"
	"adnet/models"
)

// Limits on what a tag may pass: they bound the work and memory of one ad request.
const (
	maxKeyValues = 16
	maxKVKey     = 64
	maxKVValue   = 256
)

// reservedParams are the tag's own query parameters, never taken as targeting key-values.
var reservedParams = map[string]bool{"zone": true, "cb": true, "page": true, "ref": true}

// serve decodes an ad request, runs it and sets the viewer cookie, then renders the answer
// of the script tag (frame false) or the iframe tag into a pooled buffer. Errors go through
// writeError (JSON). (A switch rather than a render func value: calling through a func value
// would move the decision to the heap.)
func (a *Ads) serve(w http.ResponseWriter, r *http.Request, frame bool) {
	var s adserver.Served
	if !a.decide(w, r, &s) {
		return
	}
	noStore(w)
	if frame {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	bp := a.bufs.Get().(*[]byte)
	var b []byte
	if frame {
		b = a.renderFrame((*bp)[:0], &s)
	} else {
		b = a.renderJS((*bp)[:0], &s)
	}
	_, _ = w.Write(b)
	*bp = b
	a.bufs.Put(bp)
}

// decide reads the ad request, makes the one call to the service and sets the viewer cookie.
// It returns false when it has answered with an error.
func (a *Ads) decide(w http.ResponseWriter, r *http.Request, s *adserver.Served) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeMethodNotAllowed(w, "GET, HEAD")
		return false
	}
	var v adserver.Visit
	var req adserver.AdRequest
	var kv [maxKeyValues]decision.KV
	n := a.readAdRequest(r, &req, &kv)
	req.KeyValues = kv[:n]
	a.readVisit(r, &v, viewerCookie)
	if err := a.opt.Service.Serve(&v, &req, s); err != nil {
		writeError(w, r, a.opt.Logger, err)
		return false
	}
	if s.ViewerCookie != nil {
		a.setCookie(w, viewerCookie, string(s.ViewerCookie), viewerMaxAge)
	}
	return true
}

// readAdRequest decodes the tag's query: zone (0 when not a number, which the service
// refuses), page, and up to maxKeyValues targeting pairs into kv, whose number it returns.
func (a *Ads) readAdRequest(r *http.Request, req *adserver.AdRequest, kv *[maxKeyValues]decision.KV) int {
	q := r.URL.Query()
	req.ZoneID, _ = strconv.ParseInt(q.Get("zone"), 10, 64)
	req.PageURL = q.Get("page")
	n := 0
	for k, vs := range q {
		if reservedParams[k] || len(k) > maxKVKey || len(vs) == 0 || len(vs[0]) > maxKVValue || n == maxKeyValues {
			continue
		}
		kv[n] = decision.KV{Key: k, Value: vs[0]}
		n++
	}
	return n
}

// serveJS answers the script tag: JavaScript that renders the ad right where the tag sits
// (document.currentScript), without document.write, so several tags on one page and async
// loading work. Nothing to show → a script that does nothing.
func (a *Ads) serveJS(w http.ResponseWriter, r *http.Request) {
	a.serve(w, r, false)
}

// serveFrame answers the iframe tag with a small HTML document holding the ad.
func (a *Ads) serveFrame(w http.ResponseWriter, r *http.Request) {
	a.serve(w, r, true)
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
	var s adserver.Served
	if !a.decide(w, r, &s) {
		return
	}
	noStore(w)
	if !s.Filled {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, a.jsonAd(&s))
}

// jsonAd is the ServeJSONAd of a filled decision.
func (a *Ads) jsonAd(s *adserver.Served) *ServeJSONAd {
	cr := s.Decision.Creative
	ad := &ServeJSONAd{ImpressionID: hexID(s.ImpressionID), ZoneID: s.Decision.ZoneID, CampaignID: s.Decision.CampaignID,
		CreativeID: cr.ID, Kind: string(cr.Kind), Width: cr.Width, Height: cr.Height, ImageURL: a.assetURL(cr.ImageURL),
		Title: cr.Title, Text: cr.Text, ClickURL: a.clickURL(s), ImpressionURL: a.impURL(s)}
	if cr.Kind == models.CreativeHTML {
		ad.HTML = string(a.expand(nil, cr.HTML, s))
	}
	return ad
}

func hexID(id models.ImpressionID) string {
	const digits = "0123456789abcdef"
	var b [32]byte
	for i, c := range id {
		b[2*i], b[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(b[:])
}
