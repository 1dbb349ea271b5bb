package fcgi

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// Peer allow-list. FastCGI has no authentication: whoever can connect to a worker can
// make it serve requests with any REMOTE_ADDR and any parameters. A Unix socket is guarded
// by its file mode; a TCP listener (nginx on another host) only by who may connect, so a
// Server with Options.AllowPeers closes every TCP connection from another address right
// after accept, before a byte is read, and counts it. Such a connection never reaches the
// handler and is not counted as accepted.

// refusedLogEvery is how often one refused address is logged: a scanner retrying in a loop
// must not flood the log, yet a misconfigured nginx host should be noticed.
const refusedLogEvery = time.Minute

// refusedLogMax bounds the addresses remembered for log throttling. When the table is
// full (a scan from many addresses), entries older than refusedLogEvery are dropped; if
// none is, the table is cleared: memory stays bounded, and at worst an address is logged
// a second time within the minute.
const refusedLogMax = 1024

// peerFilter decides whether a connection's peer may be served and throttles the log of
// those refused.
type peerFilter struct {
	allow []netip.Prefix
	log   logrus.FieldLogger

	mu     sync.Mutex
	logged map[netip.Addr]time.Time
}

func newPeerFilter(allow []netip.Prefix, log logrus.FieldLogger) *peerFilter {
	if len(allow) == 0 {
		return nil
	}
	return &peerFilter{allow: allow, log: log, logged: make(map[netip.Addr]time.Time)}
}

// allowed reports whether c may be served: every non-TCP connection (a Unix socket), and a
// TCP one whose remote address is in the list.
func (f *peerFilter) allowed(c net.Conn) (netip.Addr, bool) {
	if f == nil {
		return netip.Addr{}, true
	}
	ta, ok := c.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return netip.Addr{}, true
	}
	ap := ta.AddrPort()
	a := ap.Addr().Unmap()
	for _, p := range f.allow {
		if p.Contains(a) {
			return a, true
		}
	}
	return a, false
}

// refused logs a refused peer at most once per refusedLogEvery.
func (f *peerFilter) refused(a netip.Addr, now time.Time) {
	f.mu.Lock()
	last, seen := f.logged[a]
	if seen && now.Sub(last) < refusedLogEvery {
		f.mu.Unlock()
		return
	}
	if !seen && len(f.logged) >= refusedLogMax {
		for k, t := range f.logged {
			if now.Sub(t) >= refusedLogEvery {
				delete(f.logged, k)
			}
		}
		if len(f.logged) >= refusedLogMax {
			clear(f.logged)
		}
	}
	f.logged[a] = now
	f.mu.Unlock()
	f.log.WithField("peer", a.String()).
		Warn("fcgi: connection refused: peer not in fcgi.allow_peers (logged once a minute per address)")
}
