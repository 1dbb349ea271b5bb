package fcgi

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

// testApp is the handler the tests serve: a few paths with known behaviour. /block
// signals entered and waits for release, so tests decide when slots free up instead of
// sleeping.
type testApp struct {
	entered chan string
	release chan struct{}
	once    sync.Once
	// ctxEnded receives the context error of /wait-ctx requests once their context ends.
	ctxEnded chan error
}

func newTestApp() *testApp {
	return &testApp{entered: make(chan string, 1000), release: make(chan struct{}), ctxEnded: make(chan error, 100)}
}

func (a *testApp) unblock() { a.once.Do(func() { close(a.release) }) }

func (a *testApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/block" || strings.HasPrefix(r.URL.Path, "/serve/block"):
		a.entered <- r.URL.Path
		select {
		case <-a.release:
		case <-time.After(time.Minute):
			http.Error(w, "test never released the handler", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "released "+r.URL.RawQuery)
	case r.URL.Path == "/panic":
		w.Header().Set("X-Half-Done", "yes")
		panic("boom")
	case r.URL.Path == "/abort":
		panic(http.ErrAbortHandler)
	case r.URL.Path == "/late-panic":
		io.WriteString(w, "partial")
		panic("late boom")
	case r.URL.Path == "/deadline":
		if _, ok := r.Context().Deadline(); !ok {
			http.Error(w, "no deadline on the request context", http.StatusInternalServerError)
			return
		}
		select {
		case <-r.Context().Done():
			http.Error(w, "deadline: "+r.Context().Err().Error(), http.StatusGatewayTimeout)
		case <-time.After(time.Minute):
			io.WriteString(w, "deadline never came")
		}
	case r.URL.Path == "/body":
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "got %d bytes, content-length %d", len(b), r.ContentLength)
	case r.URL.Path == "/big":
		io.WriteString(w, strings.Repeat("z", bigBody))
	case r.URL.Path == "/status/404":
		http.NotFound(w, r)
	case r.URL.Path == "/wait-ctx":
		a.entered <- r.URL.Path
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
		a.ctxEnded <- r.Context().Err()
		io.WriteString(w, "late output of an ended request")
	case r.URL.Path == "/early":
		w.WriteHeader(http.StatusEarlyHints) // informational: must not become the status
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "created")
	case r.URL.Path == "/large":
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		chunk := []byte(strings.Repeat("0123456789", 1000))
		for n > 0 {
			k := min(n, len(chunk))
			w.Write(chunk[:k])
			n -= k
		}
	case r.URL.Path == "/echo":
		echo(w, r)
	case r.URL.Path == "/late-body":
		a.entered <- r.URL.Path
		<-a.release
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "read %d bytes, error %v", len(b), err)
	case r.URL.Path == "/stream":
		io.WriteString(w, "first part;")
		w.(http.Flusher).Flush()
		a.entered <- r.URL.Path // the client has read the first part before release
		<-a.release
		io.WriteString(w, "second part")
	default:
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "hello %s %s from %s", r.Method, r.URL.RequestURI(), r.RemoteAddr)
	}
}

// bigBody is the size of /big's response: under net/http/fcgi's 64 KB response buffer,
// so that all of it is sent after the handler has returned.
const bigBody = 60000

// testServer is a Server serving a testApp on a Unix socket in a temporary directory.
type testServer struct {
	*Server
	app     *testApp
	path    string
	served  chan error
	logHook *logtest.Hook
}

func startServer(t *testing.T, opt Options) *testServer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "worker.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, ln, path, opt)
}

func serveOn(t *testing.T, ln net.Listener, path string, opt Options) *testServer {
	t.Helper()
	logger, hook := logtest.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	if opt.Logger == nil {
		opt.Logger = logger
	}
	if opt.Engine == "" {
		opt.Engine = engineOf(t)
	}
	ts := &testServer{app: newTestApp(), path: path, served: make(chan error, 1), logHook: hook}
	ts.Server = NewServer(ts.app, opt)
	go func() { ts.served <- ts.Serve(ln) }()
	t.Cleanup(func() {
		ts.app.unblock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ts.Shutdown(ctx)
		select {
		case <-ts.served:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after Shutdown")
		}
	})
	return ts
}

