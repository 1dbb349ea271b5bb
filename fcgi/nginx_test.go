package fcgi

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"adnet/internal/testport"
)

// The conformance suite with nginx itself as the client: the web server adnet runs behind,
// with an upstream keepalive pool and fastcgi_keep_conn, as deployed. The config is written
// here rather than rendered by package nginx, because package fcgi imports nothing of the
// project (tests included). nginx is installed by scripts/install-deps.sh; the test fails
// without it.

// startNginx runs a private nginx in front of the FastCGI socket sock and returns its base
// URL. It is stopped when the test ends. upstream adds directives to the upstream block.
func startNginx(t *testing.T, sock string, upstream ...string) string {
	t.Helper()
	bin := "/usr/sbin/nginx"
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("nginx"); err != nil {
			t.Fatal("nginx is not installed: run scripts/install-deps.sh")
		}
	}
	dir := t.TempDir()
	addr := testport.Addr(t)
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers as nobody could not enter the 0700 test directories
	}
	conf := fmt.Sprintf(`%s
daemon off;
worker_processes 1;
error_log %[2]s/error.log warn;
pid %[2]s/nginx.pid;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path %[2]s/body;
  fastcgi_temp_path %[2]s/fastcgi;
  proxy_temp_path %[2]s/proxy;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  client_max_body_size 10m;
  upstream worker { server unix:%[3]s; keepalive 4; %[5]s }
  server {
    listen %[4]s;
    location / {
      fastcgi_pass worker;
      fastcgi_keep_conn on;
      fastcgi_param QUERY_STRING $query_string;
      fastcgi_param REQUEST_METHOD $request_method;
      fastcgi_param CONTENT_TYPE $content_type;
      fastcgi_param CONTENT_LENGTH $content_length;
      fastcgi_param SCRIPT_NAME $fastcgi_script_name;
      fastcgi_param REQUEST_URI $request_uri;
      fastcgi_param SERVER_PROTOCOL $server_protocol;
      fastcgi_param REMOTE_ADDR $remote_addr;
      fastcgi_param REMOTE_PORT $remote_port;
      fastcgi_param SERVER_NAME $server_name;
      fastcgi_param GEOIP_COUNTRY_CODE "FR";
    }
  }
}
`, user, dir, sock, addr, strings.Join(upstream, " "))
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "-c", path, "-p", dir+"/", "-e", dir+"/error.log")
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // to stop its workers with it
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	url := "http://" + addr
	eventually(t, "nginx to answer", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return url
}

// TestThroughNginx: GETs, POSTs, large and special responses through nginx on kept-alive
// upstream connections, and POSTs right after a request that outlasted IdleTimeout. (That
// the reaper no longer closes such a connection is proven by TestIdleCountsFromResponseEnd:
// nginx notices most closes of idle connections before reusing them, so the 502 it
// caused here was a race, too rare for a test that must fail deterministically.)
func TestThroughNginx(t *testing.T) { forEngines(t, testThroughNginx) }

func testThroughNginx(t *testing.T) {
	ts := startServer(t, Options{IdleTimeout: 400 * time.Millisecond})
	base := startNginx(t, ts.path)
	client := &http.Client{Timeout: 30 * time.Second}
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	for i := 0; i < 30; i++ {
		if code, body := do("GET", fmt.Sprintf("/hello?i=%d", i), ""); code != 200 || !strings.HasPrefix(body, fmt.Sprintf("hello GET /hello?i=%d from 127.0.0.1:", i)) {
			t.Fatalf("GET %d: %d %q", i, code, body)
		}
	}
	if st := ts.Stats(); st.ConnsAccepted != 1 {
		t.Errorf("%d FastCGI connections for 30 sequential requests: nginx's keepalive is not reused", st.ConnsAccepted)
	}
	if code, body := do("GET", "/echo", ""); code != 200 || !strings.Contains(body, `"Country":"FR"`) {
		t.Fatalf("echo: %d %s", code, body)
	}
	post := strings.Repeat("p", 300000)
	if code, body := do("POST", "/body", post); code != 200 || body != "got 300000 bytes, content-length 300000" {
		t.Fatalf("POST: %d %q", code, body)
	}
	if code, body := do("GET", "/large?n=300001", ""); code != 200 || len(body) != 300001 {
		t.Fatalf("large: %d, %d bytes", code, len(body))
	}
	if code, body := do("GET", "/early", ""); code != 201 || body != "created" {
		t.Fatalf("1xx then 201: %d %q", code, body)
	}
	if code, _ := do("GET", "/status/404", ""); code != 404 {
		t.Fatalf("404: %d", code)
	}
	if code, _ := do("GET", "/panic", ""); code != 500 {
		t.Fatalf("panic: %d", code)
	}

	var wg sync.WaitGroup
	errs := make(chan string, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(fmt.Sprintf("%s/p%d", base, i))
			if err != nil {
				errs <- err.Error()
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- resp.Status
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("parallel GET: %s", e)
	}

	// A request longer than IdleTimeout, then a POST on the same kept-alive connection.
	done := make(chan int, 1)
	go func() {
		resp, err := client.Get(base + "/block")
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-ts.app.entered
	eventually(t, "the request to outlast IdleTimeout", func() bool { return ts.c.idleDeferred.Load() >= 2 })
	ts.app.unblock()
	if code := <-done; code != 200 {
		t.Fatalf("long request: %d", code)
	}
	for i := 0; i < 4; i++ { // whichever kept-alive connection nginx picks
		if code, body := do("POST", "/body", "conv"); code != 200 || body != "got 4 bytes, content-length 4" {
			t.Fatalf("POST after a long request: %d %q", code, body)
		}
	}
	if st := ts.Stats(); st.Status.S5xx != 1 || st.Panics != 1 {
		t.Errorf("5xx %d, panics %d: only /panic may fail", st.Status.S5xx, st.Panics)
	}
}
