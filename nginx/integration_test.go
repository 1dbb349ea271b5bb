package nginx_test

// Integration tests against the real nginx binary (scripts/install-deps.sh installs it;
// without it these tests fail). Each test runs its own private nginx on a free loopback
// port, with Go FastCGI backends on Unix sockets in the test's temp directory.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/fcgi"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"adnet/nginx"
	"adnet/nginx/nginxtest"
)

// backend is a Go FastCGI server on a Unix socket, standing in for an adnet worker.
type backend struct {
	Socket  string
	conns   atomic.Int64 // FastCGI connections accepted
	handled atomic.Int64 // requests that reached the handler
}

// countingListener counts accepted connections, to see whether nginx keeps them open.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// startBackend serves h over FastCGI on dir/name until the test ends. The default handler
// answers /ping with "pong" and /echo with the request as the worker sees it.
func startBackend(t *testing.T, dir, name string, h http.Handler) *backend {
	t.Helper()
	b := &backend{Socket: filepath.Join(dir, name)}
	l, err := net.Listen("unix", b.Socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if h == nil {
		h = echoHandler()
	}
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.handled.Add(1)
		h.ServeHTTP(w, r)
	})
	go func() { _ = fcgi.Serve(countingListener{l, &b.conns}, counted) }()
	return b
}

// echoed is what /echo returns; URL is the request URI as the client sent it.
type echoed struct {
	Method, URL, RemoteAddr, Host string
	Env                           map[string]string
}

func echoHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ping", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong") })
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echoed{r.Method, r.URL.RequestURI(), r.RemoteAddr, r.Host, fcgi.ProcessEnv(r)})
	})
	return mux
}

// startStatusServer serves plain HTTP on a Unix socket, standing in for the master's
// status page.
func startStatusServer(t *testing.T, path string) {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "master status for %s", r.URL.RequestURI())
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
}

// client returns an HTTP client for the test; its idle connections are closed at the end
// so that nginx can stop at once.
func client(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, string(body)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestNginxAcceptsRenderedConfig runs `nginx -t` on a rendered standalone config with
// every optional location and a user directive.
func TestNginxAcceptsRenderedConfig(t *testing.T) {
	bin := nginxtest.Binary(t)
	dir := t.TempDir()
	p := nginx.Params{
		Listen:          nginxtest.FreeAddr(t),
		WorkerSockets:   []string{filepath.Join(dir, "w0.sock"), filepath.Join(dir, "w1.sock"), filepath.Join(dir, "w2.sock")},
		RequestTimeout:  10 * time.Second,
		StaticDir:       filepath.Join(dir, "static"),
		DemoDir:         filepath.Join(dir, "demo"),
		StatusSocket:    filepath.Join(dir, "status.sock"),
		StatusAllow:     []string{"127.0.0.1", "::1", "10.0.0.0/8"},
		TempDir:         filepath.Join(dir, "tmp"),
		User:            currentUser(t),
		WorkerProcesses: "2",
	}
	nginxT(t, bin, dir, p)
}

// currentUser returns "user group" for the user running the test, so that the user
// directive names a user and group that exist on any host.
func currentUser(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Fatal(err)
	}
	return u.Username + " " + g.Name
}

// TestNginxAcceptsRenderedConfigGeoIP does the same with the GeoIP module and database
// (Debian: libnginx-mod-http-geoip, geoip-database, which scripts/install-deps.sh installs for
// `make test`): a host without them fails here rather than passing untested.
func TestNginxAcceptsRenderedConfigGeoIP(t *testing.T) {
	bin := nginxtest.Binary(t)
	geo := nginx.DetectGeoIP()
	if !geo.Present() {
		t.Fatal("no GeoIP module and database on this host: install libnginx-mod-http-geoip and geoip-database (scripts/install-deps.sh test)")
	}
	dir := t.TempDir()
	p := nginx.Params{
		Listen:         nginxtest.FreeAddr(t),
		WorkerSockets:  []string{filepath.Join(dir, "w0.sock")},
		RequestTimeout: 10 * time.Second,
		GeoIP:          geo,
		TempDir:        filepath.Join(dir, "tmp"),
	}
	conf := nginxT(t, bin, dir, p)
	if !strings.Contains(conf, "load_module "+geo.Module+";") {
		t.Fatalf("config lacks load_module:\n%s", conf)
	}
}

