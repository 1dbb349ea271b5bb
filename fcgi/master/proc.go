package master

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

// slot is one supervised position: worker id n with its listener, or one extra process.
// Processes come and go; the slot (and its socket) stays. Guarded by Master.mu.
type slot struct {
	name     string
	id       int      // worker id; 0 for extras
	socket   string   // listening socket path; "" for extras
	listener *os.File // nil for extras
	command  func() *exec.Cmd

	cur       *proc         // the process that is meant to run; restarted if it dies
	restarts  int           // restarts after unexpected deaths
	backoff   time.Duration // delay before the next restart
	lastDelay time.Duration
	lastExit  string
	timer     *time.Timer // pending restart
	retired   bool        // removed by a reload; never restart
	standIn   *standIn    // answers 503 on the socket while no process runs on it
}

// proc is one started child process.
type proc struct {
	slot    *slot
	cmd     *exec.Cmd
	pid     int
	gen     uint64
	started time.Time
	control string        // control socket path; "" for extras
	readyR  *os.File      // read end of the ready pipe; nil for extras
	ready   chan struct{} // closed when the ready byte arrives; nil for extras
	done    chan struct{} // closed after the process was reaped and accounted for

	// Guarded by Master.mu.
	isReady bool
	served  bool // has been its slot's current process
	exited  bool
	status  string // exit status, once exited
}

func (s *slot) setCurrent(p *proc) {
	s.cur = p
	p.served = true
}

func (s *slot) stopTimer() {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
}

func (s *slot) closeListener() {
	if s.listener == nil {
		return
	}
	if s.standIn != nil {
		s.standIn.stop()
		s.standIn = nil
	}
	s.listener.Close()
	s.listener = nil
	if !isTCP(s.socket) {
		removeStaleSocket(s.socket)
	}
}

// logger returns the current logger; Reload may replace it.
func (m *Master) logger() logrus.FieldLogger {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.opt.Logger
}

// signal sends sig, ignoring "already finished": callers race with exits by design.
func (p *proc) signal(sig os.Signal) {
	p.cmd.Process.Signal(sig)
}

func (p *proc) log(l logrus.FieldLogger) logrus.FieldLogger {
	return l.WithFields(logrus.Fields{"process": p.slot.name, "pid": p.pid})
}

func workerCommand(f func(int) *exec.Cmd, id int) func() *exec.Cmd {
	return func() *exec.Cmd { return f(id) }
}

// spawnReq asks the spawner goroutine to start one command.
type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

// spawner forks every child from a single goroutine locked to its OS thread. The kernel
// delivers PR_SET_PDEATHSIG when the *thread* that forked a child exits, and the Go
// runtime may retire threads; this thread stays alive, locked, as long as the master may
// have children, so workers die only with the master. When Run ends all children are
// gone and the goroutine exits still locked, which lets the runtime discard the thread.
func spawner(reqs <-chan spawnReq, done chan<- struct{}) {
	runtime.LockOSThread()
	defer close(done)
	for r := range reqs {
		r.err <- r.cmd.Start()
	}
}

// startLocked starts one process for slot s without making it current. It adds the
// inherited files and environment for workers, output, Pdeathsig and the process group.
func (m *Master) startLocked(s *slot, command func() *exec.Cmd) (*proc, error) {
	if m.state != stateRunning {
		return nil, errStopping
	}
	cmd := command()
	if cmd == nil {
		return nil, fmt.Errorf("master: %s: command is nil", s.name)
	}
	m.gen++
	p := &proc{slot: s, cmd: cmd, gen: m.gen, done: make(chan struct{})}
	var readyW *os.File
	if s.listener != nil {
		var err error
		if p.readyR, readyW, err = os.Pipe(); err != nil {
			return nil, fmt.Errorf("master: %s: ready pipe: %w", s.name, err)
		}
		p.ready = make(chan struct{})
		p.control = controlPath(m.opt.SocketDir, m.opt.Pool, s.id, p.gen)
		cmd.ExtraFiles = append([]*os.File{s.listener, readyW}, cmd.ExtraFiles...)
		env := cmd.Env
		if env == nil {
			env = os.Environ()
		}
		cmd.Env = append(env[:len(env):len(env)],
			EnvListenFD+"="+strconv.Itoa(listenFD),
			EnvReadyFD+"="+strconv.Itoa(readyFD),
			EnvWorkerID+"="+strconv.Itoa(s.id),
			EnvControlSocket+"="+p.control,
		)
	}
	if cmd.Stdout == nil {
		cmd.Stdout = os.Stdout
		if m.opt.Output != nil {
			cmd.Stdout = m.opt.Output
		}
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
		if m.opt.Output != nil {
			cmd.Stderr = m.opt.Output
		}
	}
	if cmd.WaitDelay == 0 {
		// With a non-file Output, Wait also waits for the copy of the child's output;
		// a grandchild holding the pipe must not delay reaping forever.
		cmd.WaitDelay = time.Second
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// If the master dies abruptly (SIGKILL, OOM killer, a crash), its children get SIGTERM,
	// which workers and the aggregator take as "finish what you hold and exit", like
	// SIGQUIT: the requests in flight are answered instead of cut. SIGKILL here cut them all.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
	cmd.SysProcAttr.Setpgid = true

	// The stand-in must have stopped accepting before the new process may: a connection
	// it took would get a 503 although a worker is about to serve it.
	s.stopStandIn(m.opt.Logger)

	req := spawnReq{cmd: cmd, err: make(chan error, 1)}
	m.spawn <- req
	err := <-req.err
	if readyW != nil {
		readyW.Close() // the child has its copy; EOF on readyR now means it is gone
	}
	if err != nil {
		if p.readyR != nil {
			p.readyR.Close()
		}
		return nil, fmt.Errorf("master: %s: start: %w", s.name, err)
	}
	p.pid = cmd.Process.Pid
	p.started = time.Now()
	m.procs[p] = struct{}{}
	m.wg.Add(1)
	go m.wait(p)
	if p.readyR != nil {
		go m.watchReady(p)
	}
	p.log(m.opt.Logger).Info("master: process started")
	return p, nil
}

// watchReady waits for the ready byte on the pipe (or EOF when the process exits).
func (m *Master) watchReady(p *proc) {
	var b [1]byte
	n, _ := p.readyR.Read(b[:])
	if n != 1 {
		return
	}
	m.mu.Lock()
	p.isReady = true
	log := m.opt.Logger
	m.mu.Unlock()
	close(p.ready)
	p.log(log).Info("master: worker ready")
}

// readyWatchdog kills a restarted worker that does not report ready within ReadyTimeout,
// for example one hung while connecting to the database; it is then restarted with backoff.
func (m *Master) readyWatchdog(p *proc) {
	m.mu.Lock()
	timeout := m.opt.ReadyTimeout
	log := m.opt.Logger
	m.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.ready:
	case <-p.done:
	case <-m.stopCh:
	case <-t.C:
		p.log(log).WithField("timeout", timeout).Error("master: worker not ready in time; killing it")
		p.signal(syscall.SIGKILL)
	}
}

