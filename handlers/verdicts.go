package handlers

import (
	"net/http"
	"net/netip"
	"time"

	"adnet/internal/decision"
	"adnet/internal/fraud"
	"adnet/internal/token"
	"adnet/models"
)

// FraudVerdicts adapts the worker's fraud.RequestFilter to the Verdicts the handlers ask for:
// it reads the facts off the HTTP request and the zone's site domain off the snapshot.
type FraudVerdicts struct {
	Filter *fraud.RequestFilter
	Engine *decision.Engine
	Now    func() time.Time
}

// Check implements Verdicts.
func (v *FraudVerdicts) Check(r *http.Request, ip netip.Addr, t models.EventType, c *token.Claims) models.Reason {
	in := fraud.RequestFacts{Type: t, UA: r.UserAgent(), Referer: r.Referer(), IP: ip, Now: v.Now()}
	if c != nil {
		in.SiteDomain, _ = v.Engine.Snapshot().SiteDomain(c.ZoneID)
		if c.IssuedAt != 0 {
			in.ServedAt = time.Unix(c.IssuedAt, 0)
		}
	}
	return v.Filter.Check(&in)
}
