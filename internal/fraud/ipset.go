package fraud

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"

	"adnet/models"
)

// u128 is an IPv6 address (or an IPv4 address in its IPv4-mapped form) as a 128-bit
// big-endian integer, so that address ranges are plain integer intervals.
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

// next returns a+1 and false when a is the maximum (the addition would wrap).
func (a u128) next() (u128, bool) {
	if a.lo != ^uint64(0) {
		return u128{a.hi, a.lo + 1}, true
	}
	if a.hi != ^uint64(0) {
		return u128{a.hi + 1, 0}, true
	}
	return a, false
}

// prev returns a-1; callers never call it on zero.
func (a u128) prev() u128 {
	if a.lo != 0 {
		return u128{a.hi, a.lo - 1}
	}
	return u128{a.hi - 1, ^uint64(0)}
}

func u128From(a netip.Addr) u128 {
	b := a.As16() // IPv4 comes out IPv4-mapped, which is how IPv4 entries match mapped lookups
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// The IPv4-mapped block ::ffff:0.0.0.0/96 holds every IPv4 entry. It lives in the v4 table
// (8 bytes per range) instead of the v6 one (32 bytes per range).
var (
	mappedFirst = u128{0, 0x0000_ffff_0000_0000}
	mappedLast  = u128{0, 0x0000_ffff_ffff_ffff}
)

// span is a closed address interval [first, last].
type span struct{ first, last u128 }

// ipIndexStride is how many ranges one entry of an IPSet's top-level index covers. The
// index (every 64th range start) is small enough to stay in cache, so a lookup touches the
// big arrays only within one 64-range block: 2-4 cache lines and one page instead of a
// cache and TLB miss at every level of a plain binary search.
const ipIndexStride = 64

// IPSet is an immutable set of IPv4 and IPv6 addresses built from single addresses, CIDR
// prefixes and ranges. Lookups search sorted, merged, disjoint ranges (IPv4 as uint32 pairs,
// IPv6 as 128-bit pairs) through a two-level index, so Contains never allocates and costs
// O(log n) comparisons but only a few cache misses however large the list (the motivating
// pain: block lists in the millions, with CIDRs). IPv4-mapped IPv6 addresses match IPv4
// entries and vice versa.
//
// An IPSet is never modified after Build, so one can be shared by every goroutine and
// swapped atomically in a configuration snapshot. A nil *IPSet is the empty set.
type IPSet struct {
	v4first, v4last, v4index []uint32
	v6first, v6last, v6index []u128
}

// Contains reports whether a is in the set. Zones are ignored; an invalid address is in no set.
func (s *IPSet) Contains(a netip.Addr) bool {
	if s == nil || !a.IsValid() {
		return false
	}
	b := a.As16()
	if a.Is4() || a.Is4In6() {
		x := binary.BigEndian.Uint32(b[12:])
		j := lastLE4(s.v4index, x)
		if j < 0 {
			return false
		}
		lo := j * ipIndexStride
		hi := min(lo+ipIndexStride, len(s.v4first))
		i := lo + lastLE4(s.v4first[lo:hi], x) // >= lo: v4first[lo] == v4index[j] <= x
		return x <= s.v4last[i]
	}
	x := u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
	j := lastLE6(s.v6index, x)
	if j < 0 {
		return false
	}
	lo := j * ipIndexStride
	hi := min(lo+ipIndexStride, len(s.v6first))
	i := lo + lastLE6(s.v6first[lo:hi], x)
	return !s.v6last[i].less(x)
}

// lastLE4 returns the index of the last element of the sorted s that is <= x, or -1. The
// loop is branch-free (the conditional add compiles to CMOV), so mispredictions do not
// dominate.
func lastLE4(s []uint32, x uint32) int {
	n := len(s)
	if n == 0 || x < s[0] {
		return -1
	}
	i := 0
	for n > 1 {
		half := n >> 1
		if s[i+half] <= x {
			i += half
		}
		n -= half
	}
	return i
}

// lastLE6 is lastLE4 for 128-bit keys.
func lastLE6(s []u128, x u128) int {
	n := len(s)
	if n == 0 || x.less(s[0]) {
		return -1
	}
	i := 0
	for n > 1 {
		half := n >> 1
		if !x.less(s[i+half]) {
			i += half
		}
		n -= half
	}
	return i
}

// Len returns the number of disjoint ranges the set holds after merging (adjacent and
// overlapping entries merge, so it can be smaller than the number of entries added).
func (s *IPSet) Len() int {
	if s == nil {
		return 0
	}
	return len(s.v4first) + len(s.v6first)
}

// MemoryBytes returns the bytes held by the set's range tables: 8 per IPv4 range, 32 per
// IPv6 range, plus 1/64 of that for the index.
func (s *IPSet) MemoryBytes() int {
	if s == nil {
		return 0
	}
	return 4*(cap(s.v4first)+cap(s.v4last)+cap(s.v4index)) +
		16*(cap(s.v6first)+cap(s.v6last)+cap(s.v6index)) + 6*24
}

// IPSetBuilder accumulates addresses, prefixes and ranges for an IPSet. It is not safe for
// concurrent use; Build hands its contents to the IPSet and leaves the builder empty.
type IPSetBuilder struct {
	spans []span
}

// NewIPSetBuilder returns an empty builder.
func NewIPSetBuilder() *IPSetBuilder { return &IPSetBuilder{} }

// AddAddr adds one address (its zone, if any, is ignored).
func (b *IPSetBuilder) AddAddr(a netip.Addr) {
	if !a.IsValid() {
		return
	}
	x := u128From(a)
	b.spans = append(b.spans, span{x, x})
}

// AddPrefix adds every address of p. Host bits below the prefix length are ignored, so
// 10.1.2.3/8 adds 10.0.0.0/8 (lists in the wild often carry such entries). An IPv4 prefix
// covers the same addresses in IPv4-mapped form, and ::ffff:10.0.0.0/104 equals 10.0.0.0/8.
func (b *IPSetBuilder) AddPrefix(p netip.Prefix) {
	if !p.IsValid() {
		return
	}
	p = p.Masked()
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	first := u128From(p.Addr())
	last := first
	host := 128 - bits // number of host bits, 0..128
	switch {
	case host >= 128:
		last = u128{^uint64(0), ^uint64(0)}
	case host >= 64:
		last.hi |= (uint64(1) << (host - 64)) - 1
		last.lo = ^uint64(0)
	case host > 0:
		last.lo |= (uint64(1) << host) - 1
	}
	b.spans = append(b.spans, span{first, last})
}

// AddRange adds every address from first to last inclusive. Both must be valid, of the same
// family (an IPv4-mapped address counts as IPv4), and first must not be after last.
func (b *IPSetBuilder) AddRange(first, last netip.Addr) error {
	if !first.IsValid() || !last.IsValid() {
		return models.Errorf(models.EINVALID, "invalid address in range")
	}
	if first.Unmap().Is4() != last.Unmap().Is4() {
		return models.Errorf(models.EINVALID, "range %s-%s mixes IPv4 and IPv6", first, last)
	}
	f, l := u128From(first), u128From(last)
	if l.less(f) {
		return models.Errorf(models.EINVALID, "range %s-%s ends before it starts", first, last)
	}
	b.spans = append(b.spans, span{f, l})
	return nil
}

// Add parses and adds one entry: an address ("192.0.2.1", "2001:db8::1"), a CIDR prefix
// ("192.0.2.0/24", "2001:db8::/32") or a range ("192.0.2.10-192.0.2.20"). The error is a
// *models.Error with code EINVALID.
func (b *IPSetBuilder) Add(entry string) error {
	entry = strings.TrimSpace(entry)
	if first, last, ok := strings.Cut(entry, "-"); ok {
		f, err1 := netip.ParseAddr(strings.TrimSpace(first))
		l, err2 := netip.ParseAddr(strings.TrimSpace(last))
		if err1 != nil || err2 != nil {
			return models.Errorf(models.EINVALID, "invalid IP range %q", entry)
		}
		return b.AddRange(f, l)
	}
	if strings.IndexByte(entry, '/') >= 0 {
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			return models.Errorf(models.EINVALID, "invalid CIDR prefix %q", entry)
		}
		b.AddPrefix(p)
		return nil
	}
	a, err := netip.ParseAddr(entry)
	if err != nil {
		return models.Errorf(models.EINVALID, "invalid IP address %q", entry)
	}
	b.AddAddr(a)
	return nil
}

