package fraud

import (
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted := buildSet(t, "10.0.0.0/8", "2001:db8:ffff::/48", "127.0.0.1")
	cases := []struct {
		name, remote, xff string
		trusted           *IPSet
		want              string
	}{
		{"untrusted peer ignores XFF", "203.0.113.5", "198.51.100.1", trusted, "203.0.113.5"},
		{"no trusted set ignores XFF", "10.0.0.1", "198.51.100.1", nil, "10.0.0.1"},
		{"trusted peer, one hop", "10.0.0.1", "198.51.100.1", trusted, "198.51.100.1"},
		{"spoofed left part is skipped", "10.0.0.1", "1.2.3.4, 198.51.100.1, 10.0.0.2", trusted, "198.51.100.1"},
		{"all hops trusted: leftmost", "10.0.0.1", "10.0.0.3, 10.0.0.2", trusted, "10.0.0.3"},
		{"trusted peer, no XFF", "10.0.0.1", "", trusted, "10.0.0.1"},
		{"garbage hop stops at last trusted", "10.0.0.1", "198.51.100.1, unknown, 10.0.0.2", trusted, "10.0.0.2"},
		{"hop with port", "10.0.0.1", "198.51.100.1:5555", trusted, "198.51.100.1"},
		{"bracketed v6 hop with port", "10.0.0.1", "[2001:db8::7]:443", trusted, "2001:db8::7"},
		{"v6 hop", "2001:db8:ffff::1", "2001:db8::8", trusted, "2001:db8::8"},
		{"mapped peer is unmapped and trusted", "::ffff:10.0.0.1", "::ffff:198.51.100.9", trusted, "198.51.100.9"},
		{"mapped client unmapped", "::ffff:203.0.113.5", "", trusted, "203.0.113.5"},
		{"peer with port", "203.0.113.5:40000", "", trusted, "203.0.113.5"},
		{"bracketed v6 peer with port", "[2001:db8::1]:40000", "", trusted, "2001:db8::1"},
		{"zone dropped", "fe80::1%eth0", "", trusted, "fe80::1"},
		{"empty elements and spaces", "10.0.0.1", " 198.51.100.1 ,, ", trusted, "198.51.100.1"},
		{"unix socket peer trusts XFF", "unix:", "198.51.100.1", nil, "198.51.100.1"},
		{"unix socket peer, no XFF", "unix:", "", trusted, ""},
		{"bad peer", "nonsense", "198.51.100.1", trusted, ""},
		{"empty peer", "", "", trusted, ""},
	}
	for _, tc := range cases {
		got := ClientIP(tc.remote, tc.xff, tc.trusted)
		want := netip.Addr{}
		if tc.want != "" {
			want = netip.MustParseAddr(tc.want)
		}
		if got != want {
			t.Errorf("%s: ClientIP(%q, %q) = %v, want %v", tc.name, tc.remote, tc.xff, got, want)
		}
	}
}

func TestClientIPNoAlloc(t *testing.T) {
	trusted := buildSet(t, "10.0.0.0/8")
	if n := testing.AllocsPerRun(100, func() {
		ClientIP("10.0.0.1", "1.2.3.4, 198.51.100.1, 10.0.0.2", trusted)
	}); n != 0 {
		t.Fatalf("ClientIP allocates %v times", n)
	}
}

func TestGroupKey(t *testing.T) {
	k := func(s string) [16]byte { return GroupKey(netip.MustParseAddr(s)) }
	if k("2001:db8:1:2:aaaa::1") != k("2001:db8:1:2:bbbb::2") {
		t.Error("two addresses of one /64 have different keys")
	}
	if k("2001:db8:1:2::1") == k("2001:db8:1:3::1") {
		t.Error("two /64s share a key")
	}
	if k("192.0.2.1") == k("192.0.2.2") {
		t.Error("two IPv4 addresses share a key")
	}
	if k("192.0.2.1") != k("::ffff:192.0.2.1") {
		t.Error("an IPv4 address and its mapped form have different keys")
	}
	want := netip.MustParseAddr("::ffff:192.0.2.1").As16()
	if k("192.0.2.1") != want {
		t.Error("the IPv4 key is not the IPv4-mapped form used by models.Event.IP")
	}
	if GroupKey(netip.Addr{}) != [16]byte{} {
		t.Error("the zero Addr does not give the zero key")
	}
}
