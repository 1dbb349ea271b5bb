package fcgi

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// Drain tests, against both engines.

// TestShutdownDrains: in-flight requests finish; requests that reach the draining worker
// on kept-alive connections — one sent on an idle connection after the drain began, one
// half-written when it began — are served, not refused (issue 12: nginx never retries a
// POST it has written, not even after a 503), and each response is followed by the
// goodbye record that makes nginx drop the connection; the worker itself closes no
// kept-alive connection while the peer may still write on it, so Shutdown returns only
// once the peers have closed them; new connections are refused; Serve returns nil.
func TestShutdownDrains(t *testing.T) { forEngines(t, testShutdownDrains) }

func testShutdownDrains(t *testing.T) {
	ts := startServer(t, Options{})
	busy, idle, midway := dialFCGI(t, ts.path), dialFCGI(t, ts.path), dialFCGI(t, ts.path)
	if resp := idle.get("/warmup"); resp.Status != 200 {
		t.Fatal(resp.Status)
	}
	// midway has sent the beginning of a request when the drain begins.
	var req bytes.Buffer
	writeRecord(&req, recBeginRequest, 1, beginRequest(roleResponder, flagKeepConn))
	writeRecord(&req, recParams, 1, encodePairs(getParams("/during-drain")))
	writeRecord(&req, recParams, 1, nil)
	writeRecord(&req, recStdin, 1, nil)
	cut := recHeaderLen + 8 + 5
	if _, err := midway.conn.Write(req.Bytes()[:cut]); err != nil {
		t.Fatal(err)
	}
	if err := busy.send(getParams("/block?drain=1"), nil); err != nil {
		t.Fatal(err)
	}
	<-ts.app.entered
	eventually(t, "midway's first bytes to be read", func() bool {
		return engineOf(t) == EngineStdlib || ts.Stats().ConnsOpen == 3
	})
	shut := make(chan error, 1)
	go func() { shut <- ts.Shutdown(context.Background()) }()
	eventually(t, "draining", func() bool { return ts.Stats().Draining })

	// The idle connection stays open: a request the web server writes on it now is served.
	time.Sleep(20 * time.Millisecond) // the old drain closed idle connections within this
	if resp := idle.get("/after-drain-began"); resp.Status != 200 || !strings.HasPrefix(string(resp.Body), "hello GET /after-drain-began") {
		t.Fatalf("request on an idle connection during the drain: %d %q", resp.Status, resp.Body)
	}
	idle.readGoodbye()
	if _, err := midway.conn.Write(req.Bytes()[cut:]); err != nil {
		t.Fatal(err)
	}
	resp, err := midway.readResponse()
	if err != nil || resp.Status != 200 || !strings.HasPrefix(string(resp.Body), "hello GET /during-drain") {
		t.Fatalf("request during drain: %+v %v", resp, err)
	}
	midway.readGoodbye()
	if c, err := net.Dial("unix", ts.path); err == nil {
		c.Close()
		t.Fatal("new connection accepted during drain")
	}
	// The peer closes what it was told to drop, as nginx does.
	idle.conn.Close()
	midway.conn.Close()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	default:
	}

	ts.app.unblock()
	resp, err = busy.readResponse()
	if err != nil || resp.Status != 200 || string(resp.Body) != "released drain=1" {
		t.Fatalf("in-flight request: %+v %v", resp, err)
	}
	busy.readGoodbye()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v while the peer kept a connection open", err)
	case <-time.After(50 * time.Millisecond):
	}
	busy.conn.Close()
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-ts.served; err != nil {
		t.Fatalf("Serve returned %v, want nil", err)
	}
	ts.served <- nil // for the cleanup
	st := ts.Stats()
	if st.DrainGoodbyes != 3 || st.Rejected != 0 || st.ConnsOpen != 0 || st.Status.S2xx != 4 || st.Status.S5xx != 0 {
		t.Fatalf("stats: %+v", st)
	}
}

// TestShutdownClosesLeftoverConns: a peer that keeps an idle connection open through the
// whole drain has it closed at the end of ShutdownTimeout, and Shutdown says it was cut.
func TestShutdownClosesLeftoverConns(t *testing.T) { forEngines(t, testShutdownClosesLeftoverConns) }

