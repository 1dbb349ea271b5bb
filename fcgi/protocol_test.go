package fcgi

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Protocol cases of the conformance suite: what the FastCGI specification asks of a
// responder, beyond what nginx exercises. Cases where net/http/fcgi falls short of the
// specification (or of the limits issue 11 asks for) run against the native engine only
// and say so.

// rawRec is one record as read by the test client.
type rawRec struct {
	typ     byte
	id      uint16
	content []byte
}

// readRec reads one record, padding skipped.
func (c *fcgiConn) readRec() (rawRec, error) {
	c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	var h [8]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return rawRec{}, err
	}
	n := int(binary.BigEndian.Uint16(h[4:]))
	b := make([]byte, n+int(h[6]))
	if _, err := io.ReadFull(c.br, b); err != nil {
		return rawRec{}, err
	}
	return rawRec{typ: h[1], id: binary.BigEndian.Uint16(h[2:]), content: b[:n]}, nil
}

// mustRec reads one record or fails the test.
func (c *fcgiConn) mustRec() rawRec {
	c.t.Helper()
	r, err := c.readRec()
	if err != nil {
		c.t.Fatalf("reading a record: %v", err)
	}
	return r
}

// appendRequest appends the records of a whole request with id and flags.
func appendRequest(b *bytes.Buffer, id uint16, flags byte, params map[string]string, body []byte) {
	writeRecord(b, recBeginRequest, id, beginRequest(roleResponder, flags))
	writeRecord(b, recParams, id, encodePairs(params))
	writeRecord(b, recParams, id, nil)
	if len(body) > 0 {
		writeRecord(b, recStdin, id, body)
	}
	writeRecord(b, recStdin, id, nil)
}

// readResponses reads records until n END_REQUESTs and parses each id's response.
func (c *fcgiConn) readResponses(n int) map[uint16]*fcgiResponse {
	c.t.Helper()
	stdout := map[uint16]*bytes.Buffer{}
	out := map[uint16]*fcgiResponse{}
	for len(out) < n {
		r := c.mustRec()
		switch r.typ {
		case recStdout:
			if stdout[r.id] == nil {
				stdout[r.id] = &bytes.Buffer{}
			}
			stdout[r.id].Write(r.content)
		case recEndRequest:
			resp := &fcgiResponse{AppStatus: binary.BigEndian.Uint32(r.content), ProtoStatus: r.content[4]}
			if b := stdout[r.id]; b != nil {
				if err := parseCGI(b.Bytes(), resp); err != nil {
					c.t.Fatalf("id %d: %v", r.id, err)
				}
			}
			out[r.id] = resp
		default:
			c.t.Fatalf("unexpected record type %d", r.typ)
		}
	}
	return out
}

