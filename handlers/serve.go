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
	integ := adserver.IntegrationScript
	if frame {
		integ = adserver.IntegrationFrame
	}
	if !a.decide(w, r, &s, integ) {
		return
	}
	h := w.Header()
	h["Cache-Control"] = hdrNoStore
	if frame {
		h["Content-Type"] = hdrHTML
	} else {
		h["Content-Type"] = hdrJS
	}
	h["X-Content-Type-Options"] = hdrNosniff
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
func (a *Ads) decide(w http.ResponseWriter, r *http.Request, s *adserver.Served, integ adserver.Integration) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeMethodNotAllowed(w, "GET, HEAD")
		return false
	}
	var v adserver.Visit
	var req adserver.AdRequest
	var kv [maxKeyValues]decision.KV
	n := a.readAdRequest(r, &req, &kv)
	req.KeyValues = kv[:n]
	req.Integration = integ
	a.readVisit(r, &v, viewerCookie)
	if err := a.opt.Service.Serve(&v, &req, s); err != nil {
		writeError(w, r, a.opt.Logger, err)
		return false
	}
	if s.ViewerCookie() != nil {
		setCookie(a, w, viewerCookie, s.ViewerCookie(), viewerMaxAge)
	}
	return true
}

// readAdRequest decodes the tag's query: zone (0 when not a number, which the service
// refuses), page, and up to maxKeyValues targeting pairs into kv, whose number it returns.
func (a *Ads) readAdRequest(r *http.Request, req *adserver.AdRequest, kv *[maxKeyValues]decision.KV) int {
	n := 0
	q := queryPairs{rest: r.URL.RawQuery}
	for {
		k, v, ok := q.next()
		if !ok {
			return n
		}
		switch {
		case k == "zone":
			if req.ZoneID == 0 {
				req.ZoneID, _ = strconv.ParseInt(v, 10, 64)
			}
		case k == "page":
			if req.PageURL == "" {
				req.PageURL = v
			}
		case reservedParams[k] || len(k) > maxKVKey || len(v) > maxKVValue || n == maxKeyValues || hasKey(kv[:n], k):
		default:
			kv[n] = decision.KV{Key: k, Value: v}
			n++
		}
	}
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
	if !a.decide(w, r, &s, adserver.IntegrationJSON) {
		return
	}
	h := w.Header()
	h["Cache-Control"] = hdrNoStore
	if !s.Filled {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h["Content-Type"] = hdrJSON
	h["X-Content-Type-Options"] = hdrNosniff
	bp := a.bufs.Get().(*[]byte)
	b := a.appendJSONAd((*bp)[:0], &s)
	_, _ = w.Write(b)
	*bp = b
	a.bufs.Put(bp)
}

// appendJSONAd appends the ServeJSONAd of a filled decision as encoding/json writes it (the
// test TestServeJSONMatchesEncodingJSON holds them equal), without building the struct.
func (a *Ads) appendJSONAd(b []byte, s *adserver.Served) []byte {
	cr := s.Decision.Creative
	b = append(b, `{"impression_id":"`...)
	for _, c := range s.ImpressionID {
		b = append(b, hexDigits[c>>4], hexDigits[c&15])
	}
	b = append(b, `","zone_id":`...)
	b = strconv.AppendInt(b, s.Decision.ZoneID, 10)
	b = append(b, `,"campaign_id":`...)
	b = strconv.AppendInt(b, s.Decision.CampaignID, 10)
	b = append(b, `,"creative_id":`...)
	b = strconv.AppendInt(b, cr.ID, 10)
	b = append(b, `,"kind":`...)
	b = appendJS(b, string(cr.Kind))
	b = append(b, `,"width":`...)
	b = strconv.AppendInt(b, int64(cr.Width), 10)
	b = append(b, `,"height":`...)
	b = strconv.AppendInt(b, int64(cr.Height), 10)
	if cr.ImageURL != "" {
		b = append(b, `,"image_url":`...)
		if cr.ImageURL[0] == '/' {
			// The ad server's base, then the path's escaped text without its opening quote.
			b = append(b, a.jsBase...)
			start := len(b)
			b = appendJS(b, cr.ImageURL)
			b = append(b[:start], b[start+1:]...)
		} else {
			b = appendJS(b, cr.ImageURL)
		}
	}
	if cr.Kind == models.CreativeHTML {
		b = append(b, `,"html":`...)
		mp := a.bufs.Get().(*[]byte)
		doc := a.expand((*mp)[:0], cr.HTML, s, false)
		b = appendJS(b, doc)
		*mp = doc
		a.bufs.Put(mp)
	}
	if cr.Title != "" {
		b = append(b, `,"title":`...)
		b = appendJS(b, cr.Title)
	}
	if cr.Text != "" {
		b = append(b, `,"text":`...)
		b = appendJS(b, cr.Text)
	}
	b = append(b, `,"click_url":`...)
	b = append(b, a.jsBase...)
	b = append(b, "/track/click?t="...)
	b = append(b, s.ClickToken()...)
	b = append(b, `","impression_url":`...)
	b = a.appendImpURLJS(b, s)
	return append(b, "}\n"...)
}

func hexID(id models.ImpressionID) string {
	const digits = "0123456789abcdef"
	var b [32]byte
	for i, c := range id {
		b[2*i], b[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(b[:])
}

// hasKey reports whether kv already holds key: a repeated targeting key keeps its first value.
func hasKey(kv []decision.KV, key string) bool {
	for i := range kv {
		if kv[i].Key == key {
			return true
		}
	}
	return false
}
