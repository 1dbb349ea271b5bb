package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"

	"adnet/internal/manage"
	"adnet/models"
)

// MaxAPIBody bounds a JSON request body: far above any entity (a creative's HTML is at most
// 64 KB), far below what could exhaust a worker.
const MaxAPIBody = 1 << 20

// APIOptions configures the REST API.
type APIOptions struct {
	Manage  *manage.Service
	Logger  logrus.FieldLogger
	BaseURL string // the ad server's public URL, for zones' tag code
	// ClientIP returns the client's address, for throttling and the audit log (never for
	// authorization); nil uses r.RemoteAddr.
	ClientIP func(r *http.Request) netip.Addr
	// ReportAllow, when not empty, restricts the reports endpoint to these client networks
	// on top of authentication (stats.report_allow).
	ReportAllow []netip.Prefix
	// Uploads stores creative images; nil: uploads are refused.
	Uploads *Uploads
}

// API serves the REST API under /api/v1/: JSON CRUD for the network's objects, by role, with
// `Authorization: Bearer <token>`. Every answer is JSON; every error has the shape
// {"error": {"code", "message", "fields"}}. The routes and their answers are listed in
// apiRoutes, from which /api/v1/openapi.json is generated.
type API struct {
	opt    APIOptions
	routes []apiRoute
}

// NewAPI returns the API handlers; Routes mounts them.
func NewAPI(opt APIOptions) *API {
	if opt.Logger == nil {
		opt.Logger = discardLogger()
	}
	h := &API{opt: opt}
	h.routes = h.apiRoutes()
	return h
}

// Routes mounts every route of the API on mux, and the OpenAPI document.
func (h *API) Routes(mux *http.ServeMux) {
	for _, rt := range h.routes {
		mux.Handle(rt.Method+" "+rt.Path, h.authed(rt))
	}
	mux.HandleFunc("GET /api/v1/openapi.json", h.serveOpenAPI)
	// Anything else under /api/v1/ is a JSON 405 (a known path, another method) or 404, not
	// the mux's text.
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		if allow := h.methodsOf(r.URL.Path); allow != "" {
			writeMethodNotAllowed(w, allow)
			return
		}
		writeError(w, r, nil, models.Errorf(models.ENOTFOUND, "No such endpoint: %s %s.", r.Method, r.URL.Path))
	})
}

// methodsOf lists the methods of the routes whose pattern matches path ("" for none).
func (h *API) methodsOf(path string) string {
	var methods []string
	segs := strings.Split(path, "/")
	for _, rt := range h.routes {
		pat := strings.Split(rt.Path, "/")
		if len(pat) != len(segs) {
			continue
		}
		match := true
		for i := range pat {
			if !(strings.HasPrefix(pat[i], "{") || pat[i] == segs[i]) {
				match = false
				break
			}
		}
		if match && !slices.Contains(methods, rt.Method) {
			methods = append(methods, rt.Method)
		}
	}
	return strings.Join(methods, ", ")
}

// apiHandler is one API endpoint: it runs for an authenticated actor and returns the status
// and the JSON body of its answer, or an error for writeError.
type apiHandler func(r *http.Request, a *models.Actor) (int, any, error)

