// Package nginx renders adnet's nginx configuration (the site block for a system nginx, or a
// complete standalone nginx.conf for a private instance) and reads nginx's stub_status page.
//
// The configuration puts nginx in front of adnet's FastCGI workers: one upstream with a
// server line per worker socket, kept-alive FastCGI connections, retries on a worker that
// sheds load with 503, static files for creatives and the publisher tag, and the status pages
// restricted to operators. The templates carry comments saying why each setting is chosen.
package nginx

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"adnet/models"
)

// Defaults applied by RenderSite, RenderMain and Validate to zero-valued fields.
const (
	DefaultServerName      = "_"
	DefaultWorkerProcesses = "auto"
	DefaultConnectTimeout  = 2 * time.Second
	// DefaultKeepalivePerSocket sizes the upstream keepalive cache when Params.Keepalive is 0:
	// this many idle connections per worker socket, per nginx worker process.
	DefaultKeepalivePerSocket = 8
	// DefaultKeepaliveTimeout is the upstream keepalive_timeout when Params.KeepaliveTimeout
	// is 0: how long nginx keeps an idle connection to a worker. It must stay below the
	// workers' idle_timeout and shutdown_timeout, so that nginx, never the worker, closes
	// an idle connection (see KeepaliveTimeout).
	DefaultKeepaliveTimeout = 4 * time.Second
	// DefaultMaxNextUpstreamTries bounds the default of Params.NextUpstreamTries, which is
	// the number of worker sockets up to this many: retrying beyond a few workers that all
	// shed load only multiplies the work done for a request that will fail anyway.
	DefaultMaxNextUpstreamTries = 3
	// ReadTimeoutMargin is added to Params.RequestTimeout to get fastcgi_read_timeout, so
	// the worker, not nginx, decides when a request has taken too long.
	ReadTimeoutMargin = 5 * time.Second
	// DefaultClientConnections is the default of Params.ClientConnections. The system adnet
	// replaces showed 5,620 active connections (5,452 of them idle keep-alive) on its
	// stub_status; 10,000 holds that with room to spare.
	DefaultClientConnections = 10000
	// ConnectionReserve is added to worker_connections beyond the client and upstream
	// connections: listening sockets, the monitor's stub_status polls and the proxied
	// connections to the master's status socket.
	ConnectionReserve = 128
	// FileReserve is added to worker_connections to get worker_rlimit_nofile: log files,
	// and the static files being sent (a client connection fetching a creative holds a
	// file instead of an upstream connection, so 2 per client already covers those).
	FileReserve = 256
)

// maxSocketPath is the longest Unix socket path Linux accepts (sun_path is 108 bytes
// including the terminating NUL); a longer one fails only when nginx connects, as a 502.
const maxSocketPath = 107

