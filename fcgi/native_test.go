package fcgi

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// Protocol cases for the native engine only: what net/http/fcgi does not do (cancel an
// aborted request, bound requests and params per request id, limit bodies) or what only
// the native engine promises (one write per small response).

// countingWriter counts Write calls.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

// TestNativeAbort: FCGI_ABORT_REQUEST cancels a running request's context, its
// END_REQUEST comes at once, and what its handler writes afterwards never reaches the
// request that reuses its id. (net/http/fcgi forgets a request once its input is
// complete, so it ignores such an abort and never cancels the context.)
func TestNativeAbort(t *testing.T) {
	ts := startServer(t, Options{})
	c := dialFCGI(t, ts.path)
	if err := c.send(getParams("/wait-ctx"), nil); err != nil {
		t.Fatal(err)
	}
	<-ts.app.entered
	writeRecord(c.conn, recAbortRequest, 1, nil)
	r := c.mustRec()
	if r.typ != recEndRequest || r.id != 1 || r.content[4] != statusRequestComplete {
		t.Fatalf("answer to abort: %+v", r)
	}
	select {
	case err := <-ts.app.ctxEnded:
		if err != context.Canceled {
			t.Fatalf("context error %v, want Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the aborted request's context was not cancelled")
	}
	for i := 0; i < 3; i++ { // id 1 reused
		if resp := c.get("/after-abort"); resp.Status != 200 || strings.Contains(string(resp.Body), "late") {
			t.Fatalf("request after abort: %d %q", resp.Status, resp.Body)
		}
	}

	// An abort before the handler started, and one while the handler reads the body.
	var b bytes.Buffer
	writeRecord(&b, recBeginRequest, 1, beginRequest(roleResponder, flagKeepConn))
	writeRecord(&b, recParams, 1, encodePairs(postParams("/body", 10)))
	writeRecord(&b, recAbortRequest, 1, nil)
	c.conn.Write(b.Bytes())
	if r := c.mustRec(); r.typ != recEndRequest || r.id != 1 {
		t.Fatalf("abort before start: %+v", r)
	}
	b.Reset()
	writeRecord(&b, recBeginRequest, 1, beginRequest(roleResponder, flagKeepConn))
	writeRecord(&b, recParams, 1, encodePairs(postParams("/body", 10)))
	writeRecord(&b, recParams, 1, nil)
	writeRecord(&b, recStdin, 1, []byte("12345"))
	writeRecord(&b, recAbortRequest, 1, nil)
	c.conn.Write(b.Bytes())
	if r := c.mustRec(); r.typ != recEndRequest || r.id != 1 {
		t.Fatalf("abort while reading the body: %+v", r)
	}
	if resp := c.get("/after-abort"); resp.Status != 200 {
		t.Fatalf("after aborts: %d", resp.Status)
	}
}

// TestNativeRequestsPerConnLimit: beyond maxConnReqs requests at once on a connection,
// a new id is refused with FCGI_CANT_MPX_CONN; the others are served.
func TestNativeRequestsPerConnLimit(t *testing.T) {
	ts := startServer(t, Options{})
	c := dialFCGI(t, ts.path)
	var b bytes.Buffer
	for id := uint16(1); id <= maxConnReqs; id++ {
		appendRequest(&b, id, flagKeepConn, getParams("/block"), nil)
	}
	c.conn.Write(b.Bytes())
	for i := 0; i < maxConnReqs; i++ {
		<-ts.app.entered
	}
	b.Reset()
	appendRequest(&b, 100, flagKeepConn, getParams("/refused"), nil)
	c.conn.Write(b.Bytes())
	r := c.mustRec()
	if r.typ != recEndRequest || r.id != 100 || r.content[4] != statusCantMpxConn {
		t.Fatalf("answer to one request too many: %+v", r)
	}
	ts.app.unblock()
	for id, resp := range c.readResponses(maxConnReqs) {
		if resp.Status != 200 {
			t.Fatalf("id %d: %d", id, resp.Status)
		}
	}
}

// TestNativeParamsLimitPerRequest: the params limit holds per request id, so that
// interleaving ids cannot add up to more, and it does not add up unrelated requests.
func TestNativeParamsLimitPerRequest(t *testing.T) {
	ts := startServer(t, Options{})
	pad := strings.Repeat("p", maxParamsBytes*6/10)

	// Two requests of 0.6 × the limit each, interleaved: both served.
	c := dialFCGI(t, ts.path)
	var b bytes.Buffer
	enc := map[uint16][]byte{}
	for id := uint16(1); id <= 2; id++ {
		p := getParams("/big-params")
		p["X_PAD"] = pad
		enc[id] = encodePairs(p)
		writeRecord(&b, recBeginRequest, id, beginRequest(roleResponder, flagKeepConn))
	}
	for len(enc[1])+len(enc[2]) > 0 {
		for id := uint16(1); id <= 2; id++ {
			n := min(len(enc[id]), 60000)
			if n > 0 {
				writeRecord(&b, recParams, id, enc[id][:n])
				enc[id] = enc[id][n:]
			}
		}
	}
	for id := uint16(1); id <= 2; id++ {
		writeRecord(&b, recParams, id, nil)
		writeRecord(&b, recStdin, id, nil)
	}
	go c.conn.Write(b.Bytes())
	for id, resp := range c.readResponses(2) {
		if resp.Status != 200 {
			t.Fatalf("id %d: %d", id, resp.Status)
		}
	}

	// One request beyond the limit, its params interleaved with new ids: cut off.
	flood := dialFCGI(t, ts.path)
	go func() {
		chunk := bytes.Repeat([]byte{'p'}, 60000)
		writeRecord(flood.conn, recBeginRequest, 1, beginRequest(roleResponder, flagKeepConn))
		for i := 0; i < 2*maxParamsBytes/len(chunk); i++ {
			id := uint16(2 + i%4)
			var b bytes.Buffer
			writeRecord(&b, recAbortRequest, id, nil)
			writeRecord(&b, recBeginRequest, id, beginRequest(roleResponder, flagKeepConn))
			writeRecord(&b, recParams, 1, chunk)
			if _, err := flood.conn.Write(b.Bytes()); err != nil {
				return
			}
		}
	}()
	flood.waitClosed(20 * time.Second)
	if st := ts.Stats(); st.BadInput != 1 {
		t.Fatalf("bad input %d, want 1", st.BadInput)
	}
}

// TestNativeBodyLimit: a body beyond MaxBodyBytes fails the handler's read with
// *http.MaxBytesError; the rest is discarded and the connection stays usable.
func TestNativeBodyLimit(t *testing.T) {
	ts := startServer(t, Options{MaxBodyBytes: 1000})
	c := dialFCGI(t, ts.path)
	if err := c.send(postParams("/body", 5000), bytes.Repeat([]byte("b"), 5000)); err != nil {
		t.Fatal(err)
	}
	resp, err := c.readResponse()
	if err != nil || resp.Status != 400 || !strings.Contains(string(resp.Body), "request body too large") {
		t.Fatalf("%+v %v", resp, err)
	}
	if err := c.send(postParams("/body", 1000), bytes.Repeat([]byte("b"), 1000)); err != nil {
		t.Fatal(err)
	}
	if resp, err := c.readResponse(); err != nil || string(resp.Body) != "got 1000 bytes, content-length 1000" {
		t.Fatalf("%+v %v", resp, err)
	}
}

// TestNativeOneWritePerSmallResponse: a small response (CGI header block, body, end of
// the STDOUT stream and END_REQUEST) leaves in a single write(2).
func TestNativeOneWritePerSmallResponse(t *testing.T) {
	s := NewServer(benchHandler, Options{})
	var in bytes.Buffer
	appendRequest(&in, 1, flagKeepConn, nginxParams("GET", "/track/imp?t=x"), nil)
	// Pipelined (an id is only free again once its END_REQUEST is read, hence id 2).
	appendRequest(&in, 2, flagKeepConn, postParams("/track/conv", 5), []byte("12345"))
	out := &countingWriter{}
	s.serveNative(s.track(&memConn{r: &in, w: out}).(*trackedConn))
	if out.writes != 2 {
		t.Fatalf("%d writes for 2 small responses, want 2", out.writes)
	}
	checkRecords(t, out.Bytes())
	if n := bytes.Count(out.Bytes(), gif); n != 2 {
		t.Fatalf("%d bodies in the output", n)
	}
}

// TestNativeBodySurvivesHalfClose: a peer that sent its whole request and then shut down
// its sending side still gets its answer, and the handler still reads the whole body.
func TestNativeBodySurvivesHalfClose(t *testing.T) {
	ts := startServer(t, Options{})
	c := dialFCGI(t, ts.path)
	if err := c.send(postParams("/late-body", 5), []byte("12345")); err != nil {
		t.Fatal(err)
	}
	<-ts.app.entered
	c.conn.(*net.UnixConn).CloseWrite()
	eventually(t, "the loop to see EOF", func() bool {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		for tc := range ts.conns {
			nc := tc.native.Load()
			nc.mu.Lock()
			pending := false
			for _, q := range nc.reqs {
				pending = pending || q != nil
			}
			nc.mu.Unlock()
			if pending {
				return false
			}
		}
		return true
	})
	ts.app.unblock()
	resp, err := c.readResponse()
	if err != nil || string(resp.Body) != "read 5 bytes, error <nil>" {
		t.Fatalf("%+v %v", resp, err)
	}
	c.waitClosed(10 * time.Second)
}
