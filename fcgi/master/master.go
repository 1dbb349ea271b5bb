package master

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

// Master life cycle.
const (
	stateNew = iota
	stateRunning
	stateStopping
	stateDone
)

// errStopping is returned by operations that race with the master's shutdown.
var errStopping = errors.New("master: stopping")

// Master supervises the worker processes and the extra processes. Create it with New and
// drive it with Run; Reload, Signal and Processes may be called from other goroutines while
// Run runs. A Master runs once.
type Master struct {
	// reloadMu serialises Reload calls, and keeps Run from closing listeners while a
	// Reload still works on them.
	reloadMu sync.Mutex

	mu      sync.Mutex
	opt     Options
	state   int
	workers map[int]*slot
	extras  []*slot
	procs   map[*proc]struct{} // every started process not yet reaped
	gen     uint64             // last process generation handed out
	stopCh  chan struct{}      // closed when shutdown begins
	spawn   chan spawnReq      // to the thread-locked forking goroutine

	wg sync.WaitGroup // one count per process not yet reaped
}

// ProcessInfo describes one supervised slot: a worker id or an extra process.
type ProcessInfo struct {
	// Name is "<pool>-<id>" for workers and the spec's Name for extras.
	Name string
	// ID is the worker id, or 0 for extras.
	ID int
	// PID is the current process, or 0 while it waits to be restarted.
	PID int
	// Started is when the current process was started.
	Started time.Time
	// Ready reports whether the current worker has called NotifyReady (always false for
	// extras, which have no ready pipe).
	Ready bool
	// Restarts counts restarts after unexpected deaths (not reloads).
	Restarts int
	// LastExit is the exit status of the slot's previous process, e.g. "exit status 1" or
	// "signal: killed"; empty if none has exited.
	LastExit string
	// RestartDelay is the delay applied before the latest restart (the crash-loop backoff).
	RestartDelay time.Duration
	// Socket is the worker's listening socket path, or tcp://IP:PORT for a TCP listener
	// (empty for extras).
	Socket string
	// ControlSocket is the current process's control socket path (empty for extras).
	ControlSocket string
}

// New validates opt and returns a Master that has not started anything yet.
func New(opt Options) (*Master, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Master{
		opt:     opt,
		workers: make(map[int]*slot),
		procs:   make(map[*proc]struct{}),
		stopCh:  make(chan struct{}),
	}, nil
}

// Run locks the pid file (failing if another live master holds it), creates the
// listeners, starts the workers and extras, and restarts any that die, with backoff. When
// ctx is cancelled it stops all children gracefully (SIGQUIT, SIGKILL after StopTimeout),
// removes the sockets and the pid file and returns nil. It returns an error only if
// startup fails, after undoing what it had done.
func (m *Master) Run(ctx context.Context) (err error) {
	m.mu.Lock()
	if m.state != stateNew {
		m.mu.Unlock()
		return errors.New("master: Run called twice")
	}
	m.state = stateStopping // refuse Reload until everything is set up
	opt := m.opt
	m.mu.Unlock()
	log := opt.Logger

	// The pid file comes first: a second master must fail before it touches the
	// sockets of the first.
	var pid *pidFile
	if opt.PidFile != "" {
		if pid, err = lockPidFile(opt.PidFile); err != nil {
			m.setState(stateDone)
			return err
		}
	}
	spawnDone := make(chan struct{})
	m.spawn = make(chan spawnReq)
	go spawner(m.spawn, spawnDone)
	defer func() {
		close(m.spawn)
		<-spawnDone
		if pid != nil {
			if rerr := pid.release(); rerr != nil {
				log.WithError(rerr).Warn("master: removing pid file")
			}
		}
	}()

	if err := os.MkdirAll(opt.SocketDir, 0o755); err != nil {
		m.setState(stateDone)
		return fmt.Errorf("master: socket dir: %w", err)
	}
	m.removeStaleControlSockets()
	for id := 1; id <= opt.Workers; id++ {
		if _, err := m.addWorkerSlot(id, opt); err != nil {
			m.closeListeners()
			m.setState(stateDone)
			return err
		}
	}

	m.mu.Lock()
	m.state = stateRunning
	for id := 1; id <= opt.Workers && err == nil; id++ {
		err = m.startSlotLocked(m.workers[id])
	}
	for _, spec := range opt.Extra {
		if err != nil {
			break
		}
		s := &slot{name: spec.Name, command: spec.Command, backoff: opt.RestartBackoff}
		m.extras = append(m.extras, s)
		err = m.startSlotLocked(s)
	}
	m.mu.Unlock()
	if err != nil {
		m.shutdown()
		return err
	}
	log.WithFields(logrus.Fields{"workers": opt.Workers, "extras": len(opt.Extra), "socket_dir": opt.SocketDir, "listen": opt.Listen}).
		Info("master: started")

	<-ctx.Done()
	m.shutdown()
	log.Info("master: stopped")
	return nil
}

