package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/fcgi"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"adnet/handlers"
	"adnet/handlers/console"
	"adnet/internal/adserver"
	"adnet/internal/config"
	"adnet/internal/decision"
	"adnet/internal/eventlog"
	"adnet/internal/fraud"
	"adnet/internal/manage"
	"adnet/internal/token"
	"adnet/models"
	"adnet/models/mysql"
)

// workerApp is everything one worker process serves with: the HTTP routes and the engines
// behind them. It is built once per process and closed on exit.
type workerApp struct {
	cfg       *config.Config
	id        int
	mux       *http.ServeMux
	engine    *decision.Engine
	events    *eventlog.Writer
	refresher *adserver.Refresher[*mysql.Store]
	db        atomic.Pointer[mysql.DB] // closed on exit; set by the refresher's Connect
}

func newWorkerApp(ctx context.Context, cfg *config.Config, id int, log *logrus.Logger) (*workerApp, error) {
	a := &workerApp{cfg: cfg, id: id, mux: http.NewServeMux()}
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
	dir := eventlog.ProcessDir(eventlog.WorkerDir(cfg.DataDir, id), time.Now(), os.Getpid())
	a.events, err = eventlog.OpenWriter(eventlog.WriterOptions{
		Dir: dir, SegmentMaxBytes: int64(cfg.Events.SegmentMaxBytes), SegmentMaxAge: cfg.Events.SegmentMaxAge.D(),
		FsyncInterval: cfg.Events.FsyncInterval.D(), SyncEachAppend: cfg.Events.Fsync == config.FsyncAlways, MaxDiskBytes: int64(cfg.Events.MaxDisk), Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}
	empty, err := decision.Build(&models.Inventory{LoadedAt: time.Now()}, decision.Options{Location: cfg.Location()})
	if err != nil {
		return nil, err
	}
	a.engine = decision.NewEngine(empty)
	trusted, err := fraud.NewIPSet(cfg.Fraud.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("fraud.trusted_proxies: %w", err)
	}
	filter := &fraud.RequestFilter{UA: fraud.NewUAClassifier(fraud.UAOptions{CacheSize: 10000}),
		MinClickDelay: cfg.Fraud.MinClickDelay.D(), AdHost: cfg.Tracking.Host()}
	svc := adserver.NewService(adserver.Options{Engine: a.engine, Signer: signer, UA: ua, Events: a.events,
		Filter: filter, Logger: log, ViewerCookie: cfg.Privacy.ViewerCookie, HonorGPC: cfg.Privacy.HonorGPC})
	handlers.NewAds(handlers.AdsOptions{
		Service: svc, Logger: log, BaseURL: cfg.Tracking.BaseURL, FallbackURL: cfg.Tracking.FallbackURL,
		ClientIP: func(r *http.Request) netip.Addr {
			return fraud.ClientIP(r.RemoteAddr, r.Header.Get("X-Forwarded-For"), trusted)
		},
		Country: func(r *http.Request) string { return fcgi.ProcessEnv(r)["GEOIP_COUNTRY_CODE"] },
	}).Routes(a.mux)
	allow, err := config.Prefixes(cfg.Stats.ReportAllow)
	if err != nil {
		return nil, fmt.Errorf("stats.report_allow: %w", err)
	}
	// The API needs MariaDB: it is built once the refresher first connects, and answers 503
	// until then.
	var api atomic.Pointer[http.Handler]
	a.mux.Handle("/api/", handlers.WhenReady(func() http.Handler {
		if h := api.Load(); h != nil {
			return *h
		}
		return nil
	}))
	// The console too: the same management service, mounted beside the API.
	var admin atomic.Pointer[http.Handler]
	a.mux.Handle("/admin/", handlers.WhenReady(func() http.Handler {
		if h := admin.Load(); h != nil {
			return *h
		}
		return nil
	}))
	newAPI := func(store *mysql.Store) {
		svc := manage.NewService(manage.Options{Store: manageStore{store}, Snapshot: a.engine.Snapshot,
			Location: cfg.Location(), Logger: log})
		clientIP := func(r *http.Request) netip.Addr {
			return fraud.ClientIP(r.RemoteAddr, r.Header.Get("X-Forwarded-For"), trusted)
		}
		uploads := &handlers.Uploads{Dir: filepath.Join(cfg.DataDir, "uploads"), URLPrefix: "/uploads/"}
		mux := http.NewServeMux()
		handlers.NewAPI(handlers.APIOptions{Manage: svc, Logger: log, BaseURL: cfg.Tracking.BaseURL, ReportAllow: allow,
			ClientIP: clientIP, Uploads: uploads}).Routes(mux)
		var h http.Handler = mux
		api.Store(&h)
		con, err := console.New(console.Options{Manage: svc, Uploads: uploads, BaseURL: cfg.Tracking.BaseURL,
			ClientIP: clientIP, Logger: log})
		if err != nil {
			log.WithError(err).Error("console: templates") // a build defect: the console answers 503
			return
		}
		cmux := http.NewServeMux()
		con.Routes(cmux)
		var ch http.Handler = cmux
		admin.Store(&ch)
	}

	a.refresher = adserver.NewRefresher(adserver.RefresherOptions[*mysql.Store]{
		Connect: func(ctx context.Context) (*mysql.Store, error) {
			db, err := openDB(ctx, cfg)
			if err != nil {
				return nil, err
			}
			a.db.Store(db)
			store := mysql.NewStore(db)
			newAPI(store)
			return store, nil
		},
		Engine: a.engine, Interval: cfg.Inventory.RefreshInterval.D(), Location: cfg.Location(), Filter: filter,
		DatacenterFile: cfg.Fraud.DatacenterFile,
		Logger:         log,
	})
	a.refresher.Start(ctx)
	return a, nil
}

// manageStore adapts the MariaDB store to the management layer: its transactions hand the
// use case a store of the layer's own interface.
type manageStore struct{ *mysql.Store }

func (m manageStore) WithTx(ctx context.Context, fn func(manage.Store) error) error {
	return m.Store.WithTx(ctx, func(tx *mysql.Store) error { return fn(manageStore{tx}) })
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
	}
	age, lastErr := a.refresher.Health()
	m["inventory_error"] = lastErr
	if age > 0 {
		m["inventory_age_seconds"] = age.Seconds()
	}
	if s := a.engine.Snapshot(); s != nil {
		m["inventory_zones"] = s.NumZones()
	}
	return m
}

// Close stops the refresher and closes the event log (syncing it) and the database.
func (a *workerApp) Close() error {
	a.refresher.Close()
	err := a.events.Close()
	if db := a.db.Load(); db != nil {
		db.Close()
	}
	return err
}
