package console

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"adnet/handlers"
	"adnet/models"
)

// view is what every page template gets: the layout's parts and the page's own data (D).
type view struct {
	Title  string
	Nav    string // the menu entry to highlight
	Actor  *models.Actor
	CSRF   string
	Notice string // a success message
	Error  string // the error of a failed action, shown above the form
	Form   *form
	D      any
}

// form is a submitted (or pre-filled) form: its values and the field its error names, so
// that a failed submission shows the input again with the message beside the field.
type form struct {
	V     url.Values
	Field string
	Msg   string
}

// fieldAliases maps the field an error names (the model's JSON name) to the form input the
// message is shown beside, where they differ.
var fieldAliases = map[string]string{
	"daily": "daily_impressions", "lifetime": "lifetime_impressions", "freq_window": "freq_cap",
	"countries": "countries", "exclude_countries": "countries", "file": "file",
}

func newForm(v url.Values, err error) *form {
	f := &form{V: v}
	if f.V == nil {
		f.V = url.Values{}
	}
	if err != nil {
		f.Field, f.Msg = models.ErrorField(err), models.ErrorMessage(err)
		if a, ok := fieldAliases[f.Field]; ok {
			f.Field = a
		}
	}
	return f
}

// fieldView is one input for the "field" template.
type fieldView struct {
	Name, Label, Type, Value, Err, Hint string
	Options                             []string
}

var funcs = template.FuncMap{
	"field": func(f *form, name, label, typ string, hint ...string) fieldView {
		fv := fieldView{Name: name, Label: label, Type: typ}
		if f != nil {
			fv.Value = f.V.Get(name)
			if f.Field == name {
				fv.Err = f.Msg
			}
		}
		if len(hint) > 0 {
			fv.Hint = hint[0]
		}
		return fv
	},
	"choice": func(f *form, name, label, options string) fieldView {
		fv := fieldView{Name: name, Label: label, Type: "select", Options: strings.Split(options, ",")}
		if f != nil {
			fv.Value = f.V.Get(name)
			if f.Field == name {
				fv.Err = f.Msg
			}
		}
		return fv
	},
	"val":   func(f *form, name string) string { return f.V.Get(name) },
	"has":   func(f *form, name, v string) bool { return f != nil && containsValue(f.V[name], v) },
	"money": formatMicros,
	"bp": func(bp int64) string {
		return strconv.FormatFloat(float64(bp)/100, 'f', 2, 64) + " %"
	},
	"pct":  func(x float64) string { return strconv.FormatFloat(x*100, 'f', 2, 64) + " %" },
	"date": func(t time.Time) string { return t.Format("2006-01-02 15:04") },
	"datep": func(t *time.Time) string {
		if t == nil {
			return "—"
		}
		return t.Format("2006-01-02 15:04")
	},
	"deref": func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	},
	"int64": func(i int) int64 { return int64(i) },
	// metricsFor pairs metrics with what the actor's role is shown of the money: an
	// advertiser its spend, a publisher its revenue, an admin both.
	"metricsFor": func(m models.ReportMetrics, a *models.Actor) metricsView {
		return metricsView{M: m, Spend: a.Role != models.RolePublisher, Revenue: a.Role != models.RoleAdvertiser}
	},
}

// metricsView is the "metrics" template's data.
type metricsView struct {
	M              models.ReportMetrics
	Spend, Revenue bool
}