// eventually polls cond until it holds, failing the test after a generous deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestNormalRequest(t *testing.T) { forEngines(t, testNormalRequest) }

func testNormalRequest(t *testing.T) {
	ts := startServer(t, Options{Endpoints: []string{"/serve/", "/track/"}})
	c := dialFCGI(t, ts.path)
	for i, uri := range []string{"/serve/zone?id=7", "/track/imp", "/other", "/status/404"} {
		resp := c.get(uri) // all on one kept-alive connection
		if resp.ProtoStatus != 0 {
			t.Fatalf("request %d: protocol status %d", i, resp.ProtoStatus)
		}
		if uri == "/status/404" {
			if resp.Status != 404 {
				t.Fatalf("%s: status %d", uri, resp.Status)
			}
			continue
		}
		want := "hello GET " + uri + " from 192.0.2.1:40000"
		if resp.Status != 200 || string(resp.Body) != want {
			t.Fatalf("%s: got %d %q, want 200 %q", uri, resp.Status, resp.Body, want)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/plain" {
			t.Errorf("Content-Type %q", ct)
		}
	}
	st := ts.Stats()
	if st.Accepted != 4 || st.Status.S2xx != 3 || st.Status.S4xx != 1 || st.Rejected != 0 || st.CapReached != 0 {
		t.Errorf("stats: accepted %d 2xx %d 4xx %d rejected %d cap %d",
			st.Accepted, st.Status.S2xx, st.Status.S4xx, st.Rejected, st.CapReached)
	}
	if st.ConnsAccepted != 1 || st.ConnsOpen != 1 || st.MaxInFlight != 1 || st.InFlight != 0 {
		t.Errorf("stats: conns accepted %d open %d, max in flight %d, in flight %d",
			st.ConnsAccepted, st.ConnsOpen, st.MaxInFlight, st.InFlight)
	}
	var sum uint64
	for _, n := range st.Latency.Counts {
		sum += n
	}
	if st.Latency.Count != 4 || sum != 4 || len(st.Latency.Counts) != len(st.Latency.BoundsSeconds)+1 {
		t.Errorf("latency: count %d, buckets sum %d, %d counts for %d bounds",
			st.Latency.Count, sum, len(st.Latency.Counts), len(st.Latency.BoundsSeconds))
	}
	wantEp := []EndpointStats{{"/serve/", 1, 0, 0}, {"/track/", 1, 0, 0}, {"other", 2, 0, 0}}
	if fmt.Sprint(st.Endpoints) != fmt.Sprint(wantEp) {
		t.Errorf("endpoints %v, want %v", st.Endpoints, wantEp)
	}
}

func TestRequestBody(t *testing.T) { forEngines(t, testRequestBody) }

func testRequestBody(t *testing.T) {
	ts := startServer(t, Options{})
	c := dialFCGI(t, ts.path)
	body := []byte(strings.Repeat("x", 200_000)) // several STDIN records
	p := getParams("/body")
	p["REQUEST_METHOD"] = "POST"
	p["CONTENT_LENGTH"] = fmt.Sprint(len(body))
	if err := c.send(p, body); err != nil {
		t.Fatal(err)
	}
	resp, err := c.readResponse()
	if err != nil {
		t.Fatal(err)
	}
	if want := "got 200000 bytes, content-length 200000"; resp.Status != 200 || string(resp.Body) != want {
		t.Fatalf("got %d %q, want %q", resp.Status, resp.Body, want)
	}
}

// TestCapRejects: with all slots held, every further request is answered 503 at once,
// never queued in the backlog nor closed.
func TestCapRejects(t *testing.T) { forEngines(t, testCapRejects) }