// nginxT renders p's main config into dir and checks it with `nginx -t`.
func nginxT(t *testing.T, bin, dir string, p nginx.Params) string {
	t.Helper()
	var buf bytes.Buffer
	if err := nginx.RenderMain(&buf, p); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(p.TempDir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-t", "-c", conf, "-p", dir+"/", "-e", filepath.Join(dir, "error.log")).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s\n--- config:\n%s", err, out, buf.String())
	}
	if !strings.Contains(string(out), "test is successful") {
		t.Fatalf("nginx -t did not report success:\n%s", out)
	}
	return buf.String()
}

// digits masks numbers, to compare the shape of two stub_status pages.
var digits = regexp.MustCompile(`[0-9]+`)

// TestNginxEndToEnd runs a private nginx from the rendered config in front of a Go FastCGI
// backend and checks the routes, the FastCGI parameters, stub_status, reload and restart.
func TestNginxEndToEnd(t *testing.T) {
	dir := t.TempDir()
	be := startBackend(t, dir, "w0.sock", nil)
	startStatusServer(t, filepath.Join(dir, "status.sock"))
	static, demo := filepath.Join(dir, "static"), filepath.Join(dir, "demo")
	writeFile(t, filepath.Join(static, "creatives", "banner.gif"), "GIF89a")
	writeFile(t, filepath.Join(static, "tag.js"), "/* adnet tag */")
	writeFile(t, filepath.Join(demo, "index.html"), "<p>demo page</p>")

	in := nginxtest.Start(t, nginx.Params{
		WorkerSockets:  []string{be.Socket},
		RequestTimeout: 10 * time.Second,
		StaticDir:      static,
		DemoDir:        demo,
		StatusSocket:   filepath.Join(dir, "status.sock"),
	})
	c := client(t)

	// The health check goes through nginx to the worker.
	resp, body := get(t, c, in.URL+"/ping")
	if resp.StatusCode != 200 || body != "pong" {
		t.Fatalf("/ping: %s %q", resp.Status, body)
	}
	if resp.Header.Get("Server") != "nginx" {
		t.Errorf("Server header %q: server_tokens off should hide the version", resp.Header.Get("Server"))
	}

	// The worker sees the request as the client sent it, with the inlined FastCGI params.
	resp, body = get(t, c, in.URL+"/echo?zone=7&r=a%2Fb")
	if resp.StatusCode != 200 {
		t.Fatalf("/echo: %s %q", resp.Status, body)
	}
	var e echoed
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("/echo: %v: %q", err, body)
	}
	_, port, _ := net.SplitHostPort(in.Params.Listen)
	if e.Method != "GET" || e.URL != "/echo?zone=7&r=a%2Fb" || e.Host != in.Params.Listen {
		t.Errorf("worker saw %s %s Host %s", e.Method, e.URL, e.Host)
	}
	if host, _, err := net.SplitHostPort(e.RemoteAddr); err != nil || host != "127.0.0.1" {
		t.Errorf("worker saw RemoteAddr %q, want 127.0.0.1:port", e.RemoteAddr)
	}
	wantEnv := map[string]string{
		"DOCUMENT_URI": "/echo", "REQUEST_SCHEME": "http", "SERVER_ADDR": "127.0.0.1",
		"SERVER_PORT": port, "SERVER_NAME": "_", "GEOIP_COUNTRY_CODE": "",
	}
	for k, want := range wantEnv {
		if got, ok := e.Env[k]; !ok || got != want {
			t.Errorf("FastCGI param %s = %q (present %v), want %q", k, got, ok, want)
		}
	}
	if _, ok := e.Env["HTTPS"]; ok {
		t.Errorf("HTTPS param passed on plain HTTP; if_not_empty should drop it")
	}

	// Static files, with long caching for creatives and short for the JS tag.
	for _, tc := range []struct{ path, body, ctype, cache string }{
		{"/static/creatives/banner.gif", "GIF89a", "image/gif", "max-age=604800"},
		{"/static/tag.js", "/* adnet tag */", "application/javascript", "max-age=300"},
	} {
		resp, body := get(t, c, in.URL+tc.path)
		if resp.StatusCode != 200 || body != tc.body || resp.Header.Get("Content-Type") != tc.ctype || resp.Header.Get("Cache-Control") != tc.cache {
			t.Errorf("%s: %s %q Content-Type %q Cache-Control %q, want 200 %q %q %q", tc.path, resp.Status, body,
				resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"), tc.body, tc.ctype, tc.cache)
		}
	}
	if resp, body := get(t, c, in.URL+"/demo/"); resp.StatusCode != 200 || body != "<p>demo page</p>" {
		t.Errorf("/demo/: %s %q", resp.Status, body)
	}
	if resp, _ := get(t, c, in.URL+"/static/missing.gif"); resp.StatusCode != 404 {
		t.Errorf("/static/missing.gif: %s, want 404 from nginx", resp.Status)
	}

	// The master's status page and metrics are proxied to its own socket.
	for _, path := range []string{"/status", "/status?json", "/status/workers", "/metrics"} {
		if resp, body := get(t, c, in.URL+path); resp.StatusCode != 200 || body != "master status for "+path {
			t.Errorf("%s: %s %q", path, resp.Status, body)
		}
	}

	// Oversized bodies stop at nginx.
	before := be.handled.Load()
	resp, err := c.Post(in.URL+"/postback", "text/plain", strings.NewReader(strings.Repeat("x", 64<<10)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || be.handled.Load() != before {
		t.Errorf("64 KiB POST: %s, worker handled %d, want 413 and none", resp.Status, be.handled.Load()-before)
	}

	// stub_status: the real bytes have the shape of the captured fixture and parse.
	resp, raw := get(t, c, in.URL+"/nginx_status")
	if resp.StatusCode != 200 {
		t.Fatalf("/nginx_status: %s", resp.Status)
	}
	fixture, err := os.ReadFile("testdata/stub_status_nginx-1.22.1.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := digits.ReplaceAllString(raw, "N"), digits.ReplaceAllString(string(fixture), "N"); got != want {
		t.Errorf("live stub_status %q differs in shape from the fixture %q", raw, fixture)
	}
	first, err := nginx.ParseStubStatus([]byte(raw))
	if err != nil {
		t.Fatalf("ParseStubStatus(%q): %v", raw, err)
	}
	// (Active = Reading + Writing + Waiting only roughly: nginx reads its counters one by one
	// while other connections change them.)
	if first.Requests < 10 || first.Accepts < 1 || first.Writing < 1 || first.Active < 1 {
		t.Errorf("implausible stub_status after a dozen requests: %+v", first)
	}

	// N more requests advance the request counter by at least N.
	const n = 25
	for range n {
		if resp, body := get(t, c, in.URL+"/ping"); resp.StatusCode != 200 || body != "pong" {
			t.Fatalf("/ping: %s %q", resp.Status, body)
		}
	}
	sc := in.StatusClient()
	ctx := t.Context()
	afterN, err := sc.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if afterN.Requests < first.Requests+n {
		t.Errorf("Requests went from %d to %d after %d requests", first.Requests, afterN.Requests, n)
	}
	if r := nginx.Delta(first, afterN, time.Second); r.Reset || r.Requests < n {
		t.Errorf("Delta over %d requests = %+v", n, r)
	}

	// A reload keeps the counters (same master, new workers).
	pid := in.PID()
	in.Reload()
	if in.PID() != pid {
		t.Fatalf("reload changed the master pid %d -> %d", pid, in.PID())
	}
	afterReload, err := sc.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r := nginx.Delta(afterN, afterReload, time.Second); r.Reset || afterReload.Requests <= afterN.Requests || afterReload.Accepts < afterN.Accepts {
		t.Errorf("counters did not survive a reload: %+v -> %+v (%+v)", afterN, afterReload, r)
	}
	if resp, body := get(t, c, in.URL+"/ping"); resp.StatusCode != 200 || body != "pong" {
		t.Fatalf("/ping after reload: %s %q", resp.Status, body)
	}

	// A restart resets them, and Delta says so.
	in.Restart()
	if in.PID() == pid {
		t.Fatalf("restart kept the master pid %d", pid)
	}
	afterRestart, err := sc.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := nginx.Delta(afterReload, afterRestart, time.Second)
	if !r.Reset || r.Requests != afterRestart.Requests || afterRestart.Requests >= afterReload.Requests {
		t.Errorf("restart not detected: %+v -> %+v gives %+v", afterReload, afterRestart, r)
	}
	if resp, body := get(t, c, in.URL+"/ping"); resp.StatusCode != 200 || body != "pong" {
		t.Fatalf("/ping after restart: %s %q", resp.Status, body)
	}
}

// TestNginxStatusRestricted checks that the status locations refuse clients outside
// StatusAllow, and that Client.Fetch reports a refused or malformed page as an error.
func TestNginxStatusRestricted(t *testing.T) {
	dir := t.TempDir()
	be := startBackend(t, dir, "w0.sock", nil)
	startStatusServer(t, filepath.Join(dir, "status.sock"))
	static := filepath.Join(dir, "static")
	writeFile(t, filepath.Join(static, "big.txt"), strings.Repeat("x", 5000))
	writeFile(t, filepath.Join(static, "garbage.txt"), "Active connections: lots\n")
	in := nginxtest.Start(t, nginx.Params{
		WorkerSockets:  []string{be.Socket},
		RequestTimeout: 10 * time.Second,
		StaticDir:      static,
		StatusSocket:   filepath.Join(dir, "status.sock"),
		StatusAllow:    []string{"192.0.2.0/24"}, // TEST-NET-1: not us
	})
	c := client(t)
	for _, path := range []string{"/nginx_status", "/status", "/status/x", "/metrics"} {
		if resp, _ := get(t, c, in.URL+path); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s from loopback: %s, want 403", path, resp.Status)
		}
	}
	// The application is not restricted.
	if resp, body := get(t, c, in.URL+"/ping"); resp.StatusCode != 200 || body != "pong" {
		t.Errorf("/ping: %s %q", resp.Status, body)
	}

	ctx := t.Context()
	if _, err := in.StatusClient().Fetch(ctx); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("Fetch of a forbidden page: %v, want a 403 error", err)
	}
	big := nginx.Client{URL: in.URL + "/static/big.txt", HTTP: c}
	if _, err := big.Fetch(ctx); !errors.Is(err, nginx.ErrMalformedStubStatus) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Fetch of a 5000-byte page: %v, want a size error", err)
	}
	garbage := nginx.Client{URL: in.URL + "/static/garbage.txt", HTTP: c}
	if _, err := garbage.Fetch(ctx); !errors.Is(err, nginx.ErrMalformedStubStatus) || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("Fetch of a malformed page: %v, want a parse error", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := in.StatusClient().Fetch(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch with a cancelled context: %v", err)
	}
}

