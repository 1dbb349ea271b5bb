package main

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"adnet/fcgi"
	"adnet/handlers"
	"adnet/internal/config"
	"adnet/internal/decision"
	"adnet/internal/eventlog"
	"adnet/internal/fraud"
	"adnet/internal/token"
	"adnet/models"
	"adnet/models/mysql"
)

// workerApp is everything one worker process serves with: the HTTP routes and the engines
// behind them. It is built once per process and closed on exit.
type workerApp struct {
	cfg    *config.Config
	id     int
	log    *logrus.Logger
	mux    *http.ServeMux
	db     *mysql.DB                   // owned by the refresh goroutine after start
	store  atomic.Pointer[mysql.Store] // nil until MariaDB first answers
	engine *decision.Engine
	filter *fraud.RequestFilter
	events *eventlog.Writer
	cancel context.CancelFunc
	done   chan struct{}

	lastRefresh  atomic.Int64 // unix nanos of the last successful snapshot load
	refreshError atomic.Value // string: the last refresh error, "" when healthy
}

func newWorkerApp(ctx context.Context, cfg *config.Config, id int, log *logrus.Logger) (*workerApp, error) {
	a := &workerApp{cfg: cfg, id: id, log: log, mux: http.NewServeMux(), done: make(chan struct{})}
	a.refreshError.Store("")
	a.mux.HandleFunc("/ping", handlers.Ping)
	if cfg.DebugEndpoints {
		a.mux.HandleFunc("/debug/sleep", handlers.DebugSleep)
	}

	keys, err := token.LoadKeys(cfg.Tracking.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tracking.key_file: %w", err)
	}
	signer, err := token.NewSigner(keys, token.Options{TTL: cfg.Tracking.TokenTTL.D()})
	if err != nil {
		return nil, err
	}
	ua, err := decision.NewUAParser(10000)
	if err != nil {
		return nil, err
	}
	// Each worker process writes its own event-log directory, so a replacement started
	// during a reload never shares one with the worker it replaces.
	dir := filepath.Join(cfg.EventDir(id), fmt.Sprintf("w%d-%d", time.Now().UnixNano(), os.Getpid()))
	a.events, err = eventlog.OpenWriter(eventlog.WriterOptions{
		Dir: dir, SegmentMaxBytes: int64(cfg.Events.SegmentMaxBytes), SegmentMaxAge: cfg.Events.SegmentMaxAge.D(),
		FsyncInterval: cfg.Events.FsyncInterval.D(), MaxDiskBytes: int64(cfg.Events.MaxDisk), Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}

	empty, err := decision.Build(&models.Inventory{LoadedAt: time.Now()}, decision.Options{Location: cfg.Location()})
	if err != nil {
		return nil, err
	}
	a.engine = decision.NewEngine(empty)
	trusted, err := ipSetFromList(cfg.Fraud.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("fraud.trusted_proxies: %w", err)
	}
	a.filter = &fraud.RequestFilter{UA: fraud.NewUAClassifier(fraud.UAOptions{CacheSize: 10000}),
		MinClickDelay: cfg.Fraud.MinClickDelay.D(), AdHost: hostOf(cfg.Tracking.BaseURL)}
	ads := handlers.NewAds(handlers.AdsOptions{
		Engine: a.engine, Signer: signer, UA: ua, Events: a.events, Logger: log,
		Verdicts: &handlers.FraudVerdicts{Filter: a.filter, Engine: a.engine, Now: time.Now},
		ClientIP: func(r *http.Request) netip.Addr {
			return fraud.ClientIP(r.RemoteAddr, r.Header.Get("X-Forwarded-For"), trusted)
		},
		BaseURL: cfg.Tracking.BaseURL, FallbackURL: cfg.Tracking.FallbackURL,
		ViewerCookie: cfg.Privacy.ViewerCookie, HonorGPC: cfg.Privacy.HonorGPC,
		Country: func(r *http.Request) string { return fcgi.Param(r, "GEOIP_COUNTRY_CODE") },
	})
	ads.Routes(a.mux)
	allow, err := prefixes(cfg.Stats.ReportAllow)
	if err != nil {
		return nil, fmt.Errorf("stats.report_allow: %w", err)
	}
	handlers.NewReports(handlers.ReportsOptions{Store: workerReports{a}, Allow: allow, Location: cfg.Location(), Logger: log}).Routes(a.mux)

	// The database is needed only for the inventory snapshot, never on the request path. If
	// it is down at start, the worker serves the empty snapshot (fallbacks and 204s) and keeps
	// trying, rather than crash-looping.
	a.db, err = openDB(ctx, cfg)
	if err != nil {
		log.WithError(err).Error("inventory: MariaDB unreachable at start; serving no ads until it answers")
	} else {
		a.store.Store(mysql.NewStore(a.db))
		a.refresh(ctx)
		a.refreshLists(ctx)
	}
	rctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go a.refreshLoop(rctx)
	return a, nil
}

// refreshLoop reloads the inventory snapshot every inventory.refresh_interval.
func (a *workerApp) refreshLoop(ctx context.Context) {
	defer close(a.done)
	t := time.NewTicker(a.cfg.Inventory.RefreshInterval.D())
	defer t.Stop()
	// The IP lists can hold millions of ranges: they are reloaded less often than inventory.
	lists := time.NewTicker(listRefreshInterval)
	defer lists.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-lists.C:
			if a.store.Load() != nil {
				a.refreshLists(ctx)
			}
		case <-t.C:
			if a.store.Load() == nil {
				db, err := openDB(ctx, a.cfg)
				if err != nil {
					a.refreshError.Store(err.Error())
					continue
				}
				a.db = db
				a.store.Store(mysql.NewStore(db))
			}
			a.refresh(ctx)
		}
	}
}