func testCapRejects(t *testing.T) {
	const n, children = 50, 2
	ts := startServer(t, Options{MaxChildren: children, Queue: 0, RetryAfter: 3 * time.Second})
	type result struct {
		resp *fcgiResponse
		err  error
	}
	results := make(chan result, n)
	for i := 0; i < n; i++ {
		c := dialFCGI(t, ts.path)
		go func() {
			resp, err := c.tryGet(fmt.Sprintf("/block?n=%d", i))
			results <- result{resp, err}
		}()
	}
	// The two requests holding the slots wait for release, so the first 48 answers must
	// all be 503s, whatever the timing.
	for i := 0; i < n-children; i++ {
		r := <-results
		if r.err != nil {
			t.Fatalf("request failed: %v", r.err)
		}
		if r.resp.Status != 503 {
			t.Fatalf("answer %d while slots held: status %d %q", i, r.resp.Status, r.resp.Body)
		}
		if ra := r.resp.Header.Get("Retry-After"); ra != "3" {
			t.Fatalf("Retry-After %q, want 3", ra)
		}
		if string(r.resp.Body) != bodyOverloaded {
			t.Fatalf("503 body %q", r.resp.Body)
		}
	}
	if st := ts.Stats(); st.InFlight != children {
		t.Fatalf("in flight %d with slots held, want %d", st.InFlight, children)
	}
	ts.app.unblock()
	for i := 0; i < children; i++ {
		r := <-results
		if r.err != nil || r.resp.Status != 200 || !strings.HasPrefix(string(r.resp.Body), "released n=") {
			t.Fatalf("slot holder: %+v %v", r.resp, r.err)
		}
	}
	st := ts.Stats()
	if st.Accepted != n || st.CapReached != n-children || st.Rejected != n-children ||
		st.MaxInFlight != children || st.InFlight != 0 || st.Status.S2xx != children ||
		st.Status.S5xx != n-children || st.MaxQueued != 0 || st.QueueTimeouts != 0 {
		t.Fatalf("stats after cap test: %+v", st)
	}
	if st.ConnsAccepted != n {
		t.Fatalf("conns accepted %d, want %d: every connection must be accepted", st.ConnsAccepted, n)
	}
}

// TestQueueGetsSlot: a queued request is served when a slot frees up; a request that
// finds the queue full is rejected at once.
func TestQueueGetsSlot(t *testing.T) { forEngines(t, testQueueGetsSlot) }

