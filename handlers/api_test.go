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
	"adnet/models"
	"adnet/models/mysql"
	"adnet/models/mysql/mysqltest"
)

// testStore adapts the MariaDB store to the management layer, as main does.
type testStore struct{ *mysql.Store }

func (s testStore) WithTx(ctx context.Context, fn func(manage.Store) error) error {
	return s.Store.WithTx(ctx, func(tx *mysql.Store) error { return fn(testStore{tx}) })
}

// apiFixture is the API over a real database with two advertisers (A, B), two publishers
// (P, Q) and a user and token for each, plus an admin.
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
	ctx := context.Background()
	f := &apiFixture{t: t, store: mysql.NewStore(mysqltest.MustOpenDB(t)), tokens: map[string]string{}, actors: map[string]*models.Actor{},
		uploads: t.TempDir()}
	f.svc = manage.NewService(manage.Options{Store: testStore{f.store}, Location: loc, BcryptCost: 4})
	cli := manage.CommandLine()
	for _, adv := range []struct {
		name string
		id   *int64
	}{{"Adv A", &f.advA}, {"Adv B", &f.advB}} {
		a := models.Advertiser{Name: adv.name}
		if err := f.svc.CreateAdvertiser(ctx, cli, &a); err != nil {
			t.Fatal(err)
		}
		*adv.id = a.ID
	}
	for _, pub := range []struct {
		name string
		id   *int64
	}{{"Pub P", &f.pubP}, {"Pub Q", &f.pubQ}} {
		p := models.Publisher{Name: pub.name, RevenueShareBP: 7000}
		if err := f.svc.CreatePublisher(ctx, cli, &p); err != nil {
			t.Fatal(err)
		}
		*pub.id = p.ID
	}
	for _, u := range []struct {
		key     string
		role    models.Role
		account int64
	}{{"admin", models.RoleAdmin, 0}, {"advA", models.RoleAdvertiser, f.advA}, {"advB", models.RoleAdvertiser, f.advB},
		{"pubP", models.RolePublisher, f.pubP}, {"pubQ", models.RolePublisher, f.pubQ}} {
		nu, err := f.svc.AddUser(ctx, cli, u.key+"@example.test", u.role, u.account)
		if err != nil {
			t.Fatal(err)
		}
		nt, err := f.svc.TokenForEmail(ctx, cli, nu.User.Email, "test")
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[u.key] = nt.Token
		a := models.ActorOf(&nu.User)
		f.actors[u.key] = &a
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
