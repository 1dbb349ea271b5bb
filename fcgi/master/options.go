package master

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"
)

// Defaults for zero Options fields.
const (
	DefaultSocketMode        os.FileMode   = 0o660
	DefaultBacklog                         = 511 // php-fpm's listen.backlog default
	DefaultReadyTimeout      time.Duration = 30 * time.Second
	DefaultStopTimeout       time.Duration = 30 * time.Second
	DefaultRestartBackoff    time.Duration = time.Second
	DefaultMaxRestartBackoff time.Duration = 30 * time.Second
	DefaultStableAfter       time.Duration = 10 * time.Second
)

// Options configures a Master. Zero values take the Default* constants where one exists.
type Options struct {
	// Pool names this master's group of workers: their sockets are
	// <SocketDir>/<Pool>-<n>.sock and their processes <Pool>-<n>. Several masters in one
	// process serve several pools (the ad workers, the console's) from one SocketDir.
	// Default "worker". It cannot change on reload.
	Pool string
	// Workers is the number of FastCGI worker processes, each on its own socket.
	Workers int
	// SocketDir holds the worker sockets <SocketDir>/<Pool>-<n>.sock and the workers'
	// control sockets. It cannot change on reload.
	SocketDir string
	// Listen is "" for Unix sockets in SocketDir, or "tcp://IP:PORT" for TCP listeners:
	// worker n on PORT+n-1 (nginx on another host connects to them). SocketDir still holds
	// the control sockets. It cannot change on reload.
	Listen string
	// AllowPeers, with a TCP Listen, are the only peers the 503 stand-in answers (the
	// workers filter their own connections, see fcgi.Options.AllowPeers); empty = all.
	AllowPeers []netip.Prefix
	// SocketMode is applied to each socket file (nginx's user must be able to connect).
	SocketMode os.FileMode
	// Backlog is the listen backlog of each socket: how many connections may wait while
	// a worker is busy or restarting before connect() fails (capped by somaxconn).
	Backlog int
	// WorkerCommand builds the command of worker id, typically a re-exec of the same
	// binary (`adnet worker --config X`). The master adds ExtraFiles, environment,
	// SysProcAttr and, unless already set, Stdout/Stderr.
	WorkerCommand func(id int) *exec.Cmd
	// Extra are other supervised children without a listener (the stats aggregator).
	Extra []ProcessSpec
	// PidFile, if set, is locked and holds the master's pid while it runs. It cannot
	// change on reload.
	PidFile string
	// ReadyTimeout bounds how long a new worker may take to report ready.
	ReadyTimeout time.Duration
	// StopTimeout bounds a graceful stop (SIGQUIT); then the process gets SIGKILL.
	StopTimeout time.Duration
	// RestartBackoff is the delay before restarting a process that died; it doubles with
	// each further death up to MaxRestartBackoff so a crash loop does not spin.
	RestartBackoff time.Duration
	// MaxRestartBackoff caps the restart delay.
	MaxRestartBackoff time.Duration
	// StableAfter is how long a process must have run for its death to count as isolated:
	// the restart delay then starts again from RestartBackoff.
	StableAfter time.Duration
	// Output receives the children's stdout and stderr when set; it must be safe for
	// concurrent use. When nil the children write straight to the master's own stdout
	// and stderr, so that all logs end up in one place.
	Output io.Writer
	// Logger receives the master's own log lines. When nil a new logrus.Logger writing
	// to stderr is used.
	Logger logrus.FieldLogger
}

// ProcessSpec describes a supervised child without a listener.
type ProcessSpec struct {
	// Name identifies the process in logs and Processes; unique, and on reload a spec
	// replaces the running process with the same name.
	Name string
	// Command builds the process's command; called for every (re)start.
	Command func() *exec.Cmd
}

// withDefaults returns a copy of o with defaults filled in, or an error if o is unusable.
func (o Options) withDefaults() (Options, error) {
	if o.Workers < 1 {
		return o, fmt.Errorf("master: Workers must be at least 1, got %d", o.Workers)
	}
	if o.SocketDir == "" {
		return o, errors.New("master: SocketDir is required")
	}
	if o.Pool == "" {
		o.Pool = DefaultPool
	}
	for _, c := range o.Pool {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return o, fmt.Errorf("master: Pool %q: lower-case letters and digits only", o.Pool)
		}
	}
	if o.WorkerCommand == nil {
		return o, errors.New("master: WorkerCommand is required")
	}
	dir, err := filepath.Abs(o.SocketDir)
	if err != nil {
		return o, fmt.Errorf("master: SocketDir: %w", err)
	}
	o.SocketDir = dir
	if o.PidFile != "" {
		if o.PidFile, err = filepath.Abs(o.PidFile); err != nil {
			return o, fmt.Errorf("master: PidFile: %w", err)
		}
	}
	first, tcp, err := parseListen(o.Listen)
	if err != nil {
		return o, err
	}
	if tcp && int(first.Port())+o.Workers-1 > 65535 {
		return o, fmt.Errorf("master: Listen %q: %d workers do not fit below port 65536", o.Listen, o.Workers)
	}
	if p := socketPath(o.SocketDir, o.Pool, o.Workers); !tcp && len(p) > maxSocketPath {
		return o, fmt.Errorf("master: socket path %s longer than %d bytes", p, maxSocketPath)
	}
	names := make(map[string]bool, len(o.Extra))
	for _, e := range o.Extra {
		if e.Name == "" || e.Command == nil {
			return o, errors.New("master: every Extra needs a Name and a Command")
		}
		if names[e.Name] {
			return o, fmt.Errorf("master: duplicate Extra name %q", e.Name)
		}
		names[e.Name] = true
	}
	o.Extra = append([]ProcessSpec(nil), o.Extra...)
	if o.SocketMode == 0 {
		o.SocketMode = DefaultSocketMode
	}
	if o.Backlog <= 0 {
		o.Backlog = DefaultBacklog
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = DefaultReadyTimeout
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = DefaultStopTimeout
	}
	if o.RestartBackoff <= 0 {
		o.RestartBackoff = DefaultRestartBackoff
	}
	if o.MaxRestartBackoff <= 0 {
		o.MaxRestartBackoff = DefaultMaxRestartBackoff
	}
	if o.MaxRestartBackoff < o.RestartBackoff {
		o.MaxRestartBackoff = o.RestartBackoff
	}
	if o.StableAfter <= 0 {
		o.StableAfter = DefaultStableAfter
	}
	if o.Logger == nil {
		o.Logger = logrus.New()
	}
	return o, nil
}

// DefaultPool is the pool name of a Master whose Options name none.
const DefaultPool = "worker"

// socketPath is the listening socket of worker id of pool.
func socketPath(dir, pool string, id int) string {
	return filepath.Join(dir, fmt.Sprintf("%s-%d.sock", pool, id))
}

// controlPath is the control socket path of one worker process.
func controlPath(dir, pool string, id int, gen uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%s-%d.%d.ctl", pool, id, gen))
}
