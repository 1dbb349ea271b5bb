package fraud

import (
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuiltinDatacenter: the shipped list parses without a bad line, says where it comes from
// and how to refresh it, holds the big clouds, and holds none of the sampled ISP, mobile and
// relay addresses people browse from (the list is a verdict on humans too).
func TestBuiltinDatacenter(t *testing.T) {
	set, errs := ParseIPSet(strings.NewReader(datacenterList))
	if len(errs) > 0 {
		t.Fatalf("datacenter.txt has bad lines: %v", errs)
	}
	if set.Len() < 1000 || BuiltinDatacenter().Len() != set.Len() {
		t.Fatalf("%d ranges (built-in %d): the list is truncated", set.Len(), BuiltinDatacenter().Len())
	}
	src := BuiltinDatacenterSource()
	for _, want := range []string{"Source:", "github.com/projectdiscovery/cdncheck@", "Generated 20", "make update-datacenter-list"} {
		if !strings.Contains(src, want) && !strings.Contains(datacenterList[:4000], want) {
			t.Errorf("the header lacks %q (source line: %q)", want, src)
		}
	}
	clouds := map[string]string{
		"3.5.140.1":    "AWS",
		"52.95.110.1":  "AWS",
		"34.35.0.1":    "Google Cloud",
		"4.145.74.53":  "Azure",
		"40.233.0.1":   "Oracle Cloud",
		"2600:1f18::1": "AWS EC2 IPv6",
	}
	for a, who := range clouds {
		if !set.Contains(netip.MustParseAddr(a)) {
			t.Errorf("%s (%s) is not in the list", a, who)
		}
	}
	humans := map[string]string{
		"73.15.20.1":   "Comcast (73.0.0.0/8)",
		"24.5.10.1":    "Comcast",
		"172.58.10.1":  "T-Mobile US (172.56.0.0/13)",
		"174.192.0.1":  "Verizon Wireless (174.192.0.0/10)",
		"12.34.56.78":  "AT&T (12.0.0.0/8)",
		"79.200.1.1":   "Deutsche Telekom (79.192.0.0/10)",
		"90.10.1.1":    "Orange France (90.0.0.0/9)",
		"86.128.1.1":   "BT (86.128.0.0/10)",
		"104.28.1.1":   "Cloudflare WARP egress",
		"172.224.0.1":  "iCloud Private Relay egress",
		"2601::1":      "Comcast IPv6 (2601::/20)",
		"2607:fb90::1": "T-Mobile US IPv6 (2607:fb90::/28)",
		"2a01:e0a::1":  "Free (France) IPv6",
		"2003:e5::1":   "Deutsche Telekom IPv6 (2003::/19)",
		"165.225.0.1":  "Zscaler (corporate proxy, left out)",
	}
	for a, who := range humans {
		if set.Contains(netip.MustParseAddr(a)) {
			t.Errorf("%s (%s) is in the data-center list", a, who)
		}
	}
	t.Logf("built-in datacenter list: %d merged ranges, %d bytes of range tables; %s", set.Len(), set.MemoryBytes(), src)
}

// TestListFileKeepsLastGood: a reload that finds the file with a bad line, or unreadable,
// keeps the previous good set in force and reports the error naming the file and the line;
// once fixed, the new content is taken and the error cleared.
func TestListFileKeepsLastGood(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dc.txt")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l := &ListFile{Path: path}
	if set, err := l.Load(); set != nil || err == nil {
		t.Fatalf("missing file, never loaded: set %v, err %v", set, err)
	}
	write("# cloud\n198.51.100.0/24\n2001:db8::/32\n")
	set, err := l.Load()
	if err != nil || set.Len() != 2 {
		t.Fatalf("good file: %d ranges, %v", set.Len(), err)
	}
	in := netip.MustParseAddr("198.51.100.7")
	write("# cloud\n198.51.100.0/24\n203.0.113.0/24\n10.0.0.0/33\n")
	got, err := l.Load()
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "line 4") {
		t.Errorf("malformed line: error %v, want one naming %s and line 4", err, path)
	}
	if got != set || !got.Contains(in) || got.Contains(netip.MustParseAddr("203.0.113.1")) {
		t.Errorf("malformed line: the set in force changed (half applied or dropped)")
	}
	if st := l.Status(); st.Error == "" || st.Ranges != 2 || st.FailedAt.IsZero() {
		t.Errorf("status after a bad reload: %+v", st)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if got, err := l.Load(); err == nil || got != set {
		t.Errorf("unreadable file: set %p (want the previous %p), err %v", got, set, err)
	}
	write("203.0.113.0/24\n")
	if got, err := l.Load(); err != nil || !got.Contains(netip.MustParseAddr("203.0.113.1")) || got.Contains(in) {
		t.Errorf("fixed file not taken: %v", err)
	}
	if st := l.Status(); st.Error != "" || st.Ranges != 1 {
		t.Errorf("status after the fix: %+v", st)
	}
}

// BenchmarkBuiltinDatacenterContains looks up random addresses (mostly misses) in the
// built-in list, as a worker does for every request.
func BenchmarkBuiltinDatacenterContains(b *testing.B) {
	s := BuiltinDatacenter()
	rng := rand.New(rand.NewPCG(5, 6))
	probes := make([]netip.Addr, 1<<16)
	for i := range probes {
		probes[i] = randomAddr(rng)
	}
	b.ReportAllocs()
	b.ResetTimer()
	hits := 0
	for i := 0; i < b.N; i++ {
		if s.Contains(probes[i&(len(probes)-1)]) {
			hits++
		}
	}
	b.ReportMetric(float64(s.Len()), "ranges")
	b.ReportMetric(float64(s.MemoryBytes()), "table-bytes")
	b.ReportMetric(float64(hits)/float64(b.N), "hit-ratio")
}
