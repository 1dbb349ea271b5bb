package adserver

import (
	"crypto/subtle"
	"net/url"
	"strings"

	"adnet/internal/fraud"
	"adnet/internal/token"
	"adnet/models"
)

// verify checks a tracking token and fills the event from its claims. A bad token leaves the
// ids zero (nothing it says can be believed); an expired one is authentic, so its ids are kept
// and only the reason says it is not billable.
func (s *Service) verify(ev *models.Event, tok string, kind token.Kind) (token.Claims, models.Reason) {
	c, err := s.opt.Signer.Verify(tok, kind, ev.Time)
	reason := token.Reason(err)
	if reason == models.ReasonBadToken {
		return token.Claims{}, reason
	}
	ev.ImpressionID = c.ImpressionID
	ev.ZoneID, ev.CampaignID, ev.CreativeID = c.ZoneID, c.CampaignID, c.CreativeID
	ev.PriceMicros, ev.Pricing, ev.ShareBP = c.PriceMicros, c.Pricing, c.ShareBP
	ev.ServedAt = unixMilli(c.IssuedMs)
	return c, reason
}

// Beacon is an impression beacon's query: the token and what the script and iframe tags
// report with it (see internal/fraud/doc.go for the parameters).
type Beacon struct {
	Token string // t
	// Signals are the tag's automation signals (sig); Present is false when the parameter is
	// missing or malformed.
	Signals fraud.Signals
	// PageOrigin is the publisher page's origin the tag reported (po), "" when absent.
	PageOrigin string
}

// Impression records an impression beacon with its verdict: only a valid one is billed. HEAD
// and prefetch/prerender requests are recorded as invalid, never counted. The only error is
// EUNAVAILABLE (event log down); a forged or repeated beacon is recorded, not refused, so it
// learns nothing.
func (s *Service) Impression(v *Visit, b *Beacon) error {
	now := s.opt.Now()
	ev := newEvent(models.EventImpression, v, now)
	claims, reason := s.verify(&ev, b.Token, token.KindImpression)
	if v.Prefetch {
		reason = firstReason(reason, models.ReasonPrefetch)
	}
	if reason == models.ReasonValid {
		reason = s.verdict(v, models.EventImpression, &claims, b, now)
	}
	ev.Reason = reason
	return s.record(&ev)
}

// ClickResult is where a click goes and what it leaves behind.
type ClickResult struct {
	// Target is the landing page: the signed creative's click URL with {click_id} filled, or
	// the safe fallback for a forged token. Never taken from the query (no open redirect).
	Target string
	// LastClick is the click token to keep in the last-click cookie for the conversion pixel;
	// "" when the visitor may not be tracked or the token is forged.
	LastClick string
}

// Click records a click and returns where to send the visitor. An expired or repeated but
// authentic click still reaches the landing page — a person may double-click — and is
// recorded as not billable with its reason. fallback is the page for a forged token. The only
// error is EUNAVAILABLE (event log down).
func (s *Service) Click(v *Visit, tok, fallback string, res *ClickResult) error {
	now := s.opt.Now()
	ev := newEvent(models.EventClick, v, now)
	claims, reason := s.verify(&ev, tok, token.KindClick)
	if v.Prefetch {
		reason = firstReason(reason, models.ReasonPrefetch)
	}
	if reason == models.ReasonValid {
		reason = s.verdict(v, models.EventClick, &claims, nil, now)
	}
	ev.Reason = reason
	*res = ClickResult{Target: fallback}
	if reason != models.ReasonBadToken {
		if cr, ok := s.opt.Engine.Snapshot().Creative(claims.CreativeID); ok {
			res.Target = expandClickID(cr.ClickURL, tok)
		}
	}
	tracked := s.tracked(v)
	if tracked && v.ViewerCookie != "" {
		var viewer token.Viewer
		if s.opt.Signer.DecodeViewer(&viewer, v.ViewerCookie) {
			ev.ViewerID = viewer.ID
		}
	}
	if err := s.record(&ev); err != nil {
		return err
	}
	if reason == models.ReasonValid {
		s.opt.Engine.RecordClick(claims.CampaignID, now)
	}
	if reason != models.ReasonBadToken && tracked {
		res.LastClick = tok
	}
	return nil
}

