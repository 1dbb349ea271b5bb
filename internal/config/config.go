// Package config loads and validates adnet's TOML configuration file.
//
// Every setting has a default, so an empty file is a working configuration. Unknown keys are
// errors (a typo must not silently fall back to a default), and Load reports every problem at
// once, each naming the setting and how to fix it. Relative paths are resolved against the
// directory of the config file, so a deployment is relocatable and `make run`'s ./var is
// self-contained. The reference for every setting is adnet.example.toml at the repository root;
// a test keeps it in sync with Defaults.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is the whole configuration. Top-level settings configure the process pool (the
// master and its FastCGI workers); sections configure one subsystem each.
type Config struct {
	// Path is the file this configuration was loaded from ("" for defaults); not a setting.
	Path string `toml:"-"`

	DataDir  string `toml:"data_dir"`
	LogFile  string `toml:"log_file"`
	LogLevel string `toml:"log_level"`
	LogJSON  bool   `toml:"log_json"`
	Timezone string `toml:"timezone"`

	Workers         int      `toml:"workers"`
	MaxChildren     int      `toml:"max_children"`
	Queue           int      `toml:"queue"`
	QueueTimeout    Duration `toml:"queue_timeout"`
	RequestTimeout  Duration `toml:"request_timeout"`
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	SlowlogTimeout  Duration `toml:"slowlog_timeout"`
	IdleTimeout     Duration `toml:"idle_timeout"`
	SocketDir       string   `toml:"socket_dir"`
	SocketMode      FileMode `toml:"socket_mode"`
	ListenBacklog   int      `toml:"listen_backlog"`
	PidFile         string   `toml:"pid_file"`
	DebugEndpoints  bool     `toml:"debug_endpoints"`
	// Listen is where the ad workers listen for FastCGI: "" for Unix sockets in socket_dir
	// (one host), or "tcp://IP:PORT" so that nginx on another host can reach them; worker
	// n then listens on PORT+n-1. See ListenTCP.
	Listen string `toml:"listen"`

	FCGI      FCGI      `toml:"fcgi"`
	Nginx     Nginx     `toml:"nginx"`
	MySQL     MySQL     `toml:"mysql"`
	Inventory Inventory `toml:"inventory"`
	Tracking  Tracking  `toml:"tracking"`
	Privacy   Privacy   `toml:"privacy"`
	Events    Events    `toml:"events"`
	Stats     Stats     `toml:"stats"`
	Fraud     Fraud     `toml:"fraud"`
	Monitor   Monitor   `toml:"monitor"`
	Pools     Pools     `toml:"pools"`
	NATS      NATS      `toml:"nats"`
}

// FCGI configures the FastCGI serving of each worker.
type FCGI struct {
	// Engine is the FastCGI implementation: "native" (adnet's own responder, the default)
	// or "stdlib" (Go's net/http/fcgi, kept as the reference).
	Engine string `toml:"engine"`
	// AllowPeers are the addresses or CIDRs that may connect to a TCP listen (top-level
	// listen, pools.console.listen). FastCGI has no authentication, so a worker reachable
	// over TCP closes every connection from anyone else at accept. Required with a TCP
	// listen; Unix sockets are guarded by socket_mode instead.
	AllowPeers []string `toml:"allow_peers"`
}

// Nginx configures the nginx site that adnet renders (`adnet nginx-conf`).
type Nginx struct {
	Listen            string   `toml:"listen"`
	ServerName        string   `toml:"server_name"`
	Keepalive         int      `toml:"keepalive"`
	NextUpstreamTries int      `toml:"next_upstream_tries"`
	ConnectTimeout    Duration `toml:"connect_timeout"`
	StaticDir         string   `toml:"static_dir"`
	DemoDir           string   `toml:"demo_dir"`
	StatusAllow       []string `toml:"status_allow"`
	User              string   `toml:"user"`
	ClientConnections int      `toml:"client_connections"`
}

