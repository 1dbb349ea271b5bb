package handlers

import (
	"crypto/rand"
	"encoding/binary"
	mrand "math/rand/v2"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"adnet/internal/decision"
	"adnet/internal/fraud"
	"adnet/internal/token"
	"adnet/models"
)

// EventRecorder appends an event to durable storage before the response is sent. The worker's
// file event log implements it; a distributed log can replace it for multi-host deployments.
type EventRecorder interface {
	Append(ev *models.Event) error
}

// Verdicts takes the cheap per-request invalid-traffic verdicts (bot user agents, blocked and
// data-center IPs, referrer mismatch). It returns models.ReasonValid when nothing is wrong.
// The aggregator adds the verdicts that need every worker's events (duplicates, floods).
type Verdicts interface {
	Check(r *http.Request, ip netip.Addr, t models.EventType, claims *token.Claims) models.Reason
}

// AdsOptions configures the ad serving and tracking handlers.
type AdsOptions struct {
	Engine   *decision.Engine
	Signer   *token.Signer
	UA       *decision.UAParser
	Events   EventRecorder
	Verdicts Verdicts // nil: only token and prefetch checks
	Logger   logrus.FieldLogger

	BaseURL      string // public URL of the ad server, e.g. "https://ads.example"
	FallbackURL  string // where a forged click goes; default BaseURL + "/"
	ViewerCookie bool   // privacy.viewer_cookie
	HonorGPC     bool   // privacy.honor_gpc: Sec-GPC: 1 or DNT: 1 → no cookie, no capping
	// Country returns the visitor's ISO country code as nginx's GeoIP module found it (the
	// GEOIP_COUNTRY_CODE FastCGI param); nil or "" means unknown.
	Country func(r *http.Request) string
	// ClientIP returns the client's address (REMOTE_ADDR, or X-Forwarded-For from a
	// trusted proxy); nil uses r.RemoteAddr.
	ClientIP func(r *http.Request) netip.Addr
	Now      func() time.Time
}

// Ads serves the public ad endpoints: /serve/{js,frame,json} and /track/{imp,click,conv}.
type Ads struct {
	opt    AdsOptions
	secure bool // BaseURL is https: cookies are Secure and SameSite=None

	rngs sync.Pool // *mrand.Rand: math/rand/v2's Rand is not safe for concurrent use
	// Impression ids: a random per-process prefix and a counter — unique without a syscall
	// per request. They need not be unpredictable: every URL carrying one is signed.
	idPrefix uint64
	idSeq    atomic.Uint64
	bufs     sync.Pool // *[]byte response buffers
}

// NewAds returns the handlers. Routes mounts them.
func NewAds(opt AdsOptions) *Ads {
	if opt.FallbackURL == "" {
		opt.FallbackURL = strings.TrimRight(opt.BaseURL, "/") + "/"
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	opt.BaseURL = strings.TrimRight(opt.BaseURL, "/")
	a := &Ads{opt: opt, secure: strings.HasPrefix(opt.BaseURL, "https://")}
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	a.idPrefix = binary.LittleEndian.Uint64(seed[:])
	a.rngs.New = func() any {
		var s [16]byte
		_, _ = rand.Read(s[:])
		return mrand.New(mrand.NewPCG(binary.LittleEndian.Uint64(s[:8]), binary.LittleEndian.Uint64(s[8:])))
	}
	a.bufs.New = func() any { b := make([]byte, 0, 4096); return &b }
	return a
}

// Routes mounts the endpoints on mux. The paths are part of the public contract.
func (a *Ads) Routes(mux *http.ServeMux) {
	mux.HandleFunc("/serve/js", a.serveJS)
	mux.HandleFunc("/serve/frame", a.serveFrame)
	mux.HandleFunc("/serve/json", a.serveJSON)
	mux.HandleFunc("/track/imp", a.trackImpression)
	mux.HandleFunc("/track/click", a.trackClick)
	mux.HandleFunc("/track/conv", a.trackConversion)
}

func (a *Ads) newImpressionID() models.ImpressionID {
	var id models.ImpressionID
	binary.BigEndian.PutUint64(id[:8], a.idPrefix)
	binary.BigEndian.PutUint64(id[8:], a.idSeq.Add(1))
	return id
}

func (a *Ads) clientIP(r *http.Request) netip.Addr {
	if a.opt.ClientIP != nil {
		return a.opt.ClientIP(r)
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		addr, _ := netip.ParseAddr(r.RemoteAddr)
		return addr.Unmap()
	}
	return ap.Addr().Unmap()
}

func (a *Ads) country(r *http.Request) [2]byte {
	var c [2]byte
	if a.opt.Country == nil {
		return c
	}
	s := a.opt.Country(r)
	if len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' {
		c[0], c[1] = s[0], s[1]
	}
	return c
}

// tracked reports whether this request may carry a viewer id: the network allows the cookie
// and the visitor has not asked not to be tracked (Global Privacy Control or Do Not Track).
func (a *Ads) tracked(r *http.Request) bool {
	if !a.opt.ViewerCookie {
		return false
	}
	if a.opt.HonorGPC && (r.Header.Get("Sec-GPC") == "1" || r.Header.Get("DNT") == "1") {
		return false
	}
	return true
}

// isPrefetch reports a request that is not a person's page view: HEAD, or a browser's
// prefetch/prerender (IAB/MRC: never count them).
func isPrefetch(r *http.Request) bool {
	return r.Method == http.MethodHead || fraud.IsPrefetch(r.Header.Get)
}

// fillEvent sets the request-derived fields of an event; country is a.country(r).
func (a *Ads) fillEvent(ev *models.Event, r *http.Request, ip netip.Addr, country [2]byte, now time.Time) {
	ev.Time = now
	ev.Country = country
	ev.IP = ip.As16()
	ev.UAHash = hashString(r.UserAgent())
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

// record appends ev to the event log. When it cannot, the request must fail with 503: an ad
// or a click that is not recorded cannot be billed or paid.
func (a *Ads) record(w http.ResponseWriter, r *http.Request, ev *models.Event) bool {
	if err := a.opt.Events.Append(ev); err != nil {
		a.opt.Logger.WithError(err).WithField("path", r.URL.Path).Error("event log write failed; answering 503")
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "temporarily unable to record events", http.StatusServiceUnavailable)
		return false
	}
	return true
}

func unixTime(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}
