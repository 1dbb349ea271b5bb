package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"adnet/internal/manage"
	"adnet/internal/manage/managetest"
	"adnet/models"
	"adnet/models/mysql"
)

// apiFixture is the API over a real database with the managetest network (two advertisers
// A and B, two publishers P and Q, a user of each and an admin) and a token for each user.
type apiFixture struct {
	t       *testing.T
	store   *mysql.Store
	svc     *manage.Service
	api     *API
	mux     *http.ServeMux
	tokens  map[string]string // "admin", "advA", "advB", "pubP", "pubQ"
	actors  map[string]*models.Actor
	advA    int64
	advB    int64
	pubP    int64
	pubQ    int64
	uploads string
}

type apiOption func(*APIOptions)

func newAPIFixture(t *testing.T, loc *time.Location, opts ...apiOption) *apiFixture {
	t.Helper()
	w := managetest.NewWorld(t, loc)
	f := &apiFixture{t: t, store: w.Store, svc: w.Svc, tokens: map[string]string{}, actors: w.Actors,
		advA: w.AdvA, advB: w.AdvB, pubP: w.PubP, pubQ: w.PubQ, uploads: t.TempDir()}
	for key, nu := range w.Users {
		nt, err := f.svc.TokenForEmail(context.Background(), manage.CommandLine(), nu.User.Email, "test")
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[key] = nt.Token
	}
	opt := APIOptions{Manage: f.svc, BaseURL: "https://ads.example",
		Uploads: &Uploads{Dir: f.uploads, URLPrefix: "/uploads/", MaxBytes: 64 << 10}}
	for _, o := range opts {
		o(&opt)
	}
	f.api = NewAPI(opt)
	f.mux = http.NewServeMux()
	f.api.Routes(f.mux)
	return f
}

// do sends a request as who ("" for none) with an optional JSON body.
func (f *apiFixture) do(who, method, path string, body any) *httptest.ResponseRecorder {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		case []byte:
			rd = bytes.NewReader(b)
		default:
			data, err := json.Marshal(body)
			if err != nil {
				f.t.Fatal(err)
			}
			rd = bytes.NewReader(data)
		}
	}
	r := httptest.NewRequest(method, path, rd)
	r.RemoteAddr = "127.0.0.1:40000"
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if who != "" {
		r.Header.Set("Authorization", "Bearer "+f.tokens[who])
	}
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, r)
	return w
}

// decode decodes a JSON answer into v, failing the test on a bad body.
func decode[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("%d %s: %v", w.Code, w.Body, err)
	}
	return v
}

// errCode returns the error code of a JSON error answer ("" if it is none).
func errCode(w *httptest.ResponseRecorder) string {
	var b errorBody
	_ = json.Unmarshal(w.Body.Bytes(), &b)
	return b.Error.Code
}

// withReportAllow restricts the reports endpoint to loopback.
func withReportAllow(o *APIOptions) {
	o.ReportAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
}