// Params is everything the templates need. The caller maps adnet's configuration onto it;
// zero values get the defaults documented on each field.
type Params struct {
	Listen            string        // address nginx listens on, "host:port" or "port", e.g. "127.0.0.1:8080"
	ServerName        string        // server_name; "_" (catch-all) when empty
	WorkerSockets     []string      // absolute Unix socket paths or IP:PORT TCP addresses (FastCGI over TCP), one upstream server line each
	Keepalive         int           // idle upstream connections kept per nginx worker; 0 = 8 per socket
	KeepaliveTimeout  time.Duration // upstream keepalive_timeout; 0 = DefaultKeepaliveTimeout (see KeepaliveTimeout)
	RequestTimeout    time.Duration // the workers' request_timeout (required); fastcgi_read_timeout is this + ReadTimeoutMargin
	ConnectTimeout    time.Duration // fastcgi_connect_timeout; 0 = 2s
	NextUpstreamTries int           // fastcgi_next_upstream_tries; 0 = min(len(WorkerSockets), 3)
	StaticDir         string        // served at /static/ (creatives, the publisher JS tag); empty = no location
	DemoDir           string        // served at /demo/ (publisher demo page); empty = no location
	UploadsDir        string        // creative images uploaded in the console, served at /uploads/; empty = no location
	ConsoleSockets    []string      // the console pool's worker sockets or IP:PORT addresses (/admin/, /api/); empty: those go to WorkerSockets
	// TrustedProxies are the addresses or CIDRs of the proxies in front of nginx (a TLS
	// terminator, a load balancer; fraud.trusted_proxies) whose X-Forwarded-For nginx
	// believes: the client address becomes the one they report, for the access log, the
	// StatusAllow rule and REMOTE_ADDR. Nobody else can choose their address with the header.
	TrustedProxies    []string
	StatusSocket      string   // master's HTTP status socket, proxied at /status and /metrics; empty = no location
	StatusAllow       []string // CIDRs or addresses allowed to /status, /metrics, /nginx_status; default 127.0.0.1 and ::1
	GeoIP             GeoIP    // GeoIP module and database (see DetectGeoIP); zero value = absent
	ClientConnections int      // client connections one nginx worker process must hold; 0 = DefaultClientConnections (see WorkerConnections)

	// The fields below are used by RenderMain only (a private, standalone nginx).

	PidFile         string // absolute path; default TempDir/nginx.pid
	ErrorLog        string // absolute path or "stderr"; default TempDir/error.log
	AccessLog       string // absolute path or "off"; default off
	TempDir         string // absolute directory for nginx's temp paths (required by RenderMain)
	User            string // `user` directive, "name group" ("name" alone needs a group of that name); empty = the user rendering it (see RenderMain)
	WorkerProcesses string // "auto" or a positive number; default "auto"
}

// GeoIP locates nginx's legacy GeoIP module (Debian's libnginx-mod-http-geoip) and a
// country database (Debian's geoip-database). The zero value means GeoIP is absent, and
// the GEOIP_COUNTRY_CODE FastCGI parameter is then passed empty.
type GeoIP struct {
	Module    string // path of ngx_http_geoip_module.so, loaded with load_module by RenderMain
	CountryDB string // path of the country database given to geoip_country
}

// Present reports whether both the module and a database were found.
func (g GeoIP) Present() bool { return g.Module != "" && g.CountryDB != "" }

// DetectGeoIP looks for Debian's ngx_http_geoip_module.so and a GeoIP country database and
// returns their paths, or the zero GeoIP when either is missing.
func DetectGeoIP() GeoIP {
	return detectGeoIP(
		// The module lives in /usr/share/nginx/modules, with /usr/lib/nginx/modules (the
		// compiled --modules-path) as a compatibility path.
		[]string{"/usr/share/nginx/modules", "/usr/lib/nginx/modules"},
		// nginx takes one country database. The IPv4 one comes first because it answers
		// IPv4 clients directly; with only the IPv6 one, nginx looks IPv4 clients up as
		// IPv4-mapped addresses.
		[]string{"/usr/share/GeoIP/GeoIP.dat", "/usr/share/GeoIP/GeoIPv6.dat"},
	)
}

