// Package cluster reads the cluster file, one TOML describing several adnet hosts behind
// one front nginx, and derives from it each host's adnet.toml and the front's nginx
// configuration (`adnet cluster-conf`, `adnet nginx-conf --front`).
//
// The cluster file names what must agree across hosts — the front's address (which every
// host must trust for X-Forwarded-For), the hosts and their HTTP ports, the NATS servers,
// the database DSN files — so that it is written once instead of kept equal by hand in N
// files. [host_defaults] holds anything an adnet.toml may contain, merged into every host's
// file; the settings the cluster decides (nginx.listen, fraud.trusted_proxies' front entry,
// events.transport, [nats], the DSN files, stats.ip_hash_key_id) are set over it, and
// tracking.key_file defaults to DefaultTrackingKeyFile. The shared secrets themselves
// (DIR/secrets of `adnet cluster-conf`) are made by cmd/adnet; this package only names them.
package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"adnet/internal/config"
	"adnet/nginx"
)

// File is a cluster file.
type File struct {
	Cluster      Cluster        `toml:"cluster"`
	Front        Front          `toml:"front"`
	Hosts        []Host         `toml:"hosts"`
	NATS         NATS           `toml:"nats"`
	MySQL        MySQL          `toml:"mysql"`
	HostDefaults map[string]any `toml:"host_defaults"`
}

// Cluster names the cluster.
type Cluster struct {
	Name string `toml:"name"`
}

// Front is the front nginx.
type Front struct {
	// Listen is where the front listens for visitors, e.g. "203.0.113.10:80".
	Listen string `toml:"listen"`
	// Address is the front's address as the app hosts see it (the source of its proxied
	// connections); default: the IP of listen. Every host trusts X-Forwarded-For from it.
	Address     string          `toml:"address"`
	ServerName  string          `toml:"server_name"`
	StatusAllow []string        `toml:"status_allow"`
	MaxFails    int             `toml:"max_fails"`
	FailTimeout config.Duration `toml:"fail_timeout"`
}

// Host is one app host: nginx + the adnet master and workers.
type Host struct {
	Name     string `toml:"name"`
	Address  string `toml:"address"`   // the host's IP on the network the front reaches it by
	HTTPPort int    `toml:"http_port"` // its nginx's port (nginx.listen = address:http_port)
	Console  bool   `toml:"console"`   // serves /admin/ and /api/ for the front
}

// NATS lists the NATS servers the hosts ship events to.
type NATS struct {
	Servers  []string `toml:"servers"`
	Stream   string   `toml:"stream"`   // default "ADNET_EVENTS"
	Replicas int      `toml:"replicas"` // default 3
}

// MySQL names the database DSN files, the same paths on every host.
type MySQL struct {
	DSNFile        string `toml:"dsn_file"`         // the primary (writes, the aggregator, management)
	ReplicaDSNFile string `toml:"replica_dsn_file"` // optional: reports and inventory reads
}

// Load reads and validates a cluster file; unknown keys are errors, as in adnet.toml.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, config.Problems{fmt.Sprintf("cluster file %s: %v", path, err)}
	}
	var f File
	md, err := toml.Decode(string(b), &f)
	if err != nil {
		return nil, config.Problems{fmt.Sprintf("cluster file %s: %v", path, err)}
	}
	var probs config.Problems
	for _, k := range md.Undecoded() {
		if strings.HasPrefix(k.String(), "host_defaults") {
			continue // checked by loading each host's generated adnet.toml
		}
		probs = append(probs, fmt.Sprintf("%s: unknown setting in the cluster file", k.String()))
	}
	probs = append(probs, f.Validate()...)
	if len(probs) > 0 {
		return nil, probs
	}
	return &f, nil
}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// clusterKeys are the adnet.toml settings the cluster file decides; [host_defaults] must
// not set them, so that nobody wonders which one wins.
var clusterKeys = []string{"nginx.listen", "events.transport", "nats.servers", "nats.host", "nats.stream",
	"nats.replicas", "mysql.dsn_file", "mysql.replica_dsn_file", "stats.ip_hash_key_id"}

// DefaultTrackingKeyFile is where every host reads the cluster's tracking key
// (tracking.key_file) unless [host_defaults.tracking] key_file names another path.
const DefaultTrackingKeyFile = "/etc/adnet/keys/tracking.key"