// Build sorts and merges what was added into an immutable IPSet and resets the builder.
// It takes O(n log n) time and the temporary memory of the added entries (32 bytes each).
func (b *IPSetBuilder) Build() *IPSet {
	var v4, v6 []span
	for _, sp := range b.spans {
		// Split at the IPv4-mapped block so that each part lands in its own table.
		if sp.first.less(mappedFirst) {
			end := sp.last
			if !end.less(mappedFirst) {
				end = mappedFirst.prev()
			}
			v6 = append(v6, span{sp.first, end})
		}
		if !sp.last.less(mappedFirst) && !mappedLast.less(sp.first) {
			f, l := sp.first, sp.last
			if f.less(mappedFirst) {
				f = mappedFirst
			}
			if mappedLast.less(l) {
				l = mappedLast
			}
			v4 = append(v4, span{f, l})
		}
		if mappedLast.less(sp.last) {
			start := sp.first
			if !mappedLast.less(start) {
				start, _ = mappedLast.next()
			}
			v6 = append(v6, span{start, sp.last})
		}
	}
	b.spans = nil
	s := &IPSet{}
	v4 = mergeSpans(v4)
	s.v4first, s.v4last = make([]uint32, len(v4)), make([]uint32, len(v4))
	for i, sp := range v4 {
		s.v4first[i], s.v4last[i] = uint32(sp.first.lo), uint32(sp.last.lo)
	}
	v6 = mergeSpans(v6)
	s.v6first, s.v6last = make([]u128, len(v6)), make([]u128, len(v6))
	for i, sp := range v6 {
		s.v6first[i], s.v6last[i] = sp.first, sp.last
	}
	for i := 0; i < len(s.v4first); i += ipIndexStride {
		s.v4index = append(s.v4index, s.v4first[i])
	}
	for i := 0; i < len(s.v6first); i += ipIndexStride {
		s.v6index = append(s.v6index, s.v6first[i])
	}
	return s
}

