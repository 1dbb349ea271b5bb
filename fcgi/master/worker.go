package master

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
)

// Environment variables of the master/worker contract (see the package documentation).
const (
	EnvListenFD      = "ADNET_LISTEN_FD"
	EnvReadyFD       = "ADNET_READY_FD"
	EnvWorkerID      = "ADNET_WORKER_ID"
	EnvControlSocket = "ADNET_CONTROL_SOCKET"
)

// File descriptor numbers the master uses for a worker's inherited files.
const (
	listenFD = 3
	readyFD  = 4
)

// ErrNotInherited is returned by Inherited when the process was not started by a master,
// so the caller should create its own listener (for example with ListenUnix).
var ErrNotInherited = errors.New("master: no inherited listener (" + EnvListenFD + " not set)")

// WorkerEnv is what a worker process receives from its master.
type WorkerEnv struct {
	// Listener is the inherited listening socket. Closing it closes only the worker's
	// copy; the master keeps the socket open for the next process.
	Listener net.Listener
	// ID is the worker number, 1..Options.Workers.
	ID int
	// ControlSocket is a path unique to this process at which the worker may listen for
	// control requests; it may be empty if the master did not provide one.
	ControlSocket string

	ready *os.File
}

// Inherited returns the listener, id and control socket path passed by the master. It
// returns ErrNotInherited when the process was not started by a master. It removes the
// ADNET_* variables from the environment, so the files are claimed once and processes
// the worker starts do not mistake themselves for workers.
func Inherited() (*WorkerEnv, error) {
	fdText, ok := os.LookupEnv(EnvListenFD)
	if !ok {
		return nil, ErrNotInherited
	}
	env := &WorkerEnv{ControlSocket: os.Getenv(EnvControlSocket)}
	readyText := os.Getenv(EnvReadyFD)
	idText := os.Getenv(EnvWorkerID)
	for _, k := range []string{EnvListenFD, EnvReadyFD, EnvWorkerID, EnvControlSocket} {
		os.Unsetenv(k)
	}

	fd, err := strconv.Atoi(fdText)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("master: bad %s=%q", EnvListenFD, fdText)
	}
	if env.ID, err = strconv.Atoi(idText); err != nil || env.ID < 1 {
		return nil, fmt.Errorf("master: bad %s=%q", EnvWorkerID, idText)
	}
	f := os.NewFile(uintptr(fd), "listener")
	if f == nil {
		return nil, fmt.Errorf("master: %s=%d is not open", EnvListenFD, fd)
	}
	env.Listener, err = net.FileListener(f)
	f.Close() // FileListener made its own close-on-exec duplicate.
	if err != nil {
		return nil, fmt.Errorf("master: inherited fd %d: %w", fd, err)
	}

	if readyText != "" {
		rfd, err := strconv.Atoi(readyText)
		if err != nil || rfd < 3 {
			env.Listener.Close()
			return nil, fmt.Errorf("master: bad %s=%q", EnvReadyFD, readyText)
		}
		// Keep the pipe out of any process the worker starts: the master must see EOF
		// when this worker exits, not when its last grandchild does.
		syscall.CloseOnExec(rfd)
		env.ready = os.NewFile(uintptr(rfd), "ready")
	}
	return env, nil
}

// NotifyReady tells the master that the worker is serving, by writing one byte to the ready
// pipe and closing it. Call it once the listener is being accepted on; during a reload the
// master retires the previous process only after this. Later calls do nothing.
func (e *WorkerEnv) NotifyReady() error {
	if e.ready == nil {
		return nil
	}
	f := e.ready
	e.ready = nil
	_, werr := f.Write([]byte{1})
	cerr := f.Close()
	if werr != nil {
		return fmt.Errorf("master: notify ready: %w", werr)
	}
	return cerr
}
