package main

// End-to-end test of the operations side: the master's monitor, status page, /metrics,
// advice and `adnet top` on the real topology (MariaDB, the adnet binary's master and two
// workers, nginx), under load, with the page rendered by a real headless Chromium.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"adnet/internal/monitor"
)

// unixClient is an HTTP client whose every request goes to one Unix socket.
func unixClient(socket string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
}

func fetchDoc(t *testing.T, c *http.Client, url string) (monitor.StatusDoc, error) {
	t.Helper()
	var doc monitor.StatusDoc
	resp, err := c.Get(url)
	if err != nil {
		return doc, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return doc, fmt.Errorf("%s: %s %s", url, resp.Status, b)
	}
	return doc, json.NewDecoder(resp.Body).Decode(&doc)
}

// waitForT is topology.waitFor for a subtest: it fails the subtest, not its parent.
func (tp *topology) waitForT(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; master output:\n%s", what, tp.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freshStatus is topology.status once the master's monitor has polled after the call:
// /status answers from the monitor's memory (polled every monitor.interval), so a test
// that has just sent requests must wait one poll to see them counted.
func (tp *topology) freshStatus() (statusDoc, error) {
	since := time.Now()
	deadline := since.Add(30 * time.Second)
	for {
		code, body, err := tp.get("/status?json")
		if err != nil {
			return statusDoc{}, err
		}
		if code != http.StatusOK {
			return statusDoc{}, fmt.Errorf("status answered %d: %s", code, body)
		}
		var polled struct {
			Updated time.Time `json:"updated"`
		}
		if err := json.Unmarshal([]byte(body), &polled); err != nil {
			return statusDoc{}, err
		}
		if polled.Updated.After(since) {
			var st statusDoc
			return st, json.Unmarshal([]byte(body), &st)
		}
		if time.Now().After(deadline) {
			return statusDoc{}, fmt.Errorf("the monitor has not polled since %s", since.Format(time.RFC3339Nano))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// controlSockets returns the workers' current control sockets, found in socket_dir.
func (tp *topology) controlSockets() []string {
	socks, _ := filepath.Glob(filepath.Join(tp.cfg.SocketDir, "worker-*.ctl"))
	return socks
}

// totalRejected adds up the workers' rejections as the master reports them.
func totalRejected(doc monitor.StatusDoc) (n uint64, polled time.Time) {
	for _, w := range doc.Workers {
		if w.Stats != nil {
			n += w.Stats.Rejected
		}
	}
	return n, doc.Updated
}

func TestStatusUnderLoad(t *testing.T) {
	const maxChildren = 4
	tp := startTopology(t, fmt.Sprintf("max_children = %d\nqueue = 0\nslowlog_timeout = \"300ms\"", maxChildren))
	master := unixClient(tp.cfg.StatusSocket())
	nginxStatus := tp.nginx.URL + "/status?json"

	// The master's socket answers /ping and /status itself.
	resp, err := master.Get("http://master/ping")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "pong\n" {
		t.Fatalf("master /ping: %q", b)
	}
	tp.waitFor("the monitor to read nginx", func() bool {
		doc, err := fetchDoc(t, master, "http://master/status?json")
		return err == nil && doc.Nginx.Up && len(doc.Workers) == 2
	})

	t.Run("status answers while every child is busy; rejections are counted exactly", func(t *testing.T) {
		// Fill the 2 × max_children children with slow requests.
		var held sync.WaitGroup
		heldCodes := make([]int, 2*maxChildren)
		for i := range heldCodes {
			held.Add(1)
			go func() {
				defer held.Done()
				heldCodes[i], _, _ = tp.get("/debug/sleep?ms=6000")
			}()
		}
		tp.waitForT(t, "every child busy", func() bool {
			socks := tp.controlSockets()
			if len(socks) != 2 {
				return false
			}
			for _, s := range socks {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				st, err := monitor.FetchWorkerStats(ctx, s)
				cancel()
				if err != nil || st.InFlight != maxChildren {
					return false
				}
			}
			return true
		})
		// Saturated: the control sockets, the master's socket and nginx's /status answer.
		for _, s := range tp.controlSockets() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			st, err := monitor.FetchWorkerStats(ctx, s)
			cancel()
			if err != nil || st.InFlight != maxChildren {
				t.Fatalf("control socket %s while saturated: %+v %v", s, st.InFlight, err)
			}
		}
		var before monitor.StatusDoc
		tp.waitForT(t, "the master to see both workers saturated", func() bool {
			before, err = fetchDoc(t, master, "http://master/status?json")
			return err == nil && before.Totals.InFlight == 2*maxChildren
		})
		if _, err := fetchDoc(t, tp.client, nginxStatus); err != nil {
			t.Fatalf("/status through nginx while saturated: %v", err)
		}
		// One more request: each worker sheds it once (nginx retries the 503 on the other
		// worker), and the client gets the last 503.
		rejBefore, _ := totalRejected(before)
		code, _, err := tp.get("/debug/sleep?ms=10")
		if err != nil || code != http.StatusServiceUnavailable {
			t.Fatalf("request beyond every cap: %d %v", code, err)
		}
		tp.waitForT(t, "the master to count the rejections", func() bool {
			doc, err := fetchDoc(t, master, "http://master/status?json")
			n, _ := totalRejected(doc)
			return err == nil && n >= rejBefore+2
		})
		doc, _ := fetchDoc(t, master, "http://master/status?json")
		if n, _ := totalRejected(doc); n != rejBefore+2 {
			t.Errorf("rejections went from %d to %d for one request shed by both workers", rejBefore, n)
		}
		held.Wait()
		for i, c := range heldCodes {
			if c != http.StatusOK {
				t.Errorf("held request %d: %d", i, c)
			}
		}
		st, err := tp.freshStatus()
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range st.Workers {
			if w.Stats == nil || w.Stats.MaxInFlight != maxChildren {
				t.Errorf("worker %d: max in flight %+v, want exactly max_children = %d", w.ID, w.Stats, maxChildren)
			}
		}
	})

	// Load: slow and fast requests from more clients than there are children, so that the
	// charts have something to show and some requests are shed. Bounded in time and
	// concurrency, loopback only.
	var codes sync.Map
	var requests atomic.Int64
	stop := make(chan struct{})
	var load sync.WaitGroup
	// Ten clients of slow requests for eight children, two of fast ones; a client that
	// gets a 503 waits a little before its next request, as a well-behaved one would.
	for g := range 12 {
		load.Add(1)
		go func() {
			defer load.Done()
			deadline := time.Now().Add(90 * time.Second) // a backstop; the test stops it sooner
			for i := 0; time.Now().Before(deadline); i++ {
				path, pause := "/ping", 5*time.Millisecond
				if g >= 2 {
					path, pause = "/debug/sleep?ms="+strconv.Itoa(100+(g*37+i*53)%400), 0
				}
				code, _, err := tp.get(path)
				if err != nil {
					code = -1
				}
				v, _ := codes.LoadOrStore(code, new(atomic.Int64))
				v.(*atomic.Int64).Add(1)
				requests.Add(1)
				if code == http.StatusServiceUnavailable {
					pause = 100 * time.Millisecond
				}
				select {
				case <-stop:
					return
				case <-time.After(pause):
				}
			}
		}()
	}
	stopLoad := sync.OnceFunc(func() { close(stop); load.Wait() })
	t.Cleanup(stopLoad)
	// Let the monitor record a stretch of the load: polls, not time, decide.
	start, _ := fetchDoc(t, master, "http://master/status?json")
	tp.waitForT(t, "ten polls under load", func() bool {
		doc, err := fetchDoc(t, master, "http://master/status?json")
		return err == nil && doc.Updated.Sub(start.Updated) >= 10*time.Second
	})

	t.Run("the status page renders its charts in Chromium", func(t *testing.T) {
		dir := t.TempDir()
		shot := filepath.Join(dir, "status.png")
		url := tp.nginx.URL + "/status"
		stderr := runChromium(t, filepath.Join(dir, "profile1"), "--screenshot="+shot, "--window-size=1280,1600",
			"--virtual-time-budget=6000", "--enable-logging=stderr", "--v=0", url)
		// The page logs nothing itself: any console line is an error (a script error, or a
		// Content-Security-Policy violation if it tried to load something).
		for _, line := range strings.Split(stderr, "\n") {
			if strings.Contains(line, ":CONSOLE") || strings.Contains(line, "Uncaught") {
				t.Errorf("console: %s", line)
			}
		}
		checkPNG(t, shot)
		if dst := os.Getenv("ADNET_ARTIFACTS"); dst != "" {
			if err := os.MkdirAll(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(shot)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst, "status.png"), b, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot copied to %s", filepath.Join(dst, "status.png"))
		}

		// The DOM after the script ran: every chart drew points, the advice and the
		// workers' table were filled, and no script error was caught.
		dom := runChromium(t, filepath.Join(dir, "profile2"), "--dump-dom", "--window-size=1280,1600", "--virtual-time-budget=4000", url)
		body := regexp.MustCompile(`<body[^>]*>`).FindString(dom)
		if !strings.Contains(body, `data-render="ok"`) || strings.Contains(body, "data-js-errors") {
			errs := regexp.MustCompile(`(?s)<pre id="errors"[^>]*>(.*?)</pre>`).FindStringSubmatch(dom)
			t.Fatalf("the page did not render cleanly: %s; errors caught by the page: %q", body, errs)
		}
		for _, id := range []string{"ch-conn", "ch-rps", "ch-inflight", "ch-rej", "ch-lat", "ch-wrps"} {
			m := regexp.MustCompile(`<canvas id="` + id + `"[^>]*data-points="(\d+)"`).FindStringSubmatch(dom)
			if m == nil {
				t.Errorf("chart %s was not drawn", id)
				continue
			}
			if n, _ := strconv.Atoi(m[1]); n < 10 {
				t.Errorf("chart %s drew %d points", id, n)
			}
		}
		if !strings.Contains(dom, `class="lvl">`) || strings.Count(dom, "<tr><td>worker ") != 2 {
			t.Errorf("advice or workers table missing")
		}
	})

	t.Run("adnet top shows nginx and every worker", func(t *testing.T) {
		var out, errb bytes.Buffer
		err := runTop(context.Background(), []string{"--config", tp.conf, "--count", "2", "--interval", "200ms"}, &out, &errb)
		if err != nil {
			t.Fatalf("adnet top: %v\n%s", err, errb.String())
		}
		s := out.String()
		if strings.Contains(s, "\x1b[") {
			t.Errorf("escape codes in output that is not a terminal")
		}
		if strings.Count(s, "adnet top") != 2 || !strings.Contains(s, "nginx   active ") || !strings.Contains(s, "ADVICE") {
			t.Errorf("adnet top output:\n%s", s)
		}
		for _, id := range []string{"1", "2"} {
			if !regexp.MustCompile(`(?m)^` + id + ` +\d+ +\S+ +[█░]+ \d+/4`).MatchString(s) {
				t.Errorf("no row for worker %s:\n%s", id, s)
			}
		}
		t.Logf("adnet top, last frame:\n%s", s[strings.LastIndex(s, "adnet top"):])
	})

	stopLoad()
	var counts []string
	codes.Range(func(k, v any) bool {
		counts = append(counts, fmt.Sprintf("%v: %d", k, v.(*atomic.Int64).Load()))
		return true
	})
	t.Logf("load: %d requests, by status %v", requests.Load(), counts)
	codes.Range(func(k, v any) bool {
		if c := k.(int); c != 200 && c != 503 {
			t.Errorf("%d requests answered %d: only 200 and 503 are acceptable", v.(*atomic.Int64).Load(), c)
		}
		return true
	})

	t.Run("metrics agree with the status document", func(t *testing.T) {
		// Once the load has stopped the counters are still; wait for a poll after that.
		var doc monitor.StatusDoc
		stopped := time.Now()
		tp.waitForT(t, "a poll after the load", func() bool {
			doc, err = fetchDoc(t, master, "http://master/status?json")
			return err == nil && doc.Updated.After(stopped.Add(time.Second))
		})
		resp, err := tp.client.Get(tp.nginx.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(resp.Body)
		if err != nil {
			t.Fatalf("parsing /metrics: %v", err)
		}
		sum := func(name string, match map[string]string) float64 {
			var v float64
			f := fams[name]
			if f == nil {
				t.Errorf("no %s", name)
				return 0
			}
		next:
			for _, m := range f.Metric {
				for _, l := range m.Label {
					if want, ok := match[l.GetName()]; ok && want != l.GetValue() {
						continue next
					}
				}
				if m.Counter != nil {
					v += m.Counter.GetValue()
				} else if m.Gauge != nil {
					v += m.Gauge.GetValue()
				}
			}
			return v
		}
		var accepted, rejected, timeouts uint64
		for _, w := range doc.Workers {
			accepted += w.Stats.Accepted
			rejected += w.Stats.Rejected
			timeouts += w.Stats.QueueTimeouts
		}
		if got := sum("adnet_worker_requests_total", nil); got != float64(accepted) {
			t.Errorf("requests: metrics %v, status %d", got, accepted)
		}
		if got := sum("adnet_worker_requests_rejected_total", map[string]string{"reason": "cap"}) +
			sum("adnet_worker_requests_rejected_total", map[string]string{"reason": "queue_timeout"}); got != float64(rejected) {
			t.Errorf("rejected: metrics %v, status %d", got, rejected)
		}
		if rejected == 0 {
			t.Errorf("the load shed nothing: it did not exceed the caps")
		}
		if sum("adnet_nginx_up", nil) != 1 || sum("adnet_workers_up", nil) != 2 || sum("adnet_nginx_http_requests_total", nil) < float64(requests.Load()) {
			t.Errorf("nginx/workers up or request counts wrong")
		}
		// The aggregator's duplicate filters, asked at the scrape: the load served ads, so
		// their windows hold something, far below their capacity at the default design load.
		if sum("adnet_aggregator_up", nil) != 1 || sum("adnet_aggregator_design_load_events_per_second", nil) != 25000 {
			t.Errorf("aggregator: up %v, design load %v", sum("adnet_aggregator_up", nil), sum("adnet_aggregator_design_load_events_per_second", nil))
		}
		for _, f := range []string{"impressions", "beacons", "clicks"} {
			fill := sum("adnet_dedup_fill_ratio", map[string]string{"filter": f, "scope": "window"})
			fp := sum("adnet_dedup_false_positive_ratio", map[string]string{"filter": f})
			if fill < 0 || fill > 0.1 || fp > sum("adnet_dedup_false_positive_bound_ratio", map[string]string{"filter": f}) ||
				sum("adnet_dedup_saturated_segments", map[string]string{"filter": f}) != 0 {
				t.Errorf("dedup %s: fill %v, false positives %v", f, fill, fp)
			}
		}
		// The default file transport has no shipper: nothing about one appears.
		for name := range fams {
			if strings.HasPrefix(name, "adnet_shipper_") {
				t.Errorf("%s with the file transport", name)
			}
		}
		if doc.Shipper != nil {
			t.Errorf("a shipper in the file transport's status: %+v", doc.Shipper)
		}
		// The advice says what the load showed.
		adv, err := master.Get("http://master/status/advice")
		if err != nil {
			t.Fatal(err)
		}
		text, _ := io.ReadAll(adv.Body)
		adv.Body.Close()
		t.Logf("advice:\n%s", text)
		if !regexp.MustCompile(`total max_children is 8 across 2 workers; [\d,]+ requests were rejected: raise max_children to ≥ \d+ per worker or add workers`).Match(text) {
			t.Errorf("no capacity advice after shedding %d requests", rejected)
		}
		if !strings.Contains(string(text), "slower than slowlog_timeout (300ms)") {
			t.Errorf("no slow-request advice")
		}
		if strings.Contains(string(text), "shipper") {
			t.Errorf("shipper advice with the file transport")
		}
	})

	t.Run("the slow log has the breakdown", func(t *testing.T) {
		out := tp.out.String()
		i := strings.Index(out, "fcgi: slow request")
		if i < 0 {
			t.Fatalf("no slow request logged")
		}
		line := out[strings.LastIndex(out[:i], "\n")+1:]
		line = line[:strings.IndexByte(line, '\n')]
		for _, f := range []string{"endpoint=/debug/", "queue_ms=", "handler_ms=", "duration_ms=", "path=/debug/sleep"} {
			if !strings.Contains(line, f) {
				t.Errorf("slow log line lacks %s: %s", f, line)
			}
		}
	})

	t.Run("a dying worker shows in the advice", func(t *testing.T) {
		doc, _ := fetchDoc(t, master, "http://master/status?json")
		victim := doc.Workers[1].PID
		if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		tp.waitForT(t, "the advice about worker 2", func() bool {
			doc, err := fetchDoc(t, master, "http://master/status?json")
			if err != nil {
				return false
			}
			for _, a := range doc.Advice {
				if strings.HasPrefix(a.Text, "worker 2 died and was restarted once over ") && strings.Contains(a.Text, "signal: killed") {
					return true
				}
			}
			return false
		})
	})
}

// runChromium runs Debian's Chromium headless on a fresh profile and returns what it
// printed (stdout, then stderr).
func runChromium(t *testing.T, profile string, args ...string) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		t.Fatalf("chromium is not installed: run scripts/install-deps.sh test")
	}
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir=" + profile}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/chromium", append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String() + stderr.String()
}

// checkPNG asserts the screenshot is a real picture of a page: the requested size, and
// far from blank.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	bounds := img.Bounds()
	if bounds.Dx() != 1280 || bounds.Dy() != 1600 {
		t.Errorf("screenshot is %v, want 1280×1600", bounds.Size())
	}
	colours := map[[3]uint32]bool{}
	var inked int
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 2 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 2 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, b >> 8}] = true
			if r>>8 < 200 || g>>8 < 200 || b>>8 < 200 {
				inked++
			}
		}
	}
	total := (bounds.Dx() / 2) * (bounds.Dy() / 2)
	t.Logf("screenshot %s: %d colours, %.1f%% inked", path, len(colours), 100*float64(inked)/float64(total))
	if len(colours) < 100 || inked < total/100 {
		t.Errorf("the screenshot looks blank: %d colours, %d of %d pixels inked", len(colours), inked, total)
	}
}
