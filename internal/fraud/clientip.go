package fraud

import (
	"net/netip"
	"strings"
)

// ClientIP returns the address of the client behind remoteAddr (REMOTE_ADDR as nginx passes
// it: "192.0.2.1", or with a port, "[2001:db8::1]:443" also accepted) and the
// X-Forwarded-For header xff (comma-separated, several headers joined with commas).
//
// X-Forwarded-For is honoured only when the peer itself is in trusted: anyone else could
// write any address there and so pick the IP its clicks are counted under (Revive trusts it
// from anyone by default). The list is then walked right to left, skipping trusted hops; the
// first untrusted address is the client. When every hop is trusted the leftmost one is the
// client. An entry that does not parse ("unknown", an obfuscated RFC 7239 identifier) ends
// the walk and the last trusted hop is returned, as that is the last address vouched for.
//
// A peer of "unix:..." (nginx behind a local proxy on a Unix socket) is local and therefore
// trusted; with no usable X-Forwarded-For it yields the zero Addr. IPv4-mapped IPv6
// addresses are unmapped, so an IPv4 client has one form whatever the listener's family.
// The zero Addr is returned when no address can be determined. ClientIP does not allocate.
func ClientIP(remoteAddr, xff string, trusted *IPSet) netip.Addr {
	var peer netip.Addr
	if strings.HasPrefix(remoteAddr, "unix:") {
		// Local socket peer: trusted, but it has no address of its own.
	} else {
		a, ok := parseHostAddr(remoteAddr)
		if !ok {
			return netip.Addr{}
		}
		if !trusted.Contains(a) {
			return a
		}
		peer = a
	}
	rest := xff
	for {
		rest = strings.TrimRight(rest, " \t,")
		if rest == "" {
			return peer // all hops trusted (or none given): the leftmost trusted one
		}
		i := strings.LastIndexByte(rest, ',')
		hop := strings.TrimSpace(rest[i+1:])
		rest = rest[:max(i, 0)]
		a, ok := parseHostAddr(hop)
		if !ok {
			return peer
		}
		if !trusted.Contains(a) {
			return a
		}
		peer = a
	}
}

// parseHostAddr parses "addr", "addr:port", "[addr]" or "[addr]:port" and unmaps IPv4-mapped
// IPv6. Zones are dropped: they are meaningless beyond the host that saw them.
func parseHostAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Addr{}, false
	}
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		s = s[1:end]
	} else if i := strings.IndexByte(s, ':'); i >= 0 && strings.IndexByte(s[i+1:], ':') < 0 {
		s = s[:i] // exactly one colon: IPv4 with a port
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// GroupKey returns the key under which floods from a are counted: IPv4 addresses by /32 and
// IPv6 addresses by /64, because one IPv6 subscriber (a home, a phone) is normally given a
// whole /64 and can rotate through it at will. An IPv4 key is the IPv4-mapped form (the
// models.Event IP format); an IPv6 key is the /64 prefix followed by zero bytes. The zero
// Addr yields all zeroes.
func GroupKey(a netip.Addr) [16]byte {
	if !a.IsValid() {
		return [16]byte{}
	}
	k := a.As16()
	if !a.Is4() && !a.Is4In6() {
		clear(k[8:])
	}
	return k
}