// Secrets describes the shared secrets `adnet cluster-conf` keeps in DIR/secrets, as far as
// the hosts' configurations name them; never key material.
type Secrets struct {
	// IPHashKeyID is the id of the cluster's ip-hash.key (aggregator.IPHashKeyID), set as
	// every host's stats.ip_hash_key_id so that a host with another key refuses to aggregate.
	IPHashKeyID string
}

// TrackingKeyFile returns tracking.key_file as every host's adnet.toml has it:
// [host_defaults.tracking] key_file, or DefaultTrackingKeyFile.
func (f *File) TrackingKeyFile() string {
	if v, ok := lookup(f.HostDefaults, "tracking.key_file"); ok {
		if s, ok := v.(string); ok && s != "" {
			return s
		}
	}
	return DefaultTrackingKeyFile
}

// DataDir returns data_dir as [host_defaults] sets it, "" when it does not (adnet's default,
// "data" next to the host's adnet.toml).
func (f *File) DataDir() string {
	if v, ok := lookup(f.HostDefaults, "data_dir"); ok {
		if s, ok := v.(string); ok {
			return s
		}
	}
	return ""
}

// Validate returns every problem of f, each naming the setting and the fix.
func (f *File) Validate() config.Problems {
	var p config.Problems
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if !namePattern.MatchString(f.Cluster.Name) {
		add("cluster.name = %q: required, lower-case letters, digits and '-'", f.Cluster.Name)
	}
	if _, err := netip.ParseAddrPort(f.Front.Listen); err != nil {
		add("front.listen = %q: must be IP:PORT such as \"203.0.113.10:80\"", f.Front.Listen)
	}
	if _, err := f.FrontAddress(); err != nil {
		add("%v", err)
	}
	for _, s := range f.Front.StatusAllow {
		if _, err := config.Prefixes([]string{s}); err != nil {
			add("front.status_allow: %q is not an IP address or CIDR", s)
		}
	}
	if f.Front.MaxFails < 0 {
		add("front.max_fails = %d: must be 0 (the default, 3) or more", f.Front.MaxFails)
	}
	if f.Front.FailTimeout < 0 {
		add("front.fail_timeout must not be negative")
	}
	if len(f.Hosts) == 0 {
		add("hosts: none; add one [[hosts]] table per app host (name, address, http_port)")
	}
	names, addrs, consoles := map[string]bool{}, map[string]bool{}, 0
	for i, h := range f.Hosts {
		at := fmt.Sprintf("hosts[%d]", i)
		if !namePattern.MatchString(h.Name) {
			add("%s.name = %q: required, lower-case letters, digits and '-' (it names the host's directory and its NATS identity)", at, h.Name)
		} else if names[h.Name] {
			add("%s.name = %q: used twice; host names must be unique", at, h.Name)
		}
		names[h.Name] = true
		a, err := netip.ParseAddr(h.Address)
		if err != nil || a.IsUnspecified() {
			add("%s.address = %q (%s): must be the host's IP address", at, h.Address, h.Name)
		}
		if h.HTTPPort < 1 || h.HTTPPort > 65535 {
			add("%s.http_port = %d (%s): must be between 1 and 65535", at, h.HTTPPort, h.Name)
		}
		key := netip.AddrPortFrom(a, uint16(h.HTTPPort)).String()
		if err == nil && addrs[key] {
			add("%s: %s is used by another host", at, key)
		}
		addrs[key] = true
		if h.Console {
			consoles++
		}
	}
	if len(f.Hosts) > 0 && consoles == 0 {
		add("hosts: no host has console = true; the front needs at least one for /admin/ and /api/")
	}
	if len(f.NATS.Servers) == 0 {
		add("nats.servers: none; list the NATS JetStream servers, e.g. [\"nats://10.0.0.11:4222\", ...]")
	}
	if f.MySQL.DSNFile == "" {
		add("mysql.dsn_file: required, the path (the same on every host) of the file (mode 0600) holding the primary's DSN")
	}
	for _, k := range clusterKeys {
		if _, ok := lookup(f.HostDefaults, k); ok {
			add("host_defaults.%s: set by the cluster file itself; remove it from [host_defaults]", k)
		}
	}
	sort.Strings(p)
	return p
}

// FrontAddress returns the front's address as the hosts see it.
func (f *File) FrontAddress() (netip.Addr, error) {
	if f.Front.Address != "" {
		a, err := netip.ParseAddr(f.Front.Address)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("front.address = %q: not an IP address", f.Front.Address)
		}
		return a, nil
	}
	ap, err := netip.ParseAddrPort(f.Front.Listen)
	if err != nil || ap.Addr().IsUnspecified() {
		return netip.Addr{}, errors.New("front.address: required when front.listen is not one address: the front's IP as the app hosts see it, which they trust for X-Forwarded-For")
	}
	return ap.Addr(), nil
}