// addWorkerSlot creates the listener of worker id and registers its slot (not started).
func (m *Master) addWorkerSlot(id int, opt Options) (*slot, error) {
	path := socketPath(opt.SocketDir, opt.Pool, id)
	var f *os.File
	first, tcp, err := parseListen(opt.Listen)
	if tcp {
		addr := tcpAddr(first, id)
		path = tcpScheme + addr.String()
		f, err = listenTCPFile(addr, opt.Backlog)
	} else if err == nil {
		f, err = listenUnixFile(path, opt.SocketMode, opt.Backlog)
	}
	if err != nil {
		return nil, fmt.Errorf("master: worker %d: %w", id, err)
	}
	s := &slot{
		name:     fmt.Sprintf("%s-%d", opt.Pool, id),
		id:       id,
		socket:   path,
		listener: f,
		command:  workerCommand(opt.WorkerCommand, id),
		backoff:  opt.RestartBackoff,
	}
	m.mu.Lock()
	m.workers[id] = s
	m.mu.Unlock()
	return s, nil
}

// startSlotLocked starts the first process of a slot.
func (m *Master) startSlotLocked(s *slot) error {
	p, err := m.startLocked(s, s.command)
	if err != nil {
		return err
	}
	s.setCurrent(p)
	if p.ready != nil {
		go m.readyWatchdog(p)
	}
	return nil
}

// shutdown stops every child gracefully, then by force, and releases the listeners.
func (m *Master) shutdown() {
	m.mu.Lock()
	m.state = stateStopping
	close(m.stopCh)
	for _, s := range m.allSlotsLocked() {
		s.stopTimer()
	}
	timeout := m.opt.StopTimeout
	log := m.opt.Logger
	for p := range m.procs {
		p.signal(syscall.SIGQUIT)
	}
	m.mu.Unlock()

	allDone := make(chan struct{})
	go func() {
		m.wg.Wait()
		close(allDone)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-allDone:
	case <-t.C:
		m.mu.Lock()
		for p := range m.procs {
			log.WithFields(logrus.Fields{"process": p.slot.name, "pid": p.pid}).
				Warn("master: process did not stop in time; killing it")
			p.signal(syscall.SIGKILL)
		}
		m.mu.Unlock()
		<-allDone
	}

	// A Reload that was running has seen stopCh by now; wait for it to let go of the
	// listeners before closing them.
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	m.closeListeners()
	m.mu.Lock()
	m.extras = nil
	m.state = stateDone
	m.mu.Unlock()
}

// closeListeners closes and removes every worker socket.
func (m *Master) closeListeners() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, s := range m.workers {
		s.closeListener()
		delete(m.workers, id)
	}
}

func (m *Master) setState(st int) {
	m.mu.Lock()
	m.state = st
	m.mu.Unlock()
}

// removeStaleControlSockets removes control sockets left by workers of a previous master
// that was killed; generations restart at 1, so their paths would collide.
func (m *Master) removeStaleControlSockets() {
	paths, _ := filepath.Glob(filepath.Join(m.opt.SocketDir, m.opt.Pool+"-*.*.ctl"))
	for _, p := range paths {
		removeStaleSocket(p) // not a socket: not ours, leave it
	}
}

// Signal forwards sig to every running child, workers and extras, including workers that
// a reload is still draining (for example SIGUSR1 so they reopen their log files).
func (m *Master) Signal(sig os.Signal) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := range m.procs {
		p.signal(sig)
	}
}

// Processes returns one entry per worker id (in id order), then one per extra process;
// nothing once Run has returned.
func (m *Master) Processes() []ProcessInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	slots := m.allSlotsLocked()
	out := make([]ProcessInfo, 0, len(slots))
	for _, s := range slots {
		pi := ProcessInfo{
			Name:         s.name,
			ID:           s.id,
			Restarts:     s.restarts,
			LastExit:     s.lastExit,
			RestartDelay: s.lastDelay,
			Socket:       s.socket,
		}
		if p := s.cur; p != nil && !p.exited {
			pi.PID = p.pid
			pi.Started = p.started
			pi.Ready = p.isReady
			pi.ControlSocket = p.control
		}
		out = append(out, pi)
	}
	return out
}

// allSlotsLocked returns the worker slots in id order followed by the extras.
func (m *Master) allSlotsLocked() []*slot {
	ids := make([]int, 0, len(m.workers))
	for id := range m.workers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]*slot, 0, len(ids)+len(m.extras))
	for _, id := range ids {
		out = append(out, m.workers[id])
	}
	return append(out, m.extras...)
}
