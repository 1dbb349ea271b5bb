// Package nginxtest runs a real, private nginx for integration tests: the configuration
// comes from nginx.RenderMain, everything lives in the test's temp directory, and nginx is
// stopped when the test ends.
//
// nginx must be installed (scripts/install-deps.sh does it); a test that needs it fails,
// rather than skips, when it is missing, so that a machine without nginx cannot pass.
package nginxtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"adnet/internal/testport"
	"adnet/nginx"
)

// Timeouts for nginx to come up, reload and stop. Generous because the box is shared and
// noisy; they only bound how long a broken test hangs.
const (
	startTimeout  = 30 * time.Second
	reloadTimeout = 30 * time.Second
	stopTimeout   = 15 * time.Second
)

// Binary returns the path of the nginx binary, failing tb when there is none.
func Binary(tb testing.TB) string {
	tb.Helper()
	if fi, err := os.Stat("/usr/sbin/nginx"); err == nil && !fi.IsDir() {
		return "/usr/sbin/nginx"
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	tb.Fatalf("nginx is not installed (no /usr/sbin/nginx, none in PATH): run scripts/install-deps.sh")
	return ""
}

// Instance is a private nginx started by Start. Its methods fail the test on error.
type Instance struct {
	URL    string       // base URL, e.g. "http://127.0.0.1:41234"
	Params nginx.Params // the parameters it was rendered from, defaults and paths filled in
	Dir    string       // prefix directory holding nginx.conf, logs, pid file and temp paths
	Conf   string       // path of the rendered nginx.conf

	tb  testing.TB
	bin string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	out  *bytes.Buffer // nginx's own stdout/stderr, for failure messages
}

// Start renders p with nginx.RenderMain into a fresh tb.TempDir() and runs nginx in the
// foreground as a child process, then waits until it answers HTTP. Empty Listen picks a free
// loopback port; empty TempDir, PidFile, ErrorLog and AccessLog go into the temp directory.
// An empty p.User is left to RenderMain, which makes nginx's workers run as the user
// running the test, so they can enter the 0700 temp directories holding the worker sockets.
// nginx is stopped in tb.Cleanup.
func Start(tb testing.TB, p nginx.Params) *Instance {
	tb.Helper()
	in := &Instance{tb: tb, bin: Binary(tb), Dir: tb.TempDir()}
	in.Conf = filepath.Join(in.Dir, "nginx.conf")
	if p.TempDir == "" {
		p.TempDir = filepath.Join(in.Dir, "tmp")
	}
	if p.PidFile == "" {
		p.PidFile = filepath.Join(in.Dir, "nginx.pid")
	}
	if p.ErrorLog == "" {
		p.ErrorLog = filepath.Join(in.Dir, "error.log")
	}
	if p.AccessLog == "" {
		p.AccessLog = filepath.Join(in.Dir, "access.log")
	}
	if err := os.MkdirAll(p.TempDir, 0o755); err != nil {
		tb.Fatalf("nginxtest: %v", err)
	}
	pickPort := p.Listen == ""
	tb.Cleanup(in.Stop)

	// A port picked here may be taken by someone else before nginx binds it; try again
	// with another one in that case.
	for attempt := 1; ; attempt++ {
		if pickPort {
			p.Listen = FreeAddr(tb)
		}
		in.Params = p
		in.URL = "http://" + p.Listen
		in.writeConf(p)
		err := in.start()
		if err == nil {
			return in
		}
		if pickPort && attempt < 5 && strings.Contains(err.Error(), "Address already in use") {
			continue
		}
		tb.Fatalf("nginxtest: %v", err)
	}
}

// FreeAddr returns a free loopback address (see internal/testport).
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	return testport.Addr(tb)
}

func (in *Instance) writeConf(p nginx.Params) {
	in.tb.Helper()
	var buf bytes.Buffer
	if err := nginx.RenderMain(&buf, p); err != nil {
		in.tb.Fatalf("nginxtest: %v", err)
	}
	if err := os.WriteFile(in.Conf, buf.Bytes(), 0o644); err != nil {
		in.tb.Fatalf("nginxtest: %v", err)
	}
}

// args are the arguments every nginx invocation gets: the config, the prefix, and -e so
// that even the messages logged before the config is read stay in the private error log.
func (in *Instance) args(extra ...string) []string {
	return append([]string{"-c", in.Conf, "-p", in.Dir + "/", "-e", in.Params.ErrorLog}, extra...)
}

