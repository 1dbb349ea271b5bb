package master

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

// Reload replaces the running processes with ones built from opt, one at a time, without
// ever leaving a socket unserved: for each worker id it starts the new process on the same
// listener, waits (up to ReadyTimeout) for its ready byte, makes it current, then stops the
// old one (SIGQUIT; it drains while the new one accepts, and while the next ids are
// replaced); Reload waits for every old process to exit before it returns. Worker
// ids added by a larger opt.Workers get new listeners; ids beyond a smaller one are
// stopped and their sockets removed. Extras are matched by Name: each is stopped and
// started again (they have no listener to hand over), added or removed.
//
// If a new worker fails to start or to become ready, it is killed, the old one keeps
// serving, and Reload returns an error without touching the remaining ids; ids replaced
// before that keep their new process. SocketDir and PidFile cannot change. Reload calls are
// serialised; it returns an error if Run is not running.
func (m *Master) Reload(opt Options) error {
	if opt.Logger == nil {
		opt.Logger = m.logger() // keep logging where we did
	}
	opt, err := opt.withDefaults()
	if err != nil {
		return err
	}
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()

	m.mu.Lock()
	if m.state != stateRunning {
		m.mu.Unlock()
		return errors.New("master: reload: master is not running")
	}
	old := m.opt
	if opt.SocketDir != old.SocketDir {
		m.mu.Unlock()
		return fmt.Errorf("master: reload: SocketDir cannot change (%s → %s); restart the master", old.SocketDir, opt.SocketDir)
	}
	if opt.Pool != old.Pool {
		m.mu.Unlock()
		return fmt.Errorf("master: reload: Pool cannot change (%s → %s)", old.Pool, opt.Pool)
	}
	if opt.Listen != old.Listen {
		m.mu.Unlock()
		return fmt.Errorf("master: reload: Listen cannot change (%q → %q); restart the master", old.Listen, opt.Listen)
	}
	if opt.PidFile != old.PidFile {
		m.mu.Unlock()
		return fmt.Errorf("master: reload: PidFile cannot change (%s → %s); restart the master", old.PidFile, opt.PidFile)
	}
	// Timeouts, backoff, output and logger apply from now on, also to the steps below.
	m.opt.ReadyTimeout, m.opt.StopTimeout = opt.ReadyTimeout, opt.StopTimeout
	m.opt.RestartBackoff, m.opt.MaxRestartBackoff = opt.RestartBackoff, opt.MaxRestartBackoff
	m.opt.StableAfter, m.opt.Output, m.opt.Logger = opt.StableAfter, opt.Output, opt.Logger
	m.opt.SocketMode, m.opt.Backlog, m.opt.AllowPeers = opt.SocketMode, opt.Backlog, opt.AllowPeers
	current := len(m.workers)
	m.mu.Unlock()
	log := opt.Logger
	log.WithFields(logrus.Fields{"workers": current, "new_workers": opt.Workers}).Info("master: reload started")

	// The old processes drain side by side while the next ids are replaced: a drain lasts
	// until nginx has dropped the process's kept-alive connections (up to its upstream
	// keepalive_timeout when they sit idle), so one after the other would add those up.
	// Reload returns once all of them have exited.
	var retiring sync.WaitGroup
	defer retiring.Wait()
	for id := 1; id <= min(current, opt.Workers); id++ {
		if err := m.updateListener(id, opt); err != nil {
			return err
		}
		old, err := m.replaceWorker(id, workerCommand(opt.WorkerCommand, id))
		if err != nil {
			return err
		}
		retiring.Go(func() { m.stopProc(old) })
	}
	for id := current + 1; id <= opt.Workers; id++ {
		if err := m.addWorker(id, opt); err != nil {
			return err
		}
	}
	for id := current; id > opt.Workers; id-- {
		m.removeWorker(id)
	}
	if err := m.reloadExtras(opt.Extra); err != nil {
		return err
	}

	m.mu.Lock()
	m.opt.Workers, m.opt.WorkerCommand, m.opt.Extra = opt.Workers, opt.WorkerCommand, opt.Extra
	m.mu.Unlock()
	log.Info("master: reload done")
	return nil
}

// updateListener applies a new SocketMode and Backlog to the existing socket in place.
func (m *Master) updateListener(id int, opt Options) error {
	m.mu.Lock()
	s := m.workers[id]
	m.mu.Unlock()
	if !isTCP(s.socket) {
		if err := os.Chmod(s.socket, opt.SocketMode); err != nil {
			return fmt.Errorf("master: reload: worker %d: %w", id, err)
		}
	}
	if err := setBacklog(s.listener, opt.Backlog); err != nil {
		return fmt.Errorf("master: reload: worker %d: backlog: %w", id, err)
	}
	return nil
}

