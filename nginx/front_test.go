package nginx_test

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

	"adnet/nginx"
	"adnet/nginx/nginxtest"
)

func frontParams() nginx.FrontParams {
	return nginx.FrontParams{
		Listen:       "203.0.113.10:80",
		Hosts:        []nginx.FrontHost{{Name: "app1", Addr: "10.0.0.2:8080"}, {Name: "app2", Addr: "10.0.0.3:8080"}},
		ConsoleHosts: []nginx.FrontHost{{Name: "app1", Addr: "10.0.0.2:8080"}},
		StatusAllow:  []string{"10.0.0.0/24"},
	}
}

// TestRenderFront: the front's upstreams, retries, forwarded headers and routes, and a
// complete nginx.conf that the real nginx accepts (nginx -t).
func TestRenderFront(t *testing.T) {
	var buf bytes.Buffer
	if err := nginx.RenderFront(&buf, frontParams()); err != nil {
		t.Fatal(err)
	}
	site := buf.String()
	for _, want := range []string{
		"hash $remote_addr consistent;",
		"server 10.0.0.2:8080 max_fails=3 fail_timeout=10s; # app1",
		"server 10.0.0.3:8080 max_fails=3 fail_timeout=10s; # app2",
		"upstream adnet_console_hosts {",
		"proxy_next_upstream error timeout http_502 http_503 http_504;",
		"proxy_next_upstream error timeout http_502 http_503 http_504 non_idempotent;",
		"proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
		"proxy_set_header X-Real-IP $remote_addr;",
		"allow 10.0.0.0/24;",
		"proxy_pass http://adnet_console_hosts;",
		"proxy_pass http://adnet_hosts;",
	} {
		if !strings.Contains(site, want) {
			t.Errorf("front lacks %q", want)
		}
	}
	if strings.Count(site, "non_idempotent") != 1 || !strings.Contains(site[strings.Index(site, "location = /track/conv"):], "non_idempotent") {
		t.Error("non_idempotent must be on /track/conv only")
	}
	// Ad traffic gets the short read timeout (a silent host's visitors move on within it);
	// the console and the API keep the long one.
	if ad := site[strings.Index(site, "    location / {"):]; !strings.Contains(ad[:strings.Index(ad, "}")], "proxy_read_timeout 3s;") {
		t.Errorf("ad traffic lacks proxy_read_timeout 3s:\n%s", ad)
	}
	if !strings.Contains(site, "proxy_read_timeout 30s;") {
		t.Error("the console and API lost their 30s read timeout")
	}

	bad := frontParams()
	bad.Hosts = append(bad.Hosts, nginx.FrontHost{Name: "app3", Addr: "app3:8080"})
	bad.ConsoleHosts = nil
	err := nginx.RenderFront(&bytes.Buffer{}, bad)
	if err == nil || !strings.Contains(err.Error(), "Hosts[2].Addr") || !strings.Contains(err.Error(), "ConsoleHosts: at least one") {
		t.Errorf("invalid front params: %v", err)
	}

	dir := t.TempDir()
	p := frontParams()
	p.Listen = nginxtest.FreeAddr(t)
	p.TempDir = filepath.Join(dir, "tmp")
	conf := writeFront(t, dir, p)
	out, err := exec.Command(nginxtest.Binary(t), "-t", "-c", conf, "-p", dir+"/", "-e", filepath.Join(dir, "error.log")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "test is successful") {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
}

func writeFront(t *testing.T, dir string, p nginx.FrontParams) string {
	t.Helper()
	var buf bytes.Buffer
	if err := nginx.RenderFrontMain(&buf, p); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(p.TempDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return conf
}

// appBackend is a stand-in app host: it answers with its name and the client address the
// front forwarded.
type appBackend struct {
	name string
	srv  *http.Server
}

func startApp(t *testing.T, name, addr string) *appBackend {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	b := &appBackend{name: name}
	b.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		xff := r.Header.Get("X-Forwarded-For")
		fmt.Fprintf(w, "%s %s %s", name, xff[strings.LastIndex(xff, ",")+1:], r.Header.Get("X-Real-IP"))
	})}
	go b.srv.Serve(ln)
	t.Cleanup(func() { b.srv.Close() })
	return b
}

// TestFrontSpreadsAndFailsOver runs the rendered front in a real nginx before two app
// hosts on 127.0.0.2 and 127.0.0.3: each client address always lands on the same host,
// both hosts get visitors, the hosts see the client's address, and when one host dies its
// visitors are served by the other without an error.
func TestFrontSpreadsAndFailsOver(t *testing.T) {
	port := strings.TrimPrefix(nginxtest.FreeAddr(t), "127.0.0.1:")
	apps := map[string]*appBackend{
		"app1": startApp(t, "app1", "127.0.0.2:"+port),
		"app2": startApp(t, "app2", "127.0.0.3:"+port),
	}
	dir := t.TempDir()
	p := nginx.FrontParams{
		Listen:       nginxtest.FreeAddr(t),
		Hosts:        []nginx.FrontHost{{Name: "app1", Addr: "127.0.0.2:" + port}, {Name: "app2", Addr: "127.0.0.3:" + port}},
		ConsoleHosts: []nginx.FrontHost{{Name: "app1", Addr: "127.0.0.2:" + port}},
		TempDir:      filepath.Join(dir, "tmp"),
		ErrorLog:     filepath.Join(dir, "error.log"),
	}
	conf := writeFront(t, dir, p)
	cmd := exec.Command(nginxtest.Binary(t), "-c", conf, "-p", dir+"/", "-e", filepath.Join(dir, "error.log"))
	var nginxOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &nginxOut, &nginxOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx output:\n%s\nerror.log:\n%s", nginxOut.String(), b)
		}
	})

	get := func(src string) (string, error) {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
			DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}).DialContext}}
		resp, err := c.Get("http://" + p.Listen + "/serve/x")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
		}
		return string(b), nil
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := get("127.0.0.1"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("front never answered: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	clients := make([]string, 40)
	for i := range clients {
		clients[i] = fmt.Sprintf("127.0.1.%d", i+10)
	}
	home := map[string]string{}
	perHost := map[string]int{}
	for _, src := range clients {
		for range 3 {
			body, err := get(src)
			if err != nil {
				t.Fatalf("client %s: %v", src, err)
			}
			f := strings.Fields(body)
			if len(f) != 3 || f[1] != src || f[2] != src {
				t.Fatalf("client %s: app saw %q, want its address in X-Forwarded-For and X-Real-IP", src, body)
			}
			if h, ok := home[src]; ok && h != f[0] {
				t.Fatalf("client %s moved from %s to %s with both hosts up", src, h, f[0])
			}
			home[src] = f[0]
		}
		perHost[home[src]]++
	}
	if perHost["app1"] == 0 || perHost["app2"] == 0 {
		t.Fatalf("visitors per host %v: one host got nobody", perHost)
	}
	t.Logf("40 client addresses, 3 requests each: %v, each always on the same host", perHost)

	// app1 dies: its visitors go to app2, and nobody gets an error.
	apps["app1"].srv.Close()
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, src := range clients {
		wg.Go(func() {
			for range 3 {
				body, err := get(src)
				if err == nil && !strings.HasPrefix(body, "app2 ") {
					err = fmt.Errorf("answered %q with app1 down", body)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("client %s: %w", src, err))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of 120 requests failed with app1 down; first: %v", len(errs), errs[0])
	}
}