func testShutdownClosesLeftoverConns(t *testing.T) {
	ts := startServer(t, Options{ShutdownTimeout: 200 * time.Millisecond})
	c := dialFCGI(t, ts.path)
	if resp := c.get("/warmup"); resp.Status != 200 {
		t.Fatal(resp.Status)
	}
	if err := ts.Shutdown(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want deadline exceeded", err)
	}
	c.waitClosed(10 * time.Second)
	if err := <-ts.served; err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	ts.served <- nil
}

// TestShutdownTimeout: a handler that does not finish cannot hold Shutdown beyond ctx.
func TestShutdownTimeout(t *testing.T) { forEngines(t, testShutdownTimeout) }

func testShutdownTimeout(t *testing.T) {
	ts := startServer(t, Options{})
	c := dialFCGI(t, ts.path)
	if err := c.send(getParams("/block"), nil); err != nil {
		t.Fatal(err)
	}
	<-ts.app.entered
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := ts.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want deadline exceeded", err)
	}
	if err := <-ts.served; err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	ts.served <- nil
	c.waitClosed(10 * time.Second)
}

// TestQueuedServedOnShutdown: a request waiting in the queue when the drain begins is
// served once a slot frees, not refused: nginx has written it to this worker, and would
// pass a 503 for a POST to the client.
func TestQueuedServedOnShutdown(t *testing.T) { forEngines(t, testQueuedServedOnShutdown) }

func testQueuedServedOnShutdown(t *testing.T) {
	ts := startServer(t, Options{MaxChildren: 1, Queue: 1, QueueTimeout: time.Minute})
	holder, queued := dialFCGI(t, ts.path), dialFCGI(t, ts.path)
	holder.send(getParams("/block"), nil)
	<-ts.app.entered
	queued.send(getParams("/fast"), nil)
	eventually(t, "a queued request", func() bool { return ts.Stats().Queued == 1 })
	shut := make(chan error, 1)
	go func() { shut <- ts.Shutdown(context.Background()) }()
	eventually(t, "draining", func() bool { return ts.Stats().Draining })
	ts.app.unblock()
	if resp, err := holder.readResponse(); err != nil || resp.Status != 200 {
		t.Fatalf("holder: %+v %v", resp, err)
	}
	if resp, err := queued.readResponse(); err != nil || resp.Status != 200 {
		t.Fatalf("queued request at shutdown: %+v %v", resp, err)
	}
	holder.conn.Close()
	queued.conn.Close()
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if st := ts.Stats(); st.Rejected != 0 || st.Status.S2xx != 2 {
		t.Fatalf("stats: %+v", st)
	}
}

// TestShutdownWaitsForResponseTail: net/http/fcgi writes the buffered end of a response
// and END_REQUEST after the handler has returned; the drain must wait for them, not just
// for the handler. The server's send buffer is shrunk so that this tail blocks until the
// client reads.
func TestShutdownWaitsForResponseTail(t *testing.T) { forEngines(t, testShutdownWaitsForResponseTail) }

func testShutdownWaitsForResponseTail(t *testing.T) {
	ts := startServer(t, Options{})
	body := strings.Repeat("z", bigBody)
	c := dialFCGI(t, ts.path)
	if resp := c.get("/warmup"); resp.Status != 200 {
		t.Fatal(resp.Status)
	}
	ts.mu.Lock()
	for tc := range ts.conns {
		if err := tc.Conn.(*net.UnixConn).SetWriteBuffer(1024); err != nil {
			t.Fatal(err)
		}
	}
	ts.mu.Unlock()
	if err := c.send(getParams("/big"), nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the handler to return with the tail unsent", func() bool {
		st := ts.Stats()
		return st.Accepted == 2 && ts.active.Load() == 0 && st.InFlight == 0
	})
	shut := make(chan error, 1)
	go func() { shut <- ts.Shutdown(context.Background()) }()
	eventually(t, "draining", func() bool { return ts.Stats().Draining })
	time.Sleep(50 * time.Millisecond) // not needed to pass; gives a wrong drain time to cut the tail
	resp, err := c.readResponse()
	if err != nil {
		t.Fatalf("response cut during drain: %v", err)
	}
	if resp.Status != 200 || string(resp.Body) != body {
		t.Fatalf("response during drain: %d, body %d bytes", resp.Status, len(resp.Body))
	}
	c.conn.Close()
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
}
