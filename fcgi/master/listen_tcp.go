package master

import (
	"fmt"
	"net/netip"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// TCP listeners. nginx on another host reaches the workers over TCP; the master owns a
// TCP listener per worker exactly as it owns a Unix socket (hand-over on reload, the 503
// stand-in after a death), for the same reasons: a TCP port that nobody listens on refuses
// connections (a 502), and one that nobody accepts on lets them wait out nginx's timeout.

// tcpScheme starts Options.Listen for TCP.
const tcpScheme = "tcp://"

// parseListen returns the first worker's TCP address of listen ("tcp://IP:PORT"), or
// ok=false for "" (Unix sockets).
func parseListen(listen string) (first netip.AddrPort, ok bool, err error) {
	if listen == "" {
		return netip.AddrPort{}, false, nil
	}
	rest, found := strings.CutPrefix(listen, tcpScheme)
	if !found {
		return netip.AddrPort{}, false, fmt.Errorf("master: Listen %q: want \"\" or tcp://IP:PORT", listen)
	}
	ap, err := netip.ParseAddrPort(rest)
	if err != nil || ap.Port() == 0 {
		return netip.AddrPort{}, false, fmt.Errorf("master: Listen %q: want tcp://IP:PORT with a non-zero port", listen)
	}
	return ap, true, nil
}

// tcpAddr is worker id's address: the first port + id - 1.
func tcpAddr(first netip.AddrPort, id int) netip.AddrPort {
	return netip.AddrPortFrom(first.Addr(), first.Port()+uint16(id-1))
}

// isTCP reports whether a slot's socket name is a TCP address rather than a path.
func isTCP(socket string) bool { return strings.HasPrefix(socket, tcpScheme) }

// listenTCPFile creates a listening TCP socket on addr with the given backlog and returns
// it as a close-on-exec file, the form the master keeps and hands to children.
// SO_REUSEADDR lets a restarted master bind again while connections of its predecessor
// are in TIME_WAIT; it does not let two live listeners share the port.
func listenTCPFile(addr netip.AddrPort, backlog int) (*os.File, error) {
	name := tcpScheme + addr.String()
	if backlog <= 0 {
		return nil, fmt.Errorf("listen %s: backlog must be positive, got %d", name, backlog)
	}
	family := unix.AF_INET
	var sa unix.Sockaddr = &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}
	if addr.Addr().Is6() && !addr.Addr().Is4In6() {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(addr.Port()), Addr: addr.Addr().As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("listen %s: socket: %w", name, err)
	}
	fail := func(step string, err error) (*os.File, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("listen %s: %s: %w", name, step, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("SO_REUSEADDR", err)
	}
	if family == unix.AF_INET6 {
		// One address family per listener: an IPv6 address means IPv6 only.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return fail("IPV6_V6ONLY", err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return fail("listen", err)
	}
	return os.NewFile(uintptr(fd), name), nil
}