// expandClickID puts the click id (the click's signed token) into the landing URL's
// {click_id} macro, so the advertiser can send it back in a server-to-server postback.
func expandClickID(landing, tok string) string {
	if !strings.Contains(landing, "{click_id}") {
		return landing
	}
	return strings.ReplaceAll(landing, "{click_id}", url.QueryEscape(tok))
}

// Conversion is a conversion report, in one of two forms:
//   - a server-to-server postback (Postback true): ClickID is the {click_id} the landing URL
//     received, Secret the advertiser's postback secret, Payout optionally the amount in
//     currency units ("12.50");
//   - a pixel on the advertiser's page (Postback false): ClickID is the viewer's last-click
//     cookie ("" when there is none).
type Conversion struct {
	Postback bool
	ClickID  string
	Secret   string
	Payout   string
}

// ConversionResult is what was recorded.
type ConversionResult struct {
	ImpressionID models.ImpressionID
	CampaignID   int64
	Reason       models.Reason // ReasonValid: approved (billable)
}

// Conversion records a conversion. A conversion is attributed within its campaign's
// conversion window (not the token's TTL); a postback must carry the advertiser's postback
// secret. Errors (postbacks only): EINVALID for a forged click id or a malformed payout,
// EUNAUTHORIZED for a wrong secret; and EUNAVAILABLE when the event log is down. Duplicates
// per click are flagged by the aggregator, which sees every worker's events.
func (s *Service) Conversion(v *Visit, c *Conversion, res *ConversionResult) error {
	now := s.opt.Now()
	ev := newEvent(models.EventConversion, v, now)
	claims, reason := s.verify(&ev, c.ClickID, token.KindClick)
	if reason == models.ReasonBadToken && !c.Postback && c.ClickID == "" {
		reason = models.ReasonNoClick // a pixel without a click to attribute it to
	}
	// Conversions are attributed within the campaign's conversion window, not the token TTL.
	if reason == models.ReasonExpiredToken {
		reason = models.ReasonValid
	}
	snap := s.opt.Engine.Snapshot()
	camp, known := snap.Campaign(claims.CampaignID)
	if reason == models.ReasonValid && known && camp.ConversionWindow > 0 && now.Sub(ev.ServedAt) > camp.ConversionWindow {
		reason = models.ReasonExpiredToken
	}
	if c.Postback {
		if reason == models.ReasonBadToken {
			return models.Errorf(models.EINVALID, "click_id is not a valid adnet click id")
		}
		secret := ""
		if known {
			secret = snap.PostbackSecret(camp.AdvertiserID)
		}
		if secret == "" || subtle.ConstantTimeCompare([]byte(c.Secret), []byte(secret)) != 1 {
			return models.Errorf(models.EUNAUTHORIZED, "secret does not match the advertiser's postback secret")
		}
		if c.Payout != "" {
			micros, err := models.ParseMicros(c.Payout)
			if err != nil {
				return models.Errorf(models.EINVALID, "payout %q: %s", c.Payout, models.ErrorMessage(err))
			}
			ev.PayoutMicros = micros
		}
	} else if v.Prefetch {
		reason = firstReason(reason, models.ReasonPrefetch)
	} else if reason == models.ReasonValid && s.opt.Filter != nil {
		// A pixel fires in the visitor's browser: it must be the browser the ad was served to
		// (the postback comes from the advertiser's server, whose address and User-Agent say
		// nothing about the visitor).
		in := s.facts(v, models.EventConversion, &claims, now)
		if s.opt.Filter.TokenMismatch(&in) {
			reason = models.ReasonTokenMismatch
		}
	}
	ev.Reason = reason
	if err := s.record(&ev); err != nil {
		return err
	}
	if reason == models.ReasonValid {
		s.opt.Engine.RecordConversion(claims.CampaignID, now)
	}
	*res = ConversionResult{ImpressionID: ev.ImpressionID, CampaignID: ev.CampaignID, Reason: reason}
	return nil
}
