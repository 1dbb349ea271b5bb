package adserver

import (
	mrand "math/rand/v2"

	"adnet/internal/decision"
	"adnet/internal/fraud"
	"adnet/internal/token"
	"adnet/models"

	"time"
)

// AdRequest is one ad request of a tag: the zone, the page and the targeting key-values. (It
// is kept apart from the Visit: what the verdicts keep of a Visit would otherwise make the
// escape analysis move the caller's key-values to the heap.)
type AdRequest struct {
	ZoneID  int64
	PageURL string // the page the tag is on ("" unknown)
	// KeyValues are the tag's custom targeting pairs; the transport bounds their number and
	// sizes.
	KeyValues []decision.KV
	// Integration is the endpoint asked (script tag, iframe tag, JSON), signed into the
	// tokens: a tag-served ad's beacon must carry the tag's signals.
	Integration Integration
}

// Integration is the endpoint an ad request came through (token.Integration), re-exported for
// the transports.
type Integration = token.Integration

// The integrations a transport passes in AdRequest.Integration.
const (
	IntegrationScript = token.IntegrationScript // the script tag
	IntegrationFrame  = token.IntegrationFrame  // the iframe tag
	IntegrationJSON   = token.IntegrationJSON   // /serve/json
)

// Served is the outcome of a serve: the decision, if any, and what the answer must carry.
type Served struct {
	Decision     decision.Decision
	Filled       bool // a creative was chosen; false: nothing eligible (render the empty answer)
	ImpressionID models.ImpressionID
	Time         time.Time

	// The tokens and the cookie are written into these arrays and read through the methods
	// below: a Served lives on its handler's stack, so a serve signs without allocating. (A
	// slice field pointing into its own struct would move the whole Served to the heap.)
	impBuf, clickBuf          [token.MaxTokenLen]byte
	viewerBuf                 [token.MaxViewerCookieLen]byte
	impLen, clickLen, viewLen int
}

// ImpressionToken is the signed token of the beacon URL (empty when not filled).
func (s *Served) ImpressionToken() []byte { return s.impBuf[:s.impLen] }

// ClickToken is the signed token of the click URL (empty when not filled).
func (s *Served) ClickToken() []byte { return s.clickBuf[:s.clickLen] }

// ViewerCookie is the viewer cookie to set; nil when the visitor may not be tracked.
func (s *Served) ViewerCookie() []byte {
	if s.viewLen == 0 {
		return nil
	}
	return s.viewerBuf[:s.viewLen]
}

// Serve runs an ad request: the decision on the current snapshot, the per-request verdicts,
// the signed tokens, and the serve event, which is written to the event log before the
// caller answers. Errors: EINVALID for a zone id that is not positive, EUNAVAILABLE when the
// event log cannot take the event (the ad must not be shown: it could not be billed).
//
// The order matters: the verdicts are taken before the decision, so that an invalid serve
// (bot, prefetch, HEAD) spends no delivery; the serve event is recorded before the viewer's
// frequency state is advanced, so that an unrecorded serve never counts against the viewer's
// cap.
func (s *Service) Serve(v *Visit, req *AdRequest, out *Served) error {
	if req.ZoneID <= 0 {
		return errBadZone
	}
	now := s.opt.Now()
	out.Time = now
	dreq := decision.Request{ZoneID: req.ZoneID, Time: now, Country: v.Country, PageURL: req.PageURL,
		KeyValues: req.KeyValues}
	if dreq.PageURL == "" {
		dreq.PageURL = v.Referer
	}
	if s.opt.UA != nil {
		dreq.UA = s.opt.UA.Parse(v.UserAgent)
	}
	var viewer token.Viewer
	tracked := s.tracked(v)
	if tracked {
		if v.ViewerCookie != "" {
			s.opt.Signer.DecodeViewer(&viewer, v.ViewerCookie)
		}
		if viewer.ID == 0 {
			rng := s.rngs.Get().(*mrand.Rand)
			viewer.Reset(rng.Uint64() | 1)
			s.rngs.Put(rng)
		}
		dreq.Viewer = &viewer
	} else {
		dreq.NoFrequencyCap = true
	}

	// The verdicts come before the decision: an invalid serve still gets an ad, but must not
	// spend the campaign's caps, pacing or the viewer's frequency.
	ev := newEvent(models.EventServe, v, now)
	ev.ZoneID, ev.ServedAt = req.ZoneID, now
	if tracked {
		ev.ViewerID = viewer.ID
	}
	if v.Prefetch {
		ev.Reason = models.ReasonPrefetch
	} else {
		ev.Reason = s.verdict(v, models.EventServe, &token.Claims{ZoneID: req.ZoneID}, nil, now)
	}
	dreq.Invalid = ev.Reason != models.ReasonValid

	rng := s.rngs.Get().(*mrand.Rand)
	d, ok := s.opt.Engine.Decide(&dreq, rng)
	s.rngs.Put(rng)
	out.Decision, out.Filled = d, ok
	if ok {
		out.ImpressionID = s.newImpressionID()
		ev.ImpressionID = out.ImpressionID
		ev.CampaignID = d.CampaignID
		ev.CreativeID = d.Creative.ID
		ev.PriceMicros, ev.Pricing, ev.ShareBP = d.PriceMicros, d.Pricing, d.ShareBP
		// The terms are signed with the ad: its events bill on them, whatever changes later.
		c := token.Claims{ImpressionID: out.ImpressionID, ZoneID: req.ZoneID, CampaignID: d.CampaignID,
			CreativeID: d.Creative.ID, PriceMicros: d.PriceMicros, IssuedMs: now.UnixMilli(),
			Pricing: d.Pricing, ShareBP: d.ShareBP, Integration: req.Integration,
			// The client it was served to: its beacon, click and conversion pixel must come
			// from the same network and User-Agent family (token_mismatch).
			Network: fraud.NetworkOf(v.IP), UAFamily: s.opt.Filter.UAFamily(v.UserAgent)}
		c.Kind = token.KindImpression
		out.impLen = copy(out.impBuf[:], s.opt.Signer.Sign(out.impBuf[:0], &c))
		c.Kind = token.KindClick
		out.clickLen = copy(out.clickBuf[:], s.opt.Signer.Sign(out.clickBuf[:0], &c))
	}
	if err := s.record(&ev); err != nil {
		return err
	}
	if tracked {
		if ok && ev.Reason == models.ReasonValid {
			d.RecordFrequency(&viewer, now)
		}
		out.viewLen = copy(out.viewerBuf[:], s.opt.Signer.EncodeViewer(out.viewerBuf[:0], &viewer))
	}
	return nil
}

// errBadZone answers an ad request without a usable zone id. Preallocated: bad requests are
// cheap to answer.
var errBadZone = models.Errorf(models.EINVALID, "zone must be a positive integer zone id")
