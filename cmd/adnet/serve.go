package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"adnet/fcgi/master"
	"adnet/internal/config"
	"adnet/internal/token"
)

// runServe is the master: it checks that the database schema is current, then starts and
// supervises the workers until a stop signal. SIGHUP reloads, SIGUSR1 reopens logs.
func runServe(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs, path := flags("serve", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	log, reopen, err := newLogger(cfg, "master")
	if err != nil {
		return err
	}
	raiseOpenFiles(cfg, log)
	if err := checkSchema(ctx, cfg); err != nil {
		return err
	}
	// Workers cannot serve without the tracking keys: say so once, here, rather than letting
	// every worker crash-loop on it.
	if _, err := token.LoadKeys(cfg.Tracking.KeyFile); err != nil {
		return fmt.Errorf("tracking.key_file: %w (create it with `adnet keygen`)", err)
	}
	if err := os.MkdirAll(cfg.SocketDir, 0o755); err != nil {
		return fmt.Errorf("socket_dir %s: %w", cfg.SocketDir, err)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	m, err := master.New(masterOptions(cfg, exe, log))
	if err != nil {
		return err
	}
	// The console's pool: its own workers and sockets, supervised beside the ad workers.
	console, err := master.New(consoleOptions(cfg, exe, log))
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer masterSignals(ctx, cancel, m, console, *path, exe, reopen, log)()

	statusSrv, err := startStatusServer(cfg, m, console, log)
	if err != nil {
		return err
	}
	defer statusSrv.Close()

	log.WithFields(logrus.Fields{"workers": cfg.Workers, "max_children": cfg.MaxChildren, "console_workers": cfg.Pools.Console.Workers,
		"socket_dir": cfg.SocketDir, "pid": os.Getpid()}).Info("adnet master starting")
	consoleDone := make(chan error, 1)
	go func() { consoleDone <- console.Run(ctx) }()
	err = m.Run(ctx)
	cancel() // one pool stopping stops the other
	if cerr := <-consoleDone; err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	log.Info("adnet master stopped")
	return nil
}

// masterSignals handles the master's signals until ctx ends: SIGHUP reloads, SIGUSR1 reopens
// the log file and is passed on to every process, SIGTERM, SIGINT and SIGQUIT stop gracefully
// (cancel). The returned function stops listening.
func masterSignals(ctx context.Context, cancel context.CancelFunc, m, console *master.Master, path, exe string, reopen func() error, log *logrus.Logger) (stop func()) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGUSR1)
	// Reloads run beside the signal loop, so a SIGTERM during a rolling reload stops at once.
	go master.HandleSignals(ctx, sigs, master.SignalHandlers{
		Reload: func() { reload(ctx, m, console, path, exe, log) },
		Stop: func(sig os.Signal) {
			log.WithField("signal", sig.String()).Info("stopping gracefully")
			cancel()
		},
		Other: func(os.Signal) { // SIGUSR1
			if reopen != nil {
				if err := reopen(); err != nil {
					log.WithError(err).Error("reopening log file")
				}
			}
			m.Signal(syscall.SIGUSR1)
			console.Signal(syscall.SIGUSR1)
		},
	})
	return func() { signal.Stop(sigs) }
}

// reload re-reads the configuration and replaces the workers one at a time. A configuration
// with problems is reported and ignored: the running workers stay as they are.
func reload(ctx context.Context, m, console *master.Master, path, exe string, log *logrus.Logger) {
	cfg, err := config.Load(path)
	if err != nil {
		log.WithError(err).Error("reload refused: the configuration file has problems; the running workers are unchanged")
		return
	}
	if err := checkSchema(ctx, cfg); err != nil {
		log.WithError(err).Error("reload refused")
		return
	}
	log.Info("reloading: replacing workers one at a time")
	if err := m.Reload(masterOptions(cfg, exe, log)); err != nil {
		log.WithError(err).Error("reload failed; workers that could not be replaced keep running")
		return
	}
	if err := console.Reload(consoleOptions(cfg, exe, log)); err != nil {
		log.WithError(err).Error("reload of the console pool failed; its workers that could not be replaced keep running")
		return
	}
	log.Info("reload complete")
}

func masterOptions(cfg *config.Config, exe string, log *logrus.Logger) master.Options {
	return master.Options{
		Workers:    cfg.Workers,
		SocketDir:  cfg.SocketDir,
		Listen:     cfg.Listen,
		AllowPeers: allowPeers(cfg),
		SocketMode: os.FileMode(cfg.SocketMode),
		Backlog:    cfg.ListenBacklog,
		WorkerCommand: func(id int) *exec.Cmd {
			return exec.Command(exe, "worker", "--config", cfg.Path)
		},
		// The aggregator (and with JetStream the shipper) is supervised like a worker:
		// restarted with backoff when it dies, replaced on reload. It has no socket; it reads
		// the workers' event logs (or the stream).
		Extra:       extraProcesses(cfg, exe),
		PidFile:     cfg.PidFile,
		StopTimeout: cfg.ShutdownTimeout.D() + 5*time.Second,
		Logger:      log,
	}
}

// allowPeers returns fcgi.allow_peers parsed (Load validated it).
func allowPeers(cfg *config.Config) []netip.Prefix {
	p, _ := config.Prefixes(cfg.FCGI.AllowPeers)
	return p
}

// consoleOptions configures the console's pool ([pools.console]): `adnet worker --pool
// console` processes on <socket_dir>/console-<n>.sock (or pools.console.listen over TCP),
// no pid file and no extras of its own.
func consoleOptions(cfg *config.Config, exe string, log *logrus.Logger) master.Options {
	return master.Options{
		Pool:       config.ConsolePool,
		Workers:    cfg.Pools.Console.Workers,
		SocketDir:  cfg.SocketDir,
		Listen:     cfg.Pools.Console.Listen,
		AllowPeers: allowPeers(cfg),
		SocketMode: os.FileMode(cfg.SocketMode),
		Backlog:    cfg.ListenBacklog,
		WorkerCommand: func(id int) *exec.Cmd {
			return exec.Command(exe, "worker", "--pool", config.ConsolePool, "--config", cfg.Path)
		},
		StopTimeout: cfg.ShutdownTimeout.D() + 5*time.Second,
		Logger:      log,
	}
}

// checkSchema refuses to run against a database whose schema is behind this binary.
func checkSchema(ctx context.Context, cfg *config.Config) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	db, err := openCurrentDB(ctx, cfg)
	if err != nil {
		return err
	}
	return db.Close()
}
