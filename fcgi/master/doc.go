// Package master is adnet's php-fpm-style process manager: `adnet serve` runs a Master that
// owns the listening Unix sockets, starts the FastCGI worker processes on them, restarts
// workers that die and replaces them one by one on reload.
//
// # Why the master owns the sockets
//
// On Linux a connect() to a Unix socket that nobody listens on fails at once (ENOENT or
// ECONNREFUSED), and nginx turns every such failure into a 502 and takes the backend out
// of rotation for fail_timeout. If each worker created its own socket, every crash,
// restart or reload would open such a window. Here the master creates each listener once
// and keeps its file descriptor open for its whole life; workers only inherit duplicates.
// During a reload the new worker accepts on the same socket before the old one stops
// accepting, so no connection is refused or reset.
//
// # A dead worker's socket
//
// A socket nobody accepts on is no better than a missing one: connections sit in its
// backlog through the restart backoff (RestartBackoff doubling up to MaxRestartBackoff)
// until nginx's read timeout, a 504 with no retry. So while a worker slot has no process
// (it died and waits for its restart), the master accepts on the socket itself and answers
// every FastCGI request at once with "Status: 503" and "Retry-After: 1", which nginx
// (fastcgi_next_upstream http_503) retries on another worker. The master stops accepting
// before it starts a process on the socket again, so the new process gets every connection
// from then on. The stand-in is a few dozen lines of FastCGI in this package (standin.go),
// independent of the worker's server.
//
// # TCP listeners
//
// With Options.Listen = "tcp://IP:PORT" (nginx on another host) worker n gets a TCP
// listener on PORT+n-1 instead of a Unix socket, created and held by the master in the
// same way (SO_REUSEADDR, Options.Backlog), handed over on reload and answered by the
// stand-in while the worker is down. FastCGI has no authentication: the workers close
// connections from peers outside their allow-list (fcgi.Options.AllowPeers), and so does
// the stand-in (Options.AllowPeers). SocketDir still holds the control sockets.
//
// # Contract between master and worker
//
// For worker n (1..Options.Workers) the master:
//
//   - creates the listener at <SocketDir>/worker-<n>.sock itself: a stale socket file is
//     removed first (any other kind of file is an error), the socket is chmod'ed to
//     SocketMode before listen(), and the backlog is Options.Backlog (set with
//     socket/bind/listen from golang.org/x/sys/unix, since net.Listen ignores it; the kernel
//     caps it at net.core.somaxconn);
//   - passes the listening socket as fd 3 and the write end of a "ready" pipe as fd 4
//     (ExtraFiles; files the command already had in ExtraFiles follow as fd 5, 6, ...);
//   - sets ADNET_LISTEN_FD=3, ADNET_READY_FD=4, ADNET_WORKER_ID=<n> and
//     ADNET_CONTROL_SOCKET=<SocketDir>/worker-<n>.<generation>.ctl, where generation is a
//     counter unique per started process within one master, so that an old and a new
//     worker with the same id can coexist during a reload. The worker may create a
//     control socket at that path (removing a stale file first); the master removes the
//     path after the process exits and removes leftover worker-*.ctl sockets on start.
//
// The worker calls Inherited to obtain its listener, id and control socket path, starts
// serving, and then calls WorkerEnv.NotifyReady, which writes one byte to fd 4. A
// reload only retires the old process once the new one has reported ready; a restarted
// worker that does not report ready within ReadyTimeout is killed and restarted again.
//
// Signals the master sends to its children:
//
//   - SIGQUIT: graceful stop. Workers must stop accepting, finish in-flight requests and
//     exit (extras likewise flush and exit). After StopTimeout the master sends SIGKILL.
//   - anything given to Master.Signal (for example SIGUSR1 = reopen logs).
//
// Children run in their own process group (Setpgid), so a Ctrl-C on the terminal reaches
// only the master, which then stops them in order. They get PR_SET_PDEATHSIG=SIGTERM, so
// that if the master dies abruptly they finish the requests they hold and exit (a worker
// drains on SIGTERM as on SIGQUIT) instead of cutting them. The kernel ties that signal to
// the thread that forked the child, not to the process, so the master forks every child
// from one goroutine locked to its OS thread for the master's whole life (see the issue
// golang.org/issue/27505). Every child is waited for, so no zombies are left. With the
// master gone nobody keeps the sockets; a new master (systemd's Restart=) replaces the
// stale socket files.
//
// A worker process catches SIGQUIT and SIGTERM from this package's initialisation on
// (StopRequested), so a stop sent while it is still starting is not the Go runtime's
// crash with a goroutine dump. The master's own signals are dispatched by HandleSignals,
// which runs reloads beside the signal loop so that a stop during a reload starts at once.
//
// A standalone worker (not started by a master) can create its own socket with
// ListenUnix; Inherited then returns ErrNotInherited.
//
// Shrinking Options.Workers on reload removes the socket files of the retired workers;
// remove them from nginx's upstream first, or nginx sees connect errors for them.
package master
