package handlers

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"adnet/internal/token"
	"adnet/models"
)

// gif is the 43-byte transparent 1×1 GIF every tracking pixel answers with.
var gif = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

func writeGIF(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "image/gif")
	h.Set("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Length", "43")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(gif)
}

// verify checks a tracking token and fills the event from its claims. A bad token leaves the
// ids zero (nothing it says can be believed); an expired one is authentic, so its ids are kept
// and only the reason says it is not billable.
func (a *Ads) verify(ev *models.Event, tok string, kind token.Kind) (token.Claims, models.Reason) {
	c, err := a.opt.Signer.Verify(tok, kind, ev.Time)
	reason := token.Reason(err)
	if reason == models.ReasonBadToken {
		return token.Claims{}, reason
	}
	ev.ImpressionID = c.ImpressionID
	ev.ZoneID, ev.CampaignID, ev.CreativeID = c.ZoneID, c.CampaignID, c.CreativeID
	ev.PriceMicros = c.PriceMicros
	ev.ServedAt = unixTime(c.IssuedAt)
	return c, reason
}

// firstReason keeps the first invalid reason found: token problems outrank the rest.
func firstReason(cur, next models.Reason) models.Reason {
	if cur != models.ReasonValid {
		return cur
	}
	return next
}

// trackImpression is the impression beacon. It always answers the GIF — a forged or repeated
// beacon learns nothing — and records every request with its verdict: only a valid one is
// billed. HEAD and prefetch/prerender requests are recorded as invalid, never counted.
func (a *Ads) trackImpression(w http.ResponseWriter, r *http.Request) {
	now := a.opt.Now()
	ip := a.clientIP(r)
	ev := models.Event{Type: models.EventImpression}
	a.fillEvent(&ev, r, ip, a.country(r), now)
	claims, reason := a.verify(&ev, r.URL.Query().Get("t"), token.KindImpression)
	if isPrefetch(r) {
		reason = firstReason(reason, models.ReasonPrefetch)
	}
	if a.opt.Verdicts != nil && reason == models.ReasonValid {
		reason = a.opt.Verdicts.Check(r, ip, models.EventImpression, &claims)
	}
	ev.Reason = reason
	if !a.record(w, r, &ev) {
		return
	}
	writeGIF(w, r)
}

// trackClick is the click redirect. The destination comes only from the signed token's
// creative, never from the query: a forged token goes to the configured safe fallback page.
// An expired or repeated but authentic click still reaches the landing page — a person may
// double-click — and is recorded as not billable with its reason.
func (a *Ads) trackClick(w http.ResponseWriter, r *http.Request) {
	now := a.opt.Now()
	ip := a.clientIP(r)
	ev := models.Event{Type: models.EventClick}
	a.fillEvent(&ev, r, ip, a.country(r), now)
	tok := r.URL.Query().Get("t")
	claims, reason := a.verify(&ev, tok, token.KindClick)
	if isPrefetch(r) {
		reason = firstReason(reason, models.ReasonPrefetch)
	}
	if a.opt.Verdicts != nil && reason == models.ReasonValid {
		reason = a.opt.Verdicts.Check(r, ip, models.EventClick, &claims)
	}
	ev.Reason = reason
	target := a.opt.FallbackURL
	if reason != models.ReasonBadToken {
		if cr, ok := a.opt.Engine.Snapshot().Creative(claims.CreativeID); ok {
			target = expandClickID(cr.ClickURL, tok)
		}
	}
	tracked := a.tracked(r)
	if tracked {
		if c, err := r.Cookie(viewerCookie); err == nil {
			var v token.Viewer
			if a.opt.Signer.DecodeViewer(&v, c.Value) {
				ev.ViewerID = v.ID
			}
		}
	}
	if !a.record(w, r, &ev) {
		return
	}
	if reason == models.ReasonValid {
		a.opt.Engine.RecordClick(claims.CampaignID, now)
	}
	if reason != models.ReasonBadToken && tracked {
		// The last click, for the conversion pixel on the advertiser's page.
		a.setCookie(w, clickCookie, tok, int(a.opt.Signer.TTL().Seconds()))
	}
	noStore(w)
	w.Header().Set("Referrer-Policy", "no-referrer-when-downgrade")
	http.Redirect(w, r, target, http.StatusFound)
}

