package master

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	logtest "github.com/sirupsen/logrus/hooks/test"
	"golang.org/x/sys/unix"
)

func TestWorkersServeOnTheirOwnSockets(t *testing.T) {
	opt, hook, out := baseOptions(t, 2, "worker")
	h := start(t, opt, hook, out)
	ps := h.waitReady(2)

	seen := map[int]bool{}
	for _, p := range ps {
		if p.Socket != filepath.Join(opt.SocketDir, fmt.Sprintf("worker-%d.sock", p.ID)) {
			t.Errorf("worker %d socket = %s", p.ID, p.Socket)
		}
		fi, err := os.Lstat(p.Socket)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
			t.Errorf("socket %s mode = %v, want socket 0600", p.Socket, fi.Mode())
		}
		// Many connections to one socket all reach its one worker.
		for range 20 {
			r := mustGet(t, p.Socket, "")
			if r.pid != p.PID || r.id != p.ID || r.control != p.ControlSocket {
				t.Fatalf("worker %d answered %+v, want pid %d control %s", p.ID, r, p.PID, p.ControlSocket)
			}
		}
		if !strings.HasPrefix(filepath.Base(p.ControlSocket), fmt.Sprintf("worker-%d.", p.ID)) ||
			!strings.HasSuffix(p.ControlSocket, ".ctl") || !exists(p.ControlSocket) {
			t.Errorf("worker %d control socket %q unexpected or missing", p.ID, p.ControlSocket)
		}
		seen[p.PID] = true
	}
	if len(seen) != 2 {
		t.Fatalf("want two distinct worker pids, got %v", seen)
	}
}

func TestKilledWorkerIsRestarted(t *testing.T) {
	opt, hook, out := baseOptions(t, 2, "worker")
	opt.RestartBackoff = 500 * time.Millisecond
	h := start(t, opt, hook, out)
	ps := h.waitReady(2)
	old, other := ps[0], ps[1]

	if err := syscall.Kill(old.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// reaped (not even a zombie) proves the master waited for it. During the restart
	// backoff the master itself answers 503 on the socket (TestDeadWorkerSocketAnswers503).
	waitFor(t, "killed worker reaped", func() bool { return reaped(old.PID) })
	waitFor(t, "worker 1 restarted", func() bool { p := h.info(0); return p.Ready && p.PID != old.PID })
	r := mustGet(t, old.Socket, "")
	if r.pid == old.PID || r.id != 1 {
		t.Fatalf("answered by %+v, want a new worker 1", r)
	}
	ps = h.waitReady(2)
	if ps[0].PID != r.pid || ps[0].Restarts != 1 || ps[0].LastExit != "signal: killed" {
		t.Errorf("worker 1 after restart: %+v", ps[0])
	}
	if ps[0].ControlSocket == old.ControlSocket {
		t.Errorf("control socket path reused: %s", old.ControlSocket)
	}
	waitFor(t, "dead worker's control socket removed", func() bool { return !exists(old.ControlSocket) })
	if ps[1].PID != other.PID || ps[1].Restarts != 0 {
		t.Errorf("worker 2 was disturbed: before %+v after %+v", other, ps[1])
	}
	if r := mustGet(t, other.Socket, ""); r.pid != other.PID {
		t.Errorf("worker 2 answered from pid %d, want %d", r.pid, other.PID)
	}
}

// client sends requests over fresh connections until stopped, counting failures.
type client struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	pids       map[int]bool
	errs       []error
}

func (c *client) run(stop <-chan struct{}, wg *sync.WaitGroup, sockets []string, n int) {
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				r, err := get(sockets[(i+j)%len(sockets)], "sleep=2ms")
				c.mu.Lock()
				if err != nil {
					c.failed.Add(1)
					c.errs = append(c.errs, err)
				} else {
					c.ok.Add(1)
					c.pids[r.pid] = true
				}
				c.mu.Unlock()
			}
		}()
	}
}

func TestReloadUnderLoadFailsNoRequest(t *testing.T) {
	opt, hook, out := baseOptions(t, 2, "worker")
	testReloadUnderLoad(t, opt, hook, out)
}

// TestReloadUnderLoadFailsNoRequestTCP: the reload hand-over on TCP listeners, where
// nginx on another host connects: the new process accepts on the same listening socket,
// nothing is refused or lost.
func TestReloadUnderLoadFailsNoRequestTCP(t *testing.T) {
	opt, hook, out := baseOptions(t, 2, "worker")
	opt.Listen = freeTCPListen(t, 2)
	testReloadUnderLoad(t, opt, hook, out)
}