func detectGeoIP(moduleDirs, dbs []string) GeoIP {
	var g GeoIP
	for _, dir := range moduleDirs {
		if p := filepath.Join(dir, "ngx_http_geoip_module.so"); isFile(p) {
			g.Module = p
			break
		}
	}
	for _, p := range dbs {
		if isFile(p) {
			g.CountryDB = p
			break
		}
	}
	if !g.Present() {
		return GeoIP{}
	}
	return g
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// KeepaliveTimeout returns the upstream keepalive_timeout for workers with the given
// idle_timeout and shutdown_timeout: DefaultKeepaliveTimeout, or half the shorter of the
// two if that is less, in whole milliseconds.
//
// Why nginx must be the side that closes: it may write a request on an idle connection at
// the very moment a worker closes it, and it retries that request elsewhere only if it is
// not a POST. A worker closes a connection it has waited on for idle_timeout, and a
// draining worker waits shutdown_timeout for nginx to drop its connections (it asks nginx
// to after every response, but an idle one is dropped only by this timeout), so nginx's
// timeout must come first.
func KeepaliveTimeout(idleTimeout, shutdownTimeout time.Duration) time.Duration {
	d := min(DefaultKeepaliveTimeout, idleTimeout/2, shutdownTimeout/2)
	return max(d.Truncate(time.Millisecond), time.Millisecond)
}

// withDefaults returns p with the documented defaults filled in.
func (p Params) withDefaults() Params {
	if p.ServerName == "" {
		p.ServerName = DefaultServerName
	}
	if p.Keepalive == 0 {
		p.Keepalive = DefaultKeepalivePerSocket * max(len(p.WorkerSockets), 1)
	}
	if p.ConnectTimeout == 0 {
		p.ConnectTimeout = DefaultConnectTimeout
	}
	if p.KeepaliveTimeout == 0 {
		p.KeepaliveTimeout = DefaultKeepaliveTimeout
	}
	if p.NextUpstreamTries == 0 {
		p.NextUpstreamTries = max(min(len(p.WorkerSockets), DefaultMaxNextUpstreamTries), 1)
	}
	if len(p.StatusAllow) == 0 {
		p.StatusAllow = []string{"127.0.0.1", "::1"}
	}
	if p.WorkerProcesses == "" {
		p.WorkerProcesses = DefaultWorkerProcesses
	}
	if p.ClientConnections == 0 {
		p.ClientConnections = DefaultClientConnections
	}
	if p.TempDir != "" {
		if p.PidFile == "" {
			p.PidFile = filepath.Join(p.TempDir, "nginx.pid")
		}
		if p.ErrorLog == "" {
			p.ErrorLog = filepath.Join(p.TempDir, "error.log")
		}
	}
	if p.AccessLog == "" {
		p.AccessLog = "off"
	}
	return p
}

// WorkerConnections returns nginx's worker_connections for p: enough for ClientConnections
// client connections in ONE nginx worker process, each of which may also hold an upstream
// connection to a worker (a request in flight), plus the idle upstream keepalive pool and
// ConnectionReserve. Per process and not divided by worker_processes, because nginx does not
// spread connections evenly over its workers: one process may take nearly all of them.
// nginx counts upstream connections against worker_connections too; when it runs out it
// logs "worker_connections are not enough" and drops clients or answers 500.
func (p Params) WorkerConnections() int {
	p = p.withDefaults()
	return 2*p.ClientConnections + p.Keepalive + ConnectionReserve
}

// RlimitNofile returns nginx's worker_rlimit_nofile for p: WorkerConnections plus
// FileReserve. nginx's workers set it with setrlimit(2); above the hard limit of the process
// that starts nginx that fails unless nginx runs as root with CAP_SYS_RESOURCE (nginx logs
// "setrlimit(RLIMIT_NOFILE, N) failed" and keeps the inherited limit), so the hard limit must
// allow it: LimitNOFILE= in nginx's systemd unit, `ulimit -Hn` for a shell.
func (p Params) RlimitNofile() int {
	return p.WorkerConnections() + FileReserve
}

// Validate reports every problem of p at once, each naming its field, as a *models.Error
// with code EINVALID. It checks what RenderSite needs and every main-config field that is
// set; RenderMain additionally requires TempDir. Values that end up in the configuration
// must not contain characters that could end a directive or start a new one (`;`, braces,
// quotes, `$`, `#`, `\`, whitespace, control characters).
func (p Params) Validate() error {
	return p.withDefaults().validate(false)
}

// validate checks a defaults-applied p; main adds the checks only RenderMain needs.
func (p Params) validate(main bool) error {
	var v validator
	v.listen("Listen", p.Listen)
	v.serverName("ServerName", p.ServerName)
	if len(p.WorkerSockets) == 0 {
		v.addf("WorkerSockets: at least one worker socket is required")
	}
	seen := make(map[string]int, len(p.WorkerSockets))
	for i, s := range p.WorkerSockets {
		field := fmt.Sprintf("WorkerSockets[%d]", i)
		v.upstream(field, s)
		if j, dup := seen[s]; dup {
			v.addf("%s: duplicate of WorkerSockets[%d] (%q); a repeated socket gets twice the load", field, j, s)
		}
		seen[s] = i
	}
	if p.Keepalive < 0 {
		v.addf("Keepalive: must not be negative, got %d", p.Keepalive)
	}
	if p.RequestTimeout <= 0 {
		v.addf("RequestTimeout: required (the workers' request_timeout), got %s", p.RequestTimeout)
	}
	v.duration("RequestTimeout", p.RequestTimeout)
	v.duration("ConnectTimeout", p.ConnectTimeout)
	if p.ConnectTimeout < 0 {
		v.addf("ConnectTimeout: must not be negative, got %s", p.ConnectTimeout)
	}
	if p.ClientConnections < 0 {
		v.addf("ClientConnections: must not be negative, got %d", p.ClientConnections)
	}
	if p.NextUpstreamTries < 0 {
		v.addf("NextUpstreamTries: must not be negative, got %d", p.NextUpstreamTries)
	}
	if p.StaticDir != "" {
		v.path("StaticDir", p.StaticDir)
	}
	if p.DemoDir != "" {
		v.path("DemoDir", p.DemoDir)
	}
	if p.UploadsDir != "" {
		v.path("UploadsDir", p.UploadsDir)
	}
	for i, s := range p.TrustedProxies {
		if _, err := netip.ParsePrefix(s); err != nil {
			if _, err := netip.ParseAddr(s); err != nil {
				v.addf("TrustedProxies[%d] = %q: not an address or CIDR", i, s)
			}
		}
	}
	for i, s := range p.ConsoleSockets {
		v.upstream(fmt.Sprintf("ConsoleSockets[%d]", i), s)
	}
	if p.StatusSocket != "" {
		v.socket("StatusSocket", p.StatusSocket)
	}
	for i, a := range p.StatusAllow {
		field := fmt.Sprintf("StatusAllow[%d]", i)
		if _, err := netip.ParsePrefix(a); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(a); err != nil || strings.Contains(a, "%") {
			v.addf("%s: %q is neither an IP address nor a CIDR", field, a)
		}
	}
	if p.GeoIP != (GeoIP{}) {
		if !p.GeoIP.Present() {
			v.addf("GeoIP: both Module and CountryDB are required, or neither")
		}
		if p.GeoIP.Module != "" {
			v.path("GeoIP.Module", p.GeoIP.Module)
		}
		if p.GeoIP.CountryDB != "" {
			v.path("GeoIP.CountryDB", p.GeoIP.CountryDB)
		}
	}

	if main && p.TempDir == "" {
		v.addf("TempDir: required for a standalone nginx.conf")
	}
	if p.TempDir != "" {
		v.path("TempDir", p.TempDir)
	}
	if p.PidFile != "" {
		v.path("PidFile", p.PidFile)
	}
	if p.ErrorLog != "" && p.ErrorLog != "stderr" {
		v.path("ErrorLog", p.ErrorLog)
	}
	if p.AccessLog != "" && p.AccessLog != "off" {
		v.path("AccessLog", p.AccessLog)
	}
	p.checkMainOnly(&v)
	return v.err()
}

// checkMainOnly checks User and WorkerProcesses, the settings only a standalone
// nginx.conf has.
func (p Params) checkMainOnly(v *validator) {
	if p.User != "" {
		names := strings.Split(p.User, " ")
		if len(names) > 2 {
			v.addf("User: want \"user\" or \"user group\", got %q", p.User)
		}
		for _, n := range names {
			if !isSystemName(n) {
				v.addf("User: %q is not a valid user or group name", n)
				break
			}
		}
	}
	if p.WorkerProcesses != "" && p.WorkerProcesses != "auto" {
		if n, err := strconv.Atoi(p.WorkerProcesses); err != nil || n < 1 {
			v.addf("WorkerProcesses: want \"auto\" or a positive number, got %q", p.WorkerProcesses)
		}
	}
}

// validator collects problems so that Validate reports all of them at once.
type validator struct{ problems []string }

func (v *validator) addf(format string, args ...any) {
	v.problems = append(v.problems, fmt.Sprintf(format, args...))
}

func (v *validator) err() error {
	if len(v.problems) == 0 {
		return nil
	}
	return models.Errorf(models.EINVALID, "invalid nginx params: %s", strings.Join(v.problems, "; "))
}

// unsafeChar returns the first character of s that could break out of an nginx directive
// argument: `;` ends a directive, braces open/close blocks, quotes and `\` change
// tokenizing, `$` interpolates variables (alias and proxy_pass take variables), `#` starts a
// comment, whitespace splits arguments and control characters (newlines) start new lines.
func unsafeChar(s string) (rune, bool) {
	for _, r := range s {
		switch {
		case r <= ' ' || r == 0x7f, strings.ContainsRune(";{}\"'\\$#`", r):
			return r, true
		}
	}
	return 0, false
}

func (v *validator) safe(field, s string) bool {
	if r, bad := unsafeChar(s); bad {
		v.addf("%s: %q contains %q, which could inject nginx directives", field, s, r)
		return false
	}
	return true
}

func (v *validator) path(field, p string) {
	if !v.safe(field, p) {
		return
	}
	if !filepath.IsAbs(p) {
		v.addf("%s: %q must be an absolute path", field, p)
	}
}

func (v *validator) socket(field, p string) {
	if p == "" {
		v.addf("%s: empty socket path", field)
		return
	}
	if !v.safe(field, p) {
		return
	}
	if !filepath.IsAbs(p) {
		v.addf("%s: %q must be an absolute path", field, p)
	}
	// nginx's "unix:PATH:URI" syntax ends the path at a colon.
	if strings.Contains(p, ":") {
		v.addf("%s: %q must not contain ':'", field, p)
	}
	if len(p) > maxSocketPath {
		v.addf("%s: %q is %d bytes, longer than the %d a Unix socket path may have", field, p, len(p), maxSocketPath)
	}
}

// upstream checks a worker's address: an absolute Unix socket path, or IP:PORT for a
// worker listening on TCP (an IP, not a name: nginx would resolve a name once, at start).
func (v *validator) upstream(field, s string) {
	if filepath.IsAbs(s) || s == "" {
		v.socket(field, s)
		return
	}
	if !v.safe(field, s) {
		return
	}
	if ap, err := netip.ParseAddrPort(s); err != nil || ap.Port() == 0 || ap.Addr().Zone() != "" {
		v.addf("%s: %q must be an absolute Unix socket path or IP:PORT", field, s)
	}
}

// upstreamServer returns the address of an upstream server line: unix:PATH for a socket
// path, the IP:PORT itself for TCP.
func upstreamServer(s string) string {
	if filepath.IsAbs(s) {
		return "unix:" + s
	}
	return s
}

func (v *validator) duration(field string, d time.Duration) {
	if d > 0 && d < time.Millisecond {
		v.addf("%s: %s is below nginx's 1ms resolution", field, d)
	}
}

func (v *validator) listen(field, s string) {
	if s == "" {
		v.addf("%s: required, e.g. \"127.0.0.1:8080\"", field)
		return
	}
	if !v.safe(field, s) {
		return
	}
	host, port := "", s
	if strings.Contains(s, ":") {
		var err error
		if host, port, err = net.SplitHostPort(s); err != nil {
			v.addf("%s: %q: %v", field, s, err)
			return
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		v.addf("%s: %q: port must be a number from 1 to 65535", field, s)
	}
	if host != "" && host != "*" && !isHostname(host) {
		if _, err := netip.ParseAddr(host); err != nil {
			v.addf("%s: %q: %q is neither an IP address nor a host name", field, s, host)
		}
	}
}

func (v *validator) serverName(field, s string) {
	if s == DefaultServerName {
		return
	}
	names := strings.Split(s, " ")
	for _, n := range names {
		// Wildcards ("*.example.com", ".example.com") are fine; regex names (~...) are not
		// accepted since they need characters that are unsafe elsewhere.
		if n == "" || !isHostname(strings.TrimPrefix(strings.TrimPrefix(n, "*."), ".")) {
			v.addf("%s: %q is not a host name (names are separated by single spaces)", field, n)
		}
	}
}

func isHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return false
		}
	}
	return true
}

func isSystemName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}