func testQueueGetsSlot(t *testing.T) {
	ts := startServer(t, Options{MaxChildren: 1, Queue: 1, QueueTimeout: time.Minute})
	holder, queued, extra := dialFCGI(t, ts.path), dialFCGI(t, ts.path), dialFCGI(t, ts.path)
	if err := holder.send(getParams("/block?who=holder"), nil); err != nil {
		t.Fatal(err)
	}
	<-ts.app.entered
	if err := queued.send(getParams("/block?who=queued"), nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a queued request", func() bool { return ts.Stats().Queued == 1 })
	// The queue is full: rejected without waiting for QueueTimeout (a minute).
	if resp := extra.get("/fast"); resp.Status != 503 || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("queue full: got %d Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
	if st := ts.Stats(); st.Queued != 1 || st.InFlight != 1 {
		t.Fatalf("after the full-queue rejection: queued %d in flight %d", st.Queued, st.InFlight)
	}
	ts.app.unblock()
	for name, c := range map[string]*fcgiConn{"holder": holder, "queued": queued} {
		resp, err := c.readResponse()
		if err != nil || resp.Status != 200 || string(resp.Body) != "released who="+name {
			t.Fatalf("%s: %+v %v", name, resp, err)
		}
	}
	st := ts.Stats()
	if st.CapReached != 2 || st.Rejected != 1 || st.QueueTimeouts != 0 || st.MaxQueued != 1 ||
		st.Queued != 0 || st.MaxInFlight != 1 || st.Status.S2xx != 2 || st.Status.S5xx != 1 {
		t.Fatalf("stats: %+v", st)
	}
}

// TestQueueTimeout: queued requests that get no slot within QueueTimeout get 503.
func TestQueueTimeout(t *testing.T) { forEngines(t, testQueueTimeout) }

func testQueueTimeout(t *testing.T) {
	ts := startServer(t, Options{MaxChildren: 1, Queue: 2, QueueTimeout: 20 * time.Millisecond})
	holder := dialFCGI(t, ts.path)
	if err := holder.send(getParams("/block"), nil); err != nil {
		t.Fatal(err)
	}
	<-ts.app.entered
	for i := 0; i < 2; i++ {
		// The slot stays held until unblock below, so these can only time out.
		resp := dialFCGI(t, ts.path).get("/fast")
		if resp.Status != 503 || resp.Header.Get("Retry-After") != "1" || string(resp.Body) != bodyOverloaded {
			t.Fatalf("queued request %d: %d %q", i, resp.Status, resp.Body)
		}
	}
	ts.app.unblock()
	if resp, err := holder.readResponse(); err != nil || resp.Status != 200 {
		t.Fatalf("holder: %+v %v", resp, err)
	}
	st := ts.Stats()
	if st.CapReached != 2 || st.Rejected != 2 || st.QueueTimeouts != 2 || st.MaxQueued != 1 || st.Queued != 0 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestPanicRecovered(t *testing.T) { forEngines(t, testPanicRecovered) }

func testPanicRecovered(t *testing.T) {
	ts := startServer(t, Options{})
	c := dialFCGI(t, ts.path)
	resp := c.get("/panic")
	if resp.Status != 500 || string(resp.Body) != bodyPanic || resp.Header.Get("X-Half-Done") != "" {
		t.Fatalf("panic: got %d %q %v", resp.Status, resp.Body, resp.Header)
	}
	if resp := c.get("/after"); resp.Status != 200 {
		t.Fatalf("request after the panic on the same connection: %d", resp.Status)
	}
	if resp := c.get("/abort"); resp.Status != 500 {
		t.Fatalf("ErrAbortHandler: %d", resp.Status)
	}
	if resp := c.get("/late-panic"); resp.Status != 200 || string(resp.Body) != "partial" {
		t.Fatalf("panic after headers: %d %q", resp.Status, resp.Body)
	}
	if resp := c.get("/after"); resp.Status != 200 {
		t.Fatalf("request after the late panic: %d", resp.Status)
	}
	var errs []*logrus.Entry
	for _, e := range ts.logHook.AllEntries() {
		if e.Level <= logrus.ErrorLevel {
			errs = append(errs, e)
		}
	}
	if len(errs) != 2 {
		t.Fatalf("%d error log entries, want 2 (boom, late boom; not the abort)", len(errs))
	}
	for i, want := range []string{"boom", "late boom"} {
		if errs[i].Data["panic"] != want || !strings.Contains(fmt.Sprint(errs[i].Data["stack"]), "goroutine") {
			t.Errorf("entry %d: %v", i, errs[i].Data)
		}
	}
	st := ts.Stats()
	if st.Panics != 2 || st.Aborts != 1 || st.Status.S5xx != 3 || st.Status.S2xx != 2 || st.InFlight != 0 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestRequestTimeout(t *testing.T) { forEngines(t, testRequestTimeout) }

func testRequestTimeout(t *testing.T) {
	ts := startServer(t, Options{RequestTimeout: 50 * time.Millisecond})
	c := dialFCGI(t, ts.path)
	resp := c.get("/deadline")
	if resp.Status != 504 || !strings.Contains(string(resp.Body), context.DeadlineExceeded.Error()) {
		t.Fatalf("got %d %q", resp.Status, resp.Body)
	}
	if resp := c.get("/fast"); resp.Status != 200 {
		t.Fatalf("fast request: %d", resp.Status)
	}
	if st := ts.Stats(); st.Timeouts != 1 {
		t.Fatalf("timeouts %d, want 1", st.Timeouts)
	}
}
