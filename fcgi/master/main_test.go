package master

// The tests run real processes: the test binary re-executes itself as a worker (or as a
// crashing worker, an extra process, or a whole master) when ADNET_TEST_MODE is set.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

const modeEnv = "ADNET_TEST_MODE"

// testExe is the test binary, re-executed as child processes.
var testExe string

func TestMain(m *testing.M) {
	switch mode := os.Getenv(modeEnv); mode {
	case "":
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		testExe = exe
		os.Exit(m.Run())
	case "crash":
		os.Exit(3)
	case "crash-then-serve":
		if countRun() <= envInt("ADNET_TEST_CRASHES") {
			os.Exit(3)
		}
		os.Exit(runWorker(true, false))
	case "worker":
		os.Exit(runWorker(true, false))
	case "never-ready":
		os.Exit(runWorker(false, false))
	case "stubborn":
		os.Exit(runWorker(true, true))
	case "slow-start":
		// Like a real worker loading its configuration, database and inventory before it
		// installs its signal handlers: a stop sent meanwhile must not crash it.
		fmt.Println("slow-start: starting")
		time.Sleep(time.Duration(envInt("ADNET_TEST_START_MS")) * time.Millisecond)
		os.Exit(runWorker(true, false))
	case "extra":
		os.Exit(runExtra())
	case "fcgi-worker":
		os.Exit(runFCGIWorker())
	case "master":
		os.Exit(runMaster())
	default:
		fmt.Fprintln(os.Stderr, "unknown test mode", mode)
		os.Exit(1)
	}
}

func envInt(k string) int {
	n, _ := strconv.Atoi(os.Getenv(k))
	return n
}

// countRun increments the run counter in the file ADNET_TEST_COUNTER and returns it.
func countRun() int {
	path := os.Getenv("ADNET_TEST_COUNTER")
	b, _ := os.ReadFile(path)
	n, _ := strconv.Atoi(string(b))
	n++
	if err := os.WriteFile(path, []byte(strconv.Itoa(n)), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return n
}

// runWorker serves HTTP on the inherited listener, answering "pid id usr1-count
// requests-in-flight control-socket"; ?sleep=D delays the answer. SIGQUIT drains (unless stubborn).
func runWorker(notify, stubborn bool) int {
	env, err := Inherited()
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 2
	}
	sigs := make(chan os.Signal, 4)
	// SIGTERM drains like SIGQUIT, as in the real worker: it is what a worker gets when its
	// master dies (Pdeathsig).
	signal.Notify(sigs, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGUSR1)
	if stubborn {
		signal.Ignore(syscall.SIGQUIT, syscall.SIGTERM)
	}
	// The control socket proves the path is usable and unique per process.
	ctl, err := ListenUnix(env.ControlSocket, 0o600, 8)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker: control socket:", err)
		return 2
	}
	defer ctl.Close()

	var usr1, inflight atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		if d, err := time.ParseDuration(r.URL.Query().Get("sleep")); err == nil {
			time.Sleep(d)
		}
		fmt.Fprintf(w, "%d %d %d %d %s", os.Getpid(), env.ID, usr1.Load(), n, env.ControlSocket)
	})
	// open counts the connections not yet closed: the drain below waits for them.
	var open atomic.Int64
	srv := &http.Server{Handler: mux, ConnState: func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}}
	served := make(chan struct{})
	go func() {
		srv.Serve(env.Listener)
		close(served)
	}()
	if notify {
		if err := env.NotifyReady(); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			return 2
		}
	}
	for {
		var sig os.Signal
		select {
		case sig = <-sigs:
		case sig = <-StopRequested():
		}
		switch sig {
		case syscall.SIGUSR1:
			usr1.Add(1)
		case syscall.SIGQUIT, syscall.SIGTERM:
			// Drain as the real worker does: stop accepting, then answer every request of
			// the connections already accepted. http.Server.Shutdown alone would not do: a
			// request read after Shutdown began is dropped unanswered (net/http closes the
			// connection; its clients retry only on reused connections), which is an EOF
			// for a client whose connection was accepted just before the signal.
			env.Listener.Close()
			<-served
			deadline := time.Now().Add(20 * time.Second)
			for open.Load() > 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			srv.Shutdown(context.Background())
			return 0
		}
	}
}

// runExtra stands in for the stats aggregator: it idles until SIGQUIT.
func runExtra() int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGQUIT)
	<-sigs
	return 0
}

