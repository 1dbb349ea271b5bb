package fraud

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"adnet/models"
)

func buildSet(t testing.TB, entries ...string) *IPSet {
	t.Helper()
	b := NewIPSetBuilder()
	for _, e := range entries {
		if err := b.Add(e); err != nil {
			t.Fatalf("Add(%q): %v", e, err)
		}
	}
	return b.Build()
}

func TestIPSetContains(t *testing.T) {
	s := buildSet(t,
		"192.0.2.1", "198.51.100.0/24", "203.0.113.10-203.0.113.20", "10.0.0.0/8",
		"2001:db8::1", "2001:db8:1::/48", "2001:db8:2::10 - 2001:db8:2::20",
		"::ffff:100.64.0.0/112", // IPv4-mapped prefix: the same as 100.64.0.0/16
	)
	in := []string{
		"192.0.2.1", "::ffff:192.0.2.1", "198.51.100.0", "198.51.100.255", "::ffff:198.51.100.7",
		"203.0.113.10", "203.0.113.20", "10.0.0.0", "10.255.255.255", "100.64.0.0", "100.64.255.255",
		"2001:db8::1", "2001:db8:1::", "2001:db8:1:ffff:ffff:ffff:ffff:ffff", "2001:db8:2::10",
		"2001:db8:2::20", "fe80::1%eth0", /* zone ignored, but not in the set: see out */
	}
	in = in[:len(in)-1]
	out := []string{
		"192.0.2.0", "192.0.2.2", "198.51.99.255", "198.51.101.0", "203.0.113.9", "203.0.113.21",
		"9.255.255.255", "11.0.0.0", "100.63.255.255", "100.65.0.0", "2001:db8::", "2001:db8::2",
		"2001:db8:0:ffff:ffff:ffff:ffff:ffff", "2001:db8:2::", "2001:db8:2::f", "2001:db8:2::21",
		"::c000:201", // IPv4-compatible (deprecated) form is not IPv4-mapped
		"fe80::1%eth0", "::", "255.255.255.255",
	}
	for _, a := range in {
		if !s.Contains(netip.MustParseAddr(a)) {
			t.Errorf("Contains(%s) = false, want true", a)
		}
	}
	for _, a := range out {
		if s.Contains(netip.MustParseAddr(a)) {
			t.Errorf("Contains(%s) = true, want false", a)
		}
	}
	if s.Contains(netip.Addr{}) {
		t.Error("the zero Addr is in the set")
	}
	var empty *IPSet
	if empty.Contains(netip.MustParseAddr("192.0.2.1")) || empty.Len() != 0 {
		t.Error("a nil IPSet is not empty")
	}
}

func TestIPSetWholeSpaces(t *testing.T) {
	all6 := buildSet(t, "::/0")
	all4 := buildSet(t, "0.0.0.0/0")
	for _, a := range []string{"0.0.0.0", "255.255.255.255", "::ffff:1.2.3.4", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::1"} {
		if !all6.Contains(netip.MustParseAddr(a)) {
			t.Errorf("::/0 does not contain %s", a)
		}
	}
	if all6.Len() != 3 { // below the mapped block, the mapped block as IPv4, above it
		t.Errorf("::/0 splits into %d ranges, want 3", all6.Len())
	}
	if !all4.Contains(netip.MustParseAddr("::ffff:255.255.255.255")) || all4.Contains(netip.MustParseAddr("::1")) {
		t.Error("0.0.0.0/0 is wrong at the edges")
	}
}

func TestIPSetMerge(t *testing.T) {
	s := buildSet(t, "10.0.0.0/25", "10.0.0.128/25", "10.0.0.5", "10.0.1.0-10.0.1.255",
		"2001:db8::/33", "2001:db8:8000::/33", "2001:db8::1")
	if s.Len() != 2 {
		t.Fatalf("Len() = %d, want 2 (adjacent and overlapping entries merge)", s.Len())
	}
	if !s.Contains(netip.MustParseAddr("10.0.1.128")) || s.Contains(netip.MustParseAddr("10.0.2.0")) {
		t.Fatal("merged v4 range is wrong")
	}
}