func testReloadUnderLoad(t *testing.T, opt Options, hook *logtest.Hook, out *lockedBuffer) {
	h := start(t, opt, hook, out)
	before := h.waitReady(2)

	c := &client{pids: map[int]bool{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	c.run(stop, &wg, []string{before[0].Socket, before[1].Socket}, 4)
	waitFor(t, "traffic before reload", func() bool { return c.ok.Load() >= 100 })
	var pids [][]ProcessInfo
	for range 3 {
		if err := h.m.Reload(opt); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, h.waitReady(2))
		served := c.ok.Load()
		waitFor(t, "traffic after reload", func() bool { return c.ok.Load() >= served+100 })
	}
	close(stop)
	wg.Wait()

	after := h.waitReady(2)
	for i, ps := range pids[:2] {
		for j := range ps {
			if !reaped(ps[j].PID) || ps[j].PID == pids[i+1][j].PID {
				t.Errorf("reload %d did not replace worker %d (pid %d)", i+2, ps[j].ID, ps[j].PID)
			}
		}
	}
	if n := c.failed.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed during reload; first: %v", n, n+c.ok.Load(), c.errs[0])
	}
	for i := range after {
		if after[i].PID == before[i].PID {
			t.Errorf("worker %d not replaced (pid %d)", after[i].ID, after[i].PID)
		}
		if !reaped(before[i].PID) {
			t.Errorf("old worker %d (pid %d) still exists", before[i].ID, before[i].PID)
		}
		if !c.pids[after[i].PID] || !c.pids[before[i].PID] {
			t.Errorf("worker %d: clients saw pids %v, want old %d and new %d",
				after[i].ID, c.pids, before[i].PID, after[i].PID)
		}
		if after[i].Restarts != 0 || after[i].LastExit != "exit status 0" {
			t.Errorf("worker %d after reload: %+v (old should have exited cleanly)", after[i].ID, after[i])
		}
	}
	t.Logf("3 reloads under load: %d requests, 0 failed, %d distinct pids answered", c.ok.Load(), len(c.pids))
}

func TestReloadGrowsAndShrinks(t *testing.T) {
	opt, hook, out := baseOptions(t, 2, "worker")
	h := start(t, opt, hook, out)
	h.waitReady(2)

	opt.Workers = 3
	if err := h.m.Reload(opt); err != nil {
		t.Fatal(err)
	}
	ps := h.waitReady(3)
	for _, p := range ps {
		if r := mustGet(t, p.Socket, ""); r.pid != p.PID || r.id != p.ID {
			t.Errorf("worker %d answered %+v", p.ID, r)
		}
	}

	opt.Workers = 1
	if err := h.m.Reload(opt); err != nil {
		t.Fatal(err)
	}
	left := h.waitReady(1)
	if len(h.m.Processes()) != 1 {
		t.Fatalf("processes after shrink: %+v", h.m.Processes())
	}
	for _, p := range ps[1:] {
		if exists(p.Socket) {
			t.Errorf("socket %s of removed worker still exists", p.Socket)
		}
		if !reaped(p.PID) {
			t.Errorf("removed worker %d (pid %d) still exists", p.ID, p.PID)
		}
		if _, err := get(p.Socket, ""); err == nil {
			t.Errorf("removed worker %d still answers", p.ID)
		}
	}
	if r := mustGet(t, left[0].Socket, ""); r.pid != left[0].PID {
		t.Errorf("remaining worker answered from %d, want %d", r.pid, left[0].PID)
	}
}

func TestReloadKeepsOldWorkerWhenNewOneIsNotReady(t *testing.T) {
	opt, hook, out := baseOptions(t, 2, "worker")
	h := start(t, opt, hook, out)
	before := h.waitReady(2)

	for _, mode := range []string{"never-ready", "crash"} {
		bad := opt
		bad.WorkerCommand = testCommand(mode)
		bad.ReadyTimeout = 2 * time.Second
		startedBefore := len(h.entries("master: process started"))
		err := h.m.Reload(bad)
		if err == nil {
			t.Fatalf("%s: Reload succeeded", mode)
		}
		t.Logf("%s: Reload error: %v", mode, err)
		started := h.entries("master: process started")[startedBefore:]
		if len(started) != 1 {
			t.Fatalf("%s: reload started %d processes, want 1 (it must stop at the first failure)", mode, len(started))
		}
		if pid := started[0].Data["pid"].(int); !reaped(pid) {
			t.Errorf("%s: failed new worker %d still exists", mode, pid)
		}
		after := h.waitReady(2)
		for i := range after {
			if after[i].PID != before[i].PID {
				t.Errorf("%s: worker %d replaced despite the failure", mode, after[i].ID)
			}
			if r := mustGet(t, after[i].Socket, ""); r.pid != before[i].PID {
				t.Errorf("%s: worker %d answered from %d", mode, after[i].ID, r.pid)
			}
		}
	}
}

