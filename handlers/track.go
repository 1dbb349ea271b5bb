package handlers

import (
	"net/http"

	"adnet/internal/adserver"
	"adnet/models"
)

// gif is the 43-byte transparent 1×1 GIF every tracking pixel answers with.
var gif = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

func writeGIF(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = hdrGIF
	h["Cache-Control"] = hdrGIFCache
	h["Pragma"] = hdrNoCache
	h["Content-Length"] = hdrGIFLength
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(gif)
}

// trackImpression is the impression beacon: ?t=<impression token>, and from the script and
// iframe tags also &sig=<automation signals>&po=<page origin> (readBeacon). It always answers
// the GIF (a forged or repeated beacon learns nothing) unless the event log is down (503).
func (a *Ads) trackImpression(w http.ResponseWriter, r *http.Request) {
	var v adserver.Visit
	a.readVisit(r, &v, "")
	var b adserver.Beacon
	readBeacon(r.URL.RawQuery, &b)
	if err := a.opt.Service.Impression(&v, &b); err != nil {
		writeError(w, r, a.opt.Logger, err)
		return
	}
	writeGIF(w, r)
}

// maxSignalsLen bounds the sig parameter: the tag sends a small decimal number.
const maxSignalsLen = 10

// readBeacon reads the beacon's parameters in one pass over the raw query, without
// allocating for what the tags send: t (the token), sig (the automation signals, a decimal
// bitmask; anything else leaves Signals.Present false) and po (the page origin, sent
// unescaped: an origin has no character that needs escaping). The first of each counts.
func readBeacon(raw string, b *adserver.Beacon) {
	var haveT, haveSig, havePO bool
	q := queryPairs{rest: raw}
	for {
		k, v, ok := q.next()
		if !ok {
			return
		}
		switch {
		case k == "t" && !haveT:
			b.Token, haveT = v, true
		case k == "sig" && !haveSig:
			haveSig = true
			if v == "" || len(v) > maxSignalsLen {
				continue
			}
			var m uint64
			for i := 0; i < len(v); i++ {
				if v[i] < '0' || v[i] > '9' {
					m = 1 << 63
					break
				}
				m = m*10 + uint64(v[i]-'0')
			}
			if m <= 1<<32-1 {
				b.Signals.Present, b.Signals.Mask = true, uint32(m)
			}
		case k == "po" && !havePO:
			b.PageOrigin, havePO = v, true
		}
	}
}

// trackClick is the click redirect: ?t=<click token> → 302 to the creative's landing page
// (the configured fallback for a forged token), leaving the last-click cookie for the
// conversion pixel.
func (a *Ads) trackClick(w http.ResponseWriter, r *http.Request) {
	var v adserver.Visit
	a.readVisit(r, &v, viewerCookie)
	var res adserver.ClickResult
	if err := a.opt.Service.Click(&v, queryParam(r.URL.RawQuery, "t"), a.opt.FallbackURL, &res); err != nil {
		writeError(w, r, a.opt.Logger, err)
		return
	}
	// The redirect by hand: http.Redirect re-parses the URL it was given and writes an HTML
	// body no browser shows; the target is an absolute URL the service built. The Location
	// and the last-click cookie share one allocation of header values.
	h := w.Header()
	h["Cache-Control"] = hdrNoStore
	h["Referrer-Policy"] = hdrReferrer
	vals := make([]string, 1, 2)
	vals[0] = res.Target
	h["Location"] = vals[:1:1]
	if res.LastClick != "" {
		vals = append(vals, cookieText(a, clickCookie, res.LastClick, int(a.opt.Service.TokenTTL().Seconds())))
		if prev := h["Set-Cookie"]; prev != nil {
			h["Set-Cookie"] = append(prev, vals[1])
		} else {
			h["Set-Cookie"] = vals[1:2:2]
		}
	}
	w.WriteHeader(http.StatusFound)
}

// conversionAnswer is the JSON answer of a server-to-server postback.
type conversionAnswer struct {
	Status       string `json:"status"`
	ImpressionID string `json:"impression_id"`
	CampaignID   int64  `json:"campaign_id"`
	Reason       string `json:"reason,omitempty"`
}

// trackConversion records a conversion (see adserver.Service.Conversion), in one of two
// forms:
//   - a server-to-server postback: click_id (the {click_id} the landing URL received), the
//     advertiser's postback secret in `secret`, and optionally `payout` in currency units;
//     answered as JSON;
//   - a pixel on the advertiser's page (no click_id): attributed to the viewer's last click
//     (a first-party cookie set at the click); answered with the GIF.
func (a *Ads) trackConversion(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var v adserver.Visit
	a.readVisit(r, &v, "")
	c := adserver.Conversion{Postback: q.Has("click_id"), ClickID: q.Get("click_id"), Secret: q.Get("secret"), Payout: q.Get("payout")}
	if !c.Postback {
		if ck, err := r.Cookie(clickCookie); err == nil {
			c.ClickID = ck.Value
		}
	}
	var res adserver.ConversionResult
	if err := a.opt.Service.Conversion(&v, &c, &res); err != nil {
		writeError(w, r, a.opt.Logger, err)
		return
	}
	if !c.Postback {
		writeGIF(w, r)
		return
	}
	ans := conversionAnswer{Status: "recorded", ImpressionID: hexID(res.ImpressionID), CampaignID: res.CampaignID}
	if res.Reason != models.ReasonValid {
		ans.Status, ans.Reason = "not_billable", res.Reason.String()
	}
	noStore(w)
	writeJSON(w, http.StatusOK, ans)
}
