package fcgi

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// checkServing fails the test unless a fresh connection is served normally.
func checkServing(t *testing.T, ts *testServer) {
	t.Helper()
	if resp := dialFCGI(t, ts.path).get("/still-alive"); resp.Status != 200 {
		t.Fatalf("server no longer serving: %d", resp.Status)
	}
}

func TestHostileGarbage(t *testing.T) { forEngines(t, testHostileGarbage) }

func testHostileGarbage(t *testing.T) {
	ts := startServer(t, Options{})
	c := dialFCGI(t, ts.path)
	c.conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")) // HTTP to a FastCGI socket
	c.waitClosed(10 * time.Second)
	checkServing(t, ts)

	// A valid header of an unknown record type, then random junk.
	c = dialFCGI(t, ts.path)
	writeRecord(c.conn, 200, 0, []byte("????"))
	junk := make([]byte, 4096)
	for i := range junk {
		junk[i] = byte(i*7 + 3)
	}
	c.conn.Write(junk)
	c.waitClosed(10 * time.Second)
	checkServing(t, ts)
}

// TestHostileTruncated: a peer that stops in the middle of a record is closed by the
// idle reaper, and others are served meanwhile.
func TestHostileTruncated(t *testing.T) { forEngines(t, testHostileTruncated) }

func testHostileTruncated(t *testing.T) {
	ts := startServer(t, Options{IdleTimeout: 100 * time.Millisecond})
	c := dialFCGI(t, ts.path)
	var b bytes.Buffer
	writeRecord(&b, recBeginRequest, 1, beginRequest(roleResponder, flagKeepConn))
	writeRecord(&b, recParams, 1, encodePairs(getParams("/x")))
	c.conn.Write(b.Bytes()[:b.Len()-10]) // the params record is cut short
	checkServing(t, ts)
	c.waitClosed(20 * time.Second)
	if st := ts.Stats(); st.IdleClosed < 1 {
		t.Fatalf("idle closed %d", st.IdleClosed)
	}
	checkServing(t, ts)
}

// TestHostileHugeLengths: maximal record lengths, a params pair claiming 2 GB, and a
// CONTENT_LENGTH far beyond the body are survived; a params flood is cut off.
func TestHostileHugeLengths(t *testing.T) { forEngines(t, testHostileHugeLengths) }

func testHostileHugeLengths(t *testing.T) {
	ts := startServer(t, Options{})

	c := dialFCGI(t, ts.path)
	p := getParams("/body")
	p["REQUEST_METHOD"] = "POST"
	p["CONTENT_LENGTH"] = "999999999999999999"
	var b bytes.Buffer
	writeRecord(&b, recBeginRequest, 1, beginRequest(roleResponder, flagKeepConn))
	writeRecord(&b, recParams, 1, encodePairs(p))
	// A pair whose name claims 2^31-1 bytes: must be ignored, not allocated.
	writeRecord(&b, recParams, 1, []byte{0xff, 0xff, 0xff, 0xff, 1, 'x'})
	writeRecord(&b, recParams, 1, nil)
	body := bytes.Repeat([]byte("b"), 65535) // maximal content length, with padding
	writeRecord(&b, recStdin, 1, body)
	writeRecord(&b, recStdin, 1, nil)
	go c.conn.Write(b.Bytes())
	resp, err := c.readResponse()
	if err != nil {
		t.Fatal(err)
	}
	if want := "got 65535 bytes, content-length 999999999999999999"; resp.Status != 200 || string(resp.Body) != want {
		t.Fatalf("got %d %q, want %q", resp.Status, resp.Body, want)
	}
	if resp := c.get("/same-conn"); resp.Status != 200 {
		t.Fatalf("same connection afterwards: %d", resp.Status)
	}

	// Params without end: net/http/fcgi would buffer them all; we cut at maxParamsBytes.
	flood := dialFCGI(t, ts.path)
	go func() {
		writeRecord(flood.conn, recBeginRequest, 1, beginRequest(roleResponder, flagKeepConn))
		chunk := bytes.Repeat([]byte{'p'}, 65535)
		for i := 0; i < 4*maxParamsBytes/len(chunk); i++ {
			if writeRecord(flood.conn, recParams, 1, chunk) != nil {
				return // closed by the server, as expected
			}
		}
	}()
	flood.waitClosed(20 * time.Second)
	if st := ts.Stats(); st.BadInput != 1 {
		t.Fatalf("bad input %d, want 1", st.BadInput)
	}
	checkServing(t, ts)
}

