package master

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// pidFile is a pid file held under an exclusive flock for the master's lifetime. The lock,
// not the pid written in the file, decides whether another master is alive: it vanishes
// with its holder however that dies, and a recycled pid cannot fool it.
type pidFile struct {
	path string
	f    *os.File
}

// lockPidFile creates or takes over path, failing if another live process holds it.
func lockPidFile(path string) (*pidFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("master: pid file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("master: another master (pid %s) holds %s", readPid(path), path)
		}
		return nil, fmt.Errorf("master: lock pid file %s: %w", path, err)
	}
	// Another master may have removed the file between our open and flock; then we hold
	// a lock on an unlinked inode. Check the path still names our file.
	if !samePath(f, path) {
		f.Close()
		return nil, fmt.Errorf("master: pid file %s changed while locking it; retry", path)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("master: pid file: %w", err)
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("master: pid file: %w", err)
	}
	return &pidFile{path: path, f: f}, nil
}

// release removes the file, then drops the lock.
func (p *pidFile) release() error {
	err := os.Remove(p.path)
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// samePath reports whether path still names the open file f.
func samePath(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// readPid returns the pid recorded in path for error messages, or "unknown".
func readPid(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	if b = bytes.TrimSpace(b); len(b) == 0 {
		return "unknown"
	}
	return string(b)
}