// authed authenticates the request's bearer token and runs the route.
func (h *API) authed(rt apiRoute) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		a, err := h.actor(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="adnet"`)
			writeError(w, r, h.opt.Logger, err)
			return
		}
		status, body, err := rt.handle(r, a)
		if err != nil {
			writeError(w, r, h.opt.Logger, err)
			return
		}
		if raw, ok := body.(rawBody); ok {
			w.Header().Set("Content-Type", raw.contentType)
			w.Header().Set("Content-Disposition", `attachment; filename="`+raw.filename+`"`)
			w.WriteHeader(status)
			if err := raw.write(w); err != nil {
				h.opt.Logger.WithError(err).Debug("api: writing a download")
			}
			return
		}
		if loc, ok := body.(created); ok {
			w.Header().Set("Location", loc.location)
			body = loc.body
		}
		if status == http.StatusNoContent {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, body)
	})
}

// rawBody is an answer that is not JSON (a CSV download).
type rawBody struct {
	contentType, filename string
	write                 func(io.Writer) error
}

// created is a 201 answer with its Location.
type created struct {
	location string
	body     any
}

// actor authenticates the bearer token of r.
func (h *API) actor(r *http.Request) (*models.Actor, error) {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		return nil, models.Errorf(models.EUNAUTHORIZED, "Send an API token: Authorization: Bearer <token> (create one in the console or with `adnet token create`).")
	}
	return h.opt.Manage.TokenActor(r.Context(), strings.TrimSpace(tok), h.clientIP(r))
}

func (h *API) clientIP(r *http.Request) string {
	if h.opt.ClientIP != nil {
		if a := h.opt.ClientIP(r); a.IsValid() {
			return a.String()
		}
		return ""
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().String()
	}
	return ""
}

// readJSON reads r's body, which must be JSON of at most MaxAPIBody bytes: 415 for another
// content type, 413 for a larger body.
func readJSON(r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return nil, models.Errorf(models.EUNSUPPORTED, "Send JSON with Content-Type: application/json.")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxAPIBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, models.Errorf(models.ETOOLARGE, "The request body is larger than %d bytes.", MaxAPIBody)
	} else if err != nil {
		return nil, models.Errorf(models.EINVALID, "Reading the request body: %v", err)
	}
	return body, nil
}

// decodeInto decodes a JSON body onto v: unknown fields are an error naming the field, so a
// typo does not silently leave a setting unchanged.
func decodeInto(body []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return models.Invalid(te.Field, "%s: must be a %s", te.Field, te.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return models.Invalid(f, "%s: no such field", f)
		}
		return models.Errorf(models.EINVALID, "The body is not valid JSON: %v", err)
	}
	if dec.More() {
		return models.Errorf(models.EINVALID, "The body holds more than one JSON value.")
	}
	return nil
}

// decodeBody reads and decodes r's JSON body onto v.
func decodeBody(r *http.Request, v any) error {
	body, err := readJSON(r)
	if err != nil {
		return err
	}
	return decodeInto(body, v)
}

// patch returns an edit function that decodes r's body onto the stored object: a PATCH
// changes the fields it names and keeps the others.
func patch[T any](r *http.Request) (func(*T) error, error) {
	body, err := readJSON(r)
	if err != nil {
		return nil, err
	}
	return func(v *T) error { return decodeInto(body, v) }, nil
}

// pathID reads the path parameter name as a positive id.
func pathID(r *http.Request, name string) (int64, error) {
	s := r.PathValue(name)
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, models.Errorf(models.ENOTFOUND, "No such object: %q is not an id.", s)
	}
	return id, nil
}

// queryID reads the optional query parameter name as a positive id (nil when absent).
func queryID(r *http.Request, name string) (*int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return nil, nil
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return nil, models.Invalid(name, "%s = %q: must be a positive id", name, s)
	}
	return &id, nil
}

// page reads limit and offset (default 100, at most 1000).
func page(r *http.Request) (models.Page, error) {
	q := r.URL.Query()
	p := models.Page{Limit: 100}
	for _, f := range []struct {
		name string
		dst  *int
		max  int
	}{{"limit", &p.Limit, 1000}, {"offset", &p.Offset, 1 << 30}} {
		if s := q.Get(f.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 || n > f.max || f.name == "limit" && n == 0 {
				return p, models.Invalid(f.name, "%s = %q: must be a number from %d to %d", f.name, s, map[bool]int{true: 1, false: 0}[f.name == "limit"], f.max)
			}
			*f.dst = n
		}
	}
	return p, nil
}

// listBody is the answer of a list: the items and the page they are.
type listBody[T any] struct {
	Items  []T `json:"items"`
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
}

func list[T any](items []T, p models.Page) listBody[T] {
	if items == nil {
		items = []T{}
	}
	return listBody[T]{Items: items, Limit: p.Limit, Offset: p.Offset}
}

// status reads the optional status filter.
func status(r *http.Request) (models.Status, error) {
	s := models.Status(r.URL.Query().Get("status"))
	if s != "" && !s.Valid() {
		return "", models.Invalid("status", "status = %q: must be active, paused or archived", s)
	}
	return s, nil
}

// ctx is the request's context (a shorthand for the handlers' one call).
func ctx(r *http.Request) context.Context { return r.Context() }