// mergeSpans sorts spans and merges overlapping and adjacent ones in place.
func mergeSpans(sp []span) []span {
	if len(sp) == 0 {
		return nil
	}
	slices.SortFunc(sp, func(a, b span) int {
		switch {
		case a.first.less(b.first):
			return -1
		case b.first.less(a.first):
			return 1
		}
		return 0
	})
	out := sp[:1]
	for _, cur := range sp[1:] {
		top := &out[len(out)-1]
		after, ok := top.last.next()
		if !ok || !after.less(cur.first) { // overlaps or touches (or top already reaches the end)
			if top.last.less(cur.last) {
				top.last = cur.last
			}
			continue
		}
		out = append(out, cur)
	}
	return out
}

// maxParseErrors bounds the errors ParseIPSet collects, so that feeding it a huge file of
// garbage cannot exhaust memory; one final error says how many more lines were rejected.
const maxParseErrors = 1000

// LineError is a problem on one line of an IP list. Err is a *models.Error (EINVALID) for a
// bad entry, or the reader's error.
type LineError struct {
	Line int    // 1-based line number
	Text string // the offending entry, truncated to 100 bytes
	Err  error
}

// Error implements error.
func (e *LineError) Error() string {
	msg := e.Err.Error()
	var me *models.Error
	if errors.As(e.Err, &me) {
		msg = me.Message
	}
	return fmt.Sprintf("line %d: %s", e.Line, msg)
}

// Unwrap returns the underlying error, so models.ErrorCode sees EINVALID through it.
func (e *LineError) Unwrap() error { return e.Err }

// ParseIPSet reads an IP list: one address, CIDR prefix or first-last range per line; '#'
// starts a comment (whole-line or trailing); blank lines are ignored. Bad lines are skipped
// and reported as *LineError values (at most maxParseErrors of them, plus a summary), so one
// typo does not throw away a million-line block list; the set of the good lines is always
// returned, never nil.
func ParseIPSet(r io.Reader) (*IPSet, []error) {
	b := NewIPSetBuilder()
	errs := b.AddFile(r)
	return b.Build(), errs
}

// AddFile adds every entry of an IP list in the file format of ParseIPSet and returns the
// bad lines (the good ones are added either way).
func (b *IPSetBuilder) AddFile(r io.Reader) []error {
	var errs []error
	skipped := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		text = strings.TrimSpace(strings.TrimPrefix(text, "\ufeff"))
		if text == "" {
			continue
		}
		if err := b.Add(text); err != nil {
			if len(errs) < maxParseErrors {
				if len(text) > 100 {
					text = text[:100]
				}
				errs = append(errs, &LineError{Line: line, Text: text, Err: err})
			} else {
				skipped++
			}
		}
	}
	if skipped > 0 {
		errs = append(errs, &LineError{Line: line, Err: models.Errorf(models.EINVALID,
			"%d more invalid lines not listed", skipped)})
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, &LineError{Line: line + 1, Err: err})
	}
	return errs
}

// NewIPSet builds a set from configured entries (fraud.trusted_proxies): addresses, CIDRs or
// first-last ranges. The first bad entry is the error: a configuration is fixed, not skipped.
func NewIPSet(entries []string) (*IPSet, error) {
	b := NewIPSetBuilder()
	for _, e := range entries {
		if err := b.Add(e); err != nil {
			return nil, err
		}
	}
	return b.Build(), nil
}

// AddListFile adds every entry of the IP list file at path (the format of ParseIPSet). Any
// bad line is an error naming the file and the lines: a list that is half applied is worse
// than a refusal.
func (b *IPSetBuilder) AddListFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if errs := b.AddFile(f); len(errs) > 0 {
		return fmt.Errorf("%s: %w", path, errors.Join(errs...))
	}
	return nil
}

// IPRanges returns the merged ranges of the set in the order of Ranges (nil for an empty
// set), as stored by an import.
func (s *IPSet) IPRanges() []models.IPRange {
	var out []models.IPRange
	s.Ranges(func(first, last netip.Addr) bool {
		out = append(out, models.IPRange{First: first, Last: last})
		return true
	})
	return out
}

// Ranges calls fn for every merged range of the set, IPv4 first, in ascending order, until fn
// returns false. It is for exporting a set (storing an imported list), not for lookups.
func (s *IPSet) Ranges(fn func(first, last netip.Addr) bool) {
	if s == nil {
		return
	}
	for i := range s.v4first {
		if !fn(v4addr(s.v4first[i]), v4addr(s.v4last[i])) {
			return
		}
	}
	for i := range s.v6first {
		if !fn(s.v6first[i].addr(), s.v6last[i].addr()) {
			return
		}
	}
}

func v4addr(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

func (a u128) addr() netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], a.hi)
	binary.BigEndian.PutUint64(b[8:], a.lo)
	return netip.AddrFrom16(b)
}