func TestStopDrainsAndCleansUp(t *testing.T) {
	opt, hook, out := baseOptions(t, 2, "worker")
	opt.PidFile = filepath.Join(t.TempDir(), "adnet.pid")
	opt.Extra = []ProcessSpec{extraSpec("aggregator")}
	h := start(t, opt, hook, out)
	ps := h.waitReady(2)
	all := h.m.Processes()
	if len(all) != 3 || all[2].Name != "aggregator" || all[2].PID == 0 {
		t.Fatalf("processes: %+v", all)
	}
	if b, err := os.ReadFile(opt.PidFile); err != nil || strings.TrimSpace(string(b)) != fmt.Sprint(os.Getpid()) {
		t.Fatalf("pid file = %q, %v", b, err)
	}

	// A slow request in flight when the stop begins must still complete.
	slow := make(chan error, 1)
	go func() {
		_, err := get(ps[0].Socket, "sleep=3s")
		slow <- err
	}()
	waitFor(t, "slow request in the handler", func() bool { return mustGet(t, ps[0].Socket, "").inflight == 2 })
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if err := <-slow; err != nil {
		t.Errorf("in-flight request failed during stop: %v", err)
	}
	for _, p := range all {
		if !reaped(p.PID) {
			t.Errorf("%s (pid %d) still exists after stop", p.Name, p.PID)
		}
		if p.Socket != "" && exists(p.Socket) {
			t.Errorf("socket %s left behind", p.Socket)
		}
		if p.ControlSocket != "" && exists(p.ControlSocket) {
			t.Errorf("control socket %s left behind", p.ControlSocket)
		}
	}
	if exists(opt.PidFile) {
		t.Errorf("pid file left behind")
	}
	if err := h.m.Reload(opt); err == nil {
		t.Errorf("Reload after stop succeeded")
	}
}

func TestStopKillsWorkerThatIgnoresSIGQUIT(t *testing.T) {
	opt, hook, out := baseOptions(t, 1, "stubborn")
	opt.StopTimeout = time.Second
	h := start(t, opt, hook, out)
	ps := h.waitReady(1)
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if !reaped(ps[0].PID) {
		t.Fatalf("stubborn worker %d survived the stop", ps[0].PID)
	}
	if len(h.entries("master: process did not stop in time; killing it")) != 1 {
		t.Errorf("no kill logged")
	}
}

func TestStaleSocketIsReplacedOtherFilesAreNot(t *testing.T) {
	opt, hook, out := baseOptions(t, 2, "worker")
	// A socket file left by a master that was killed.
	l, err := ListenUnix(filepath.Join(opt.SocketDir, "worker-1.sock"), 0o600, 4)
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	if !exists(filepath.Join(opt.SocketDir, "worker-1.sock")) {
		t.Fatal("setup: stale socket missing")
	}
	h := start(t, opt, hook, out)
	ps := h.waitReady(2)
	if r := mustGet(t, ps[0].Socket, ""); r.pid != ps[0].PID {
		t.Errorf("worker 1 answered from %d", r.pid)
	}
	h.stop()

	// A regular file in the socket's place is someone's data: refuse.
	opt2, hook2, out2 := baseOptions(t, 1, "worker")
	path := filepath.Join(opt2.SocketDir, "worker-1.sock")
	if err := os.WriteFile(path, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	h2 := start(t, opt2, hook2, out2)
	if err := h2.wait(); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Run = %v, want a not-a-socket error", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "data" {
		t.Errorf("regular file was touched: %q", b)
	}
}