func containsValue(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// formatMicros shows micro-units as currency units with the decimals that matter ("1.5").
func formatMicros(m int64) string {
	sign := ""
	if m < 0 {
		sign, m = "-", -m // adjustments are negative
	}
	s := sign + strconv.FormatInt(m/1_000_000, 10) + "." + fmt.Sprintf("%06d", m%1_000_000)
	s = strings.TrimRight(s, "0")
	if strings.HasSuffix(s, ".") {
		s += "00"
	}
	return s
}

// parse parses each page template with the layout and the shared partials.
func (c *Console) parse() error {
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	for _, f := range files {
		name := path.Base(f)
		if name == "layout.html" || name == "partials.html" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", f)
		if err != nil {
			return fmt.Errorf("console template %s: %w", name, err)
		}
		c.pages[strings.TrimSuffix(name, ".html")] = t
	}
	return nil
}

// render writes page with v, status 200 unless status says otherwise. It renders to a
// buffer first: a template error is a 500, never half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, s *session, status int, page string, v *view) {
	if s != nil {
		v.Actor, v.CSRF = s.actor, s.csrf
	}
	t, ok := c.pages[page]
	if !ok {
		c.opt.Logger.WithField("page", page).Error("console: no such template")
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		c.opt.Logger.WithError(err).WithField("page", page).Error("console: template")
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// fail renders the error page for err with its HTTP status (handlers.StatusOf, the API's
// mapping): a missing or foreign object is the same 404.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	code := models.ErrorCode(err)
	if code == models.EINTERNAL {
		c.opt.Logger.WithError(err).WithField("path", r.URL.Path).Error("console: internal error")
	}
	status := handlers.StatusOf(code)
	title := http.StatusText(status)
	c.render(w, r, s, status, "error", &view{Title: title, Error: models.ErrorMessage(err), D: status})
}

// notices are the success messages a redirect can carry, by key: the URL names one, so that
// a crafted link cannot put text of its choosing on a console page.
var notices = map[string]string{
	"signed-out":             "You are signed out.",
	"password-changed":       "Password changed: sign in with the new one.",
	"token-revoked":          "Token revoked.",
	"user-deleted":           "User deleted.",
	"campaign-saved":         "Campaign saved.",
	"campaign-approved":      "Campaign approved.",
	"campaign-rejected":      "Campaign rejected.",
	"creative-saved":         "Creative saved.",
	"creative-approved":      "Creative approved.",
	"creative-rejected":      "Creative rejected.",
	"linked":                 "Linked: the workers serve it from their next inventory refresh.",
	"unlinked":               "Unlinked.",
	"advertiser-saved":       "Advertiser saved.",
	"secret-rotated":         "New postback secret: update your server's postbacks.",
	"publisher-saved":        "Publisher saved.",
	"site-saved":             "Site saved.",
	"zone-saved":             "Zone saved.",
	"flag-confirmed":         "Flag confirmed; its period's billed events are restated as invalid (see the reports' adjustment columns).",
	"flag-restated":          "Restatement topped up: the period's events counted since the confirmation are restated too.",
	"flag-restated-nothing":  "Nothing to restate: the ledger already restates every event of the flag's period.",
	"flag-dismissed":         "Flag dismissed.",
	"flag-unconfirmed":       "Confirmation withdrawn: the flag is dismissed and its restatement reversed in the ledger.",
	"flag-dismissed-resumed": "Flag dismissed; the zone it paused serves again.",
	"blocklist-saved":        "Blocklist saved; workers load it within a minute.",
}

// redirect answers a successful POST by sending the browser to url (303: a reload does not
// post again), with the notice of key shown there.
func redirect(w http.ResponseWriter, r *http.Request, to, key string) {
	if key != "" {
		sep := "?"
		if strings.Contains(to, "?") {
			sep = "&"
		}
		to += sep + "notice=" + url.QueryEscape(key)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// notice is the success message the URL names ("" for an unknown key).
func notice(r *http.Request) string { return notices[r.URL.Query().Get("notice")] }

// decided is the notice suffix of an approval decision.
func decided(r *http.Request) string {
	if r.PostFormValue("decision") == "approve" {
		return "approved"
	}
	return "rejected"
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// pathID reads the {id} of the route; an id that is not a positive number is a 404.
func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, models.Errorf(models.ENOTFOUND, "There is no such page.")
	}
	return id, nil
}

// pageSize is the number of rows of a list page.
const pageSize = 25

// pager is a list's search and paging: ?q= and ?page= (from 1).
type pager struct {
	Q          string
	Page       int
	Prev, Next string // URLs, "" at the ends
	base       string
}

func newPager(r *http.Request) *pager {
	p := &pager{Q: strings.TrimSpace(r.URL.Query().Get("q")), Page: 1, base: r.URL.Path}
	if n, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil && n > 1 && n < 100000 {
		p.Page = n
	}
	return p
}

// page returns the store's page: one row more than shown, to know whether there is a next.
func (p *pager) page() models.Page {
	return models.Page{Offset: (p.Page - 1) * pageSize, Limit: pageSize + 1}
}

// trim cuts the extra row off a list of n rows and sets the links; it returns the rows to show.
func (p *pager) trim(n int) int {
	link := func(page int) string {
		v := url.Values{}
		if p.Q != "" {
			v.Set("q", p.Q)
		}
		v.Set("page", strconv.Itoa(page))
		return p.base + "?" + v.Encode()
	}
	if p.Page > 1 {
		p.Prev = link(p.Page - 1)
	}
	if n > pageSize {
		p.Next = link(p.Page + 1)
		return pageSize
	}
	return n
}

// formInt reads an optional integer field (empty: 0).
func formInt(v url.Values, name string) (int64, error) {
	s := strings.TrimSpace(v.Get(name))
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, models.Invalid(name, "Enter a whole number.")
	}
	return n, nil
}

// formMoney reads an optional amount in currency units into micro-units (empty: 0).
func formMoney(v url.Values, name string) (int64, error) {
	s := strings.TrimSpace(v.Get(name))
	if s == "" {
		return 0, nil
	}
	m, err := models.ParseMicros(s)
	if err != nil {
		return 0, models.Invalid(name, "%s", models.ErrorMessage(err))
	}
	return m, nil
}

// formList splits a comma- or space-separated field.
func formList(v url.Values, name string) []string {
	var out []string
	for _, s := range strings.FieldsFunc(v.Get(name), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// handlersStatus is the HTTP status of a failed form submission.
func handlersStatus(err error) int { return handlers.StatusOf(models.ErrorCode(err)) }
