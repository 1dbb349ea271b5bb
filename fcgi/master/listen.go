package master

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// maxSocketPath is the usable length of sun_path on Linux (108 bytes including the NUL).
const maxSocketPath = 107

// ListenUnix creates a listening Unix stream socket at path for a worker that runs without
// a master. A stale socket file at path is removed first (any other kind of file is left
// alone and reported as an error), the socket file is chmod'ed to mode before it starts
// listening, and the listen backlog is backlog (net.Listen always uses somaxconn). The
// returned listener removes the socket file when closed.
func ListenUnix(path string, mode os.FileMode, backlog int) (*net.UnixListener, error) {
	f, err := listenUnixFile(path, mode, backlog)
	if err != nil {
		return nil, err
	}
	defer f.Close() // FileListener holds its own duplicate.
	l, err := net.FileListener(f)
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	ul, ok := l.(*net.UnixListener)
	if !ok {
		l.Close()
		os.Remove(path)
		return nil, fmt.Errorf("listen %s: not a unix listener", path)
	}
	ul.SetUnlinkOnClose(true)
	return ul, nil
}

// listenUnixFile creates the listening socket and returns it as a file, the form the
// master keeps and hands to children. The descriptor is close-on-exec; exec.Cmd's
// ExtraFiles clears that flag on the child's copy only.
func listenUnixFile(path string, mode os.FileMode, backlog int) (*os.File, error) {
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("listen %s: socket path longer than %d bytes", path, maxSocketPath)
	}
	if backlog <= 0 {
		return nil, fmt.Errorf("listen %s: backlog must be positive, got %d", path, backlog)
	}
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("listen %s: socket: %w", path, err)
	}
	fail := func(step string, err error) (*os.File, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("listen %s: %s: %w", path, step, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return fail("bind", err)
	}
	// Nobody can connect before listen(), so fixing the mode here leaves no window in
	// which the socket is reachable with the umask's permissions.
	if err := os.Chmod(path, mode); err != nil {
		os.Remove(path)
		return fail("chmod", err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		os.Remove(path)
		return fail("listen", err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// setBacklog changes the backlog of a listening socket in place: Linux accepts a second
// listen() on a listening socket, which lets a reload apply a new Backlog without
// recreating (and briefly losing) the socket.
func setBacklog(f *os.File, backlog int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = unix.Listen(int(fd), backlog) }); err != nil {
		return err
	}
	return lerr
}

// removeStaleSocket removes path if it is a socket and does nothing if it does not exist.
// Any other file is an error: a typo in SocketDir must not delete someone's data.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("listen %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("listen %s: file exists and is not a socket", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("listen %s: remove stale socket: %w", path, err)
	}
	return nil
}
