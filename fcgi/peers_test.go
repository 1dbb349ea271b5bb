package fcgi

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// dialFrom connects to addr over TCP from the loopback address src: the whole of 127/8 is
// local, so one machine has as many peer addresses as a test needs.
func dialFrom(t *testing.T, src, addr string) *fcgiConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { c.Close() })
	return &fcgiConn{t: t, conn: c, br: bufio.NewReader(c)}
}

// TestAllowPeersTCP: over TCP, a peer in AllowPeers is served; any other is closed at
// accept before a byte is read, never reaches the handler, is counted in PeersRefused and
// logged once per address however often it retries.
func TestAllowPeersTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ts := serveOn(t, ln, addr, Options{AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("127.0.1.0/24")}})

	for _, src := range []string{"127.0.0.1", "127.0.1.7"} {
		resp := dialFrom(t, src, addr).get("/hello")
		if resp.Status != 200 || !strings.Contains(string(resp.Body), "hello GET /hello") {
			t.Fatalf("allowed peer %s: status %d body %q", src, resp.Status, resp.Body)
		}
	}
	for range 3 {
		c := dialFrom(t, "127.0.0.2", addr)
		// The request may or may not be written before the close is seen; either way no
		// response comes back, only EOF or a reset.
		_ = c.send(getParams("/hello"), nil)
		c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := c.br.ReadByte()
		var ne net.Error
		if err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("refused peer: read %v, want EOF or reset", err)
		}
		if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") {
			t.Logf("refused peer read error: %v", err)
		}
	}
	eventually(t, "3 refused peers counted", func() bool { return ts.Stats().PeersRefused == 3 })
	st := ts.Stats()
	if st.Accepted != 2 || st.ConnsAccepted != 2 {
		t.Errorf("accepted %d requests on %d connections, want 2 on 2 (refused peers are not accepted)", st.Accepted, st.ConnsAccepted)
	}
	logged := 0
	for _, e := range ts.logHook.AllEntries() {
		if strings.Contains(e.Message, "not in fcgi.allow_peers") {
			logged++
			if e.Data["peer"] != "127.0.0.2" {
				t.Errorf("logged peer %v", e.Data["peer"])
			}
		}
	}
	if logged != 1 {
		t.Errorf("refused peer logged %d times, want once a minute", logged)
	}
}

// TestAllowPeersUnix: the allow-list is about TCP peers; a Unix socket connection, guarded
// by the socket's file mode, is always served.
func TestAllowPeersUnix(t *testing.T) {
	ts := startServer(t, Options{AllowPeers: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}})
	if resp := dialFCGI(t, ts.path).get("/hello"); resp.Status != 200 {
		t.Fatalf("unix peer: status %d", resp.Status)
	}
}

// TestRefusedLogBounded: the log throttle remembers at most refusedLogMax addresses.
func TestRefusedLogBounded(t *testing.T) {
	ts := startServer(t, Options{})
	f := newPeerFilter([]netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}, ts.opt.Logger)
	now := time.Now()
	for i := range 3 * refusedLogMax {
		f.refused(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), now)
	}
	if n := len(f.logged); n > refusedLogMax {
		t.Fatalf("%d addresses remembered, want at most %d", n, refusedLogMax)
	}
	f.refused(netip.MustParseAddr("10.9.9.9"), now)
	before := len(ts.logHook.AllEntries())
	f.refused(netip.MustParseAddr("10.9.9.9"), now.Add(time.Second))
	if len(ts.logHook.AllEntries()) != before {
		t.Error("the same address was logged twice within a minute")
	}
	f.refused(netip.MustParseAddr("10.9.9.9"), now.Add(refusedLogEvery))
	if len(ts.logHook.AllEntries()) != before+1 {
		t.Error("the address was not logged again after a minute")
	}
}
