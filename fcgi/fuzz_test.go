package fcgi

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"reflect"
	"sort"
	"testing"
	"time"
)

// The record parser and the params decoder take bytes from the network: they are fuzzed.
// `go test` runs the seed corpus in testdata/fuzz (a few dozen inputs, milliseconds);
// `go test -fuzz FuzzRecords ./fcgi/` (or FuzzParams) searches further.

// memConn is a net.Conn that reads a fixed input and discards what is written, to run
// the native engine's loop on fuzz input without sockets.
type memConn struct {
	r io.Reader
	w io.Writer
}

func (c *memConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *memConn) Write(p []byte) (int, error)      { return c.w.Write(p) }
func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return &net.UnixAddr{Name: "fuzz", Net: "unix"} }
func (c *memConn) RemoteAddr() net.Addr             { return &net.UnixAddr{Name: "fuzz", Net: "unix"} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzRecords feeds arbitrary bytes to a native connection: it must never panic, and must
// end (the input's EOF ends the connection once its handlers have answered) with every
// request accounted for.
func FuzzRecords(f *testing.F) {
	for _, seed := range recordSeeds() {
		f.Add(seed)
	}
	s := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Len", string(rune('0'+len(b)%10)))
		w.Write(b)
	}), Options{MaxChildren: 4, Queue: 4, MaxBodyBytes: 100000})
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.serveNative(s.track(&memConn{r: bytes.NewReader(data), w: &out}).(*trackedConn))
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("connection loop wedged on %q", data)
		}
		// After a protocol error the connection closes at once and its handlers finish
		// on their own (their body fails, their context is cancelled): soon.
		for deadline := time.Now().Add(10 * time.Second); s.writing.Load() != 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d requests still running after the connection ended", s.writing.Load())
			}
		}
		if n := s.c.connsOpen.Load(); n != 0 {
			t.Fatalf("%d connections still open", n)
		}
		checkRecords(t, out.Bytes())
	})
}

// checkRecords fails t unless b is a sequence of well-formed records.
func checkRecords(t *testing.T, b []byte) {
	for len(b) > 0 {
		if len(b) < recHeaderLen || b[0] != fcgiVersion {
			t.Fatalf("malformed output record: % x", b[:min(len(b), 16)])
		}
		n := recHeaderLen + (int(b[4])<<8 | int(b[5])) + int(b[6])
		if len(b) < n {
			t.Fatalf("truncated output record")
		}
		b = b[n:]
	}
}

// recordSeeds returns the seed inputs of FuzzRecords (also stored in testdata/fuzz).
func recordSeeds() [][]byte {
	var seeds [][]byte
	var b bytes.Buffer
	appendRequest(&b, 1, flagKeepConn, getParams("/serve/zone?id=7"), nil)
	seeds = append(seeds, bytes.Clone(b.Bytes()))
	b.Reset()
	appendRequest(&b, 1, 0, postParams("/track/conv", 5), []byte("12345"))
	seeds = append(seeds, bytes.Clone(b.Bytes()))
	b.Reset()
	writeRecord(&b, recBeginRequest, 1, beginRequest(roleResponder, flagKeepConn))
	writeRecord(&b, recBeginRequest, 2, beginRequest(roleResponder, flagKeepConn))
	writeRecord(&b, recParams, 2, encodePairs(getParams("/a")))
	writeRecord(&b, recParams, 1, encodePairs(postParams("/b", 3)))
	writeRecord(&b, recParams, 1, nil)
	writeRecord(&b, recParams, 2, nil)
	writeRecord(&b, recStdin, 1, []byte("abc"))
	writeRecord(&b, recAbortRequest, 2, nil)
	writeRecord(&b, recStdin, 1, nil)
	seeds = append(seeds, bytes.Clone(b.Bytes()))
	b.Reset()
	writeRecord(&b, recGetValues, 0, appendPair(appendPair(nil, "FCGI_MAX_REQS", ""), "FCGI_MPXS_CONNS", ""))
	writeRecord(&b, 42, 0, []byte("x"))
	writeRecord(&b, recBeginRequest, 1, beginRequest(2, 0))
	writeRecord(&b, recParams, 1, []byte{0xff, 0xff, 0xff, 0xff, 1, 'x'})
	seeds = append(seeds, bytes.Clone(b.Bytes()))
	seeds = append(seeds, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), []byte{1, 1, 0, 1, 0, 8})
	return seeds
}

// FuzzParams decodes arbitrary params and checks the request against
// net/http/cgi.RequestFromMap, which net/http/fcgi uses: same success or failure, same
// fields.
func FuzzParams(f *testing.F) {
	for _, p := range []map[string]string{getParams("/serve/x?y=1"), postParams("/b", 10),
		{"REQUEST_METHOD": "GET", "HTTP_X_A_B": "1", "HTTP_HOST": "h:1", "HTTPS": "on", "REMOTE_ADDR": "::1"}} {
		f.Add(encodePairs(p))
	}
	f.Add([]byte{0x80, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, raw []byte) {
		var ix paramIndex
		r, env, _, err := buildRequest(context.Background(), raw, &ix, nil)
		m := map[string]string{}
		n := 0
		for p := raw; len(p) > 0; n++ {
			k, v, rest, ok := nextPair(p)
			if !ok {
				break
			}
			m[string(k)], p = string(v), rest
		}
		if n > maxParams {
			return
		}
		want, werr := cgi.RequestFromMap(m)
		if (err == nil) != (werr == nil) {
			t.Fatalf("native error %v, net/http/cgi error %v, params %q", err, werr, m)
		}
		if err != nil {
			return
		}
		if env != string(raw) {
			t.Fatalf("env %q is not the raw params", env)
		}
		type view struct {
			Method, Proto, Host, RemoteAddr, URL string
			Major, Minor                         int
			Len                                  int64
			Close, TLS                           bool
			Header                               http.Header
		}
		norm := func(h http.Header) http.Header {
			for _, v := range h {
				sort.Strings(v) // keys that collide (HTTP_A_B, HTTP_A-B) come in map order
			}
			return h
		}
		got := view{r.Method, r.Proto, r.Host, r.RemoteAddr, r.URL.String(), r.ProtoMajor, r.ProtoMinor,
			r.ContentLength, r.Close, r.TLS != nil, norm(r.Header)}
		exp := view{want.Method, want.Proto, want.Host, want.RemoteAddr, want.URL.String(), want.ProtoMajor,
			want.ProtoMinor, want.ContentLength, want.Close, want.TLS != nil, norm(want.Header)}
		if !reflect.DeepEqual(got, exp) {
			t.Fatalf("params %q:\nnative %+v\nstdlib %+v", m, got, exp)
		}
	})
}
