package master

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// pendingCapacity counts how many non-blocking connects a listener that nobody accepts on
// takes before the kernel refuses with EAGAIN, i.e. the effective backlog.
func pendingCapacity(t *testing.T, path string) int {
	t.Helper()
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for len(fds) < 10000 {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
		if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
			if errors.Is(err, unix.EAGAIN) {
				return len(fds) - 1
			}
			t.Fatalf("connect: %v", err)
		}
	}
	t.Fatal("backlog never filled")
	return 0
}

func TestListenUnixAppliesBacklogAndMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := ListenUnix(path, 0o640, 3)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode = %v, want socket 0640", fi.Mode())
	}
	// Linux lets backlog+1 connections wait on a Unix socket; net.Listen would allow
	// somaxconn (4096 by default).
	if n := pendingCapacity(t, path); n < 3 || n > 4 {
		t.Errorf("%d connections waited, want the backlog of 3 (+1)", n)
	}
	l.Close()
	if exists(path) {
		t.Errorf("Close left the socket file")
	}
}

func TestSetBacklogInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	f, err := listenUnixFile(path, 0o600, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := setBacklog(f, 20); err != nil {
		t.Fatal(err)
	}
	if n := pendingCapacity(t, path); n < 20 || n > 21 {
		t.Errorf("%d connections waited after raising the backlog to 20", n)
	}
}

func TestListenUnixRefusesNonSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ListenUnix(path, 0o600, 8); err == nil {
		t.Fatal("ListenUnix replaced a regular file")
	}
	if _, err := ListenUnix(filepath.Join(t.TempDir(), string(make([]byte, 120))), 0o600, 8); err == nil {
		t.Fatal("ListenUnix accepted an over-long path")
	}
}
