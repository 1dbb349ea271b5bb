package fcgi

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestDrainLosesNoPOST (issue 12): POSTs through a real nginx, on kept-alive upstream
// connections, while the process behind the socket is replaced over and over, as a
// rolling reload does: each generation serves the shared listener, then drains while the
// next one takes over. nginx never retries a POST it has written, so every close of a
// connection it may be writing on, and every 503 from a drain, reaches a client. The
// draining worker must therefore serve what reaches it and leave the closing to nginx
// (the goodbye record after each response, nginx's keepalive_timeout for idle ones). Not
// one POST may fail. (Before: the drain closed connections right after their last
// response and refused queued and in-flight-at-drain requests with 503.)
func TestDrainLosesNoPOST(t *testing.T) { forEngines(t, testDrainLosesNoPOST) }

func testDrainLosesNoPOST(t *testing.T) {
	dir := t.TempDir()
	sock := dir + "/w.sock"
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// nginx drops idle upstream connections after 300ms: below every generation's
	// ShutdownTimeout, so that nginx, not the worker, closes an idle connection.
	base := startNginx(t, sock, "keepalive_timeout 300ms;")

	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "got %s", b)
	})
	opt := Options{Engine: engineOf(t), MaxChildren: 4, Queue: 64, QueueTimeout: 10 * time.Second,
		ShutdownTimeout: 5 * time.Second}
	generation := func() (*Server, chan error) {
		f, err := ln.(*net.UnixListener).File()
		if err != nil {
			t.Fatal(err)
		}
		dup, err := net.FileListener(f) // the descriptor a worker inherits from the master
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		s := NewServer(app, opt)
		done := make(chan error, 1)
		go func() { done <- s.Serve(dup) }()
		return s, done
	}

	var ok, failed atomic.Int64
	var firstFailure atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 20 * time.Second}
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf("c%d-%d", i, n)
				resp, err := client.Post(base+"/postback", "text/plain", strings.NewReader(body))
				if err != nil {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
					continue
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(got) != "got "+body {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, fmt.Sprintf("%d %q", resp.StatusCode, got))
					continue
				}
				ok.Add(1)
			}
		}(i)
	}

	cur, curDone := generation()
	var drains sync.WaitGroup
	var goodbyes atomic.Uint64
	const reloads = 40
	for i := 0; i < reloads; i++ {
		time.Sleep(25 * time.Millisecond)
		next, nextDone := generation()
		old, oldDone := cur, curDone
		drains.Add(1)
		go func() {
			defer drains.Done()
			if err := old.Shutdown(context.Background()); err != nil {
				t.Errorf("a drain was cut short: %v", err)
			}
			<-oldDone
			goodbyes.Add(old.Stats().DrainGoodbyes)
		}()
		cur, curDone = next, nextDone
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	drains.Wait()
	cur.Shutdown(context.Background())
	<-curDone

	t.Logf("%d POSTs answered through %d drains, %d failed; %d goodbye records", ok.Load(), reloads, failed.Load(), goodbyes.Load())
	if ok.Load() < 200 {
		t.Errorf("only %d POSTs answered: the load did not run", ok.Load())
	}
	if goodbyes.Load() == 0 {
		t.Error("no drain served a request on a kept-alive connection: the test did not exercise the hand-over")
	}
	if failed.Load() != 0 {
		t.Errorf("%d POSTs failed during drains, first: %v", failed.Load(), firstFailure.Load())
	}
}
