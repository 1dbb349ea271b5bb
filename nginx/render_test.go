package nginx

import (
	"bytes"
	"fmt"
	"os/user"
	"regexp"
	"strings"
	"testing"
	"time"
)

func renderSite(t *testing.T, p Params) string {
	t.Helper()
	var buf bytes.Buffer
	if err := RenderSite(&buf, p); err != nil {
		t.Fatalf("RenderSite: %v", err)
	}
	checkBraces(t, buf.String())
	return buf.String()
}

func renderMain(t *testing.T, p Params) string {
	t.Helper()
	var buf bytes.Buffer
	if err := RenderMain(&buf, p); err != nil {
		t.Fatalf("RenderMain: %v", err)
	}
	checkBraces(t, buf.String())
	return buf.String()
}

// directives returns the configuration without comments, one trimmed directive line each.
func directives(conf string) []string {
	var out []string
	for _, line := range strings.Split(conf, "\n") {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// checkBraces fails t when blocks are not balanced (outside comments).
func checkBraces(t *testing.T, conf string) {
	t.Helper()
	depth := 0
	for _, line := range directives(conf) {
		depth += strings.Count(line, "{") - strings.Count(line, "}")
		if depth < 0 {
			t.Fatalf("unbalanced '}' at %q in:\n%s", line, conf)
		}
	}
	if depth != 0 {
		t.Fatalf("%d unclosed blocks in:\n%s", depth, conf)
	}
}

// hasDirective reports whether conf has a directive line equal to want after collapsing
// runs of spaces.
func hasDirective(conf, want string) bool {
	space := regexp.MustCompile(`\s+`)
	for _, d := range directives(conf) {
		if space.ReplaceAllString(d, " ") == want {
			return true
		}
	}
	return false
}

func TestRenderSite(t *testing.T) {
	p := validParams()
	p.Keepalive = 12
	p.NextUpstreamTries = 2
	conf := renderSite(t, p)

	var servers []string
	for _, d := range directives(conf) {
		if strings.HasPrefix(d, "server unix:") {
			servers = append(servers, d)
		}
	}
	wantServers := []string{
		"server unix:/run/adnet/w0.sock max_fails=0;",
		"server unix:/run/adnet/w1.sock max_fails=0;",
	}
	if strings.Join(servers, "\n") != strings.Join(wantServers, "\n") {
		t.Errorf("upstream servers:\n%s\nwant:\n%s", strings.Join(servers, "\n"), strings.Join(wantServers, "\n"))
	}

	for _, want := range []string{
		"upstream adnet_workers {",
		"least_conn;",
		"keepalive 12;",
		"keepalive_timeout 4s;",
		"listen 127.0.0.1:8080;",
		"server_name _;",
		"server_tokens off;",
		"client_max_body_size 16k;",
		"fastcgi_keep_conn on;",
		"fastcgi_next_upstream error timeout http_503;",
		"location = /track/conv {",
		"fastcgi_next_upstream error timeout http_503 non_idempotent;",
		"fastcgi_next_upstream_tries 2;",
		"fastcgi_connect_timeout 2s;",
		"fastcgi_read_timeout 15s;",
		"fastcgi_send_timeout 15s;",
		"fastcgi_next_upstream_timeout 15s;",
		"fastcgi_param REQUEST_METHOD $request_method;",
		"fastcgi_param REQUEST_URI $request_uri;",
		"fastcgi_param QUERY_STRING $query_string;",
		"fastcgi_param CONTENT_TYPE $content_type;",
		"fastcgi_param CONTENT_LENGTH $content_length;",
		`fastcgi_param SCRIPT_NAME "";`,
		"fastcgi_param DOCUMENT_URI $document_uri;",
		"fastcgi_param SERVER_PROTOCOL $server_protocol;",
		"fastcgi_param REQUEST_SCHEME $scheme;",
		"fastcgi_param HTTPS $https if_not_empty;",
		"fastcgi_param REMOTE_ADDR $remote_addr;",
		"fastcgi_param REMOTE_PORT $remote_port;",
		"fastcgi_param SERVER_ADDR $server_addr;",
		"fastcgi_param SERVER_PORT $server_port;",
		"fastcgi_param SERVER_NAME $server_name;",
		`fastcgi_param GEOIP_COUNTRY_CODE "";`,
		"location = /nginx_status {",
		"stub_status;",
		"allow 127.0.0.1;",
		"allow ::1;",
		"deny all;",
		"location = /status {",
		"location /status/ {",
		"location = /metrics {",
		"proxy_pass http://unix:/run/adnet/status.sock;",
		"location /static/ {",
		"alias /srv/adnet/static/;",
		"expires $adnet_static_expires;",
		"location /demo/ {",
		"alias /srv/adnet/demo/;",
		"location = /ping {",
		"location / {",
		"fastcgi_pass adnet_workers;",
	} {
		if !hasDirective(conf, want) {
			t.Errorf("site config lacks %q", want)
		}
	}
	for _, unwanted := range []string{"include", "geoip_country", "load_module", "$geoip_country_code", "daemon", "user "} {
		for _, d := range directives(conf) {
			if strings.HasPrefix(d, unwanted) || strings.Contains(d, " "+unwanted) {
				t.Errorf("site config has %q in %q", unwanted, d)
			}
		}
	}
	// Every location that reaches the status pages is restricted: one "deny all" per
	// restricted location (nginx_status, /status, /status/, /metrics).
	if n := strings.Count(strings.Join(directives(conf), "\n"), "deny all;"); n != 4 {
		t.Errorf("got %d 'deny all', want 4", n)
	}
}

func TestRenderSiteOptionalLocations(t *testing.T) {
	p := validParams()
	p.StaticDir, p.DemoDir, p.StatusSocket = "", "", ""
	p.StatusAllow = []string{"10.1.0.0/16"}
	conf := renderSite(t, p)
	for _, absent := range []string{"location /static/", "location /demo/", "location = /status", "location = /metrics", "proxy_pass", "allow 127.0.0.1;"} {
		if strings.Contains(strings.Join(directives(conf), "\n"), absent) {
			t.Errorf("site config has %q though it was not asked for", absent)
		}
	}
	for _, want := range []string{"location = /nginx_status {", "allow 10.1.0.0/16;", "location = /ping {", "location / {"} {
		if !hasDirective(conf, want) {
			t.Errorf("site config lacks %q", want)
		}
	}
}

func TestRenderSiteTimeouts(t *testing.T) {
	p := validParams()
	p.RequestTimeout = 1500 * time.Millisecond
	p.ConnectTimeout = 250 * time.Millisecond
	conf := renderSite(t, p)
	for _, want := range []string{"fastcgi_read_timeout 6500ms;", "fastcgi_connect_timeout 250ms;"} {
		if !hasDirective(conf, want) {
			t.Errorf("site config lacks %q", want)
		}
	}
}

func TestRenderGeoIP(t *testing.T) {
	p := validParams()
	p.GeoIP = GeoIP{Module: "/usr/lib/nginx/modules/ngx_http_geoip_module.so", CountryDB: "/usr/share/GeoIP/GeoIP.dat"}
	site := renderSite(t, p)
	for _, want := range []string{"geoip_country /usr/share/GeoIP/GeoIP.dat;", "fastcgi_param GEOIP_COUNTRY_CODE $geoip_country_code;"} {
		if !hasDirective(site, want) {
			t.Errorf("site config lacks %q", want)
		}
	}
	if hasDirective(site, `fastcgi_param GEOIP_COUNTRY_CODE "";`) || strings.Contains(strings.Join(directives(site), "\n"), "load_module") {
		t.Errorf("site config with GeoIP still passes the empty parameter or loads the module:\n%s", site)
	}

	p.TempDir = "/tmp/adnet-nginx"
	main := renderMain(t, p)
	// load_module must be at top level, before the events and http blocks.
	lm := strings.Index(main, "\nload_module /usr/lib/nginx/modules/ngx_http_geoip_module.so;\n")
	if lm < 0 || lm > strings.Index(main, "\nevents {") || lm > strings.Index(main, "\nhttp {") {
		t.Errorf("load_module missing or not at top level before events/http:\n%s", main)
	}
	if n := strings.Count(main, "\ngeoip_country "); n != 1 {
		t.Errorf("main config has %d geoip_country, want 1", n)
	}
}

func TestRenderMain(t *testing.T) {
	p := validParams()
	p.TempDir = "/tmp/adnet-nginx"
	conf := renderMain(t, p)
	for _, want := range []string{
		"daemon off;",
		"worker_processes auto;",
		"pid /tmp/adnet-nginx/nginx.pid;",
		"error_log /tmp/adnet-nginx/error.log notice;",
		"events {",
		"http {",
		"client_body_temp_path /tmp/adnet-nginx/client_body;",
		"fastcgi_temp_path /tmp/adnet-nginx/fastcgi;",
		"proxy_temp_path /tmp/adnet-nginx/proxy;",
		"uwsgi_temp_path /tmp/adnet-nginx/uwsgi;",
		"scgi_temp_path /tmp/adnet-nginx/scgi;",
		"application/javascript js;",
		"image/gif gif;",
		"default_type application/octet-stream;",
		"access_log off;",
		"upstream adnet_workers {",
	} {
		if !hasDirective(conf, want) {
			t.Errorf("main config lacks %q", want)
		}
	}
	for _, d := range directives(conf) {
		for _, unwanted := range []string{"include ", "load_module ", "/etc/", "/var/"} {
			if strings.Contains(d, unwanted) {
				t.Errorf("main config has %q in %q", unwanted, d)
			}
		}
	}

	p.User, p.WorkerProcesses, p.ErrorLog, p.AccessLog = "www-data", "3", "stderr", "/tmp/adnet-nginx/access.log"
	conf = renderMain(t, p)
	for _, want := range []string{"user www-data;", "worker_processes 3;", "error_log stderr notice;", "access_log /tmp/adnet-nginx/access.log;"} {
		if !hasDirective(conf, want) {
			t.Errorf("main config lacks %q", want)
		}
	}
}

// TestRenderConnectionLimits: worker_connections and worker_rlimit_nofile follow the
// client connections (default 10,000), each of which may hold an upstream connection, plus
// the keepalive pool; the site block tells a system nginx's admin the same numbers.
func TestRenderConnectionLimits(t *testing.T) {
	p := validParams() // 3 worker sockets
	p.TempDir = "/tmp/adnet-nginx"
	p.Keepalive = 64
	conf := renderMain(t, p)
	wantConns := 2*10000 + 64 + ConnectionReserve
	for _, want := range []string{
		fmt.Sprintf("worker_connections %d;", wantConns),
		fmt.Sprintf("worker_rlimit_nofile %d;", wantConns+FileReserve),
	} {
		if !hasDirective(conf, want) {
			t.Errorf("main config lacks %q", want)
		}
	}
	if wantConns < 2*10000+64 {
		t.Fatalf("worker_connections %d cannot hold 10,000 clients with an upstream connection each plus the keepalive pool", wantConns)
	}
	if strings.Contains(conf, "worker_connections 1024;") {
		t.Error("main config still has the fixed worker_connections 1024")
	}

	p.ClientConnections, p.Keepalive = 3000, 24
	conf = renderMain(t, p)
	if !hasDirective(conf, fmt.Sprintf("worker_connections %d;", 6024+ConnectionReserve)) ||
		!hasDirective(conf, fmt.Sprintf("worker_rlimit_nofile %d;", 6024+ConnectionReserve+FileReserve)) {
		t.Errorf("client_connections 3000, keepalive 24: wrong limits in\n%s", conf)
	}
	site := renderSite(t, p)
	if !strings.Contains(site, fmt.Sprintf("worker_connections %d;", 6024+ConnectionReserve)) ||
		!strings.Contains(site, fmt.Sprintf("LimitNOFILE=%d", 6024+ConnectionReserve+FileReserve)) {
		t.Errorf("site does not tell the system nginx the limits it needs:\n%s", site)
	}
}

// TestRenderMainUserDefaultsToInvokingUser: a standalone nginx started as root from a
// private checkout must run its workers as that user, not nobody (502 Permission denied).
func TestRenderMainUserDefaultsToInvokingUser(t *testing.T) {
	p := validParams()
	p.TempDir = "/tmp/adnet-nginx"
	conf := renderMain(t, p)
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Fatal(err)
	}
	if want := "user " + u.Username + " " + g.Name + ";"; !hasDirective(conf, want) {
		t.Errorf("main config lacks %q", want)
	}
	// The site for a system nginx never sets a user: that is nginx.conf's business.
	if site := renderSite(t, p); strings.Contains(strings.Join(directives(site), "\n"), "user ") {
		t.Errorf("site sets a user:\n%s", site)
	}
}

func TestRenderRejectsInvalidParams(t *testing.T) {
	p := validParams()
	p.StaticDir = "/srv/x; include /etc/passwd"
	var buf bytes.Buffer
	if err := RenderSite(&buf, p); err == nil || buf.Len() != 0 {
		t.Errorf("RenderSite with an injected directive: err %v, wrote %d bytes", err, buf.Len())
	}
	p = validParams() // valid for the site, but the main config needs TempDir
	if err := RenderMain(&buf, p); err == nil || !strings.Contains(err.Error(), "TempDir:") || buf.Len() != 0 {
		t.Errorf("RenderMain without TempDir: err %v, wrote %d bytes", err, buf.Len())
	}
}

// TestKeepaliveTimeout: nginx's upstream keepalive_timeout stays below both the workers'
// idle_timeout and shutdown_timeout, so that nginx always closes an idle connection first.
func TestKeepaliveTimeout(t *testing.T) {
	for _, c := range []struct{ idle, shutdown, want time.Duration }{
		{5 * time.Minute, 30 * time.Second, DefaultKeepaliveTimeout},
		{5 * time.Minute, 3 * time.Second, 1500 * time.Millisecond},
		{time.Second, 30 * time.Second, 500 * time.Millisecond},
		{time.Millisecond, time.Millisecond, time.Millisecond},
	} {
		got := KeepaliveTimeout(c.idle, c.shutdown)
		if got != c.want {
			t.Errorf("KeepaliveTimeout(%s, %s) = %s, want %s", c.idle, c.shutdown, got, c.want)
		}
		if c.idle > time.Millisecond && (got >= c.idle || got >= c.shutdown) {
			t.Errorf("KeepaliveTimeout(%s, %s) = %s is not below both", c.idle, c.shutdown, got)
		}
	}
}

// TestRenderSiteTCPWorkers: workers listening on TCP (FastCGI from nginx on another host)
// get one upstream server line each, with the same max_fails=0 as Unix sockets; a console
// pool on TCP too.
func TestRenderSiteTCPWorkers(t *testing.T) {
	p := validParams()
	p.WorkerSockets = []string{"10.0.0.2:9000", "10.0.0.2:9001", "[2001:db8::2]:9002"}
	p.ConsoleSockets = []string{"10.0.0.2:9100"}
	conf := renderSite(t, p)
	for _, want := range []string{
		"server 10.0.0.2:9000 max_fails=0;",
		"server 10.0.0.2:9001 max_fails=0;",
		"server [2001:db8::2]:9002 max_fails=0;",
		"server 10.0.0.2:9100 max_fails=0;",
	} {
		if !hasDirective(conf, want) {
			t.Errorf("site lacks %q", want)
		}
	}
	for _, bad := range []string{"10.0.0.2", "host:9000", "10.0.0.2:0", "10.0.0.2:9000;", "relative/sock"} {
		p := validParams()
		p.WorkerSockets = []string{bad}
		if err := RenderSite(&bytes.Buffer{}, p); err == nil {
			t.Errorf("worker address %q accepted", bad)
		}
	}
}
