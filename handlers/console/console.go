// Package console is the web console at /admin/: server-rendered html/template pages over the
// use-case layer (internal/manage), with its templates, stylesheet and script embedded in
// the binary (no CDN, no front-end build step).
//
// Every page is a thin handler: read the form, make calls into manage with the signed-in
// actor, render. Ownership is decided by manage, never here; a foreign object is the same 404
// page as a missing one. Security that is the transport's lives here: the session cookie,
// a CSRF token on every state-changing form (and on the sign-in form), the security headers
// (CSP without inline script, no framing), body limits.
package console

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"adnet/handlers"
	"adnet/internal/manage"
	"adnet/models"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Cookie names: the session, and the sign-in form's anti-CSRF token (before there is a
// session to hold one).
const (
	SessionCookie = "adnet_session"
	loginCookie   = "adnet_login"
)

// MaxBody bounds a form body: a creative's image (handlers.DefaultMaxUpload) plus the form
// around it; nginx lets /admin/ take 2 MB.
const MaxBody = 2 << 20

// Options configures the console.
type Options struct {
	Manage  *manage.Service
	Uploads *handlers.Uploads // creative images; nil: image upload is refused
	BaseURL string            // the ad server's public URL: tag code, pixel code
	// ClientIP returns the client's address for throttling and the audit log (never for
	// authorization); nil uses r.RemoteAddr.
	ClientIP func(r *http.Request) netip.Addr
	Logger   logrus.FieldLogger
	Now      func() time.Time
}

// Console serves /admin/.
type Console struct {
	opt   Options
	pages map[string]*template.Template
}

// New parses the embedded templates; it fails only on a broken template.
func New(opt Options) (*Console, error) {
	if opt.Logger == nil {
		l := logrus.New()
		l.SetOutput(nopWriter{})
		opt.Logger = l
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	c := &Console{opt: opt, pages: map[string]*template.Template{}}
	if err := c.parse(); err != nil {
		return nil, err
	}
	return c, nil
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

// session is a signed-in request: who, the session's CSRF token, its id (for logout).
type session struct {
	actor *models.Actor
	csrf  string
	id    string
}

// pageHandler is a console page for a signed-in actor.
type pageHandler func(w http.ResponseWriter, r *http.Request, s *session)

// Routes mounts the console on mux under /admin/.
func (c *Console) Routes(mux *http.ServeMux) {
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /admin/static/", c.headers(http.StripPrefix("/admin/static/", http.FileServerFS(static))))
	mux.Handle("GET /admin/login", c.headers(http.HandlerFunc(c.loginForm)))
	mux.Handle("POST /admin/login", c.headers(c.limited(http.HandlerFunc(c.login))))
	mux.Handle("POST /admin/logout", c.page(c.logout))
	for _, rt := range c.routes() {
		mux.Handle(rt.pattern, c.page(rt.h))
	}
	mux.Handle("/admin/", c.page(func(w http.ResponseWriter, r *http.Request, s *session) {
		c.fail(w, r, s, models.Errorf(models.ENOTFOUND, "There is no such page."))
	}))
}

type route struct {
	pattern string
	h       pageHandler
}

// routes lists the signed-in pages.
func (c *Console) routes() []route {
	return []route{
		{"GET /admin/{$}", c.dashboard},
		{"GET /admin/account", c.account},
		{"POST /admin/account/password", c.changePassword},
		{"POST /admin/account/tokens", c.createToken},
		{"POST /admin/account/tokens/{id}/revoke", c.revokeToken},
		{"GET /admin/users", c.users},
		{"POST /admin/users", c.addUser},
		{"POST /admin/users/{id}/delete", c.deleteUser},
		{"GET /admin/audit", c.audit},

		{"GET /admin/advertisers", c.advertisers},
		{"GET /admin/advertisers/new", c.advertiserForm},
		{"POST /admin/advertisers", c.saveAdvertiser},
		{"GET /admin/advertisers/{id}", c.advertiserForm},
		{"POST /admin/advertisers/{id}", c.saveAdvertiser},
		{"POST /admin/advertisers/{id}/rotate", c.rotateSecret},

		{"GET /admin/campaigns", c.campaigns},
		{"GET /admin/campaigns/new", c.campaignForm},
		{"POST /admin/campaigns", c.saveCampaign},
		{"GET /admin/campaigns/{id}", c.campaign},
		{"GET /admin/campaigns/{id}/edit", c.campaignForm},
		{"POST /admin/campaigns/{id}", c.saveCampaign},
		{"POST /admin/campaigns/{id}/review", c.reviewCampaign},
		{"GET /admin/campaigns/{id}/creatives/new", c.creativeForm},
		{"POST /admin/campaigns/{id}/creatives", c.saveCreative},
		{"GET /admin/creatives/{id}", c.creativeForm},
		{"POST /admin/creatives/{id}", c.saveCreative},
		{"POST /admin/creatives/{id}/review", c.reviewCreative},
		{"GET /admin/approvals", c.approvals},

		{"GET /admin/publishers", c.publishers},
		{"GET /admin/publishers/new", c.publisherForm},
		{"POST /admin/publishers", c.savePublisher},
		{"GET /admin/publishers/{id}", c.publisherForm},
		{"POST /admin/publishers/{id}", c.savePublisher},
		{"GET /admin/sites", c.sites},
		{"GET /admin/sites/new", c.siteForm},
		{"POST /admin/sites", c.saveSite},
		{"GET /admin/sites/{id}", c.siteForm},
		{"POST /admin/sites/{id}", c.saveSite},
		{"GET /admin/zones", c.zones},
		{"GET /admin/zones/new", c.zoneForm},
		{"POST /admin/zones", c.saveZone},
		{"GET /admin/zones/{id}", c.zoneForm},
		{"POST /admin/zones/{id}", c.saveZone},
		{"GET /admin/links", c.links},
		{"POST /admin/links", c.link},
		{"POST /admin/links/delete", c.unlink},

		{"GET /admin/reports", c.reports},
		{"GET /admin/fraud", c.fraud},
		{"POST /admin/fraud/flags/{id}", c.reviewFlag},
		{"POST /admin/fraud/blocklist", c.saveBlocklist},
	}
}

// headers sets the security headers of every console answer: no inline script (CSP), no
// framing of the console, no referrer to other sites, no content sniffing, no caching.
func (c *Console) headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		// img-src: creatives' images may live on the advertiser's server; blob: is the
		// creative form's local preview of the chosen file.
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob: http: https:; "+
			"frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/admin/static/") {
			hd.Set("Cache-Control", "no-store")
		}
		h.ServeHTTP(w, r)
	})
}

