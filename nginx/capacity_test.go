package nginx_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"adnet/nginx"
	"adnet/nginx/nginxtest"
)

// idleClients is how many idle keep-alive client connections TestNginxHoldsIdleKeepAlive
// holds: more than twice the 1024 worker_connections of each of the two nginx workers that
// the configuration had before they were derived from nginx.client_connections.
const idleClients = 3000

// TestNginxHoldsIdleKeepAlive holds 3,000 idle keep-alive client connections to a real
// nginx (the shape of the original system's stub_status: most connections idle) and checks
// that requests through it still reach the worker, that stub_status answers and counts
// them as Waiting, and that nginx dropped none.
func TestNginxHoldsIdleKeepAlive(t *testing.T) {
	raiseNofile(t, idleClients+512)
	dir := t.TempDir()
	be := startBackend(t, dir, "w0.sock", nil)
	in := nginxtest.Start(t, nginx.Params{
		WorkerSockets:   []string{be.Socket},
		RequestTimeout:  10 * time.Second,
		WorkerProcesses: "2",
	})
	addr := strings.TrimPrefix(in.URL, "http://")

	conns := make([]net.Conn, idleClients)
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	// Each connection makes one request and is then left open and idle, as a browser
	// keeps its connection to an ad server between page views.
	var wg sync.WaitGroup
	errs := make(chan error, idleClients)
	sem := make(chan struct{}, 32)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := keepAliveRequest(addr, "/nginx_status")
			conns[i] = c
			if err != nil {
				errs <- fmt.Errorf("connection %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed < 5 {
			t.Error(err)
		}
		failed++
	}
	if failed > 0 {
		t.Fatalf("%d of %d keep-alive connections failed\n%s", failed, idleClients, tail(in.ErrorLog(), 2000))
	}

	// With all of them held: requests through nginx to the worker still succeed...
	c := client(t)
	for range 20 {
		if resp, body := get(t, c, in.URL+"/ping"); resp.StatusCode != 200 || body != "pong" {
			t.Fatalf("/ping with %d idle connections held: %s %q\n%s", idleClients, resp.Status, body, tail(in.ErrorLog(), 2000))
		}
	}
	// ...and stub_status answers, counting the held connections as idle keep-alive.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := in.StatusClient().Fetch(ctx)
	if err != nil {
		t.Fatalf("stub_status with %d idle connections held: %v", idleClients, err)
	}
	if st.Waiting < idleClients {
		t.Errorf("stub_status Waiting = %d, want at least %d: %s", st.Waiting, idleClients, st)
	}
	if st.Dropped() != 0 {
		t.Errorf("nginx dropped %d connections: %s", st.Dropped(), st)
	}
	if log := in.ErrorLog(); strings.Contains(log, "worker_connections are not enough") {
		t.Errorf("nginx ran out of connections:\n%s", tail(log, 2000))
	}
}

// keepAliveRequest opens a connection to addr, makes one HTTP/1.1 keep-alive GET of path
// and returns the still-open connection once the 200 response has been read.
func keepAliveRequest(addr, path string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: adnet\r\n\r\n", path); err != nil {
		return c, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return c, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("status %s", resp.Status)
	}
	if err == nil && resp.Close {
		err = fmt.Errorf("nginx closed the keep-alive connection")
	}
	c.SetDeadline(time.Time{})
	return c, err
}

// raiseNofile raises this process's soft open-file limit to at least n (up to the hard
// limit), failing the test when the hard limit is lower.
func raiseNofile(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Fatalf("this test needs %d open files; the hard limit is %d (raise it: ulimit -Hn as root, LimitNOFILE= for a service)", n, lim.Max)
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
}

// tail returns the last n bytes of s, for failure messages.
func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// TestNginxReachesSocketsInPrivateDir: the standalone config as `adnet nginx-conf
// --standalone` renders it for `make run` (no user set) lets nginx's workers reach worker
// sockets in a 0700 directory, as in a checkout under root's home: 200, not 502
// "Permission denied". (Started as root, nginx's workers would run as nobody unless the
// config names a user; started as anyone else they run as that user anyway.)
func TestNginxReachesSocketsInPrivateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "checkout")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	be := startBackend(t, dir, "w0.sock", nil)
	if err := os.Chmod(be.Socket, 0o600); err != nil {
		t.Fatal(err)
	}
	in := nginxtest.Start(t, nginx.Params{
		WorkerSockets:  []string{be.Socket},
		RequestTimeout: 10 * time.Second,
		// User deliberately empty: what the dev configuration renders.
	})
	resp, body := get(t, client(t), in.URL+"/ping")
	if resp.StatusCode != 200 || body != "pong" {
		t.Fatalf("/ping with sockets in a 0700 directory: %s %q\n%s", resp.Status, body, tail(in.ErrorLog(), 2000))
	}
}