// refresh loads the inventory and swaps the engine's snapshot. A failure keeps the last good
// snapshot: serving continues on slightly stale inventory.
func (a *workerApp) refresh(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Inventory.RefreshInterval.D()+5*time.Second)
	defer cancel()
	now := time.Now()
	inv, err := a.store.Load().LoadInventory(ctx, now, a.cfg.Location())
	if err == nil {
		var snap *decision.Snapshot
		snap, err = decision.Build(inv, decision.Options{Location: a.cfg.Location()})
		if err == nil {
			a.engine.Swap(snap)
			a.lastRefresh.Store(now.UnixNano())
			if prev, _ := a.refreshError.Load().(string); prev != "" {
				a.log.Info("inventory: refresh recovered")
			}
			a.refreshError.Store("")
			if probs, n := snap.Problems(); n > 0 {
				a.log.WithField("problems", n).WithField("first", probs[0]).Debug("inventory: rows left out of the snapshot")
			}
			return
		}
	}
	if prev, _ := a.refreshError.Load().(string); prev == "" {
		a.log.WithError(err).Error("inventory: refresh failed; keeping the last good snapshot")
	}
	a.refreshError.Store(err.Error())
}

// listRefreshInterval is how often a worker reloads the blocklist and data-center ranges.
const listRefreshInterval = time.Minute

// refreshLists loads the blocked and data-center IP lists (MariaDB, plus fraud.datacenter_file)
// into the request filter. A failure keeps the lists already loaded.
func (a *workerApp) refreshLists(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	load := func(list string) (*fraud.IPSet, error) {
		ranges, err := a.store.Load().LoadIPList(ctx, list)
		if err != nil {
			return nil, err
		}
		b := fraud.NewIPSetBuilder()
		for _, r := range ranges {
			if err := b.AddRange(r.First, r.Last); err != nil {
				return nil, err
			}
		}
		if list == mysql.IPListDatacenter && a.cfg.Fraud.DatacenterFile != "" {
			if err := addIPFile(b, a.cfg.Fraud.DatacenterFile); err != nil {
				return nil, fmt.Errorf("fraud.datacenter_file: %w", err)
			}
		}
		return b.Build(), nil
	}
	blocked, err := load(mysql.IPListBlocked)
	if err == nil {
		var dc *fraud.IPSet
		if dc, err = load(mysql.IPListDatacenter); err == nil {
			a.filter.SetLists(blocked, dc)
			return
		}
	}
	a.log.WithError(err).Error("fraud: loading the IP lists failed; keeping the lists already loaded")
}

// workerReports answers report queries with the worker's store, or "unavailable" while
// MariaDB has not answered yet.
type workerReports struct{ a *workerApp }

func (w workerReports) Report(ctx context.Context, q mysql.ReportQuery) (*mysql.Report, error) {
	s := w.a.store.Load()
	if s == nil {
		return nil, models.Errorf(models.EUNAVAILABLE, "the statistics database is not reachable yet")
	}
	return s.Report(ctx, q)
}

// Handler returns the worker's routes.
func (a *workerApp) Handler() http.Handler { return a.mux }

// StatusExtra reports the worker's own fields in its status: event log and inventory health.
func (a *workerApp) StatusExtra() map[string]any {
	es := a.events.Stats()
	m := map[string]any{
		"worker_id":               a.id,
		"eventlog_records":        es.Records,
		"eventlog_write_errors":   es.WriteErrors,
		"eventlog_last_error":     es.LastError,
		"eventlog_disk_bytes":     es.DiskBytes,
		"eventlog_max_disk_bytes": int64(a.cfg.Events.MaxDisk),
		"inventory_error":         a.refreshError.Load(),
	}
	if t := a.lastRefresh.Load(); t > 0 {
		m["inventory_age_seconds"] = time.Since(time.Unix(0, t)).Seconds()
	}
	if s := a.engine.Snapshot(); s != nil {
		m["inventory_zones"] = s.NumZones()
	}
	return m
}

// Close stops the refresher and closes the event log (syncing it) and the database.
func (a *workerApp) Close() error {
	a.cancel()
	<-a.done
	err := a.events.Close()
	if a.db != nil {
		a.db.Close()
	}
	return err
}