// TestIPSetRandom compares Contains with a naive scan of the prefixes on random sets, probing
// each prefix's edges and random addresses.
func TestIPSetRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 20; round++ {
		var prefixes []netip.Prefix
		b := NewIPSetBuilder()
		for i := 0; i < 300; i++ {
			p := randomPrefix(rng, true)
			prefixes = append(prefixes, p)
			b.AddPrefix(p)
		}
		s := b.Build()
		naive := func(a netip.Addr) bool {
			for _, p := range prefixes {
				if p.Contains(a) || (a.Is4In6() && p.Contains(a.Unmap())) {
					return true
				}
			}
			return false
		}
		var probes []netip.Addr
		for _, p := range prefixes {
			first := p.Masked().Addr()
			last := lastAddr(p)
			probes = append(probes, first, first.Prev(), last, last.Next())
			if first.Is4() {
				probes = append(probes, netip.AddrFrom16(first.As16()))
			}
		}
		for i := 0; i < 2000; i++ {
			probes = append(probes, randomAddr(rng))
		}
		for _, a := range probes {
			if a.IsValid() && s.Contains(a) != naive(a) {
				t.Fatalf("round %d: Contains(%s) = %v, naive %v", round, a, s.Contains(a), naive(a))
			}
		}
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func randomAddr(rng *rand.Rand) netip.Addr {
	if rng.IntN(2) == 0 {
		return netip.AddrFrom4([4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())})
	}
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	b[0] = 0x20 // global unicast, as in real lists
	return netip.AddrFrom16(b)
}

// randomPrefix returns a random IPv4 or IPv6 prefix. With wide, any length from /8 (v4) or
// /32 (v6); without, mostly single addresses and small prefixes as in real block lists
// (v4: 80% /32, else /20../31; v6: half /128, else /32../96).
func randomPrefix(rng *rand.Rand, wide bool) netip.Prefix {
	a := randomAddr(rng)
	var bits int
	if a.Is4() {
		bits = 32
		if wide {
			bits = 8 + rng.IntN(25)
		} else if rng.IntN(5) == 0 {
			bits = 20 + rng.IntN(12)
		}
	} else {
		bits = 128
		if wide || rng.IntN(2) == 0 {
			bits = []int{32, 48, 56, 64, 64, 64, 96}[rng.IntN(7)]
		}
	}
	return netip.PrefixFrom(a, bits).Masked()
}

func TestParseIPSet(t *testing.T) {
	input := strings.Join([]string{
		"# data-center ranges",
		"",
		"192.0.2.0/24   # documentation",
		"\t2001:db8::/32",
		"not-an-ip",
		"198.51.100.7",
		"203.0.113.300",
		"10.0.0.9-10.0.0.1",
		"10.0.0.1-2001:db8::1",
		"   # indented comment",
	}, "\n")
	s, errs := ParseIPSet(strings.NewReader(input))
	if s == nil {
		t.Fatal("ParseIPSet returned a nil set")
	}
	wantLines := []int{5, 7, 8, 9}
	if len(errs) != len(wantLines) {
		t.Fatalf("got %d errors %v, want lines %v", len(errs), errs, wantLines)
	}
	for i, err := range errs {
		var le *LineError
		if !errors.As(err, &le) || le.Line != wantLines[i] {
			t.Errorf("error %d = %v, want a *LineError on line %d", i, err, wantLines[i])
		}
		if models.ErrorCode(err) != models.EINVALID {
			t.Errorf("error %d code = %s, want EINVALID", i, models.ErrorCode(err))
		}
		if !strings.HasPrefix(err.Error(), fmt.Sprintf("line %d: ", wantLines[i])) {
			t.Errorf("error text %q lacks the line number", err)
		}
	}
	for _, a := range []string{"192.0.2.77", "2001:db8:ffff::1", "198.51.100.7"} {
		if !s.Contains(netip.MustParseAddr(a)) {
			t.Errorf("parsed set lacks %s", a)
		}
	}
	if s.Len() != 3 {
		t.Errorf("parsed set has %d ranges, want 3", s.Len())
	}
}

func TestParseIPSetErrorCap(t *testing.T) {
	input := strings.Repeat("garbage\n", maxParseErrors+50)
	_, errs := ParseIPSet(strings.NewReader(input))
	if len(errs) != maxParseErrors+1 {
		t.Fatalf("got %d errors, want %d listed plus one summary", len(errs), maxParseErrors)
	}
	if !strings.Contains(errs[len(errs)-1].Error(), "50 more") {
		t.Fatalf("summary error = %v", errs[len(errs)-1])
	}
}

