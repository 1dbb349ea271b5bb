package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"adnet/fcgi"
	"adnet/fcgi/master"
	"adnet/internal/config"
)

// runWorker serves FastCGI on the socket inherited from the master (or on --socket when run
// alone) until SIGTERM/SIGQUIT, then drains. Its control socket answers status outside the
// request cap.
func runWorker(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs, path := flags("worker", stderr)
	socket := fs.String("socket", "", "listen on this Unix socket instead of one inherited from the master (standalone)")
	id := fs.Int("id", 1, "worker number when standalone")
	pool := fs.String("pool", "worker", `the worker's pool: "worker" (ads and tracking) or "console" (console and API)`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pool != "worker" && *pool != config.ConsolePool {
		return fmt.Errorf("--pool %q: must be worker or %s", *pool, config.ConsolePool)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}

	env, err := master.Inherited()
	switch {
	case errors.Is(err, master.ErrNotInherited):
		var ln net.Listener
		if addr, tcp := cfg.PoolTCP(*pool, *id); tcp && *socket == "" {
			// Standalone on the pool's TCP listen: the peer allow-list still applies.
			if ln, err = net.Listen("tcp", addr.String()); err != nil {
				return err
			}
			*socket = cfg.PoolSocket(*pool, *id) // names the control socket
		} else {
			if *socket == "" {
				*socket = cfg.PoolSocket(*pool, *id)
			}
			if ln, err = master.ListenUnix(*socket, os.FileMode(cfg.SocketMode), cfg.ListenBacklog); err != nil {
				return err
			}
		}
		env = &master.WorkerEnv{Listener: ln, ID: *id, ControlSocket: *socket + ".ctl"}
	case err != nil:
		return err
	}

	log, reopen, err := newLogger(cfg, *pool+"-"+strconv.Itoa(env.ID))
	if err != nil {
		return err
	}
	app, err := newWorkerApp(ctx, cfg, env.ID, *pool, log)
	if err != nil {
		log.WithError(err).Error("worker cannot start")
		return err
	}
	defer app.Close()

	srv := fcgi.NewServer(app.Handler(), fcgiOptions(cfg, *pool, log, app.StatusExtra))
	ctl, err := serveControl(env.ControlSocket, srv.ControlHandler(), log)
	if err != nil {
		return err
	}
	defer func() {
		ctl.Close()
		os.Remove(env.ControlSocket)
	}()

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGINT, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(env.Listener) }()
	if err := env.NotifyReady(); err != nil && env.ControlSocket != "" {
		log.WithError(err).Warn("could not notify the master")
	}
	log.WithFields(logrus.Fields{"pid": os.Getpid(), "max_children": cfg.MaxChildren, "queue": cfg.Queue}).Info("worker ready")

	for {
		var sig os.Signal
		select {
		case err := <-served:
			return err
		case sig = <-master.StopRequested(): // also a stop sent during startup
		case sig = <-sigs:
		}
		if sig == syscall.SIGUSR1 {
			if reopen != nil {
				if err := reopen(); err != nil {
					log.WithError(err).Error("reopening log file")
				}
			}
			continue
		}
		log.WithField("signal", sig.String()).Info("draining")
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout.D())
		err := srv.Shutdown(sctx)
		cancel()
		if err != nil {
			log.WithError(err).Warn("drain did not finish in shutdown_timeout; exiting anyway")
		}
		<-served
		log.Info("worker stopped")
		return nil
	}
}

// fcgiOptions are the serving limits of a worker of pool: the top-level settings for the ad
// workers, [pools.console] for the console's (timeouts are shared).
func fcgiOptions(cfg *config.Config, pool string, log logrus.FieldLogger, extra func() map[string]any) fcgi.Options {
	maxChildren, queue := cfg.MaxChildren, cfg.Queue
	endpoints := []string{"/serve/", "/track/", "/ping", "/debug/"}
	if pool == config.ConsolePool {
		maxChildren, queue = cfg.Pools.Console.MaxChildren, cfg.Pools.Console.Queue
		endpoints = []string{"/api/", "/admin/", "/ping", "/debug/"}
	}
	return fcgi.Options{
		Engine:          fcgi.Engine(cfg.FCGI.Engine),
		MaxChildren:     maxChildren,
		Queue:           queue,
		QueueTimeout:    cfg.QueueTimeout.D(),
		RequestTimeout:  cfg.RequestTimeout.D(),
		ShutdownTimeout: cfg.ShutdownTimeout.D(),
		SlowTimeout:     cfg.SlowlogTimeout.D(),
		IdleTimeout:     cfg.IdleTimeout.D(),
		Endpoints:       endpoints,
		Logger:          log,
		Extra:           extra,
		AllowPeers:      allowPeers(cfg),
	}
}

// serveStatus serves status() as JSON on the control socket path — a helper process's
// (aggregator, shipper) answer to the master's /status and /metrics — and returns the function
// that stops serving and removes the socket. A socket that still answers belongs to another
// running copy (started by hand beside the master's): it is left alone and the error says so,
// where taking it over would blind the master and removing it on exit would blind everyone.
func serveStatus(path string, status func() any, log logrus.FieldLogger) (stop func(), err error) {
	if path != "" {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s answers: another copy of this process is running (stop it first, or let the master run it)", path)
		}
	}
	ctl, err := serveControl(path, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(status())
	}), log)
	if err != nil {
		return nil, err
	}
	return func() {
		ctl.Close()
		os.Remove(path)
	}, nil
}

// serveControl answers control requests on its own Unix socket with plain HTTP, outside the
// FastCGI cap, so status works when the worker is saturated.
func serveControl(path string, h http.Handler, log logrus.FieldLogger) (io.Closer, error) {
	if path == "" {
		return io.NopCloser(nil), nil
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	_ = os.Chmod(path, 0o600)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.WithError(err).Error("control server stopped")
		}
	}()
	return srv, nil
}