// MySQL configures the MariaDB/MySQL connection.
type MySQL struct {
	DSN          string `toml:"dsn"`
	PasswordFile string `toml:"password_file"`
	// DSNFile, when set, is a file (mode 0600) holding the primary's whole DSN, password
	// included; it replaces dsn and password_file (a cluster's hosts share one such file).
	DSNFile string `toml:"dsn_file"`
	// ReplicaDSNFile, when set, is a file (mode 0600) holding the DSN of a read replica:
	// reports and the workers' inventory snapshot read there, writes stay on the primary.
	// A replica that does not answer is bypassed for the primary (logged, and in /status).
	ReplicaDSNFile string `toml:"replica_dsn_file"`
	MaxOpenConns   int    `toml:"max_open_conns"`
}

// Inventory configures the decision engine's in-memory snapshot.
type Inventory struct {
	RefreshInterval Duration `toml:"refresh_interval"`
}

// Tracking configures impression/click URLs and their signed tokens.
type Tracking struct {
	BaseURL     string   `toml:"base_url"`
	KeyFile     string   `toml:"key_file"`
	TokenTTL    Duration `toml:"token_ttl"`
	FallbackURL string   `toml:"fallback_url"`
}

// Privacy configures the viewer cookie used for frequency capping.
type Privacy struct {
	ViewerCookie bool `toml:"viewer_cookie"`
	HonorGPC     bool `toml:"honor_gpc"`
}

// Events configures each worker's append-only event log.
type Events struct {
	// Transport is how events leave the host: TransportFile (the aggregator reads the
	// workers' logs on this host, the default) or TransportJetStream (a shipper forwards
	// them to the NATS JetStream stream of section [nats], for a cluster of hosts).
	Transport string `toml:"transport"`
	// Fsync is the durability policy: FsyncInterval (page cache, fsync every
	// fsync_interval) or FsyncAlways (fsync before answering).
	Fsync           string   `toml:"fsync"`
	FsyncInterval   Duration `toml:"fsync_interval"`
	SegmentMaxBytes ByteSize `toml:"segment_max_bytes"`
	SegmentMaxAge   Duration `toml:"segment_max_age"`
	Retention       Duration `toml:"retention"`
	MaxDisk         ByteSize `toml:"max_disk"`
}

// Values of events.transport.
const (
	TransportFile      = "file"
	TransportJetStream = "jetstream"
)

// NATS configures the NATS JetStream cluster that carries events between hosts when
// events.transport is "jetstream".
type NATS struct {
	Servers   []string `toml:"servers"`    // nats://host:4222 URLs of the cluster's servers
	Host      string   `toml:"host"`       // this host's name in the cluster (unique; part of message ids)
	Stream    string   `toml:"stream"`     // the JetStream stream of events
	Replicas  int      `toml:"replicas"`   // the stream's replication factor (R3: survives one server lost)
	CredsFile string   `toml:"creds_file"` // NATS credentials file (mode 0600); "" = none
	// ReorderWindow is how long the aggregator waits for a host that stopped shipping
	// (its link is down, its shipper restarting) before it applies the other hosts' later
	// events without it; that host's backlog is then applied late. Within it, every host's
	// events are applied in event-time order: a click after its impression whichever host
	// shipped which.
	ReorderWindow Duration `toml:"reorder_window"`
}

// Stats configures the aggregator and the statistics tables.
type Stats struct {
	FlushInterval   Duration `toml:"flush_interval"`
	HourlyRetention Duration `toml:"hourly_retention"`
	ClickRetention  Duration `toml:"click_retention"`
	ReportAllow     []string `toml:"report_allow"`
	// IPHashKeyID, when set, is the id of the cluster's ip-hash.key (aggregator.IPHashKeyID,
	// 16 hex digits; `adnet cluster-conf` sets it): the aggregator then refuses to start
	// unless <data_dir>/ip-hash.key exists and has this id, instead of creating a key of its
	// own. "" = any key, created on first start (one host).
	IPHashKeyID string `toml:"ip_hash_key_id"`
}

// ipHashKeyIDPattern is the shape of stats.ip_hash_key_id.
var ipHashKeyIDPattern = regexp.MustCompile(`^[0-9a-f]{16}$`)

