package master

import (
	"io"
	"net/http"
	"net/http/fcgi"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"adnet/nginx"
	"adnet/nginx/nginxtest"
)

// runFCGIWorker serves FastCGI (the standard library's, standing in for adnet's worker) on
// the inherited listener, answering "worker <id>", until the master stops it.
func runFCGIWorker() int {
	env, err := Inherited()
	if err != nil {
		return 2
	}
	go fcgi.Serve(env.Listener, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "worker ")
		io.WriteString(w, os.Getenv("ADNET_TEST_NAME"))
	}))
	if err := env.NotifyReady(); err != nil {
		return 2
	}
	<-StopRequested()
	return 0
}

// TestNginxRetriesPastDeadWorker: with worker 1 dead and waiting out a long restart
// backoff, every request through a real nginx is answered 200 by worker 2: nginx gets the
// master's 503 on worker 1's socket and retries (fastcgi_next_upstream http_503). Without
// the stand-in the requests sent to worker 1's socket waited in its backlog until nginx's
// read timeout and failed with 504.
func TestNginxRetriesPastDeadWorker(t *testing.T) {
	opt, hook, out := baseOptions(t, 2, "crash")
	opt.RestartBackoff, opt.MaxRestartBackoff = time.Minute, time.Minute
	crash, serve := testCommand("crash"), testCommand("fcgi-worker", "ADNET_TEST_NAME=2")
	opt.WorkerCommand = func(id int) *exec.Cmd {
		if id == 1 {
			return crash(id)
		}
		return serve(id)
	}
	h := start(t, opt, hook, out)
	waitFor(t, "worker 1 dead, worker 2 ready", func() bool {
		ps := h.m.Processes()
		return len(ps) == 2 && ps[0].LastExit != "" && ps[0].PID == 0 && ps[1].Ready
	})
	in := nginxtest.Start(t, nginx.Params{
		WorkerSockets:  []string{h.info(0).Socket, h.info(1).Socket},
		RequestTimeout: time.Second, // nginx's read timeout 6 s: the 504 a waiting request got
	})
	client := &http.Client{Timeout: 60 * time.Second}
	for i := range 20 {
		resp, err := client.Get(in.URL + "/ad")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "worker 2" {
			t.Fatalf("request %d: %s %q, want 200 from worker 2\n%s", i, resp.Status, body, in.ErrorLog())
		}
	}
	// nginx never re-sends a POST it has written, so a POST given to the dead worker's socket
	// gets the master's 503 with Retry-After (the client may retry), at once, never a 504.
	shed := 0
	for i := range 10 {
		resp, err := client.Post(in.URL+"/postback", "application/x-www-form-urlencoded", strings.NewReader("click=1"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == 200 && string(body) == "worker 2":
		case resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "1":
			shed++
		default:
			t.Fatalf("POST %d: %s %q, want 200 from worker 2 or 503 with Retry-After: 1", i, resp.Status, body)
		}
	}
	t.Logf("POSTs: %d answered 503 by the master, %d served by worker 2", shed, 10-shed)
	if p := h.info(0); p.PID != 0 {
		t.Fatalf("worker 1 was restarted during the test (pid %d)", p.PID)
	}
}
