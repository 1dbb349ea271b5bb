package console

import (
	"bytes"
	"context"
	"crypto/tls"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"adnet/handlers"
	"adnet/internal/manage"
	"adnet/internal/manage/managetest"
	"adnet/models"
	"adnet/models/mysql"
	"adnet/models/mysql/mysqltest"
)

// TestMain starts a private MariaDB for the package's tests (or uses ADNET_TEST_DSN).
func TestMain(m *testing.M) { mysqltest.Main(m) }

// fixture is the console over a real database with the managetest network: two advertisers
// (A, B), two publishers (P, Q), a user of each and an admin, each with a password.
type fixture struct {
	t         *testing.T
	svc       *manage.Service
	mux       *http.ServeMux
	passwords map[string]string // "admin", "advA", "advB", "pubP", "pubQ"
	emails    map[string]string
	advA      int64
	advB      int64
	pubP      int64
	pubQ      int64
	uploads   string
	store     *mysql.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	w := managetest.NewWorld(t, nil)
	f := &fixture{t: t, svc: w.Svc, passwords: map[string]string{}, emails: map[string]string{},
		advA: w.AdvA, advB: w.AdvB, pubP: w.PubP, pubQ: w.PubQ, uploads: t.TempDir(), store: w.Store}
	for key, nu := range w.Users {
		f.passwords[key], f.emails[key] = nu.Password, nu.User.Email
	}
	con, err := New(Options{Manage: f.svc, BaseURL: "https://ads.example",
		Uploads: &handlers.Uploads{Dir: f.uploads, URLPrefix: "/uploads/", MaxBytes: 64 << 10}})
	if err != nil {
		t.Fatal(err)
	}
	f.mux = http.NewServeMux()
	con.Routes(f.mux)
	return f
}

// browser is one user agent: its cookies and the last CSRF token it saw.
type browser struct {
	f       *fixture
	cookies map[string]*http.Cookie
	csrf    string
	tls     bool
}

func (f *fixture) browser() *browser { return &browser{f: f, cookies: map[string]*http.Cookie{}} }

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
var loginField = regexp.MustCompile(`name="login_token" value="([^"]+)"`)

// do sends a request with the browser's cookies and keeps the cookies of the answer.
func (b *browser) do(r *http.Request) *httptest.ResponseRecorder {
	b.f.t.Helper()
	r.RemoteAddr = "192.0.2.10:40000"
	if b.tls {
		r.TLS = &tls.ConnectionState{}
	}
	for _, c := range b.cookies {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	w := httptest.NewRecorder()
	b.f.mux.ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	if m := csrfField.FindStringSubmatch(w.Body.String()); m != nil {
		b.csrf = m[1]
	}
	return w
}

func (b *browser) get(path string) *httptest.ResponseRecorder {
	return b.do(httptest.NewRequest(http.MethodGet, path, nil))
}

// post sends a form; the browser's CSRF token is added unless the form has a "csrf" key.
func (b *browser) post(path string, form url.Values) *httptest.ResponseRecorder {
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(r)
}

// login signs in through the form as who and fails the test unless it worked.
func (b *browser) login(who string) {
	b.f.t.Helper()
	if w := b.tryLogin(b.f.emails[who], b.f.passwords[who]); w.Code != http.StatusSeeOther {
		b.f.t.Fatalf("sign-in as %s: %d %s", who, w.Code, w.Body)
	}
	b.get("/admin/") // picks up the session's CSRF token
}

func (b *browser) tryLogin(email, password string) *httptest.ResponseRecorder {
	b.f.t.Helper()
	w := b.get("/admin/login")
	m := loginField.FindStringSubmatch(w.Body.String())
	if m == nil {
		b.f.t.Fatalf("no login token in the sign-in form: %s", w.Body)
	}
	r := httptest.NewRequest(http.MethodPost, "/admin/login", strings.NewReader(url.Values{
		"email": {email}, "password": {password}, "login_token": {m[1]}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(r)
}

// multipart posts a form with a file field "file"; the browser's CSRF token is added unless
// the form has a "csrf" key.
func (b *browser) multipart(path string, form url.Values, file []byte) *httptest.ResponseRecorder {
	b.f.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	for k, vs := range form {
		for _, v := range vs {
			_ = mw.WriteField(k, v)
		}
	}
	if file != nil {
		fw, _ := mw.CreateFormFile("file", "ad.png")
		_, _ = io.Copy(fw, bytes.NewReader(file))
	}
	_ = mw.Close()
	r := httptest.NewRequest(http.MethodPost, path, &buf)
	r.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(r)
}

// pngImage returns a w×h PNG.
func pngImage(t *testing.T, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := 0; x < w; x++ {
		for y := 0; y < h; y++ {
			img.Set(x, y, color.RGBA{uint8(x), 80, uint8(y), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// campaign creates a campaign of advertiser adv directly through manage.
func (f *fixture) campaign(adv int64, name string) *models.Campaign {
	f.t.Helper()
	c := &models.Campaign{AdvertiserID: adv, Name: name, Tier: models.TierRemnant, Weight: 1, Pricing: models.PricingCPM,
		RateMicros: 1_000_000, Pacing: models.PacingASAP, CreatedAt: time.Now()}
	if err := f.svc.CreateCampaign(context.Background(), manage.CommandLine(), c); err != nil {
		f.t.Fatal(err)
	}
	return c
}