// expandClickID puts the click id (the click's signed token) into the landing URL's
// {click_id} macro, so the advertiser can send it back in a server-to-server postback.
func expandClickID(landing, tok string) string {
	if !strings.Contains(landing, "{click_id}") {
		return landing
	}
	return strings.ReplaceAll(landing, "{click_id}", url.QueryEscape(tok))
}

// conversionAnswer is the JSON answer of a server-to-server postback.
type conversionAnswer struct {
	Status       string `json:"status"`
	ImpressionID string `json:"impression_id"`
	CampaignID   int64  `json:"campaign_id"`
	Reason       string `json:"reason,omitempty"`
}

// trackConversion records a conversion, in one of two forms:
//   - a server-to-server postback: click_id (the {click_id} the landing URL received), the
//     advertiser's postback secret in `secret`, and optionally `payout` in currency units;
//     answered as JSON;
//   - a pixel on the advertiser's page (no click_id): attributed to the viewer's last click
//     (a first-party cookie set at the click), if within the campaign's conversion window;
//     answered with the GIF.
//
// Duplicates per click are flagged by the aggregator, which sees every worker's events.
func (a *Ads) trackConversion(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	now := a.opt.Now()
	ip := a.clientIP(r)
	ev := models.Event{Type: models.EventConversion}
	a.fillEvent(&ev, r, ip, a.country(r), now)
	postback := q.Has("click_id")
	tok := q.Get("click_id")
	if !postback {
		if c, err := r.Cookie(clickCookie); err == nil {
			tok = c.Value
		}
	}
	claims, reason := a.verify(&ev, tok, token.KindClick)
	if reason == models.ReasonBadToken && !postback && tok == "" {
		reason = models.ReasonNoClick // a pixel without a click to attribute it to
	}
	// Conversions are attributed within the campaign's conversion window, not the token TTL.
	if reason == models.ReasonExpiredToken {
		reason = models.ReasonValid
	}
	snap := a.opt.Engine.Snapshot()
	camp, known := snap.Campaign(claims.CampaignID)
	if reason == models.ReasonValid && known && camp.ConversionWindow > 0 && now.Sub(ev.ServedAt) > camp.ConversionWindow {
		reason = models.ReasonExpiredToken
	}
	if postback {
		if reason == models.ReasonBadToken {
			writeError(w, r, a.opt.Logger, models.Errorf(models.EINVALID, "click_id is not a valid adnet click id"))
			return
		}
		if !known || snap.PostbackSecret(camp.AdvertiserID) == "" ||
			subtle.ConstantTimeCompare([]byte(q.Get("secret")), []byte(snap.PostbackSecret(camp.AdvertiserID))) != 1 {
			writeError(w, r, a.opt.Logger, models.Errorf(models.EUNAUTHORIZED, "secret does not match the advertiser's postback secret"))
			return
		}
		if p := q.Get("payout"); p != "" {
			micros, err := parseMicros(p)
			if err != nil {
				writeError(w, r, a.opt.Logger, models.Errorf(models.EINVALID, "payout %q: %v", p, err))
				return
			}
			ev.PayoutMicros = micros
		}
	} else if isPrefetch(r) {
		reason = firstReason(reason, models.ReasonPrefetch)
	}
	ev.Reason = reason
	if !a.record(w, r, &ev) {
		return
	}
	if reason == models.ReasonValid {
		a.opt.Engine.RecordConversion(claims.CampaignID, now)
	}
	if !postback {
		writeGIF(w, r)
		return
	}
	ans := conversionAnswer{Status: "recorded", ImpressionID: hexID(ev.ImpressionID), CampaignID: ev.CampaignID}
	if reason != models.ReasonValid {
		ans.Status, ans.Reason = "not_billable", reason.String()
	}
	noStore(w)
	writeJSON(w, http.StatusOK, ans)
}

// parseMicros parses a decimal amount in currency units ("1.50") into micro-units, exactly:
// no floating point touches money.
func parseMicros(s string) (int64, error) {
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(frac) > 6 || strings.HasPrefix(whole, "-") || strings.HasPrefix(whole, "+") {
		return 0, errMoney
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > 1_000_000_000 {
		return 0, errMoney
	}
	var f int64
	if frac != "" {
		f, err = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
		if err != nil || f < 0 {
			return 0, errMoney
		}
	}
	return w*1_000_000 + f, nil
}

var errMoney = models.Errorf(models.EINVALID, "must be a non-negative amount with at most 6 decimals, like 1.50")
