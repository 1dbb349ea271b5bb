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
	// htmlBase is BaseURL escaped for an HTML attribute; jsBase is the opening of a
	// JavaScript string literal holding BaseURL. Both are made once: the URLs of every answer
	// start with them.
	htmlBase, jsBase []byte
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
	a.htmlBase = appendHTML(nil, opt.BaseURL)
	a.jsBase = appendJS(nil, []byte(opt.BaseURL))
	a.jsBase = a.jsBase[:len(a.jsBase)-1] // without the closing quote
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
		v.ViewerCookie = cookieValue(r, cookie)
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

// setCookie sets a tracking cookie (see appendCookie). The value is the signer's text, as
// bytes or a string, whichever the caller holds: no conversion on the request path.
func setCookie[V string | []byte](a *Ads, w http.ResponseWriter, name string, value V, maxAge int) {
	w.Header()["Set-Cookie"] = append(w.Header()["Set-Cookie"], cookieText(a, name, value, maxAge))
}

// cookieText is the Set-Cookie value of a tracking cookie (see appendCookie).
func cookieText[V string | []byte](a *Ads, name string, value V, maxAge int) string {
	bp := a.bufs.Get().(*[]byte)
	b := appendCookie((*bp)[:0], name, value, maxAge, a.secure)
	s := string(b)
	*bp = b
	a.bufs.Put(bp)
	return s
}

func noStore(w http.ResponseWriter) {
	w.Header()["Cache-Control"] = hdrNoStore
}