// lookup finds a dotted key in a nested TOML table.
func lookup(m map[string]any, key string) (any, bool) {
	parts := strings.Split(key, ".")
	for i, k := range parts {
		v, ok := m[k]
		if !ok {
			return nil, false
		}
		if i == len(parts)-1 {
			return v, true
		}
		if m, ok = v.(map[string]any); !ok {
			return nil, false
		}
	}
	return nil, false
}

// table returns the sub-table name of m, creating it.
func table(m map[string]any, name string) map[string]any {
	if t, ok := m[name].(map[string]any); ok {
		return t
	}
	t := map[string]any{}
	m[name] = t
	return t
}

// deepCopy copies a decoded TOML table so that one host's changes never reach another's.
func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = deepCopy(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = deepCopy(x)
		}
		return out
	}
	return v
}

// HostConfig returns the adnet.toml of host h: [host_defaults], with the settings the
// cluster decides set over it, tracking.key_file (TrackingKeyFile) and, when sec has it,
// stats.ip_hash_key_id.
func (f *File) HostConfig(h Host, sec Secrets) ([]byte, error) {
	m, _ := deepCopy(f.HostDefaults).(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	front, err := f.FrontAddress()
	if err != nil {
		return nil, err
	}
	table(m, "nginx")["listen"] = netip.AddrPortFrom(netip.MustParseAddr(h.Address), uint16(h.HTTPPort)).String()

	// The front's address joins whatever proxies the defaults trust: the hosts' nginx then
	// believes the X-Forwarded-For the front sets, and so do the workers.
	fraud := table(m, "fraud")
	var trusted []string
	if list, ok := fraud["trusted_proxies"].([]any); ok {
		for _, x := range list {
			if s, ok := x.(string); ok {
				trusted = append(trusted, s)
			}
		}
	}
	if !slices.Contains(trusted, front.String()) {
		trusted = append(trusted, front.String())
	}
	fraud["trusted_proxies"] = trusted

	table(m, "events")["transport"] = config.TransportJetStream
	nats := table(m, "nats")
	nats["servers"] = f.NATS.Servers
	nats["host"] = h.Name
	nats["stream"] = cmp(f.NATS.Stream, "ADNET_EVENTS")
	nats["replicas"] = int64(cmpInt(f.NATS.Replicas, 3))
	// The same tracking key on every host: a click is often checked by another host than
	// the one that signed its ad.
	table(m, "tracking")["key_file"] = f.TrackingKeyFile()
	if sec.IPHashKeyID != "" {
		table(m, "stats")["ip_hash_key_id"] = sec.IPHashKeyID
	}
	mysql := table(m, "mysql")
	mysql["dsn_file"] = f.MySQL.DSNFile
	if f.MySQL.ReplicaDSNFile != "" {
		mysql["replica_dsn_file"] = f.MySQL.ReplicaDSNFile
	}

	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# adnet.toml of host %s in cluster %s.\n# Generated by `adnet cluster-conf` from the cluster file; edit that, not this file.\n\n", h.Name, f.Cluster.Name)
	if err := toml.NewEncoder(&buf).Encode(m); err != nil {
		return nil, fmt.Errorf("host %s: %w", h.Name, err)
	}
	return buf.Bytes(), nil
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func cmpInt(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}

// FrontParams returns the front's nginx parameters: every host for ad traffic, the
// console hosts for /admin/ and /api/.
func (f *File) FrontParams() nginx.FrontParams {
	p := nginx.FrontParams{
		Listen:      f.Front.Listen,
		ServerName:  f.Front.ServerName,
		StatusAllow: f.Front.StatusAllow,
		MaxFails:    f.Front.MaxFails,
		FailTimeout: time.Duration(f.Front.FailTimeout),
	}
	for _, h := range f.Hosts {
		fh := nginx.FrontHost{Name: h.Name, Addr: netip.AddrPortFrom(netip.MustParseAddr(h.Address), uint16(h.HTTPPort)).String()}
		p.Hosts = append(p.Hosts, fh)
		if h.Console {
			p.ConsoleHosts = append(p.ConsoleHosts, fh)
		}
	}
	return p
}
