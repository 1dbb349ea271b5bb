// Package adserver holds the rules of ad serving and tracking — what a serve, an impression
// beacon, a click and a conversion do, in which order — as functions that a test can call
// without HTTP. The handlers decode a request into a Visit, make one call here and render
// the result; the rules (privacy, verdicts, signing, write-before-answer, the conversion
// window, the postback secret) live only here.
//
// Nothing here touches MariaDB: a Service works on the in-memory inventory snapshot of its
// decision.Engine, which a Refresher (inventory.go) keeps current in the background.
package adserver

import (
	"crypto/rand"
	"encoding/binary"
	mrand "math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"adnet/internal/decision"
	"adnet/internal/fraud"
	"adnet/internal/token"
	"adnet/models"
)

// EventRecorder appends an event to durable storage before the answer is sent. The worker's
// file event log implements it; a distributed log can replace it for multi-host deployments.
type EventRecorder interface {
	// Append takes the event by value: through an interface, a pointer would move every
	// event to the heap.
	Append(ev models.Event) error
}

// Options configures a Service.
type Options struct {
	Engine *decision.Engine
	Signer *token.Signer
	UA     *decision.UAParser // nil: no device/OS/browser targeting
	Events EventRecorder
	// Filter takes the cheap per-request invalid-traffic verdicts (bot user agents, blocked
	// and data-center addresses, referrer mismatch). Nil: only token and prefetch checks. The
	// aggregator adds the verdicts that need every worker's events (duplicates, floods).
	Filter *fraud.RequestFilter
	Logger logrus.FieldLogger

	ViewerCookie bool // privacy.viewer_cookie: a viewer id may be kept (frequency capping)
	HonorGPC     bool // privacy.honor_gpc: Sec-GPC: 1 or DNT: 1 → no viewer id, no capping
	Now          func() time.Time
}

// Visit is what the rules need to know of one HTTP request, read once by the transport.
type Visit struct {
	IP        netip.Addr
	Country   [2]byte // ISO 3166-1 alpha-2 upper case; zero when unknown
	UserAgent string
	Referer   string
	// Prefetch is a request that is not a person's view: HEAD, or a browser's
	// prefetch/prerender (IAB/MRC: never counted).
	Prefetch bool
	// NoTrack is the visitor's request not to be tracked (Sec-GPC: 1 or DNT: 1).
	NoTrack bool
	// ViewerCookie is the viewer cookie's value as received; "" when absent.
	ViewerCookie string
}

// errEventLog is the answer when an event cannot be recorded: an ad or a click that is not
// recorded cannot be billed or paid, so the request fails and nginx may retry elsewhere.
// Preallocated: the failure path must not allocate while the disk is full.
var errEventLog = models.Errorf(models.EUNAVAILABLE, "temporarily unable to record events")

// Service runs the serving and tracking rules. It is safe for concurrent use.
type Service struct {
	opt  Options
	rngs sync.Pool // *mrand.Rand: math/rand/v2's Rand is not safe for concurrent use
	// Impression ids: a random per-process prefix and a counter — unique without a syscall
	// per request. They need not be unpredictable: every URL carrying one is signed.
	idPrefix uint64
	idSeq    atomic.Uint64
}

// NewService returns a Service for opt.
func NewService(opt Options) *Service {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		l := logrus.New()
		l.SetOutput(discard{})
		opt.Logger = l
	}
	s := &Service{opt: opt}
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	s.idPrefix = binary.LittleEndian.Uint64(seed[:])
	s.rngs.New = func() any {
		var b [16]byte
		_, _ = rand.Read(b[:])
		return mrand.New(mrand.NewPCG(binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])))
	}
	return s
}

// discard is an io.Writer that drops everything (a silent default logger).
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Engine returns the decision engine the service serves from.
func (s *Service) Engine() *decision.Engine { return s.opt.Engine }

// TokenTTL is how long a click token stays valid: the life of the last-click cookie.
func (s *Service) TokenTTL() time.Duration { return s.opt.Signer.TTL() }

// tracked reports whether this visit may carry a viewer id: the network allows it and the
// visitor has not asked not to be tracked.
func (s *Service) tracked(v *Visit) bool {
	return s.opt.ViewerCookie && !(s.opt.HonorGPC && v.NoTrack)
}

func (s *Service) newImpressionID() models.ImpressionID {
	var id models.ImpressionID
	binary.BigEndian.PutUint64(id[:8], s.idPrefix)
	binary.BigEndian.PutUint64(id[8:], s.idSeq.Add(1))
	return id
}

// newEvent returns an event of type t with the visit's facts.
func newEvent(t models.EventType, v *Visit, now time.Time) models.Event {
	return models.Event{Type: t, Time: now, Country: v.Country, IP: v.IP.As16(), UAHash: hashString(v.UserAgent)}
}

// hashString is FNV-1a, 64 bits: cheap, allocation-free, enough to group user agents in audits.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// verdict takes the per-request verdicts of the fraud filter for an event of type t; c holds
// the token's claims (only ZoneID for a serve), b the beacon's parameters (impressions only).
func (s *Service) verdict(v *Visit, t models.EventType, c *token.Claims, b *Beacon, now time.Time) models.Reason {
	if s.opt.Filter == nil {
		return models.ReasonValid
	}
	in := s.facts(v, t, c, now)
	if b != nil {
		in.TagBeacon = c.Integration.Tag()
		in.Signals, in.PageOrigin = b.Signals, b.PageOrigin
	}
	return s.opt.Filter.Check(&in)
}

// facts are the fraud filter's view of a request of type t with the token's claims c.
func (s *Service) facts(v *Visit, t models.EventType, c *token.Claims, now time.Time) fraud.RequestFacts {
	in := fraud.RequestFacts{Type: t, UA: v.UserAgent, Referer: v.Referer, IP: v.IP, Now: now}
	if c != nil {
		in.SiteDomain, _ = s.opt.Engine.Snapshot().SiteDomain(c.ZoneID)
		if c.IssuedMs != 0 {
			in.ServedAt = time.UnixMilli(c.IssuedMs)
		}
		in.ServeNetwork, in.ServeUAFamily = c.Network, c.UAFamily
	}
	return in
}

// record appends ev to the event log; the error is EUNAVAILABLE when it cannot.
func (s *Service) record(ev *models.Event) error {
	if err := s.opt.Events.Append(*ev); err != nil {
		s.opt.Logger.WithError(err).WithField("event", ev.Type.String()).Error("event log write failed; answering 503")
		return errEventLog
	}
	return nil
}

// firstReason keeps the first invalid reason found: token problems outrank the rest.
func firstReason(cur, next models.Reason) models.Reason {
	if cur != models.ReasonValid {
		return cur
	}
	return next
}

// unixMilli is the time of unix milliseconds ms, the zero time for 0.
func unixMilli(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// Tracked reports whether the visit may carry a viewer id: the network keeps viewer ids
// (privacy.viewer_cookie) and the visitor has not asked not to be tracked. Transports read
// the viewer cookie only when it is true.
func (s *Service) Tracked(v *Visit) bool { return s.tracked(v) }
