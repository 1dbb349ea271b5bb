package mysql_test

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"adnet/models"
)

func TestRangeFromPrefix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ prefix, first, last string }{
		{"203.0.113.0/24", "203.0.113.0", "203.0.113.255"},
		{"203.0.113.77/24", "203.0.113.0", "203.0.113.255"},
		{"10.0.0.0/8", "10.0.0.0", "10.255.255.255"},
		{"192.0.2.1/32", "192.0.2.1", "192.0.2.1"},
		{"0.0.0.0/0", "0.0.0.0", "255.255.255.255"},
		{"2001:db8::/32", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"2001:db8:1:2::/63", "2001:db8:1:2::", "2001:db8:1:3:ffff:ffff:ffff:ffff"},
		{"2001:db8::1/128", "2001:db8::1", "2001:db8::1"},
	} {
		r := models.RangeFromPrefix(netip.MustParsePrefix(tc.prefix))
		if r.First != netip.MustParseAddr(tc.first) || r.Last != netip.MustParseAddr(tc.last) {
			t.Errorf("RangeFromPrefix(%s) = %s-%s, want %s-%s", tc.prefix, r.First, r.Last, tc.first, tc.last)
		}
	}
}

func TestIPListRoundTrip(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := t.Context()

	v6 := models.RangeFromPrefix(netip.MustParsePrefix("2001:db8::/32"))
	v6.Note = "documentation ✓"
	single := models.IPRange{First: netip.MustParseAddr("192.0.2.7"), Last: netip.MustParseAddr("192.0.2.7")}
	mapped := models.IPRange{ // given as IPv4-mapped IPv6: stored and returned as IPv4
		First: netip.MustParseAddr("::ffff:198.51.100.0"), Last: netip.MustParseAddr("::ffff:198.51.100.9"),
		CIDR: "198.51.100.0-198.51.100.9",
	}
	net10 := models.RangeFromPrefix(netip.MustParsePrefix("10.0.0.0/8"))
	dup := net10
	dup.Note = "second copy, dropped"
	in := []models.IPRange{v6, net10, single, mapped, dup}
	if err := s.ReplaceIPList(ctx, models.IPListBlocked, in); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadIPList(ctx, models.IPListBlocked)
	if err != nil {
		t.Fatal(err)
	}
	mapped.First, mapped.Last = mapped.First.Unmap(), mapped.Last.Unmap()
	same(t, "blocked list", got, []models.IPRange{net10, single, mapped, v6})

	// The other list is separate; replacing one leaves the other alone.
	dc := []models.IPRange{models.RangeFromPrefix(netip.MustParsePrefix("100.64.0.0/10"))}
	if err := s.ReplaceIPList(ctx, models.IPListDatacenter, dc); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceIPList(ctx, models.IPListBlocked, []models.IPRange{single}); err != nil {
		t.Fatal(err)
	}
	got, err = s.LoadIPList(ctx, models.IPListBlocked)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "blocked after replace", got, []models.IPRange{single})
	got, err = s.LoadIPList(ctx, models.IPListDatacenter)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "datacenter", got, dc)
	if err := s.ReplaceIPList(ctx, models.IPListBlocked, nil); err != nil {
		t.Fatal(err)
	}
	got, err = s.LoadIPList(ctx, models.IPListBlocked)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("emptied list = %v, %v", got, err)
	}

	// Invalid input changes nothing.
	a4, b4, a6 := netip.MustParseAddr("192.0.2.9"), netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	for _, tc := range []struct {
		list   string
		ranges []models.IPRange
		msg    string
	}{
		{"allowed", nil, `ip list "allowed"`},
		{models.IPListDatacenter, []models.IPRange{{First: a4, Last: b4}}, "first address after the last"},
		{models.IPListDatacenter, []models.IPRange{{First: a4, Last: a6}}, "different families"},
		{models.IPListDatacenter, []models.IPRange{{First: a4}}, "must be set"},
		{models.IPListDatacenter, []models.IPRange{{First: a4, Last: a4, CIDR: string(make([]byte, 65))}}, "cidr"},
	} {
		wantErr(t, s.ReplaceIPList(ctx, tc.list, tc.ranges), models.EINVALID, tc.msg)
	}
	_, err = s.LoadIPList(ctx, "allowed")
	wantErr(t, err, models.EINVALID, `ip list "allowed"`)
	got, err = s.LoadIPList(ctx, models.IPListDatacenter)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "datacenter after rejected replaces", got, dc)
}

// millionRanges returns n distinct ranges: /28 blocks walking through the IPv4 space from
// 1.0.0.0, every eighth an IPv6 /64, with CIDR set as an importer would, in shuffled order.
func millionRanges(n int) []models.IPRange {
	out := make([]models.IPRange, 0, n)
	for i := range n {
		var p netip.Prefix
		if i%8 == 7 {
			var b [16]byte
			binary.BigEndian.PutUint64(b[:8], 0x2001_0db8_0000_0000|uint64(i))
			p = netip.PrefixFrom(netip.AddrFrom16(b), 64)
		} else {
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], 0x01000000+uint32(i)<<4)
			p = netip.PrefixFrom(netip.AddrFrom4(b), 28)
		}
		out = append(out, models.RangeFromPrefix(p))
	}
	// A deterministic shuffle: feeds are not sorted, and the store must not rely on it.
	for i := len(out) - 1; i > 0; i-- {
		j := (i * 7919) % (i + 1)
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// TestReplaceIPListMillion imports a million ranges and reports how long it takes (no timed
// assertion: the figure is for people; run with -v). It checks the import is complete.
func TestReplaceIPListMillion(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("imports a million rows; skipped with -short")
	}
	s, _, _ := newStore(t)
	ctx := t.Context()
	const n = 1_000_000
	ranges := millionRanges(n)

	start := time.Now()
	if err := s.ReplaceIPList(ctx, models.IPListDatacenter, ranges); err != nil {
		t.Fatal(err)
	}
	first := time.Since(start)

	// Replacing a full list also deletes the million old rows.
	start = time.Now()
	if err := s.ReplaceIPList(ctx, models.IPListDatacenter, ranges); err != nil {
		t.Fatal(err)
	}
	second := time.Since(start)

	start = time.Now()
	got, err := s.LoadIPList(ctx, models.IPListDatacenter)
	if err != nil {
		t.Fatal(err)
	}
	load := time.Since(start)
	if len(got) != n {
		t.Fatalf("loaded %d ranges, want %d", len(got), n)
	}
	for i := 1; i < len(got); i++ {
		if got[i-1].First.Is4() == got[i].First.Is4() && got[i-1].First.Compare(got[i].First) >= 0 {
			t.Fatalf("ranges %d and %d out of order or duplicate: %v %v", i-1, i, got[i-1], got[i])
		}
	}
	t.Logf("ReplaceIPList %d ranges: %.2fs into an empty list, %.2fs replacing them; LoadIPList: %.2fs",
		n, first.Seconds(), second.Seconds(), load.Seconds())
}
