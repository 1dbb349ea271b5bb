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

// TestShutdownDrains: in-flight requests finish; a kept-alive connection idle between
// requests is closed as soon as the drain begins (issue 12: nginx would otherwise keep
// sending requests to the draining worker, each a 503 and a retry); a request already
// on its way when the drain begins gets 503; new connections are refused; Serve returns
// nil.
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

	// The idle connection is closed at once, long before the in-flight request ends.
	idle.waitClosed(10 * time.Second)
	if _, err := midway.conn.Write(req.Bytes()[cut:]); err != nil {
		t.Fatal(err)
	}
	resp, err := midway.readResponse()
	if err != nil || resp.Status != 503 || resp.Header.Get("Retry-After") != "1" || string(resp.Body) != bodyDraining {
		t.Fatalf("request during drain: %+v %v", resp, err)
	}
	// ... and once answered, that connection is closed too, the drain still going on.
	midway.waitClosed(10 * time.Second)
	if c, err := net.Dial("unix", ts.path); err == nil {
		c.Close()
		t.Fatal("new connection accepted during drain")
	}
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
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-ts.served; err != nil {
		t.Fatalf("Serve returned %v, want nil", err)
	}
	ts.served <- nil // for the cleanup
	busy.waitClosed(10 * time.Second)
	st := ts.Stats()
	if st.RejectedDraining != 1 || st.Rejected != 0 || st.ConnsOpen != 0 || st.Status.S2xx != 2 {
		t.Fatalf("stats: %+v", st)
	}
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

// TestQueuedRejectedOnShutdown: a request waiting in the queue is not kept for the
// drain; it gets 503 so that nginx retries it elsewhere at once.
func TestQueuedRejectedOnShutdown(t *testing.T) { forEngines(t, testQueuedRejectedOnShutdown) }

func testQueuedRejectedOnShutdown(t *testing.T) {
	ts := startServer(t, Options{MaxChildren: 1, Queue: 1, QueueTimeout: time.Minute})
	holder, queued := dialFCGI(t, ts.path), dialFCGI(t, ts.path)
	holder.send(getParams("/block"), nil)
	<-ts.app.entered
	queued.send(getParams("/fast"), nil)
	eventually(t, "a queued request", func() bool { return ts.Stats().Queued == 1 })
	shut := make(chan error, 1)
	go func() { shut <- ts.Shutdown(context.Background()) }()
	resp, err := queued.readResponse()
	if err != nil || resp.Status != 503 || string(resp.Body) != bodyDraining {
		t.Fatalf("queued request at shutdown: %+v %v", resp, err)
	}
	ts.app.unblock()
	if resp, err := holder.readResponse(); err != nil || resp.Status != 200 {
		t.Fatalf("holder: %+v %v", resp, err)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if st := ts.Stats(); st.RejectedDraining != 1 || st.Rejected != 0 {
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
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
}