// replaceWorker starts a new process for worker id on its listener, makes it current once
// it is ready and returns the old one, for the caller to stop.
func (m *Master) replaceWorker(id int, command func() *exec.Cmd) (*proc, error) {
	m.mu.Lock()
	s := m.workers[id]
	p, err := m.startLocked(s, command)
	timeout := m.opt.ReadyTimeout
	m.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("master: reload: %w", err)
	}
	if err := m.awaitReady(p, timeout); err != nil {
		return nil, fmt.Errorf("master: reload: worker %d: %w; the old process keeps serving", id, err)
	}

	m.mu.Lock()
	if m.state != stateRunning || p.exited {
		m.mu.Unlock()
		return nil, fmt.Errorf("master: reload: worker %d: new process exited before taking over", id)
	}
	old := s.cur
	s.setCurrent(p)
	s.command = command
	s.backoff = m.opt.RestartBackoff // a new configuration deserves a fresh start
	s.stopTimer()
	m.mu.Unlock()
	return old, nil
}

// awaitReady waits for p's ready byte. On failure p is killed and reaped.
func (m *Master) awaitReady(p *proc, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.ready:
		return nil
	case <-p.done:
		m.mu.Lock()
		status := p.status
		m.mu.Unlock()
		return fmt.Errorf("new process %d exited (%s) before it was ready", p.pid, status)
	case <-t.C:
		p.signal(syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("new process %d not ready within %s (killed)", p.pid, timeout)
	case <-m.stopCh:
		return errStopping
	}
}

// addWorker creates the listener for a new worker id and starts its first process. If
// the process does not become ready, the id is removed again.
func (m *Master) addWorker(id int, opt Options) error {
	s, err := m.addWorkerSlot(id, opt)
	if err != nil {
		return fmt.Errorf("master: reload: %w", err)
	}
	m.mu.Lock()
	p, err := m.startLocked(s, s.command)
	if err == nil {
		s.setCurrent(p)
	}
	m.mu.Unlock()
	if err == nil {
		if err = m.awaitReady(p, opt.ReadyTimeout); err == nil {
			return nil
		}
	}
	m.removeWorker(id)
	return fmt.Errorf("master: reload: new worker %d: %w", id, err)
}

// removeWorker retires worker id: its socket file goes first so that new connections fail
// fast instead of queueing for a process that is leaving; then the process drains and
// the listener is closed.
func (m *Master) removeWorker(id int) {
	m.mu.Lock()
	s := m.workers[id]
	if s == nil {
		m.mu.Unlock()
		return
	}
	delete(m.workers, id)
	s.retired = true
	s.stopTimer()
	p := s.cur
	m.mu.Unlock()
	if !isTCP(s.socket) {
		removeStaleSocket(s.socket)
	}
	m.stopProc(p)
	s.closeListener()
	m.logger().WithField("process", s.name).Info("master: worker removed")
}

// reloadExtras stops and restarts each extra process with its new spec, starts new ones
// and stops those no longer configured. Extras have no listener to hand over, and two
// aggregators must not run at once, so the old one stops before the new one starts.
func (m *Master) reloadExtras(specs []ProcessSpec) error {
	want := make(map[string]bool, len(specs))
	for _, spec := range specs {
		want[spec.Name] = true
	}
	m.mu.Lock()
	var keep []*slot
	var gone []*slot
	for _, s := range m.extras {
		if want[s.name] {
			keep = append(keep, s)
		} else {
			s.retired = true
			s.stopTimer()
			gone = append(gone, s)
		}
	}
	m.extras = keep
	m.mu.Unlock()
	for _, s := range gone {
		m.stopProc(s.cur)
	}

	for _, spec := range specs {
		m.mu.Lock()
		var s *slot
		for _, e := range m.extras {
			if e.name == spec.Name {
				s = e
			}
		}
		if s == nil {
			s = &slot{name: spec.Name}
			m.extras = append(m.extras, s)
		}
		old := s.cur
		s.cur = nil // its exit is expected now
		s.command = spec.Command
		s.backoff = m.opt.RestartBackoff
		s.stopTimer()
		m.mu.Unlock()
		m.stopProc(old)

		m.mu.Lock()
		err := m.startSlotLocked(s)
		if err != nil && m.state == stateRunning {
			// Keep trying in the background like after a crash.
			m.scheduleRestartLocked(s, nil, m.nextDelayLocked(s))
		}
		m.mu.Unlock()
		if err != nil {
			return fmt.Errorf("master: reload: %w", err)
		}
	}
	return nil
}
