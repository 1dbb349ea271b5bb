package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"adnet/internal/aggregator"
	"adnet/internal/config"
	"adnet/internal/fraud"
	"adnet/internal/jetstream"
	"adnet/models/mysql"

	"github.com/sirupsen/logrus"
)

// runAggregate runs the statistics aggregator in the foreground until SIGTERM, SIGQUIT or
// SIGINT: it tails every worker's event log and commits statistics exactly once. The master
// runs it as a supervised process; run it alone only when the master is not running one. It
// also runs the publisher-anomaly scanner every few minutes.
func runAggregate(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs, path := flags("aggregate", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	log, reopen, err := newLogger(cfg, "aggregator")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer aggregatorSignals(cancel, reopen, log)()

	// A cluster's hosts must hash addresses alike whichever of them leads: with
	// stats.ip_hash_key_id set, a missing or different key stops the aggregator here,
	// before it touches the database.
	key, err := aggregator.LoadSharedIPHashKey(cfg.DataDir, cfg.Stats.IPHashKeyID)
	if err != nil {
		return err
	}
	keyID := aggregator.IPHashKeyID(key)
	// MariaDB may be down when the aggregator starts: the workers keep writing their logs, and
	// the master restarts the aggregator (with backoff) until the database answers.
	db, err := openCurrentDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	store := mysql.NewStore(db)
	opt := aggregatorOptions(cfg, store, key, log)
	// The status answers from the start: a standby (JetStream transport) shows as not running.
	var current atomic.Pointer[aggregator.Aggregator]
	stopStatus, err := serveStatus(cfg.AggregatorSocket(), func() any {
		st := aggregator.Stats{Verdicts: map[string]int64{}}
		if agg := current.Load(); agg != nil {
			st = agg.Stats()
		}
		st.IPHashKeyID = keyID
		return st
	}, log)
	if err != nil {
		return err
	}
	defer stopStatus()
	if cfg.Events.Transport == config.TransportJetStream {
		// Every host runs an aggregator; one consumes the stream, the others wait for
		// MariaDB's lock (see aggregateLeader).
		var stop func()
		if ctx, stop, err = aggregateLeader(ctx, cfg, db, &opt, log); errors.Is(err, context.Canceled) {
			log.Info("aggregator stopped (standby)")
			return nil
		} else if err != nil {
			return err
		}
		defer stop()
	}
	agg, err := aggregator.New(opt)
	if err != nil {
		return err
	}
	scanner, err := fraud.NewAnomalyScanner(fraud.ScannerOptions{Store: store, AutoPause: cfg.Fraud.AutoPause, Logger: log})
	if err != nil {
		return err
	}
	go func() { _ = fraud.RunAnomalyLoop(ctx, scanner, fraud.DefaultAnomalyInterval) }()
	current.Store(agg)
	log.WithFields(logrus.Fields{"pid": os.Getpid(), "ip_hash_key_id": keyID}).Info("aggregator running")
	if err := agg.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if errors.Is(context.Cause(ctx), errLeadershipLost) {
		return errLeadershipLost // the master restarts it: a standby again
	}
	log.Info("aggregator stopped")
	return nil
}

// aggregatorSignals cancels the aggregator on SIGTERM, SIGQUIT or SIGINT (it then commits
// what it holds and exits) and reopens the log file on SIGUSR1 (logrotate). The returned
// function stops listening.
func aggregatorSignals(cancel context.CancelFunc, reopen func() error, log logrus.FieldLogger) (stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGINT, syscall.SIGUSR1)
	go func() {
		for sig := range sigs {
			if sig == syscall.SIGUSR1 {
				if reopen != nil {
					_ = reopen()
				}
				continue
			}
			log.WithField("signal", sig.String()).Info("aggregator stopping")
			cancel()
			return
		}
	}()
	return func() { signal.Stop(sigs) }
}

// aggregatorOptions maps the configuration onto the aggregator's options.
func aggregatorOptions(cfg *config.Config, store aggregator.Store, key []byte, log logrus.FieldLogger) aggregator.Options {
	return aggregator.Options{
		DataDir: cfg.DataDir, Store: store, FlushInterval: cfg.Stats.FlushInterval.D(), Retention: cfg.Events.Retention.D(),
		MaxDisk: int64(cfg.Events.MaxDisk), HourlyRetention: cfg.Stats.HourlyRetention.D(), ClickRetention: cfg.Stats.ClickRetention.D(),
		ClickWindow: cfg.Fraud.ClickWindow.D(), MaxClicksPerIP: cfg.Fraud.MaxClicksPerIP, MinClickDelay: cfg.Fraud.MinClickDelay.D(),
		Location: cfg.Location(), Logger: log, IPHashKey: key, ExpectedEventsPerSecond: cfg.Fraud.DesignLoad,
		ReorderWindow: cfg.NATS.ReorderWindow.D(),
	}
}

// leaderLockName is the MariaDB named lock that elects the one consuming aggregator.
const leaderLockName = "adnet_aggregator"

// errLeadershipLost ends an aggregator whose MariaDB lock went away (its connection broke):
// another may hold it now. Its flushes are fenced on the committed sequence anyway.
var errLeadershipLost = errors.New("aggregator: lost the leader lock " + leaderLockName)

// aggregateLeader prepares the JetStream consumer aggregator: it waits, as a standby, until
// this process holds MariaDB's lock adnet_aggregator (GET_LOCK on a dedicated connection:
// MariaDB, not adnet, decides the leader, and releases the lock when the holder's connection
// ends), connects to NATS and sets opt.Stream. The returned context ends when the lock is
// lost; stop releases everything.
func aggregateLeader(ctx context.Context, cfg *config.Config, db *mysql.DB, opt *aggregator.Options,
	log logrus.FieldLogger) (context.Context, func(), error) {
	leader, err := db.AcquireLeader(ctx, leaderLockName, func() {
		log.Info("aggregator: standby; another aggregator holds the leader lock " + leaderLockName)
	})
	if err != nil {
		return nil, nil, err
	}
	log.Info("aggregator: leader (holds " + leaderLockName + ")")
	lctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-leader.Lost():
			log.Error(errLeadershipLost.Error() + "; stopping")
			cancel(errLeadershipLost)
		case <-lctx.Done():
		}
	}()
	nc, js, err := jetstream.Connect(natsConnectOptions(cfg, "adnet-aggregate"))
	if err != nil {
		cancel(nil)
		_ = leader.Release()
		return nil, nil, err
	}
	if err := ensureStreamLoop(lctx, cfg, js, log, nil); err != nil {
		cancel(nil)
		nc.Close()
		_ = leader.Release()
		return nil, nil, err
	}
	opt.Stream = jetstream.NewSource(js, cfg.NATS.Stream)
	return lctx, func() {
		cancel(nil)
		nc.Close()
		_ = leader.Release()
	}, nil
}
