package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// TCPPrefix starts a TCP listen setting: "tcp://IP:PORT".
const TCPPrefix = "tcp://"

// ListenTCP parses a listen setting (the top-level listen, pools.console.listen). It
// returns the first worker's address and ok=true for "tcp://IP:PORT", ok=false for ""
// (Unix sockets), and an error for anything else. The IP must be one address of this host
// that nginx can connect to: not 0.0.0.0 or ::, because each worker is an nginx upstream
// server of its own and nginx needs the address to reach it.
func ListenTCP(listen string) (first netip.AddrPort, ok bool, err error) {
	if listen == "" {
		return netip.AddrPort{}, false, nil
	}
	rest, found := strings.CutPrefix(listen, TCPPrefix)
	if !found {
		return netip.AddrPort{}, false, fmt.Errorf("must be \"\" (Unix sockets in socket_dir) or %sIP:PORT such as \"tcp://10.0.0.2:9000\"", TCPPrefix)
	}
	ap, err := netip.ParseAddrPort(rest)
	if err != nil {
		return netip.AddrPort{}, false, fmt.Errorf("%q is not IP:PORT (an IP address, not a host name; IPv6 in brackets)", rest)
	}
	if ap.Addr().IsUnspecified() || ap.Addr().Zone() != "" {
		return netip.AddrPort{}, false, fmt.Errorf("%s is not an address nginx can connect to: use this host's own address, e.g. 10.0.0.2", ap.Addr())
	}
	if ap.Port() == 0 {
		return netip.AddrPort{}, false, fmt.Errorf("port 0: choose a fixed port (nginx's upstream names it)")
	}
	return ap, true, nil
}

// poolListen returns the listen setting of pool ("worker" or ConsolePool) and its name.
func (c *Config) poolListen(pool string) (listen, setting string, workers int) {
	if pool == ConsolePool {
		return c.Pools.Console.Listen, "pools.console.listen", c.Pools.Console.Workers
	}
	return c.Listen, "listen", c.Workers
}

// PoolTCP returns the TCP address of worker n (1-based) of pool, and false when the pool
// listens on Unix sockets. Worker n listens on the configured port + n - 1.
func (c *Config) PoolTCP(pool string, n int) (netip.AddrPort, bool) {
	listen, _, _ := c.poolListen(pool)
	first, ok, err := ListenTCP(listen)
	if !ok || err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(first.Addr(), first.Port()+uint16(n-1)), true
}

// PoolAddress returns where worker n of pool listens, as nginx's upstream names it: the
// Unix socket path, or IP:PORT for a TCP listen.
func (c *Config) PoolAddress(pool string, n int) string {
	if ap, ok := c.PoolTCP(pool, n); ok {
		return ap.String()
	}
	return c.PoolSocket(pool, n)
}

// PoolAddresses returns PoolAddress of every worker of pool, in worker order.
func (c *Config) PoolAddresses(pool string) []string {
	_, _, workers := c.poolListen(pool)
	out := make([]string, workers)
	for i := range out {
		out[i] = c.PoolAddress(pool, i+1)
	}
	return out
}

// validateCluster checks the settings that place adnet on several hosts: the TCP listens
// and their peer allow-list, the event transport and NATS, the DSN files.
func (c *Config) validateCluster(add func(format string, args ...any)) {
	var tcp []string
	type span struct {
		setting string
		first   netip.AddrPort
		n       int
	}
	var spans []span
	for _, pool := range []string{"worker", ConsolePool} {
		listen, setting, workers := c.poolListen(pool)
		first, ok, err := ListenTCP(listen)
		if err != nil {
			add("%s = %q: %v", setting, listen, err)
			continue
		}
		if !ok {
			continue
		}
		tcp = append(tcp, setting)
		if last := int(first.Port()) + workers - 1; last > 65535 {
			add("%s = %q: %d workers need ports %d-%d, beyond 65535; choose a lower port", setting, listen, workers, first.Port(), last)
			continue
		}
		spans = append(spans, span{setting, first, workers})
	}
	if len(spans) == 2 && spans[0].first.Addr() == spans[1].first.Addr() {
		a, b := spans[0], spans[1]
		lo, hi := max(a.first.Port(), b.first.Port()), min(int(a.first.Port())+a.n, int(b.first.Port())+b.n)
		if int(lo) < hi {
			add("%s and %s: their port ranges overlap (worker n listens on port+n-1); move %s to a port at least %d", a.setting, b.setting, b.setting, int(a.first.Port())+a.n)
		}
	}
	checkCIDRs2(add, "fcgi.allow_peers", c.FCGI.AllowPeers)
	if len(tcp) > 0 && len(c.FCGI.AllowPeers) == 0 {
		add("%s is TCP but fcgi.allow_peers is empty: FastCGI has no authentication, so list the addresses of the nginx hosts that may connect, e.g. allow_peers = [\"10.0.0.1\"] (or use Unix sockets: remove %s)", strings.Join(tcp, " and "), tcp[0])
	}

	switch c.Events.Transport {
	case TransportFile:
	case TransportJetStream:
		if len(c.NATS.Servers) == 0 {
			add("events.transport = %q needs nats.servers: list the NATS servers, e.g. servers = [\"nats://10.0.0.11:4222\"]", TransportJetStream)
		}
		if strings.TrimSpace(c.NATS.Host) == "" {
			add("events.transport = %q needs nats.host: this host's unique name in the cluster, e.g. host = \"app1\"", TransportJetStream)
		}
	default:
		add("events.transport = %q: must be %q (the aggregator reads this host's event logs) or %q (events go to NATS JetStream, section [nats])", c.Events.Transport, TransportFile, TransportJetStream)
	}
	for _, s := range c.NATS.Servers {
		if !strings.HasPrefix(s, "nats://") && !strings.HasPrefix(s, "tls://") {
			add("nats.servers: %q must be a nats://host:port (or tls://) URL", s)
		}
	}
	if strings.TrimSpace(c.NATS.Stream) == "" {
		add("nats.stream is empty: set it to the stream name, e.g. \"ADNET_EVENTS\"")
	}
	if c.NATS.Replicas < 1 || c.NATS.Replicas > 5 {
		add("nats.replicas = %d: must be between 1 and 5 (JetStream's limit; 3 survives the loss of one server)", c.NATS.Replicas)
	}

	if c.MySQL.DSNFile != "" && c.MySQL.PasswordFile != "" {
		add("mysql.dsn_file and mysql.password_file are both set: dsn_file holds the whole DSN, password included; remove password_file")
	}
}

func checkCIDRs2(add func(string, ...any), name string, list []string) {
	var p Problems
	checkCIDRs(&p, name, list)
	for _, s := range p {
		add("%s", s)
	}
}
