package models

import "net/netip"

// IP list names: the values of the ip_lists.list column.
const (
	IPListBlocked    = "blocked"    // hard block: events from these addresses are invalid
	IPListDatacenter = "datacenter" // hosting and cloud ranges: a soft signal for the fraud filters
)

// IPRange is an inclusive range of addresses of one family. models has no IP range type yet, so
// the store defines the one it loads and saves.
type IPRange struct {
	First netip.Addr
	Last  netip.Addr
	CIDR  string // the notation it was imported from, for people ("203.0.113.0/24"); may be empty
	Note  string // where it comes from ("spamhaus drop 2024-05-01"); may be empty
}

// RangeFromPrefix returns the range of addresses covered by p, with CIDR set to p's notation.
func RangeFromPrefix(p netip.Prefix) IPRange {
	p = p.Masked()
	first := p.Addr()
	if !first.IsValid() {
		return IPRange{}
	}
	b := first.As16()
	host := first.BitLen() - p.Bits() // bits to set in the last address
	for i := 15; i >= 0 && host > 0; i-- {
		n := min(host, 8)
		b[i] |= byte(1<<n - 1)
		host -= n
	}
	last := netip.AddrFrom16(b)
	if first.Is4() {
		last = last.Unmap()
	}
	return IPRange{First: first, Last: last, CIDR: p.String()}
}