// Fraud configures invalid-traffic filtration.
type Fraud struct {
	ClickWindow    Duration `toml:"click_window"`
	MaxClicksPerIP int      `toml:"max_clicks_per_ip"`
	MinClickDelay  Duration `toml:"min_click_delay"`
	TrustedProxies []string `toml:"trusted_proxies"`
	DatacenterFile string   `toml:"datacenter_file"`
	// BuiltinDatacenter adds the data-center/cloud ranges shipped with adnet
	// (internal/fraud/datacenter.txt: its header names the source, the date and the command
	// that refreshes it) to the datacenter list.
	BuiltinDatacenter bool `toml:"builtin_datacenter"`
	AutoPause         bool `toml:"auto_pause"`
	// DesignLoad is the event rate (serves, impressions, clicks and conversions per second,
	// all workers together) the aggregator's duplicate filters and flood counters are sized
	// for over click_window. Above it they degrade toward counting (see /status).
	DesignLoad int `toml:"design_load"`
}

// MaxEventsPerWindow bounds fraud.design_load × fraud.click_window: the aggregator's fraud
// state takes about FraudBytesPerEvent bytes per event of the window.
const (
	MaxEventsPerWindow = 600_000_000
	FraudBytesPerEvent = 3.85
)

// Monitor configures the master's nginx stub_status monitor.
type Monitor struct {
	Interval       Duration `toml:"interval"`
	NginxStatusURL string   `toml:"nginx_status_url"`
	History        Duration `toml:"history"`
}

// Values of events.fsync, the event log's durability policy.
const (
	// FsyncInterval keeps events in the page cache and fsyncs every events.fsync_interval:
	// a crash of the process loses nothing, a power failure or kernel crash loses at most
	// the events written in the last fsync_interval (per worker), which were already
	// answered.
	FsyncInterval = "interval"
	// FsyncAlways fsyncs each event before its response is sent: nothing answered is
	// lost, at the cost of one fsync per event on the request path.
	FsyncAlways = "always"
)

// Pools configures the worker pools besides the ad-serving workers of the top-level
// settings.
type Pools struct {
	// Console serves the console (/admin/) and the REST API (/api/) on sockets of its own,
	// so that ad traffic at its cap never starves the console and a slow report never takes
	// an ad-serving slot.
	Console Pool `toml:"console"`
}

// Pool is one pool of FastCGI worker processes.
type Pool struct {
	Workers     int `toml:"workers"`
	MaxChildren int `toml:"max_children"`
	Queue       int `toml:"queue"`
	// Listen is the pool's FastCGI listen, as the top-level listen: "" for Unix sockets,
	// "tcp://IP:PORT" for worker n on PORT+n-1.
	Listen string `toml:"listen"`
}

// ConsolePool is the name of the console's pool: its sockets are console-<n>.sock.
const ConsolePool = "console"

// Defaults returns the configuration an empty file yields.
func Defaults() *Config {
	return &Config{
		DataDir:         "data",
		LogLevel:        "info",
		Timezone:        "UTC",
		Workers:         max(2, runtime.NumCPU()),
		MaxChildren:     50,
		Queue:           64,
		QueueTimeout:    Duration(time.Second),
		RequestTimeout:  Duration(10 * time.Second),
		ShutdownTimeout: Duration(30 * time.Second),
		SlowlogTimeout:  Duration(time.Second),
		IdleTimeout:     Duration(5 * time.Minute),
		SocketDir:       "run",
		SocketMode:      0o660,
		ListenBacklog:   1024,
		PidFile:         "run/adnet.pid",
		Pools:           Pools{Console: Pool{Workers: 1, MaxChildren: 8, Queue: 16}},
		FCGI:            FCGI{Engine: "native", AllowPeers: []string{}},
		NATS:            NATS{Servers: []string{}, Stream: "ADNET_EVENTS", Replicas: 3, ReorderWindow: Duration(30 * time.Second)},
		Nginx: Nginx{
			Listen:            "127.0.0.1:8080",
			ServerName:        "_",
			Keepalive:         64,
			NextUpstreamTries: 3,
			ConnectTimeout:    Duration(time.Second),
			StaticDir:         "static",
			StatusAllow:       []string{"127.0.0.1/32", "::1/128"},
			ClientConnections: 10000,
		},
		MySQL:     MySQL{DSN: "root@unix(mysql/mysqld.sock)/adnet", MaxOpenConns: 8},
		Inventory: Inventory{RefreshInterval: Duration(5 * time.Second)},
		Tracking: Tracking{
			BaseURL:  "http://127.0.0.1:8080",
			KeyFile:  "keys/tracking.key",
			TokenTTL: Duration(24 * time.Hour),
		},
		Privacy: Privacy{ViewerCookie: true, HonorGPC: true},
		Events: Events{
			Transport:       TransportFile,
			Fsync:           FsyncInterval,
			FsyncInterval:   Duration(time.Second),
			SegmentMaxBytes: 64 << 20,
			SegmentMaxAge:   Duration(time.Hour),
			Retention:       Duration(24 * time.Hour),
			MaxDisk:         10 << 30,
		},
		Stats: Stats{
			FlushInterval:   Duration(5 * time.Second),
			HourlyRetention: Duration(90 * 24 * time.Hour),
			ClickRetention:  Duration(90 * 24 * time.Hour),
			ReportAllow:     []string{},
		},
		Fraud: Fraud{
			ClickWindow:    Duration(10 * time.Minute),
			MaxClicksPerIP: 20,
			MinClickDelay:  Duration(time.Second),
			TrustedProxies: []string{},
			// 25,000 events/s over the 10-minute window: 60 MiB of aggregator fraud state.
			DesignLoad:        25000,
			BuiltinDatacenter: true,
		},
		Monitor: Monitor{
			Interval:       Duration(time.Second),
			NginxStatusURL: "",
			History:        Duration(time.Hour),
		},
	}
}