// wait reaps p, so no zombie is left, and accounts for its exit.
func (m *Master) wait(p *proc) {
	defer m.wg.Done()
	err := p.cmd.Wait()
	status := ""
	if p.cmd.ProcessState != nil {
		status = p.cmd.ProcessState.String()
	} else if err != nil {
		status = err.Error()
	}
	if p.readyR != nil {
		p.readyR.Close() // unblocks watchReady if a grandchild kept the pipe open
	}
	if p.control != "" {
		if err := os.Remove(p.control); err != nil && !errors.Is(err, os.ErrNotExist) {
			p.log(m.logger()).WithError(err).Warn("master: removing control socket")
		}
	}
	m.exited(p, status)
	close(p.done)
}

// exited records p's exit and schedules a restart if p was its slot's current process
// and nobody asked it to stop.
func (m *Master) exited(p *proc, status string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.procs, p)
	p.exited = true
	p.status = status
	s := p.slot
	if p.served {
		s.lastExit = status
	}
	log := p.log(m.opt.Logger).WithField("status", status)
	if s.cur != p || s.retired || m.state != stateRunning {
		log.Info("master: process exited")
		return
	}
	if time.Since(p.started) >= m.opt.StableAfter {
		s.backoff = m.opt.RestartBackoff
	}
	delay := m.nextDelayLocked(s)
	log.WithField("restart_in", delay).Error("master: process died; restarting")
	m.scheduleRestartLocked(s, p, delay)
	m.startStandInLocked(s)
}

// nextDelayLocked returns the delay for the next restart of s and doubles its backoff.
func (m *Master) nextDelayLocked(s *slot) time.Duration {
	delay := s.backoff
	s.backoff = min(2*delay, m.opt.MaxRestartBackoff)
	s.lastDelay = delay
	return delay
}

func (m *Master) scheduleRestartLocked(s *slot, dead *proc, delay time.Duration) {
	s.stopTimer()
	s.timer = time.AfterFunc(delay, func() { m.restart(s, dead) })
}

// restart replaces dead, unless the slot moved on meanwhile (reload, removal, stop).
func (m *Master) restart(s *slot, dead *proc) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != stateRunning || s.retired || s.cur != dead {
		return
	}
	s.timer = nil
	p, err := m.startLocked(s, s.command)
	if err != nil {
		delay := m.nextDelayLocked(s)
		m.opt.Logger.WithError(err).WithFields(logrus.Fields{"process": s.name, "restart_in": delay}).
			Error("master: restart failed")
		m.scheduleRestartLocked(s, dead, delay)
		m.startStandInLocked(s)
		return
	}
	s.setCurrent(p)
	s.restarts++
	if p.ready != nil {
		go m.readyWatchdog(p)
	}
}

// stopProc stops p gracefully (SIGQUIT) and waits for it, killing it after StopTimeout.
func (m *Master) stopProc(p *proc) {
	if p == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	m.mu.Lock()
	timeout := m.opt.StopTimeout
	log := m.opt.Logger
	m.mu.Unlock()
	p.signal(syscall.SIGQUIT)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.log(log).WithField("timeout", timeout).Warn("master: process did not stop in time; killing it")
		p.signal(syscall.SIGKILL)
		<-p.done
	}
}
