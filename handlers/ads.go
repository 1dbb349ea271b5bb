package handlers

import (
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"

	"adnet/internal/adserver"
	"adnet/internal/fraud"
)

// AdsOptions configures the ad serving and tracking handlers.
type AdsOptions struct {
	Service *adserver.Service
	Logger  logrus.FieldLogger

	BaseURL     string // public URL of the ad server, e.g. "https://ads.example"
	FallbackURL string // where a forged click goes; default BaseURL + "/"
	// Country returns the visitor's ISO country code as nginx's GeoIP module found it (the
	// GEOIP_COUNTRY_CODE FastCGI param); nil or "" means unknown.
	Country func(r *http.Request) string
	// ClientIP returns the client's address (REMOTE_ADDR, or X-Forwarded-For from a
	// trusted proxy); nil uses r.RemoteAddr.
	ClientIP func(r *http.Request) netip.Addr
}

// Ads serves the public ad endpoints: /serve/{js,frame,json} and /track/{imp,click,conv}.
// Each handler reads the request into an adserver.Visit, makes one call to the Service and
// renders its result; the rules live in the Service.
type Ads struct {
	opt    AdsOptions
	secure bool      // BaseURL is https: cookies are Secure and SameSite=None
	bufs   sync.Pool // *[]byte response buffers
}

// NewAds returns the handlers. Routes mounts them.
func NewAds(opt AdsOptions) *Ads {
	if opt.FallbackURL == "" {
		opt.FallbackURL = strings.TrimRight(opt.BaseURL, "/") + "/"
	}
	if opt.Logger == nil {
		opt.Logger = discardLogger()
	}
	opt.BaseURL = strings.TrimRight(opt.BaseURL, "/")
	a := &Ads{opt: opt, secure: strings.HasPrefix(opt.BaseURL, "https://")}
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

// Cookie names and the viewer cookie's life.
const (
	viewerCookie = "adnet_v"
	clickCookie  = "adnet_c"
	viewerMaxAge = 365 * 24 * 3600
)

// readVisit reads what the rules need of r into v. The viewer cookie (named cookie) is read
// only when the visit may be tracked and cookie is not "".
func (a *Ads) readVisit(r *http.Request, v *adserver.Visit, cookie string) {
	v.IP = a.clientIP(r)
	v.Country = a.country(r)
	v.UserAgent = r.UserAgent()
	v.Referer = r.Referer()
	v.Prefetch = r.Method == http.MethodHead || fraud.IsPrefetch(r.Header.Get)
	v.NoTrack = headerIs(r.Header, "Sec-Gpc", "1") || headerIs(r.Header, "Dnt", "1")
	if cookie != "" && a.opt.Service.Tracked(v) {
		if c, err := r.Cookie(cookie); err == nil {
			v.ViewerCookie = c.Value
		}
	}
}

// headerIs reports whether h's first value of key, given in canonical form, is val. (Header.Get
// with a non-canonical key such as "Sec-GPC" allocates to canonicalise it, on every request.)
func headerIs(h http.Header, key, val string) bool {
	v := h[key]
	return len(v) > 0 && v[0] == val
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

func (a *Ads) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if a.secure {
		// Ads render on publishers' sites: the cookie is third-party there and must be
		// SameSite=None, which browsers accept only with Secure.
		c.Secure, c.SameSite = true, http.SameSiteNoneMode
	}
	http.SetCookie(w, c)
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store, max-age=0")
}