// TestNginxTrustedProxies: behind a TLS terminator on the same host (a trusted proxy on
// loopback), the status pages see the real client from X-Forwarded-For and refuse it; the
// worker's REMOTE_ADDR is the real client too. Without trusted proxies the header is ignored,
// so nobody else can choose their address with it.
func TestNginxTrustedProxies(t *testing.T) {
	dir := t.TempDir()
	be := startBackend(t, dir, "w0.sock", nil)
	startStatusServer(t, filepath.Join(dir, "status.sock"))
	params := nginx.Params{
		WorkerSockets:  []string{be.Socket},
		RequestTimeout: 10 * time.Second,
		StatusSocket:   filepath.Join(dir, "status.sock"),
		StatusAllow:    []string{"127.0.0.1"},
	}
	c := client(t)
	fetch := func(in *nginxtest.Instance, path, xff string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", in.URL+path, nil)
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	withProxy := params
	withProxy.TrustedProxies = []string{"127.0.0.1/32"}
	in := nginxtest.Start(t, withProxy)
	for path, want := range map[string]int{"/nginx_status": 403, "/status": 403, "/metrics": 403} {
		if code, _ := fetch(in, path, "203.0.113.9"); code != want {
			t.Errorf("%s for a visitor behind the local terminator: %d, want %d", path, code, want)
		}
		if code, _ := fetch(in, path, ""); code != 200 {
			t.Errorf("%s from the host itself: %d, want 200", path, code)
		}
	}
	_, body := fetch(in, "/echo", "198.51.100.1, 203.0.113.9")
	var e echoed
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("/echo: %v: %q", err, body)
	}
	if host, _, _ := net.SplitHostPort(e.RemoteAddr); host != "203.0.113.9" && e.RemoteAddr != "203.0.113.9" {
		t.Errorf("worker saw REMOTE_ADDR %q, want the last untrusted hop 203.0.113.9", e.RemoteAddr)
	}

	plain := nginxtest.Start(t, params)
	if code, _ := fetch(plain, "/nginx_status", "203.0.113.9"); code != 200 {
		t.Errorf("without trusted proxies X-Forwarded-For must be ignored: %d", code)
	}
}