// start runs nginx and waits until it answers or exits.
func (in *Instance) start() error {
	cmd := exec.Command(in.bin, in.args()...)
	out := new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so that Stop can end the workers too if the master must be
	// killed (nginx workers do not die with their master).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start nginx: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	in.mu.Lock()
	in.cmd, in.done, in.out = cmd, done, out
	in.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		select {
		case <-done:
			return fmt.Errorf("nginx exited during startup (%s)\n%s", cmd.ProcessState, in.logs())
		default:
		}
		// Workers are forked only after the master has bound the listen address, so a
		// master with children is ours to answer; an answer alone could come from whoever
		// else holds the port while this nginx is still retrying bind().
		if kids, err := children(cmd.Process.Pid); err == nil && len(kids) > 0 && in.answers(ctx) {
			return nil
		}
		select {
		case <-ctx.Done():
			in.kill()
			return fmt.Errorf("nginx did not answer on %s within %s\n%s", in.URL, startTimeout, in.logs())
		case <-done:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// answers reports whether nginx gives any HTTP response on /nginx_status (403 counts:
// StatusAllow may exclude loopback).
func (in *Instance) answers(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.URL+"/nginx_status", nil)
	if err != nil {
		return false
	}
	// No keepalive: an idle probe connection would show up in stub_status as Waiting.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// StatusClient returns a stub_status client for this instance's /nginx_status.
func (in *Instance) StatusClient() *nginx.Client {
	return &nginx.Client{URL: in.URL + "/nginx_status"}
}

// logs returns nginx's output and error log for failure messages.
func (in *Instance) logs() string {
	var b strings.Builder
	in.mu.Lock()
	if in.out != nil && in.out.Len() > 0 {
		fmt.Fprintf(&b, "--- nginx output:\n%s\n", in.out.String())
	}
	in.mu.Unlock()
	if in.Params.ErrorLog != "" && in.Params.ErrorLog != "stderr" {
		if log, err := os.ReadFile(in.Params.ErrorLog); err == nil {
			fmt.Fprintf(&b, "--- %s:\n%s", in.Params.ErrorLog, log)
		}
	}
	return b.String()
}

// ErrorLog returns the contents of nginx's error log ("" when it logs to stderr).
func (in *Instance) ErrorLog() string {
	if in.Params.ErrorLog == "stderr" {
		return ""
	}
	b, _ := os.ReadFile(in.Params.ErrorLog)
	return string(b)
}

// PID returns the process id of the nginx master, 0 when it is not running.
func (in *Instance) PID() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cmd == nil || in.cmd.Process == nil || isClosed(in.done) {
		return 0
	}
	return in.cmd.Process.Pid
}

// Reload re-reads the configuration with `nginx -s reload` (same -c and -p) and waits
// until new worker processes are running and the old ones have exited. stub_status
// counters survive it.
func (in *Instance) Reload() {
	in.tb.Helper()
	in.reload()
}

// ReloadWith renders p (Listen, paths and User are kept from the running instance) over
// the instance's nginx.conf and reloads, e.g. to change the worker sockets.
func (in *Instance) ReloadWith(p nginx.Params) {
	in.tb.Helper()
	p.Listen, p.TempDir, p.PidFile = in.Params.Listen, in.Params.TempDir, in.Params.PidFile
	p.ErrorLog, p.AccessLog, p.User = in.Params.ErrorLog, in.Params.AccessLog, in.Params.User
	in.writeConf(p)
	in.Params = p
	in.reload()
}

func (in *Instance) reload() {
	in.tb.Helper()
	master := in.PID()
	if master == 0 {
		in.tb.Fatalf("nginxtest: reload: nginx is not running")
	}
	old, err := children(master)
	if err != nil {
		in.tb.Fatalf("nginxtest: reload: %v", err)
	}
	if out, err := exec.Command(in.bin, in.args("-s", "reload")...).CombinedOutput(); err != nil {
		in.tb.Fatalf("nginxtest: nginx -s reload: %v\n%s\n%s", err, out, in.logs())
	}
	deadline := time.Now().Add(reloadTimeout)
	for {
		cur, err := children(master)
		if err != nil {
			in.tb.Fatalf("nginxtest: reload: %v", err)
		}
		if len(cur) > 0 && disjoint(old, cur) {
			return
		}
		if time.Now().After(deadline) {
			in.tb.Fatalf("nginxtest: reload did not replace workers %v within %s (now %v)\n%s", old, reloadTimeout, cur, in.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Restart stops nginx and starts it again with the same configuration and address.
// stub_status counters start again from zero.
func (in *Instance) Restart() {
	in.tb.Helper()
	in.Stop()
	if err := in.start(); err != nil {
		in.tb.Fatalf("nginxtest: restart: %v", err)
	}
}

// Stop shuts nginx down (SIGTERM to the master, which stops its workers) and waits for it;
// if it has not exited within a while, its whole process group is killed. Stop is
// idempotent and registered with tb.Cleanup by Start.
func (in *Instance) Stop() {
	in.mu.Lock()
	cmd, done := in.cmd, in.done
	in.mu.Unlock()
	if cmd == nil || isClosed(done) {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		// The master waits for its workers before exiting; none are left behind.
		return
	case <-time.After(stopTimeout):
	}
	in.tb.Errorf("nginxtest: nginx did not stop within %s; killing its process group\n%s", stopTimeout, in.logs())
	in.kill()
}

// kill ends the nginx process group (the master and its workers) and waits for the master.
func (in *Instance) kill() {
	in.mu.Lock()
	cmd, done := in.cmd, in.done
	in.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// children returns the pids of pid's child processes (nginx's workers), read from /proc.
func children(pid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var kids []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// The command name (field 2) is in parentheses and may contain spaces; the
		// parent pid is the second field after the closing parenthesis.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil && ppid == pid {
			kids = append(kids, child)
		}
	}
	if kids == nil && !processExists(pid) {
		return nil, errors.New("nginx master has exited")
	}
	return kids, nil
}

func processExists(pid int) bool {
	_, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid)))
	return err == nil
}

func disjoint(a, b []int) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return false
			}
		}
	}
	return true
}