// limited bounds the request body and parses the form (multipart or not); an oversized body
// is a 413 page.
func (c *Console) limited(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			h.ServeHTTP(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		var err error
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
			err = r.ParseMultipartForm(MaxBody)
		} else {
			err = r.ParseForm()
		}
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				c.fail(w, r, nil, models.Errorf(models.ETOOLARGE, "The form is larger than %d MB.", MaxBody>>20))
				return
			}
			c.fail(w, r, nil, models.Errorf(models.EINVALID, "The form could not be read."))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// page authenticates the session cookie and, for a POST, checks the form's CSRF token
// against the session's (403 without or with a wrong one), then runs h. Without a session
// a GET goes to the sign-in page, anything else is 401.
func (c *Console) page(h pageHandler) http.Handler {
	return c.headers(c.limited(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ck, _ := r.Cookie(SessionCookie)
		var id string
		if ck != nil {
			id = ck.Value
		}
		a, csrf, err := c.opt.Manage.SessionActor(r.Context(), id, c.clientIP(r))
		if err != nil {
			if models.ErrorCode(err) == models.EUNAUTHORIZED && r.Method == http.MethodGet {
				http.Redirect(w, r, "/admin/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.fail(w, r, nil, err)
			return
		}
		s := &session{actor: a, csrf: csrf, id: id}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !manage.CheckCSRF(csrf, r.PostFormValue("csrf")) {
			c.fail(w, r, s, models.Errorf(models.EFORBIDDEN, "The form has expired or did not come from this console (CSRF check failed). Reload the page and try again."))
			return
		}
		h(w, r, s)
	})))
}

func (c *Console) clientIP(r *http.Request) string {
	if c.opt.ClientIP != nil {
		if a := c.opt.ClientIP(r); a.IsValid() {
			return a.String()
		}
	}
	host := r.RemoteAddr
	if ap, err := netip.ParseAddrPort(host); err == nil {
		return ap.Addr().String()
	}
	return host
}

// randomToken returns 32 random bytes as base64url.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ctx is the request's context (a shorthand for the many manage calls).
func ctx(r *http.Request) context.Context { return r.Context() }