// Problems is every problem found in a configuration file, one per line.
type Problems []string

// Error implements error.
func (p Problems) Error() string {
	return fmt.Sprintf("%d configuration problem(s):\n  %s", len(p), strings.Join(p, "\n  "))
}

// Load reads the TOML file at path over Defaults, resolves relative paths against the file's
// directory and validates the result. The error, if any, is a Problems listing everything wrong.
func Load(path string) (*Config, error) {
	c := Defaults()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, Problems{fmt.Sprintf("config file %s: %v", path, err)}
	}
	md, err := toml.Decode(string(b), c)
	if err != nil {
		return nil, Problems{fmt.Sprintf("config file %s: %s", path, decodeMessage(err))}
	}
	var probs Problems
	for _, k := range md.Undecoded() {
		probs = append(probs, fmt.Sprintf("%s: unknown setting (check its spelling against adnet.example.toml)", k.String()))
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, Problems{fmt.Sprintf("config file %s: %v", path, err)}
	}
	c.Path = abs
	c.resolvePaths(filepath.Dir(abs))
	probs = append(probs, c.Validate()...)
	if len(probs) > 0 {
		return nil, probs
	}
	return c, nil
}

// decodeMessage makes a TOML decode error name the setting, which BurntSushi/toml's
// ParseError does in its position text.
func decodeMessage(err error) string {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return pe.ErrorWithPosition()
	}
	return err.Error()
}

// resolvePaths makes every relative path setting absolute against dir.
func (c *Config) resolvePaths(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	// data_dir anchors the other data paths when they stay relative.
	abs(&c.DataDir)
	for _, p := range []*string{&c.LogFile, &c.SocketDir, &c.PidFile, &c.Nginx.StaticDir, &c.Nginx.DemoDir,
		&c.MySQL.PasswordFile, &c.MySQL.DSNFile, &c.MySQL.ReplicaDSNFile, &c.NATS.CredsFile, &c.Tracking.KeyFile, &c.Fraud.DatacenterFile} {
		abs(p)
	}
	// A unix socket path inside the DSN is relative to the config file too.
	if i := strings.Index(c.MySQL.DSN, "@unix("); i >= 0 {
		rest := c.MySQL.DSN[i+len("@unix("):]
		if j := strings.IndexByte(rest, ')'); j > 0 && !filepath.IsAbs(rest[:j]) {
			c.MySQL.DSN = c.MySQL.DSN[:i] + "@unix(" + filepath.Join(dir, rest[:j]) + rest[j:]
		}
	}
}

