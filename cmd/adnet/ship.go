package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"adnet/fcgi/master"
	"adnet/internal/config"
	"adnet/internal/jetstream"
)

// runShip forwards this host's event logs to the JetStream stream (events.transport =
// "jetstream") until SIGTERM, SIGQUIT or SIGINT, then waits a few seconds for the outstanding
// acknowledgements and records them. The master runs it as a supervised process.
func runShip(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs, path := flags("ship", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if cfg.Events.Transport != config.TransportJetStream {
		return fmt.Errorf("adnet ship: events.transport is %q: the shipper is for %q", cfg.Events.Transport, config.TransportJetStream)
	}
	log, reopen, err := newLogger(cfg, "shipper")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer aggregatorSignals(cancel, reopen, log)()

	// The status answers from the start (the master's /status and /metrics ask it): while the
	// stream is not available the shipper is not running, with the reason as its last error.
	var current atomic.Pointer[jetstream.Shipper]
	var waiting atomic.Pointer[jetstream.ShipperStats]
	waiting.Store(&jetstream.ShipperStats{})
	stopStatus, err := serveStatus(cfg.ShipperSocket(), func() any {
		st := *waiting.Load()
		if sh := current.Load(); sh != nil {
			st = sh.Stats()
		}
		return st
	}, log)
	if err != nil {
		return err
	}
	defer stopStatus()

	nc, js, err := jetstream.Connect(natsConnectOptions(cfg, "adnet-ship"))
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := ensureStreamLoop(ctx, cfg, js, log, func(err error) {
		waiting.Store(&jetstream.ShipperStats{LastError: err.Error(), LastErrorAt: time.Now()})
	}); err != nil {
		return err
	}
	sh, err := jetstream.NewShipper(jetstream.ShipperOptions{
		DataDir: cfg.DataDir, Host: cfg.NATS.Host, Stream: cfg.NATS.Stream, JS: js,
		Retention: cfg.Events.Retention.D(), MaxDisk: int64(cfg.Events.MaxDisk), Logger: log,
	})
	if err != nil {
		return err
	}
	current.Store(sh)
	go func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				st := sh.Stats()
				log.WithFields(logrus.Fields{"published": st.Published, "acked": st.Acked, "resent": st.Resent,
					"pending": st.Pending, "logs": st.Sources, "lag_records": st.LagRecords}).Info("shipper: progress")
			}
		}
	}()
	log.WithFields(logrus.Fields{"pid": os.Getpid(), "subject": jetstream.Subject(cfg.NATS.Host), "stream": cfg.NATS.Stream}).Info("shipper running")
	if err := sh.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("shipper stopped")
	return nil
}

// runNatsSetup creates the events stream or updates it to the configuration (replicas,
// limits), and prints what the servers report.
func runNatsSetup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("nats-setup", stderr)
	maxBytes := fs.Int64("max-bytes", 0, "size limit of the stream in bytes (0: none; events older than 7 days go anyway)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if len(cfg.NATS.Servers) == 0 {
		return errors.New("adnet nats-setup: nats.servers is empty")
	}
	nc, js, err := jetstream.Connect(natsConnectOptions(cfg, "adnet-nats-setup"))
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	info, err := jetstream.EnsureStream(ctx, js, jetstream.StreamOptions{Name: cfg.NATS.Stream, Replicas: cfg.NATS.Replicas, MaxBytes: *maxBytes})
	if err != nil {
		return err
	}
	leader := ""
	if info.Cluster != nil {
		leader = info.Cluster.Leader
	}
	fmt.Fprintf(stdout, "stream %s: subjects %v, %d replicas (leader %q), file storage, max age %s, max bytes %d, duplicate window %s; %d messages, last sequence %d\n",
		info.Config.Name, info.Config.Subjects, info.Config.Replicas, leader, info.Config.MaxAge, info.Config.MaxBytes,
		info.Config.Duplicates, info.State.Msgs, info.State.LastSeq)
	return nil
}

// natsConnectOptions maps [nats] onto the connection options.
func natsConnectOptions(cfg *config.Config, name string) jetstream.ConnectOptions {
	return jetstream.ConnectOptions{Servers: cfg.NATS.Servers, CredsFile: cfg.NATS.CredsFile, Name: name + " " + cfg.NATS.Host}
}

// ensureStreamLoop creates the stream if it is missing, retrying while the NATS cluster is
// unreachable or electing: the master's backoff is for crashes, not for a cluster starting.
// onErr, if set, is told each failed attempt.
func ensureStreamLoop(ctx context.Context, cfg *config.Config, js natsJS, log logrus.FieldLogger, onErr func(error)) error {
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 10*time.Second) {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := jetstream.CreateStreamIfMissing(sctx, js, jetstream.StreamOptions{Name: cfg.NATS.Stream, Replicas: cfg.NATS.Replicas})
		cancel()
		if err == nil {
			return nil
		}
		log.WithError(err).Warn("jetstream: the stream is not available yet; retrying")
		if onErr != nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// natsJS is the client's JetStream context.
type natsJS = natsjs.JetStream

// extraProcesses are the master's supervised processes besides the workers: the aggregator
// always, and with events.transport = "jetstream" the shipper of this host's logs.
func extraProcesses(cfg *config.Config, exe string) []master.ProcessSpec {
	extra := []master.ProcessSpec{{Name: "aggregator", Command: func() *exec.Cmd {
		return exec.Command(exe, "aggregate", "--config", cfg.Path)
	}}}
	if cfg.Events.Transport == config.TransportJetStream {
		extra = append(extra, master.ProcessSpec{Name: "shipper", Command: func() *exec.Cmd {
			return exec.Command(exe, "ship", "--config", cfg.Path)
		}})
	}
	return extra
}