// runMaster runs a whole master with two workers, prints "pids A B" once both are ready,
// and runs until killed; the test kills it with SIGKILL.
func runMaster() int {
	m, err := New(Options{
		Workers:       2,
		SocketDir:     os.Getenv("ADNET_TEST_SOCKDIR"),
		WorkerCommand: testCommand("worker"),
		Logger:        logrus.New(),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		for {
			ps := m.Processes()
			if len(ps) == 2 && ps[0].Ready && ps[1].Ready {
				fmt.Printf("pids %d %d\n", ps[0].PID, ps[1].PID)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	if err := m.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// testCommand re-executes the test binary in mode with extra environment.
func testCommand(mode string, env ...string) func(id int) *exec.Cmd {
	exe := testExe
	if exe == "" {
		exe, _ = os.Executable()
	}
	return func(id int) *exec.Cmd {
		cmd := exec.Command(exe)
		// Race-enabled binaries sleep 1s at exit by default; children exit often here.
		cmd.Env = append(os.Environ(), modeEnv+"="+mode, "GORACE=atexit_sleep_ms=0")
		cmd.Env = append(cmd.Env, env...)
		return cmd
	}
}

func extraSpec(name string) ProcessSpec {
	return ProcessSpec{Name: name, Command: func() *exec.Cmd { return testCommand("extra")(0) }}
}

// lockedBuffer collects the children's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness runs one Master for a test.
type harness struct {
	t      *testing.T
	m      *Master
	opt    Options
	hook   *logtest.Hook
	out    *lockedBuffer
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
	err    error         // Run's result, once done is closed
}

// baseOptions returns options with generous timeouts for a noisy machine.
func baseOptions(t *testing.T, workers int, mode string) (Options, *logtest.Hook, *lockedBuffer) {
	logger, hook := logtest.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	out := &lockedBuffer{}
	return Options{
		Workers:        workers,
		SocketDir:      t.TempDir(),
		SocketMode:     0o600,
		Backlog:        128,
		WorkerCommand:  testCommand(mode),
		ReadyTimeout:   30 * time.Second,
		StopTimeout:    20 * time.Second,
		RestartBackoff: 100 * time.Millisecond,
		Output:         out,
		Logger:         logger,
	}, hook, out
}

// start runs m; the test's cleanup stops it if the test did not.
func start(t *testing.T, opt Options, hook *logtest.Hook, out *lockedBuffer) *harness {
	t.Helper()
	m, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, m: m, opt: opt, hook: hook, out: out, cancel: cancel, done: make(chan struct{})}
	go func() {
		h.err = m.Run(ctx)
		close(h.done)
	}()
	t.Cleanup(func() {
		h.stop()
		if t.Failed() {
			t.Logf("children's output:\n%s", out.String())
			for _, e := range hook.AllEntries() {
				t.Logf("log: %s %s %v", e.Level, e.Message, e.Data)
			}
		}
	})
	return h
}

// stop cancels Run and waits for it (idempotent).
func (h *harness) stop() error {
	h.cancel()
	return h.wait()
}

// wait waits for Run to return and returns its result.
func (h *harness) wait() error {
	select {
	case <-h.done:
		return h.err
	case <-time.After(2 * time.Minute):
		h.t.Fatal("Run did not return")
		return nil
	}
}

// waitReady waits until n workers are listed and all are ready, and returns them.
func (h *harness) waitReady(n int) []ProcessInfo {
	h.t.Helper()
	var ps []ProcessInfo
	waitFor(h.t, "workers ready", func() bool {
		ps = workersOf(h.m.Processes())
		if len(ps) != n {
			return false
		}
		for _, p := range ps {
			if !p.Ready || p.PID == 0 {
				return false
			}
		}
		return true
	})
	return ps
}

// info returns the i-th entry of Processes, or a zero value if there is none yet.
func (h *harness) info(i int) ProcessInfo {
	ps := h.m.Processes()
	if i >= len(ps) {
		return ProcessInfo{}
	}
	return ps[i]
}

func workersOf(ps []ProcessInfo) []ProcessInfo {
	var out []ProcessInfo
	for _, p := range ps {
		if p.ID > 0 {
			out = append(out, p)
		}
	}
	return out
}

// waitFor polls cond until it holds, failing the test after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// reply is a parsed worker answer.
type reply struct {
	pid, id, usr1, inflight int
	control                 string
}

// dialSocket connects to a worker's listener as ProcessInfo.Socket names it: a Unix socket
// path or tcp://IP:PORT.
func dialSocket(ctx context.Context, socket string) (net.Conn, error) {
	var d net.Dialer
	if addr, ok := strings.CutPrefix(socket, tcpScheme); ok {
		return d.DialContext(ctx, "tcp", addr)
	}
	return d.DialContext(ctx, "unix", socket)
}

// get sends one request over a new connection to socket.
func get(socket, query string) (reply, error) {
	client := &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return dialSocket(ctx, socket)
			},
		},
	}
	resp, err := client.Get("http://worker/?" + query)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return reply{}, fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	var r reply
	if _, err := fmt.Sscanf(string(body), "%d %d %d %d %s", &r.pid, &r.id, &r.usr1, &r.inflight, &r.control); err != nil {
		return reply{}, fmt.Errorf("bad body %q: %w", body, err)
	}
	return r, nil
}

func mustGet(t *testing.T, socket, query string) reply {
	t.Helper()
	r, err := get(socket, query)
	if err != nil {
		t.Fatalf("GET on %s: %v", socket, err)
	}
	return r
}

// reaped reports whether pid no longer exists at all: not even a zombie.
func reaped(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// dead reports whether pid is gone or a zombie (for processes that are not our children
// and may be left unreaped by this container's init).
func dead(pid int) bool {
	if reaped(pid) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z' || b[i+2] == 'X'
}

// entries returns the logged entries with message msg.
func (h *harness) entries(msg string) []logrus.Entry {
	var out []logrus.Entry
	for _, e := range h.hook.AllEntries() {
		if e.Message == msg {
			out = append(out, *e)
		}
	}
	return out
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// readLine reads the first line starting with prefix from r.
func readLine(r io.Reader, prefix string) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			return sc.Text(), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", io.EOF
}