func TestIPSetContainsNoAlloc(t *testing.T) {
	s := buildSet(t, "10.0.0.0/8", "2001:db8::/32")
	a4, a6 := netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("2001:db8::1")
	if n := testing.AllocsPerRun(100, func() { s.Contains(a4); s.Contains(a6) }); n != 0 {
		t.Fatalf("Contains allocates %v times", n)
	}
}

// million builds the benchmark set: 500k IPv4 and 500k IPv6 random entries, mostly single
// addresses and small prefixes as in real block lists.
func million(rng *rand.Rand) *IPSet {
	b := NewIPSetBuilder()
	for i := 0; i < 1_000_000; i++ {
		p := randomPrefix(rng, false)
		if (i%2 == 0) != p.Addr().Is4() {
			i-- // keep the 50/50 split
			continue
		}
		b.AddPrefix(p)
	}
	return b.Build()
}

// BenchmarkIPSetContains looks up random addresses (mostly misses, the common case) in a
// set of 1M random entries; it reports the set's memory per entry added.
func BenchmarkIPSetContains(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	s := million(rng)
	for _, fam := range []string{"v4", "v6", "mixed"} {
		probes := make([]netip.Addr, 1<<16)
		for i := range probes {
			a := randomAddr(rng)
			for (fam == "v4" && !a.Is4()) || (fam == "v6" && a.Is4()) {
				a = randomAddr(rng)
			}
			probes[i] = a
		}
		b.Run(fam, func(b *testing.B) {
			b.ReportAllocs()
			hits := 0
			for i := 0; i < b.N; i++ {
				if s.Contains(probes[i&(len(probes)-1)]) {
					hits++
				}
			}
			b.ReportMetric(float64(s.MemoryBytes())/1e6, "bytes/entry")
			b.ReportMetric(float64(s.MemoryBytes())/(1<<20), "MiB")
			b.ReportMetric(float64(hits)/float64(b.N), "hit-ratio")
		})
	}
}

// BenchmarkIPSetBuild measures building a 1M-entry set (the admin-side cost of a reload).
func BenchmarkIPSetBuild(b *testing.B) {
	for i := 0; i < b.N; i++ {
		million(rand.New(rand.NewPCG(3, 4)))
	}
}

func TestIPSetRangesRoundTrip(t *testing.T) {
	in := "10.0.0.0/8\n10.1.0.0/16\n192.0.2.5\n2001:db8::/32\n198.51.100.1-198.51.100.9\n"
	set, errs := ParseIPSet(strings.NewReader(in))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var got []string
	b := NewIPSetBuilder()
	set.Ranges(func(first, last netip.Addr) bool {
		got = append(got, first.String()+"-"+last.String())
		if err := b.AddRange(first, last); err != nil {
			t.Fatal(err)
		}
		return true
	})
	want := []string{"10.0.0.0-10.255.255.255", "192.0.2.5-192.0.2.5", "198.51.100.1-198.51.100.9", "2001:db8::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("ranges %v, want %v", got, want)
	}
	again := b.Build()
	for _, a := range []string{"10.200.0.1", "192.0.2.5", "198.51.100.9", "2001:db8:1::1"} {
		if !again.Contains(netip.MustParseAddr(a)) {
			t.Errorf("%s lost in the round trip", a)
		}
	}
}

func TestNewIPSetAndListFile(t *testing.T) {
	s, err := NewIPSet([]string{"10.0.0.1", "10.0.0.2", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	r := s.IPRanges()
	if len(r) != 2 || r[0].First.String() != "10.0.0.1" || r[0].Last.String() != "10.0.0.2" || r[1].First.String() != "2001:db8::" {
		t.Errorf("IPRanges = %v", r)
	}
	if _, err := NewIPSet([]string{"10.0.0.1", "bogus"}); err == nil {
		t.Error("NewIPSet accepted a bad entry")
	}
	if (&IPSet{}).IPRanges() != nil {
		t.Error("an empty set has ranges")
	}
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.txt"), filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(good, []byte("# dc\n192.0.2.0/24\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("192.0.2.0/24\nnot an ip\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := NewIPSetBuilder()
	if err := b.AddListFile(good); err != nil || !b.Build().Contains(netip.MustParseAddr("192.0.2.9")) {
		t.Errorf("AddListFile(good): %v", err)
	}
	if err := NewIPSetBuilder().AddListFile(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("AddListFile(bad): %v", err)
	}
}
