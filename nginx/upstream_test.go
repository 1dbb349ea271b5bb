package nginx_test

// How the rendered upstream behaves with real nginx: retries past shedding and dead
// workers, no ejection of a worker that shed, 503 pass-through, no POST replay, and
// kept-alive FastCGI connections.

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"adnet/nginx"
	"adnet/nginx/nginxtest"
)

// shedding answers 503 (as a worker at its cap does) to its first `shed` requests and
// "ok <name>" after that; shed < 0 sheds forever.
func shedding(name string, shed int64) http.Handler {
	var seen atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := seen.Add(1); shed < 0 || n <= shed {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "busy "+name)
			return
		}
		io.WriteString(w, "ok "+name)
	})
}

func TestNginxRetriesPastShedAndDeadWorkers(t *testing.T) {
	dir := t.TempDir()
	shedder := startBackend(t, dir, "shedder.sock", shedding("shedder", 3))
	healthy := startBackend(t, dir, "healthy.sock", shedding("healthy", 0))
	dead := filepath.Join(dir, "dead.sock") // no one listens: connect() fails at once
	in := nginxtest.Start(t, nginx.Params{
		WorkerSockets:  []string{dead, shedder.Socket, healthy.Socket},
		RequestTimeout: 10 * time.Second,
	})
	c := client(t)

	const n = 60
	served := map[string]int{}
	for range n {
		resp, body := get(t, c, in.URL+"/ad")
		if resp.StatusCode != 200 {
			t.Fatalf("/ad: %s %q; with 3 tries over 3 workers a dead and a shedding worker must not reach the client\n%s",
				resp.Status, body, in.ErrorLog())
		}
		served[body]++
	}
	// With nginx's default max_fails=1 fail_timeout=10s the shedder's first 503 would take
	// it out of rotation for 10s, and it would serve nothing in this test. max_fails=0 keeps
	// it in: once it stops shedding it takes its share again.
	if served["ok shedder"] == 0 {
		t.Errorf("the worker that sheds its first 3 requests saw %d of %d and served none (served: %v): it was ejected",
			shedder.handled.Load(), n, served)
	}
	if served["ok healthy"]+served["ok shedder"] != n {
		t.Errorf("served %v, want %d answers from the two live workers", served, n)
	}
}

func TestNginxPassesLastShedThrough(t *testing.T) {
	dir := t.TempDir()
	a := startBackend(t, dir, "a.sock", shedding("a", -1))
	b := startBackend(t, dir, "b.sock", shedding("b", -1))
	in := nginxtest.Start(t, nginx.Params{
		WorkerSockets:  []string{a.Socket, b.Socket},
		RequestTimeout: 10 * time.Second,
	})
	c := client(t)

	// GET: tried on both workers, then the last worker's own 503 reaches the client.
	resp, body := get(t, c, in.URL+"/ad")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(body, "busy ") || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("GET with every worker shedding: %s %q Retry-After %q, want the worker's 503", resp.Status, body, resp.Header.Get("Retry-After"))
	}
	if got := a.handled.Load() + b.handled.Load(); got != 2 {
		t.Errorf("GET reached workers %d times, want 2 (one retry)", got)
	}

	// POST: never handed to a second worker once one has received it, so a postback is not
	// counted twice even when the first worker answers 503.
	before := a.handled.Load() + b.handled.Load()
	resp, err := c.Post(in.URL+"/postback", "application/x-www-form-urlencoded", strings.NewReader("click=1"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("POST with every worker shedding: %s, want 503", resp.Status)
	}
	if got := a.handled.Load() + b.handled.Load() - before; got != 1 {
		t.Errorf("POST reached workers %d times, want 1 (no replay)", got)
	}

	// With retries configured away, a GET is not retried either.
	p := in.Params
	p.NextUpstreamTries = 1
	in.ReloadWith(p)
	before = a.handled.Load() + b.handled.Load()
	if resp, _ := get(t, c, in.URL+"/ad"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET with tries=1: %s, want 503", resp.Status)
	}
	if got := a.handled.Load() + b.handled.Load() - before; got != 1 {
		t.Errorf("GET with tries=1 reached workers %d times, want 1", got)
	}
}

func TestNginxKeepsFastCGIConnections(t *testing.T) {
	dir := t.TempDir()
	be := startBackend(t, dir, "w0.sock", nil)
	in := nginxtest.Start(t, nginx.Params{
		WorkerSockets:   []string{be.Socket},
		RequestTimeout:  10 * time.Second,
		WorkerProcesses: "2",
	})
	c := client(t)
	const n = 50
	for range n {
		if resp, body := get(t, c, in.URL+"/ping"); resp.StatusCode != 200 || body != "pong" {
			t.Fatalf("/ping: %s %q", resp.Status, body)
		}
	}
	if got := be.handled.Load(); got != n {
		t.Fatalf("worker handled %d requests, want %d", got, n)
	}
	// Sequential requests through 2 nginx workers need at most 2 upstream connections when
	// they are kept; without fastcgi_keep_conn and keepalive there would be one per request.
	if got := be.conns.Load(); got > 4 {
		t.Errorf("%d FastCGI connections for %d sequential requests: connections are not kept", got, n)
	}
}
