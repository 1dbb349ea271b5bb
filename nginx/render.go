package nginx

import (
	"bytes"
	"embed"
	"fmt"
	"io"
	"os/user"
	"strings"
	"text/template"
	"time"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// templates is parsed once; a template set is safe for concurrent Execute and never
// modified after parsing.
var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"dur":         nginxDuration,
	"readTimeout": func(d time.Duration) time.Duration { return d + ReadTimeoutMargin },
	"dir":         func(p string) string { return strings.TrimRight(p, "/") + "/" },
	"upstream":    upstreamServer,
}).ParseFS(templateFS, "templates/*.tmpl"))

// RenderSite writes the upstream and server blocks (and the http-level map and
// geoip_country they use) for inclusion in a system nginx's http block, e.g. as
// /etc/nginx/sites-available/adnet. Nothing is written when p is invalid.
func RenderSite(w io.Writer, p Params) error {
	return render(w, "site", p.withDefaults(), false)
}

// RenderMain writes a complete standalone nginx.conf (daemon off, private pid file, logs
// and temp paths, inline MIME types, the site) for `nginx -c FILE -p PREFIX`, as root or
// not, without touching /etc, /var/log or /run. With GeoIP present it loads the module.
// Nothing is written when p is invalid.
//
// An empty p.User becomes the user (and primary group) rendering the config. A standalone
// nginx is started by the same user that renders it (`make run`, tests), and started as root
// its workers would otherwise run as "nobody", which cannot enter a private (0700) checkout
// or temp directory holding the worker sockets: every request a 502 with "Permission denied"
// in the error log. Started by anyone else nginx ignores the directive.
func RenderMain(w io.Writer, p Params) error {
	if p.User == "" {
		p.User = invokingUser()
	}
	return render(w, "main", p.withDefaults(), true)
}

// invokingUser returns "name group" for the current process's user and primary group, or
// "" when either has no name (a uid without a passwd entry), leaving nginx's default.
func invokingUser() string {
	u, err := user.Current()
	if err != nil || !isSystemName(u.Username) {
		return ""
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil || !isSystemName(g.Name) {
		return ""
	}
	return u.Username + " " + g.Name
}

func render(w io.Writer, name string, p Params, main bool) error {
	return renderAny(w, name, p, func(p Params) error { return p.validate(main) })
}

// renderAny validates p and executes template name with it.
func renderAny[P any](w io.Writer, name string, p P, validate func(P) error) error {
	if err := validate(p); err != nil {
		return err
	}
	// Render into a buffer first so that a failure never leaves half a config behind.
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, p); err != nil {
		return fmt.Errorf("render nginx %s config: %w", name, err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write nginx %s config: %w", name, err)
	}
	return nil
}

// nginxDuration formats d in nginx's time syntax: whole seconds as "Ns", anything else as
// "Nms" (nginx's finest unit; Validate rejects positive durations below 1ms).
func nginxDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}
