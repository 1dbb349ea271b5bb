package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"adnet/internal/testport"
)

// TestTCPTopology runs adnet serve with both pools on FastCGI over TCP and the rendered
// nginx in front: ads and the console answer through nginx, a peer outside
// fcgi.allow_peers is closed at accept and counted in /status, and a reload (SIGHUP) under
// traffic fails no request.
func TestTCPTopology(t *testing.T) {
	ads, console := testport.Range(t, 2), 0
	for console == 0 || console >= ads-1 && console <= ads+2 {
		console = testport.Range(t, 1)
	}
	tp := startTopologyWith(t, topoOptions{
		top:      fmt.Sprintf("listen = \"tcp://127.0.0.1:%d\"", ads),
		sections: fmt.Sprintf("[fcgi]\nallow_peers = [\"127.0.0.1\"]\n\n[pools.console]\nlisten = \"tcp://127.0.0.1:%d\"\n", console),
	})
	if got := strings.Join(tp.cfg.PoolAddresses("worker"), " "); got != fmt.Sprintf("127.0.0.1:%d 127.0.0.1:%d", ads, ads+1) {
		t.Fatalf("worker addresses %s", got)
	}
	for range 50 {
		if code, body, err := tp.get("/ping"); err != nil || code != http.StatusOK || body != "pong\n" {
			t.Fatalf("GET /ping over TCP workers: %d %q %v", code, body, err)
		}
	}
	// The console pool answers (a sign-in page or a redirect to it), not nginx's 502.
	if code, _, err := tp.get("/admin/"); err != nil || code >= 500 {
		t.Fatalf("GET /admin/ over the TCP console pool: %d %v", code, err)
	}

	// A stranger connecting straight to a worker's port gets nothing and is counted.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ads))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	c.Close()
	if len(b) != 0 {
		t.Fatalf("a peer outside allow_peers got %q", b)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a peer outside allow_peers was not closed")
	}
	tp.waitFor("the refused peer in /status", func() bool {
		_, body, err := tp.get("/status?json")
		if err != nil {
			return false
		}
		var st struct {
			Workers []struct {
				Stats *struct {
					PeersRefused uint64 `json:"peers_refused"`
				} `json:"stats"`
			} `json:"workers"`
		}
		if json.Unmarshal([]byte(body), &st) != nil {
			return false
		}
		var n uint64
		for _, w := range st.Workers {
			if w.Stats != nil {
				n += w.Stats.PeersRefused
			}
		}
		return n == 1
	})

	// A reload hands the TCP listeners to new workers without failing a request.
	before := tp.pids()
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, _, err := tp.get("/ping")
				if err != nil || code != http.StatusOK {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %v", code, err))
				} else {
					ok.Add(1)
				}
			}
		})
	}
	if err := tp.master.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	tp.waitFor("both workers replaced", func() bool {
		now := tp.pids()
		return len(now) == 2 && now[1] != before[1] && now[2] != before[2]
	})
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during a reload on TCP; first: %v", failed.Load(), failed.Load()+ok.Load(), firstErr.Load())
	}
	t.Logf("reload on TCP listeners under traffic: %d requests, 0 failed", ok.Load())
}