// postParams returns the params of a POST of uri with a body of n bytes.
func postParams(uri string, n int) map[string]string {
	p := getParams(uri)
	p["REQUEST_METHOD"] = "POST"
	p["CONTENT_LENGTH"] = fmt.Sprint(n)
	p["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
	return p
}

func TestGetValues(t *testing.T) { forEngines(t, testGetValues) }

func testGetValues(t *testing.T) {
	ts := startServer(t, Options{MaxChildren: 7})
	c := dialFCGI(t, ts.path)
	var q []byte
	for _, name := range []string{"FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS", "FCGI_OTHER"} {
		q = appendPair(q, name, "")
	}
	writeRecord(c.conn, recGetValues, 0, q)
	r := c.mustRec()
	if r.typ != recGetValuesResult || r.id != 0 {
		t.Fatalf("answer: type %d id %d", r.typ, r.id)
	}
	got := map[string]string{}
	for p := r.content; len(p) > 0; {
		k, v, rest, ok := nextPair(p)
		if !ok {
			t.Fatalf("malformed GET_VALUES_RESULT %q", r.content)
		}
		got[string(k)], p = string(v), rest
	}
	want := map[string]string{"FCGI_MAX_CONNS": "7", "FCGI_MAX_REQS": "7", "FCGI_MPXS_CONNS": "0"}
	if engineOf(t) == EngineStdlib {
		want = map[string]string{"FCGI_MPXS_CONNS": "1"} // net/http/fcgi's fixed answer
		if r := c.mustRec(); r.typ != recGetValuesResult || len(r.content) != 0 {
			t.Fatalf("net/http/fcgi's closing empty record: %+v", r) // it writes the answer as a stream
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("GET_VALUES: %v, want %v", got, want)
	}
	if resp := c.get("/after"); resp.Status != 200 {
		t.Fatalf("after GET_VALUES: %d", resp.Status)
	}
}

func TestUnknownManagementType(t *testing.T) { forEngines(t, testUnknownManagementType) }

func testUnknownManagementType(t *testing.T) {
	ts := startServer(t, Options{})
	c := dialFCGI(t, ts.path)
	writeRecord(c.conn, 99, 0, []byte("abc"))
	if engineOf(t) == EngineNative {
		r := c.mustRec()
		if r.typ != recUnknownType || r.id != 0 || len(r.content) != 8 || r.content[0] != 99 {
			t.Fatalf("answer %+v, want UNKNOWN_TYPE for 99", r)
		}
	} // net/http/fcgi ignores it
	if resp := c.get("/after"); resp.Status != 200 {
		t.Fatalf("after an unknown type: %d", resp.Status)
	}
}

// TestKeepConnUnset: without FCGI_KEEP_CONN the responder closes after the request.
func TestKeepConnUnset(t *testing.T) { forEngines(t, testKeepConnUnset) }

func testKeepConnUnset(t *testing.T) {
	ts := startServer(t, Options{})
	c := dialFCGI(t, ts.path)
	var b bytes.Buffer
	appendRequest(&b, 1, 0, getParams("/once"), nil)
	c.conn.Write(b.Bytes())
	resp, err := c.readResponse()
	if err != nil || resp.Status != 200 {
		t.Fatalf("%+v %v", resp, err)
	}
	c.waitClosed(10 * time.Second)
}

// TestInterleavedRequests: two requests whose records interleave on one connection are
// each answered under their own id with their own body.
func TestInterleavedRequests(t *testing.T) { forEngines(t, testInterleavedRequests) }

func testInterleavedRequests(t *testing.T) {
	ts := startServer(t, Options{})
	c := dialFCGI(t, ts.path)
	var b bytes.Buffer
	writeRecord(&b, recBeginRequest, 1, beginRequest(roleResponder, flagKeepConn))
	writeRecord(&b, recBeginRequest, 2, beginRequest(roleResponder, flagKeepConn))
	writeRecord(&b, recParams, 2, encodePairs(postParams("/body", 5)))
	writeRecord(&b, recParams, 1, encodePairs(postParams("/body", 3)))
	writeRecord(&b, recParams, 2, nil)
	writeRecord(&b, recParams, 1, nil)
	writeRecord(&b, recStdin, 1, []byte("ab"))
	writeRecord(&b, recStdin, 2, []byte("defgh"))
	writeRecord(&b, recStdin, 1, []byte("c"))
	writeRecord(&b, recStdin, 2, nil)
	writeRecord(&b, recStdin, 1, nil)
	c.conn.Write(b.Bytes())
	got := c.readResponses(2)
	for id, want := range map[uint16]string{1: "got 3 bytes, content-length 3", 2: "got 5 bytes, content-length 5"} {
		if r := got[id]; r.Status != 200 || string(r.Body) != want {
			t.Errorf("id %d: %d %q, want %q", id, r.Status, r.Body, want)
		}
	}
}

// TestLargeResponse: a response over many records and over the write buffer arrives whole.
func TestLargeResponse(t *testing.T) { forEngines(t, testLargeResponse) }

func testLargeResponse(t *testing.T) {
	ts := startServer(t, Options{})
	c := dialFCGI(t, ts.path)
	for _, n := range []int{0, 1, 65535, 65536, 300001} {
		resp := c.get(fmt.Sprintf("/large?n=%d", n))
		want := strings.Repeat("0123456789", n/10+1)[:n]
		if resp.Status != 200 || string(resp.Body) != want {
			t.Fatalf("n=%d: status %d, %d bytes", n, resp.Status, len(resp.Body))
		}
	}
}

// TestInformationalNotFinal: a handler's 1xx never becomes the response's status.
func TestInformationalNotFinal(t *testing.T) { forEngines(t, testInformationalNotFinal) }

func testInformationalNotFinal(t *testing.T) {
	ts := startServer(t, Options{})
	resp := dialFCGI(t, ts.path).get("/early")
	if resp.Status != 201 || string(resp.Body) != "created" {
		t.Fatalf("got %d %q, want 201 created", resp.Status, resp.Body)
	}
	if st := ts.Stats(); st.Status.S1xx != 0 || st.Status.S2xx != 1 {
		t.Fatalf("status counts %+v", st.Status)
	}
}

// TestIdleCountsFromResponseEnd (issue 12): after a request longer than IdleTimeout, the
// connection stays usable for IdleTimeout; the reaper used to close it at its next tick,
// which fails the next request nginx writes on it (a POST would not be retried).
func TestIdleCountsFromResponseEnd(t *testing.T) { forEngines(t, testIdleCountsFromResponseEnd) }

func testIdleCountsFromResponseEnd(t *testing.T) {
	ts := startServer(t, Options{IdleTimeout: 400 * time.Millisecond}) // a tick is 100ms
	c := dialFCGI(t, ts.path)
	if err := c.send(getParams("/block"), nil); err != nil {
		t.Fatal(err)
	}
	<-ts.app.entered
	eventually(t, "the request to outlast IdleTimeout", func() bool { return ts.c.idleDeferred.Load() >= 2 })
	ts.app.unblock()
	if resp, err := c.readResponse(); err != nil || resp.Status != 200 {
		t.Fatalf("long request: %+v %v", resp, err)
	}
	t0 := ts.tick.Load()
	eventually(t, "two reaper ticks", func() bool { return ts.tick.Load() >= t0+2 })
	if err := c.send(postParams("/body", 4), []byte("post")); err != nil {
		t.Fatal(err)
	}
	resp, err := c.readResponse()
	if err != nil || resp.Status != 200 || string(resp.Body) != "got 4 bytes, content-length 4" {
		t.Fatalf("POST after a long request: %+v %v", resp, err)
	}
	if st := ts.Stats(); st.IdleClosed != 0 {
		t.Fatalf("idle closed %d", st.IdleClosed)
	}
}

// TestBadRequests: params that make no HTTP request are answered by the engine itself,
// counted and logged like a handler's answers: 400 by the native engine (through the
// wrapper: endpoint, latency, slow log), 500 by net/http/fcgi (counted as "other").
func TestBadRequests(t *testing.T) { forEngines(t, testBadRequests) }

func testBadRequests(t *testing.T) {
	ts := startServer(t, Options{Endpoints: []string{"/serve/"}})
	native := engineOf(t) == EngineNative
	c := dialFCGI(t, ts.path)
	noMethod := getParams("/serve/x")
	delete(noMethod, "REQUEST_METHOD")
	badHost := getParams("/serve/y")
	badHost["HTTP_HOST"] = "bad host"
	many := getParams("/serve/z")
	for i := 0; i <= maxParams; i++ {
		many[fmt.Sprintf("X_%d", i)] = "v"
	}
	badLen := postParams("/serve/w", 1)
	badLen["CONTENT_LENGTH"] = "one"
	cases := []map[string]string{noMethod, badHost, many, badLen}
	if !native {
		cases = []map[string]string{noMethod, badHost, badLen} // it has no params count limit
	}
	for i, p := range cases {
		if err := c.send(p, nil); err != nil {
			t.Fatal(err)
		}
		resp, err := c.readResponse()
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if native && (resp.Status != 400 || string(resp.Body) != bodyBadRequest) || !native && resp.Status != 500 {
			t.Fatalf("case %d: %+v", i, resp)
		}
	}
	if resp := c.get("/serve/ok"); resp.Status != 200 {
		t.Fatalf("after bad requests: %d", resp.Status)
	}
	n := uint64(len(cases))
	st := ts.Stats()
	if native && (st.Accepted != n+1 || st.Status.S4xx != n || st.Endpoints[0].Requests != n+1 || st.Latency.Count != n+1) ||
		!native && (st.Accepted != n+1 || st.Status.S5xx != n || st.Endpoints[1].Requests != n || st.Endpoints[1].S5xx != n) {
		t.Fatalf("stats: %+v", st)
	}
	logged := 0
	for _, e := range ts.logHook.AllEntries() {
		if strings.HasPrefix(e.Message, "fcgi: bad request") {
			logged++
		}
	}
	if logged != len(cases) {
		t.Fatalf("%d bad requests logged, want %d", logged, len(cases))
	}
}

// echoed is what /echo returns: everything of the request a handler may look at.
type echoed struct {
	Method, URL, Host, RemoteAddr, Proto, RequestURI string
	ProtoMajor, ProtoMinor                           int
	ContentLength                                    int64
	Close, TLS                                       bool
	Header                                           http.Header
	Env                                              map[string]string
	Country                                          string
	Body                                             string
}

func echo(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	e := echoed{r.Method, r.URL.String(), r.Host, r.RemoteAddr, r.Proto, r.RequestURI,
		r.ProtoMajor, r.ProtoMinor, r.ContentLength, r.Close, r.TLS != nil && r.TLS.HandshakeComplete,
		r.Header, ProcessEnv(r), Param(r, "GEOIP_COUNTRY_CODE"), string(b)}
	json.NewEncoder(w).Encode(e)
}

// TestEnginesSeeSameRequest: for the same params, handlers get the same request from
// both engines (net/http/cgi.RequestFromMap's mapping), ProcessEnv and Param included.
func TestEnginesSeeSameRequest(t *testing.T) {
	native := startServer(t, Options{Engine: EngineNative})
	stdlib := startServer(t, Options{Engine: EngineStdlib})
	cases := []map[string]string{}
	add := func(edit func(p map[string]string)) {
		p := getParams("/serve/zone?id=7&x=%20y")
		edit(p)
		cases = append(cases, p)
	}
	add(func(p map[string]string) {
		p["HTTP_USER_AGENT"] = "Mozilla/5.0 (X11)"
		p["HTTP_ACCEPT_LANGUAGE"] = "fr-FR,fr;q=0.9"
		p["HTTP_X_FORWARDED_FOR"] = "203.0.113.9"
		p["HTTP_COOKIE"] = "a=1; b=2"
		p["GEOIP_COUNTRY_CODE"] = "FR"
		p["DOCUMENT_ROOT"] = "/srv"
		p["CONTENT_TYPE"] = "text/plain"
	})
	add(func(p map[string]string) {
		p["HTTPS"] = "on"
		p["REMOTE_ADDR"] = "2001:db8::1"
		p["REMOTE_PORT"] = "not-a-port"
		p["HTTP_HOST"] = "ads.example:8443"
	})
	add(func(p map[string]string) {
		delete(p, "REQUEST_URI")
		p["SCRIPT_NAME"] = "/s"
		p["PATH_INFO"] = "/p%2Fq"
		p["QUERY_STRING"] = "q=1"
	})
	add(func(p map[string]string) { delete(p, "HTTP_HOST"); p["REQUEST_URI"] = "/a%2Fb/c?x#frag" })
	add(func(p map[string]string) { p["SERVER_PROTOCOL"] = "INCLUDED"; p["HTTPS"] = "1" })
	add(func(p map[string]string) {
		p["HTTP_X_WEIRD_key"] = "v1"
		p["HTTP_DNT"] = "1"
		p["HTTP_X_SPACE KEY"] = "v2"
		p["HTTP_"] = "empty name"
		p["REMOTE_ADDR"] = ""
		delete(p, "REMOTE_PORT")
	})
	add(func(p map[string]string) {
		p["REQUEST_METHOD"] = "POST"
		p["CONTENT_LENGTH"] = "11"
		p["REQUEST_URI"] = "/echo"
	})
	for i, p := range cases {
		p["REQUEST_URI"] = strings.Replace(p["REQUEST_URI"], "/serve/zone", "/echo", 1)
		if p["SCRIPT_NAME"] == "/s" {
			p["SCRIPT_NAME"] = "/echo"
		}
		var got [2]string
		for j, ts := range []*testServer{native, stdlib} {
			c := dialFCGI(t, ts.path)
			var body []byte
			if p["REQUEST_METHOD"] == "POST" {
				body = []byte("hello world")
			}
			if err := c.send(p, body); err != nil {
				t.Fatal(err)
			}
			resp, err := c.readResponse()
			if err != nil || resp.Status != 200 {
				t.Fatalf("case %d engine %d: %+v %v", i, j, resp, err)
			}
			got[j] = string(resp.Body)
		}
		if got[0] != got[1] {
			t.Errorf("case %d: native and stdlib differ:\nnative %s\nstdlib %s", i, got[0], got[1])
		}
	}
}

// TestCgiFcgi checks interoperability with libfcgi's cgi-fcgi, an independent client. It
// fails when cgi-fcgi is missing: scripts/install-deps.sh installs it (libfcgi-bin).
func TestCgiFcgi(t *testing.T) { forEngines(t, testCgiFcgi) }

func testCgiFcgi(t *testing.T) {
	bin, err := exec.LookPath("cgi-fcgi")
	if err != nil {
		t.Fatal("cgi-fcgi not installed: run scripts/install-deps.sh test (Debian package libfcgi-bin)")
	}
	ts := startServer(t, Options{})
	run := func(env []string, stdin string) *fcgiResponse {
		t.Helper()
		cmd := exec.Command(bin, "-bind", "-connect", ts.path)
		cmd.Env = append([]string{"SERVER_PROTOCOL=HTTP/1.1", "HTTP_HOST=ads.example",
			"REMOTE_ADDR=198.51.100.7", "REMOTE_PORT=1234"}, env...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("cgi-fcgi: %v\n%s", err, out)
		}
		resp := &fcgiResponse{}
		if err := parseCGI(out, resp); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return resp
	}
	resp := run([]string{"REQUEST_METHOD=GET", "REQUEST_URI=/cgi?x=1", "QUERY_STRING=x=1", "SCRIPT_NAME=/cgi"}, "")
	if want := "hello GET /cgi?x=1 from 198.51.100.7:1234"; resp.Status != 200 || string(resp.Body) != want {
		t.Fatalf("got %d %q, want %q", resp.Status, resp.Body, want)
	}
	body := strings.Repeat("x", 70000)
	resp = run([]string{"REQUEST_METHOD=POST", "REQUEST_URI=/body", "CONTENT_LENGTH=70000"}, body)
	if want := "got 70000 bytes, content-length 70000"; resp.Status != 200 || string(resp.Body) != want {
		t.Fatalf("POST: got %d %q, want %q", resp.Status, resp.Body, want)
	}
	if st := ts.Stats(); st.Accepted != 2 || st.Status.S2xx != 2 {
		t.Fatalf("stats: %+v", st)
	}
}

// TestFlushStreams: Flush sends what the handler wrote so far while it still runs.
func TestFlushStreams(t *testing.T) { forEngines(t, testFlushStreams) }

func testFlushStreams(t *testing.T) {
	ts := startServer(t, Options{})
	c := dialFCGI(t, ts.path)
	if err := c.send(getParams("/stream"), nil); err != nil {
		t.Fatal(err)
	}
	<-ts.app.entered
	var got bytes.Buffer
	for !bytes.Contains(got.Bytes(), []byte("first part;")) {
		r := c.mustRec() // before release: only the flushed part can arrive
		if r.typ != recStdout {
			t.Fatalf("record type %d before the handler returned", r.typ)
		}
		got.Write(r.content)
	}
	ts.app.unblock()
	for r := c.mustRec(); r.typ != recEndRequest; r = c.mustRec() {
		got.Write(r.content)
	}
	if !strings.HasSuffix(got.String(), "\r\n\r\nfirst part;second part") {
		t.Fatalf("stream: %q", got.String())
	}
}