// TestUnknownRole: a FastCGI filter/authorizer request is refused per the protocol and
// the connection stays usable.
func TestUnknownRole(t *testing.T) { forEngines(t, testUnknownRole) }

func testUnknownRole(t *testing.T) {
	ts := startServer(t, Options{})
	c := dialFCGI(t, ts.path)
	writeRecord(c.conn, recBeginRequest, 1, beginRequest(3, flagKeepConn))
	resp, err := c.readResponse()
	if err != nil || resp.ProtoStatus != 3 { // FCGI_UNKNOWN_ROLE
		t.Fatalf("unknown role: %+v %v", resp, err)
	}
	if resp := c.get("/next"); resp.Status != 200 {
		t.Fatalf("after unknown role: %d", resp.Status)
	}
}

// TestIdleSparesBusyConn: a connection whose request is in the handler is not closed by
// the idle reaper however long the handler takes; once idle, it is.
func TestIdleSparesBusyConn(t *testing.T) { forEngines(t, testIdleSparesBusyConn) }

func testIdleSparesBusyConn(t *testing.T) {
	ts := startServer(t, Options{IdleTimeout: 40 * time.Millisecond})
	c := dialFCGI(t, ts.path)
	if err := c.send(getParams("/block"), nil); err != nil {
		t.Fatal(err)
	}
	<-ts.app.entered
	// The reaper found the connection past IdleTimeout and spared it, at least twice.
	eventually(t, "the reaper to spare the busy conn", func() bool { return ts.c.idleDeferred.Load() >= 2 })
	ts.app.unblock()
	if resp, err := c.readResponse(); err != nil || resp.Status != 200 {
		t.Fatalf("long request: %+v %v", resp, err)
	}
	if st := ts.Stats(); st.IdleClosed != 0 {
		t.Fatalf("idle closed %d while busy", st.IdleClosed)
	}
	c.waitClosed(20 * time.Second)
	eventually(t, "the connection to be unregistered", func() bool { return ts.Stats().ConnsOpen == 0 })
	if st := ts.Stats(); st.IdleClosed != 1 {
		t.Fatalf("after idling: idle closed %d", st.IdleClosed)
	}
}

// flakyListener wraps a real listener and fails the next Accept calls with the errors
// queued in errs, to exercise Serve's accept error handling.
type flakyListener struct {
	net.Listener
	errs chan error
	hits atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	select {
	case err := <-l.errs:
		l.hits.Add(1)
		return nil, err
	default:
		return l.Listener.Accept()
	}
}

func TestAcceptErrors(t *testing.T) { forEngines(t, testAcceptErrors) }

func testAcceptErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "worker.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: ln, errs: make(chan error, 10)}
	emfile := &net.OpError{Op: "accept", Net: "unix", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	for i := 0; i < 3; i++ {
		fl.errs <- emfile
	}
	ts := serveOn(t, fl, path, Options{})
	checkServing(t, ts)
	if fl.hits.Load() != 3 {
		t.Fatalf("%d injected errors consumed", fl.hits.Load())
	}
	warned := 0
	for _, e := range ts.logHook.AllEntries() {
		if strings.Contains(e.Message, "accept error") {
			warned++
		}
	}
	if warned != 3 {
		t.Fatalf("%d accept errors logged, want 3", warned)
	}

	// A fatal error ends Serve with that error, without waiting for Shutdown.
	fatal := errors.New("listener broken")
	fl.errs <- fatal
	c, err := net.Dial("unix", path) // wake the blocked Accept with a connection...
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c2, err := net.Dial("unix", path) // ... so the next Accept takes the fatal error
	if err == nil {
		defer c2.Close()
	}
	select {
	case err := <-ts.served:
		if !errors.Is(err, fatal) {
			t.Fatalf("Serve returned %v, want %v", err, fatal)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return on a fatal accept error")
	}
	ts.served <- nil
}
