package nginx

import (
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"time"
)

// Defaults of FrontParams.
const (
	// DefaultFrontMaxFails and DefaultFrontFailTimeout are the passive health check: an app
	// host that fails this many requests (refused or timed-out connections, 502, 503, 504)
	// within fail_timeout is left out for fail_timeout, then tried again.
	DefaultFrontMaxFails    = 3
	DefaultFrontFailTimeout = 10 * time.Second
	// DefaultFrontReadTimeout bounds the wait for an app host's answer: above the app
	// host's own fastcgi_read_timeout (request_timeout + ReadTimeoutMargin with the
	// defaults, 15s), so the app host, not the front, decides when a request took too long.
	DefaultFrontReadTimeout = 30 * time.Second
	// DefaultFrontAdReadTimeout bounds the wait for an app host's answer to ad traffic (serve,
	// beacons, clicks, postbacks), which takes milliseconds: a host whose link has gone silent
	// holds kept-alive connections open without an error, and only a read timeout moves its
	// visitors to another host (with 30s, a 20s cut never trips max_fails: make cluster-test).
	DefaultFrontAdReadTimeout = 3 * time.Second
	// DefaultFrontKeepalive is the idle connections each front worker keeps to the app hosts.
	DefaultFrontKeepalive = 32
	// DefaultFrontKeepaliveTimeout is below the app hosts' client keepalive_timeout (65s
	// in adnet's standalone config and Debian's nginx.conf): the front, never the app
	// host, closes an idle connection, so a POST is never written on a connection that the
	// other side is closing at that moment (nginx would not retry it).
	DefaultFrontKeepaliveTimeout = 30 * time.Second
)

// FrontHost is one app host behind the front: its nginx's HTTP address.
type FrontHost struct {
	Name string // the host's name in the cluster, rendered as a comment
	Addr string // IP:PORT of the host's nginx (nginx.listen there)
}

// FrontParams is what the front template needs: the front nginx that spreads ad traffic
// over the app hosts (each running nginx + the adnet master and workers) and sends the
// console and API to the console hosts. Zero values get the defaults named on each field.
type FrontParams struct {
	Listen       string      // address the front listens on, e.g. "203.0.113.10:80"
	ServerName   string      // server_name; "_" when empty
	Hosts        []FrontHost // app hosts for ad traffic (required)
	ConsoleHosts []FrontHost // hosts serving /admin/ and /api/ (required)
	// MaxFails and FailTimeout are the passive health check of every host (defaults
	// DefaultFrontMaxFails, DefaultFrontFailTimeout).
	MaxFails          int
	FailTimeout       time.Duration
	ConnectTimeout    time.Duration // proxy_connect_timeout; 0 = 1s (the hosts are on the local network)
	ReadTimeout       time.Duration // proxy_read_timeout and proxy_send_timeout of the console and API; 0 = DefaultFrontReadTimeout
	AdReadTimeout     time.Duration // the same for ad traffic; 0 = DefaultFrontAdReadTimeout
	NextUpstreamTries int           // hosts tried for one request; 0 = min(len(Hosts), 2)
	Keepalive         int           // idle connections per front worker to the hosts; 0 = DefaultFrontKeepalive
	KeepaliveTimeout  time.Duration // 0 = DefaultFrontKeepaliveTimeout
	StatusAllow       []string      // who may see the front's /status and /nginx_status; default loopback
	// TrustedProxies are proxies in front of the front itself (a TLS terminator) whose
	// X-Forwarded-For the front believes; empty: the front is the edge.
	TrustedProxies    []string
	ClientConnections int // as Params.ClientConnections; 0 = DefaultClientConnections

	// For RenderFrontMain only, as in Params.
	PidFile, ErrorLog, AccessLog, TempDir, User, WorkerProcesses string
}