// Location returns the network's time zone (validated by Load).
func (c *Config) Location() *time.Location {
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// WorkerSocket returns the FastCGI socket path of ad worker n (1-based).
func (c *Config) WorkerSocket(n int) string {
	return c.PoolSocket("worker", n)
}

// PoolSocket returns the FastCGI socket path of worker n (1-based) of pool ("worker" for
// the ad workers, ConsolePool).
func (c *Config) PoolSocket(pool string, n int) string {
	return filepath.Join(c.SocketDir, fmt.Sprintf("%s-%d.sock", pool, n))
}

// ConsoleSockets returns where the console pool's workers listen (PoolAddresses): Unix
// socket paths, or IP:PORT with a TCP pools.console.listen.
func (c *Config) ConsoleSockets() []string {
	return c.PoolAddresses(ConsolePool)
}

// StatusSocket returns the path of the master's HTTP status socket, which nginx proxies
// /status and /metrics to, so status stays reachable when every worker is saturated.
func (c *Config) StatusSocket() string { return filepath.Join(c.SocketDir, "master.sock") }

// AggregatorSocket returns the path of the aggregator's control socket (its status as JSON).
func (c *Config) AggregatorSocket() string { return filepath.Join(c.SocketDir, "aggregator.sock") }

// ShipperSocket returns the path of the event shipper's control socket (its status as JSON;
// events.transport = "jetstream").
func (c *Config) ShipperSocket() string { return filepath.Join(c.SocketDir, "shipper.sock") }

// Validate returns every problem with c, each naming the setting and the fix.
func (c *Config) Validate() Problems {
	var p Problems
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	intRange := func(name string, v, lo, hi int) {
		if v < lo || v > hi {
			add("%s = %d: must be between %d and %d", name, v, lo, hi)
		}
	}
	positive := func(name string, d Duration) {
		if d <= 0 {
			add("%s = %q: must be a positive duration such as \"5s\"", name, d.D().String())
		}
	}
	notEmpty := func(name, v string) {
		if strings.TrimSpace(v) == "" {
			add("%s is empty: set it to a path", name)
		}
	}

	switch c.LogLevel {
	case "trace", "debug", "info", "warn", "warning", "error":
	default:
		add("log_level = %q: must be one of trace, debug, info, warn, error", c.LogLevel)
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil {
		add("timezone = %q: not a known IANA time zone; use a name such as \"UTC\" or \"Europe/Paris\"", c.Timezone)
	}
	notEmpty("data_dir", c.DataDir)
	intRange("workers", c.Workers, 1, 256)
	intRange("max_children", c.MaxChildren, 1, 100000)
	intRange("queue", c.Queue, 0, 1000000)
	intRange("pools.console.workers", c.Pools.Console.Workers, 1, 64)
	intRange("pools.console.max_children", c.Pools.Console.MaxChildren, 1, 10000)
	intRange("pools.console.queue", c.Pools.Console.Queue, 0, 100000)
	if c.Queue > 0 {
		positive("queue_timeout", c.QueueTimeout)
	}
	positive("request_timeout", c.RequestTimeout)
	positive("shutdown_timeout", c.ShutdownTimeout)
	positive("idle_timeout", c.IdleTimeout)
	if c.SlowlogTimeout < 0 {
		add("slowlog_timeout = %q: must be 0 (off) or a positive duration", c.SlowlogTimeout.D().String())
	}
	notEmpty("socket_dir", c.SocketDir)
	if len(c.SocketDir) > 80 {
		// sockaddr_un holds 108 bytes; leave room for "/worker-NNN.sock" and the control sockets.
		add("socket_dir = %q: too long for Unix socket paths (max 80 bytes); choose a shorter directory", c.SocketDir)
	}
	if c.SocketMode&0o600 != 0o600 {
		add("socket_mode = %q: the owner needs read and write (at least \"0600\")", fmt.Sprintf("%04o", uint32(c.SocketMode)))
	}
	intRange("listen_backlog", c.ListenBacklog, 16, 65535)
	notEmpty("pid_file", c.PidFile)

	switch c.FCGI.Engine {
	case "native", "stdlib":
	default:
		add("fcgi.engine = %q: must be \"native\" (adnet's FastCGI responder, the default) or \"stdlib\" (Go's net/http/fcgi); fix the value or remove the line", c.FCGI.Engine)
	}

	if _, err := netip.ParseAddrPort(c.Nginx.Listen); err != nil {
		add("nginx.listen = %q: must be IP:port such as \"127.0.0.1:8080\" or \"[::]:80\"", c.Nginx.Listen)
	}
	intRange("nginx.keepalive", c.Nginx.Keepalive, 0, 10000)
	intRange("nginx.client_connections", c.Nginx.ClientConnections, 100, 1000000)
	intRange("nginx.next_upstream_tries", c.Nginx.NextUpstreamTries, 1, 16)
	positive("nginx.connect_timeout", c.Nginx.ConnectTimeout)
	notEmpty("nginx.static_dir", c.Nginx.StaticDir)
	checkCIDRs(&p, "nginx.status_allow", c.Nginx.StatusAllow)

	if strings.TrimSpace(c.MySQL.DSN) == "" {
		add("mysql.dsn is empty: set it to user@unix(/path/mysqld.sock)/adnet or user@tcp(host:3306)/adnet")
	} else if strings.Contains(c.MySQL.DSN, ":") && strings.Index(c.MySQL.DSN, ":") < strings.Index(c.MySQL.DSN, "@") {
		add("mysql.dsn contains a password: move it to mysql.password_file (mode 0600) so it is never in the config or the logs")
	}
	intRange("mysql.max_open_conns", c.MySQL.MaxOpenConns, 1, 1000)

	positive("inventory.refresh_interval", c.Inventory.RefreshInterval)

	if !strings.HasPrefix(c.Tracking.BaseURL, "http://") && !strings.HasPrefix(c.Tracking.BaseURL, "https://") {
		add("tracking.base_url = %q: must be the public http(s) URL of this ad server, e.g. \"https://ads.example\"", c.Tracking.BaseURL)
	}
	notEmpty("tracking.key_file", c.Tracking.KeyFile)
	positive("tracking.token_ttl", c.Tracking.TokenTTL)
	if c.Tracking.FallbackURL != "" && !strings.HasPrefix(c.Tracking.FallbackURL, "http://") && !strings.HasPrefix(c.Tracking.FallbackURL, "https://") {
		add("tracking.fallback_url = %q: must be an http(s) URL (or empty for the ad server's home page)", c.Tracking.FallbackURL)
	}

	c.validateTransport(add)

	switch c.Events.Fsync {
	case FsyncInterval:
		positive("events.fsync_interval", c.Events.FsyncInterval)
	case FsyncAlways:
		// fsync_interval is unused; any value is accepted so that switching back is one line.
	default:
		add("events.fsync = %q: must be %q (fsync every events.fsync_interval; a power loss can lose that much) or %q (fsync before answering; nothing answered is lost, at the cost of one fsync per event)", c.Events.Fsync, FsyncInterval, FsyncAlways)
	}
	if c.Events.SegmentMaxBytes < 1<<20 {
		add("events.segment_max_bytes = %d: must be at least 1MiB", c.Events.SegmentMaxBytes)
	}
	positive("events.segment_max_age", c.Events.SegmentMaxAge)
	positive("events.retention", c.Events.Retention)
	if c.Events.MaxDisk != 0 && c.Events.MaxDisk < 4*c.Events.SegmentMaxBytes {
		add("events.max_disk = %d: must be 0 (unlimited) or at least 4 × events.segment_max_bytes", c.Events.MaxDisk)
	}

	positive("stats.flush_interval", c.Stats.FlushInterval)
	if c.Stats.HourlyRetention < Duration(48*time.Hour) {
		add("stats.hourly_retention = %q: must be at least \"48h\"", c.Stats.HourlyRetention.D().String())
	}
	positive("stats.click_retention", c.Stats.ClickRetention)
	checkCIDRs(&p, "stats.report_allow", c.Stats.ReportAllow)
	if id := c.Stats.IPHashKeyID; id != "" && !ipHashKeyIDPattern.MatchString(id) {
		add("stats.ip_hash_key_id = %q: must be 16 hex digits (the id `adnet cluster-conf` prints), or \"\" for any key", id)
	}

	positive("fraud.click_window", c.Fraud.ClickWindow)
	intRange("fraud.max_clicks_per_ip", c.Fraud.MaxClicksPerIP, 1, 1000000)
	if c.Fraud.MinClickDelay < 0 {
		add("fraud.min_click_delay must not be negative")
	}
	checkCIDRs(&p, "fraud.trusted_proxies", c.Fraud.TrustedProxies)
	intRange("fraud.design_load", c.Fraud.DesignLoad, 10, 10_000_000)
	if perWindow := float64(c.Fraud.DesignLoad) * c.Fraud.ClickWindow.D().Seconds(); c.Fraud.DesignLoad > 0 && perWindow > MaxEventsPerWindow {
		add("fraud.design_load = %d with fraud.click_window = %q is %.0f events per window: at most %d (the aggregator's duplicate filters would need about %.0f MiB); lower one of them",
			c.Fraud.DesignLoad, c.Fraud.ClickWindow.D().String(), perWindow, MaxEventsPerWindow, perWindow*FraudBytesPerEvent/(1<<20))
	}

	c.validateCluster(add)

	positive("monitor.interval", c.Monitor.Interval)
	if c.Monitor.History < c.Monitor.Interval {
		add("monitor.history must be at least monitor.interval")
	}
	sort.Strings(p)
	return p
}

func checkCIDRs(p *Problems, name string, list []string) {
	for _, s := range list {
		if _, err := netip.ParsePrefix(s); err != nil {
			if _, err := netip.ParseAddr(s); err != nil {
				*p = append(*p, fmt.Sprintf("%s: %q is not an IP address or CIDR such as \"10.0.0.0/8\"", name, s))
			}
		}
	}
}

// Prefixes parses configured addresses and CIDRs (stats.report_allow, fraud.trusted_proxies:
// the entries Validate accepts); a plain address is a /32 or /128, a CIDR is masked.
func Prefixes(entries []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(entries))
	for _, e := range entries {
		if p, err := netip.ParsePrefix(e); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or CIDR", e)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Host returns the host name of tracking.base_url ("" if it has none): the ad server's own
// host, which a referrer check must not take for a publisher's page.
func (t Tracking) Host() string {
	u, err := url.Parse(t.BaseURL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// NginxStatusURL returns monitor.nginx_status_url, or the stub_status URL on nginx.listen.
func (c *Config) NginxStatusURL() string {
	if c.Monitor.NginxStatusURL != "" {
		return c.Monitor.NginxStatusURL
	}
	return "http://" + c.Nginx.Listen + "/nginx_status"
}

// validateTransport checks events.transport and, for JetStream, the [nats] section.
func (c *Config) validateTransport(add func(format string, args ...any)) {
	switch c.Events.Transport {
	case TransportFile:
		return
	case TransportJetStream:
	default:
		add("events.transport = %q: must be %q (the aggregator reads this host's logs, the default) or %q (adnet ship forwards them to the NATS JetStream stream of [nats])", c.Events.Transport, TransportFile, TransportJetStream)
		return
	}
	if len(c.NATS.Servers) == 0 {
		add("nats.servers is empty: events.transport = %q needs the NATS servers, e.g. [\"nats://10.0.0.5:4222\"]", TransportJetStream)
	}
	for _, s := range c.NATS.Servers {
		if !strings.HasPrefix(s, "nats://") && !strings.HasPrefix(s, "tls://") {
			add("nats.servers: %q must be a nats://host:port (or tls://host:port) URL", s)
		}
	}
	if c.NATS.Host == "" {
		add("nats.host is empty: events.transport = %q needs this host's unique name (letters, digits, '-' and '_')", TransportJetStream)
	} else if !natsToken(c.NATS.Host, 32) {
		add("nats.host = %q: must be 1-32 letters, digits, '-' or '_' (it is a NATS subject token)", c.NATS.Host)
	}
	if !natsToken(c.NATS.Stream, 32) {
		add("nats.stream = %q: must be 1-32 letters, digits, '-' or '_'", c.NATS.Stream)
	}
	if c.NATS.Replicas != 1 && c.NATS.Replicas != 3 && c.NATS.Replicas != 5 {
		add("nats.replicas = %d: must be 1, 3 or 5 (JetStream replicas; 3 survives one server down)", c.NATS.Replicas)
	}
	if w := c.NATS.ReorderWindow.D(); w < 5*time.Second || w > 10*time.Minute {
		add("nats.reorder_window = %q: must be from 5s to 10m (how long the statistics wait for a host that stopped shipping; 30s by default)", w)
	}
}

// natsToken reports whether s is 1..n characters of [A-Za-z0-9_-]: safe in a subject, a
// stream name and a message id.
func natsToken(s string, n int) bool {
	if s == "" || len(s) > n {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