func TestSecondMasterWithSamePidFileRefuses(t *testing.T) {
	opt, hook, out := baseOptions(t, 1, "worker")
	opt.PidFile = filepath.Join(t.TempDir(), "adnet.pid")
	h := start(t, opt, hook, out)
	ps := h.waitReady(1)

	opt2, hook2, out2 := baseOptions(t, 1, "worker")
	opt2.SocketDir = opt.SocketDir // would steal the sockets if it got that far
	opt2.PidFile = opt.PidFile
	h2 := start(t, opt2, hook2, out2)
	err := h2.wait()
	if err == nil || !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
		t.Fatalf("second Run = %v, want refusal naming pid %d", err, os.Getpid())
	}
	if r := mustGet(t, ps[0].Socket, ""); r.pid != ps[0].PID {
		t.Errorf("first master's worker disturbed: answered from %d", r.pid)
	}
	h.stop()

	// A pid file left by a dead master (no lock held) is taken over.
	if err := os.WriteFile(opt.PidFile, []byte("999999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	opt3, hook3, out3 := baseOptions(t, 1, "worker")
	opt3.PidFile = opt.PidFile
	h3 := start(t, opt3, hook3, out3)
	h3.waitReady(1)
	if b, _ := os.ReadFile(opt.PidFile); strings.TrimSpace(string(b)) != fmt.Sprint(os.Getpid()) {
		t.Errorf("stale pid file not rewritten: %q", b)
	}
}

func TestSignalReachesAllChildren(t *testing.T) {
	opt, hook, out := baseOptions(t, 2, "worker")
	h := start(t, opt, hook, out)
	ps := h.waitReady(2)
	h.m.Signal(syscall.SIGUSR1)
	for _, p := range ps {
		waitFor(t, "SIGUSR1 counted", func() bool { return mustGet(t, p.Socket, "").usr1 == 1 })
	}
}

// TestWorkersFinishRequestsWhenTheMasterDies: a master killed with SIGKILL (no chance to
// stop its workers) leaves them SIGTERM (Pdeathsig), on which they answer the requests they
// hold and exit, instead of dying with the master and cutting those requests.
func TestWorkersFinishRequestsWhenTheMasterDies(t *testing.T) {
	// Orphans get reparented to us instead of to init, so the test can reap them and
	// see how they died (and leaves no zombies on a machine whose init does not reap).
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	sockDir := t.TempDir()
	cmd := exec.Command(testExe)
	cmd.Env = append(os.Environ(), modeEnv+"=master", "ADNET_TEST_SOCKDIR="+sockDir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := readLine(stdout, "pids ")
	if err != nil {
		t.Fatal(err)
	}
	var a, b int
	if _, err := fmt.Sscanf(line, "pids %d %d", &a, &b); err != nil {
		t.Fatal(err)
	}
	if dead(a) || dead(b) {
		t.Fatal("workers not running")
	}

	// A request in flight on worker 1 when the master dies.
	socket := filepath.Join(sockDir, "worker-1.sock")
	type result struct {
		r   reply
		err error
	}
	slow := make(chan result, 1)
	go func() {
		r, err := get(socket, "sleep=2s")
		slow <- result{r, err}
	}()
	waitFor(t, "slow request in flight", func() bool { return mustGet(t, socket, "").inflight >= 2 })

	cmd.Process.Kill() // abrupt: no chance to stop the workers
	cmd.Wait()
	res := <-slow
	if res.err != nil {
		t.Fatalf("request in flight when the master was killed: %v (cut instead of finished)", res.err)
	}
	if res.r.pid != a {
		t.Errorf("slow request answered by pid %d, want worker 1 (%d)", res.r.pid, a)
	}
	for _, pid := range []int{a, b} {
		var ws unix.WaitStatus
		reapedHere := false
		waitFor(t, "orphaned worker exited", func() bool {
			got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
			if err == nil && got == pid {
				reapedHere = true
				return true
			}
			// The dying master may reap a worker itself if it dies first; then it is
			// gone before it could be reparented to us.
			return errors.Is(err, unix.ECHILD) && reaped(pid)
		})
		if reapedHere && (!ws.Exited() || ws.ExitStatus() != 0) {
			t.Errorf("worker %d ended with status %#x, want a clean exit after draining (Pdeathsig SIGTERM)", pid, ws)
		}
	}
}

func TestInheritedOutsideMaster(t *testing.T) {
	if _, err := Inherited(); err != ErrNotInherited {
		t.Fatalf("Inherited() = %v, want ErrNotInherited", err)
	}
}

func TestRunFailsCleanlyWhenWorkersCannotStart(t *testing.T) {
	opt, hook, out := baseOptions(t, 2, "worker")
	opt.PidFile = filepath.Join(t.TempDir(), "adnet.pid")
	opt.WorkerCommand = func(int) *exec.Cmd { return exec.Command(filepath.Join(t.TempDir(), "missing")) }
	m, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Reload(opt); err == nil {
		t.Error("Reload before Run succeeded")
	}
	h := start(t, opt, hook, out)
	if err := h.wait(); err == nil {
		t.Fatal("Run succeeded without a worker binary")
	}
	for id := 1; id <= 2; id++ {
		if p := filepath.Join(opt.SocketDir, fmt.Sprintf("worker-%d.sock", id)); exists(p) {
			t.Errorf("socket %s left behind", p)
		}
	}
	if exists(opt.PidFile) {
		t.Error("pid file left behind")
	}
}
