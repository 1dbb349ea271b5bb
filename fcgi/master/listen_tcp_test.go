package master

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"adnet/internal/testport"
)

// freeTCPListen returns "tcp://127.0.0.1:P" such that ports P..P+n-1 are free.
func freeTCPListen(t *testing.T, n int) string {
	return fmt.Sprintf("tcp://127.0.0.1:%d", testport.Range(t, n))
}

// TestTCPWorkersListenOnConsecutivePorts: with Listen = tcp://IP:P, worker n is on P+n-1,
// answers there, and the master frees the ports when it stops.
func TestTCPWorkersListenOnConsecutivePorts(t *testing.T) {
	opt, hook, out := baseOptions(t, 3, "worker")
	opt.Listen = freeTCPListen(t, 3)
	first, _, _ := parseListen(opt.Listen)
	h := start(t, opt, hook, out)
	ps := h.waitReady(3)
	for i, p := range ps {
		want := tcpScheme + tcpAddr(first, i+1).String()
		if p.Socket != want {
			t.Errorf("worker %d listens on %s, want %s", p.ID, p.Socket, want)
		}
		if r := mustGet(t, p.Socket, ""); r.pid != p.PID || r.id != p.ID {
			t.Errorf("%s answered by pid %d id %d, want %d %d", p.Socket, r.pid, r.id, p.PID, p.ID)
		}
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		addr := tcpAddr(first, i+1).String()
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts after the master stopped", addr)
		}
	}
}

// TestReloadCannotChangeListen: moving the workers to other ports needs nginx to follow,
// so it is a restart, not a reload.
func TestReloadCannotChangeListen(t *testing.T) {
	opt, hook, out := baseOptions(t, 1, "worker")
	h := start(t, opt, hook, out)
	h.waitReady(1)
	opt.Listen = freeTCPListen(t, 1)
	if err := h.m.Reload(opt); err == nil || !strings.Contains(err.Error(), "Listen cannot change") {
		t.Fatalf("reload to another listen: %v", err)
	}
}

// TestStandInRefusesStrangers: while a TCP worker is down, the master's stand-in answers
// 503 to the allowed peers (so that nginx retries elsewhere) and closes connections of any
// other address without a byte, as the worker itself would.
func TestStandInRefusesStrangers(t *testing.T) {
	opt, hook, out := baseOptions(t, 1, "crash")
	opt.Listen = freeTCPListen(t, 1)
	opt.AllowPeers = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	opt.RestartBackoff, opt.MaxRestartBackoff = time.Minute, time.Minute
	h := start(t, opt, hook, out)
	waitFor(t, "worker crashed", func() bool { p := h.info(0); return p.LastExit != "" && p.PID == 0 })
	socket := h.info(0).Socket
	waitFor(t, "stand-in answering", func() bool {
		stdout, _, err := fcgiRequest(socket)
		return err == nil && strings.HasPrefix(stdout, "Status: 503 ")
	})

	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", strings.TrimPrefix(socket, tcpScheme))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var b []byte
	b = appendRecord(b, fcgiBeginRequest, 1, []byte{0, 1, 0, 0, 0, 0, 0, 0})
	b = appendRecord(b, 4, 1, nil)
	b = appendRecord(b, fcgiStdin, 1, nil)
	c.Write(b) // may fail if the close was seen first
	got, err := io.ReadAll(c)
	if len(got) != 0 {
		t.Fatalf("a peer outside AllowPeers got %d bytes (%q), want none", len(got), got)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a peer outside AllowPeers was left waiting instead of closed")
	}
}