func (p FrontParams) withDefaults() FrontParams {
	if p.ServerName == "" {
		p.ServerName = DefaultServerName
	}
	if p.MaxFails == 0 {
		p.MaxFails = DefaultFrontMaxFails
	}
	if p.FailTimeout == 0 {
		p.FailTimeout = DefaultFrontFailTimeout
	}
	if p.ConnectTimeout == 0 {
		p.ConnectTimeout = time.Second
	}
	if p.ReadTimeout == 0 {
		p.ReadTimeout = DefaultFrontReadTimeout
	}
	if p.AdReadTimeout == 0 {
		p.AdReadTimeout = DefaultFrontAdReadTimeout
	}
	if p.NextUpstreamTries == 0 {
		p.NextUpstreamTries = max(min(len(p.Hosts), 2), 1)
	}
	if p.Keepalive == 0 {
		p.Keepalive = DefaultFrontKeepalive
	}
	if p.KeepaliveTimeout == 0 {
		p.KeepaliveTimeout = DefaultFrontKeepaliveTimeout
	}
	if len(p.StatusAllow) == 0 {
		p.StatusAllow = []string{"127.0.0.1", "::1"}
	}
	if p.ClientConnections == 0 {
		p.ClientConnections = DefaultClientConnections
	}
	if p.WorkerProcesses == "" {
		p.WorkerProcesses = DefaultWorkerProcesses
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

// WorkerConnections is as Params.WorkerConnections: each client may hold a connection to
// an app host.
func (p FrontParams) WorkerConnections() int {
	p = p.withDefaults()
	return 2*p.ClientConnections + p.Keepalive + ConnectionReserve
}

// RlimitNofile is as Params.RlimitNofile.
func (p FrontParams) RlimitNofile() int { return p.WorkerConnections() + FileReserve }

// Validate reports every problem of p at once, each naming its field.
func (p FrontParams) Validate() error { return p.withDefaults().validate(false) }

func (p FrontParams) validate(main bool) error {
	var v validator
	v.listen("Listen", p.Listen)
	v.serverName("ServerName", p.ServerName)
	hosts := func(field string, hs []FrontHost) {
		if len(hs) == 0 {
			v.addf("%s: at least one host is required", field)
		}
		seen := map[string]bool{}
		for i, h := range hs {
			f := fmt.Sprintf("%s[%d]", field, i)
			if !isHostname(h.Name) {
				v.addf("%s.Name: %q is not a host name", f, h.Name)
			}
			if ap, err := netip.ParseAddrPort(h.Addr); !v.safe(f+".Addr", h.Addr) || err != nil || ap.Port() == 0 || ap.Addr().IsUnspecified() {
				v.addf("%s.Addr: %q must be IP:PORT of the host's nginx", f, h.Addr)
			}
			if seen[h.Addr] {
				v.addf("%s.Addr: %q listed twice", f, h.Addr)
			}
			seen[h.Addr] = true
		}
	}
	hosts("Hosts", p.Hosts)
	hosts("ConsoleHosts", p.ConsoleHosts)
	if p.MaxFails < 0 {
		v.addf("MaxFails: must not be negative, got %d", p.MaxFails)
	}
	for name, d := range map[string]time.Duration{"FailTimeout": p.FailTimeout, "ConnectTimeout": p.ConnectTimeout,
		"ReadTimeout": p.ReadTimeout, "AdReadTimeout": p.AdReadTimeout, "KeepaliveTimeout": p.KeepaliveTimeout} {
		if d < time.Millisecond {
			v.addf("%s: must be at least 1ms, got %s", name, d)
		}
	}
	if p.NextUpstreamTries < 1 || p.Keepalive < 0 || p.ClientConnections < 0 {
		v.addf("NextUpstreamTries must be positive, Keepalive and ClientConnections not negative")
	}
	for i, a := range append(append([]string{}, p.StatusAllow...), p.TrustedProxies...) {
		if _, err := netip.ParsePrefix(a); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(a); err != nil || !v.safe("StatusAllow/TrustedProxies", a) {
			v.addf("StatusAllow/TrustedProxies[%d]: %q is neither an IP address nor a CIDR", i, a)
		}
	}
	if main && p.TempDir == "" {
		v.addf("TempDir: required for a standalone nginx.conf")
	}
	for field, path := range map[string]string{"TempDir": p.TempDir, "PidFile": p.PidFile} {
		if path != "" {
			v.path(field, path)
		}
	}
	if p.ErrorLog != "" && p.ErrorLog != "stderr" {
		v.path("ErrorLog", p.ErrorLog)
	}
	if p.AccessLog != "" && p.AccessLog != "off" {
		v.path("AccessLog", p.AccessLog)
	}
	// User and WorkerProcesses are checked as for an app host.
	Params{User: p.User, WorkerProcesses: p.WorkerProcesses}.checkMainOnly(&v)
	return v.err()
}

// RenderFront writes the front's upstream and server blocks for a system nginx's http
// context (a sites-available file). Nothing is written when p is invalid.
func RenderFront(w io.Writer, p FrontParams) error {
	return renderAny(w, "front", p.withDefaults(), func(p FrontParams) error { return p.validate(false) })
}

// RenderFrontMain writes a complete standalone nginx.conf for the front, as RenderMain
// does for an app host (`nginx -c FILE -p PREFIX`). Nothing is written when p is invalid.
func RenderFrontMain(w io.Writer, p FrontParams) error {
	if p.User == "" {
		p.User = invokingUser()
	}
	return renderAny(w, "frontmain", p.withDefaults(), func(p FrontParams) error { return p.validate(true) })
}
