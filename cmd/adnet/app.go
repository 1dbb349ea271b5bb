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
// behind them. An ad worker (pool "worker") serves ads and tracking and writes the event
// log; a console worker (pool "console") serves the console and the REST API. Both keep an
// inventory snapshot (the console shows the decision engine's effective shares). It is built
// once per process and closed on exit.
type workerApp struct {
	cfg       *config.Config
	id        int
	pool      string
	mux       *http.ServeMux
	engine    *decision.Engine
	events    *eventlog.Writer // nil in a console worker
	refresher *adserver.Refresher[listStore]
	lists     *workerLists                 // the ad worker's own data-center ranges; nil in a console worker
	db        atomic.Pointer[mysql.DB]     // closed on exit; set by the refresher's Connect
	reads     atomic.Pointer[mysql.Reads]  // reports and snapshots (replica or primary); set by Connect
	api       atomic.Pointer[http.Handler] // the REST API, once the database answered
	admin     atomic.Pointer[http.Handler] // the console, once the database answered
}

func newWorkerApp(ctx context.Context, cfg *config.Config, id int, pool string, log *logrus.Logger) (*workerApp, error) {
	a := &workerApp{cfg: cfg, id: id, pool: pool, mux: http.NewServeMux()}
	a.mux.HandleFunc("/ping", handlers.Ping)
	if cfg.DebugEndpoints {
		a.mux.HandleFunc("/debug/sleep", handlers.DebugSleep)
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
	clientIP := func(r *http.Request) netip.Addr {
		return fraud.ClientIP(r.RemoteAddr, r.Header.Get("X-Forwarded-For"), trusted)
	}
	ropt := adserver.RefresherOptions[listStore]{
		// The snapshot and the IP lists are read where reports are: on the replica when
		// there is one (mysql.replica_dsn_file); writes stay on the primary.
		Connect: func(ctx context.Context) (listStore, error) {
			db, err := openDB(ctx, cfg)
			if err != nil {
				return listStore{}, err
			}
			a.db.Store(db)
			store := mysql.NewStore(db)
			reads := newReads(cfg, store, log)
			a.reads.Store(reads)
			if pool == config.ConsolePool {
				if err := a.buildConsole(store, reads, clientIP, log); err != nil {
					return listStore{}, err
				}
			}
			return listStore{InventoryStore: reads, lists: a.lists}, nil
		},
		Engine: a.engine, Interval: cfg.Inventory.RefreshInterval.D(), Location: cfg.Location(), Logger: log,
	}
	if pool == config.ConsolePool {
		// The console and API need MariaDB: they are built once the refresher first
		// connects, and answer 503 until then.
		for prefix, h := range map[string]*atomic.Pointer[http.Handler]{"/api/": &a.api, "/admin/": &a.admin} {
			a.mux.Handle(prefix, handlers.WhenReady(func() http.Handler {
				if p := h.Load(); p != nil {
					return *p
				}
				return nil
			}))
		}
	} else {
		filter, err := a.mountAds(cfg, clientIP, log)
		if err != nil {
			return nil, err
		}
		// The worker's own data-center ranges (built-in, fraud.datacenter_file) are added by
		// listStore, so that a bad file keeps its last good version and never stops the
		// database's lists from loading; until the database answers they are in force alone.
		a.lists = newWorkerLists(cfg, log)
		filter.SetLists(nil, a.lists.initial())
		ropt.Filter = filter
	}
	a.refresher = adserver.NewRefresher(ropt)
	a.refresher.Start(ctx)
	return a, nil
}

// mountAds opens the worker's event log and mounts the ad serving and tracking routes; it
// returns the request filter, whose IP lists the refresher keeps current.
func (a *workerApp) mountAds(cfg *config.Config, clientIP func(*http.Request) netip.Addr, log *logrus.Logger) (*fraud.RequestFilter, error) {
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
	dir := eventlog.ProcessDir(eventlog.WorkerDir(cfg.DataDir, a.id), time.Now(), os.Getpid())
	a.events, err = eventlog.OpenWriter(eventlog.WriterOptions{
		Dir: dir, SegmentMaxBytes: int64(cfg.Events.SegmentMaxBytes), SegmentMaxAge: cfg.Events.SegmentMaxAge.D(),
		FsyncInterval: cfg.Events.FsyncInterval.D(), SyncEachAppend: cfg.Events.Fsync == config.FsyncAlways,
		MaxDiskBytes: int64(cfg.Events.MaxDisk), Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}
	filter := &fraud.RequestFilter{UA: fraud.NewUAClassifier(fraud.UAOptions{CacheSize: 10000}),
		MinClickDelay: cfg.Fraud.MinClickDelay.D(), AdHost: cfg.Tracking.Host()}
	svc := adserver.NewService(adserver.Options{Engine: a.engine, Signer: signer, UA: ua, Events: a.events,
		Filter: filter, Logger: log, ViewerCookie: cfg.Privacy.ViewerCookie, HonorGPC: cfg.Privacy.HonorGPC})
	handlers.NewAds(handlers.AdsOptions{
		Service: svc, Logger: log, BaseURL: cfg.Tracking.BaseURL, FallbackURL: cfg.Tracking.FallbackURL, ClientIP: clientIP,
		Country: func(r *http.Request) string { return fcgi.Param(r, "GEOIP_COUNTRY_CODE") },
	}).Routes(a.mux)
	return filter, nil
}

// buildConsole builds the management layer, the REST API and the console over store; an
// error (a template defect) leaves both answering 503.
func (a *workerApp) buildConsole(store *mysql.Store, reads *mysql.Reads, clientIP func(*http.Request) netip.Addr, log *logrus.Logger) error {
	allow, err := config.Prefixes(a.cfg.Stats.ReportAllow)
	if err != nil {
		return fmt.Errorf("stats.report_allow: %w", err)
	}
	svc := manage.NewService(manage.Options{Store: manageStore{store, reads}, Snapshot: a.engine.Snapshot,
		Location: a.cfg.Location(), Logger: log})
	uploads := &handlers.Uploads{Dir: filepath.Join(a.cfg.DataDir, "uploads"), URLPrefix: "/uploads/"}
	con, err := console.New(console.Options{Manage: svc, Uploads: uploads, BaseURL: a.cfg.Tracking.BaseURL,
		ClientIP: clientIP, Logger: log})
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	mux := http.NewServeMux()
	handlers.NewAPI(handlers.APIOptions{Manage: svc, Logger: log, BaseURL: a.cfg.Tracking.BaseURL, ReportAllow: allow,
		ClientIP: clientIP, Uploads: uploads}).Routes(mux)
	cmux := http.NewServeMux()
	con.Routes(cmux)
	var api, admin http.Handler = mux, cmux
	a.api.Store(&api)
	a.admin.Store(&admin)
	return nil
}

// manageStore adapts the MariaDB store to the management layer: its transactions hand the
// use case a store of the layer's own interface. Reports are read through reads (the
// replica, when configured); everything else, and anything inside a transaction, on the
// primary.
type manageStore struct {
	*mysql.Store
	reads *mysql.Reads // nil inside a transaction
}

func (m manageStore) WithTx(ctx context.Context, fn func(manage.Store) error) error {
	return m.Store.WithTx(ctx, func(tx *mysql.Store) error { return fn(manageStore{tx, nil}) })
}

// Report reads a statistics report from the replica when there is one.
func (m manageStore) Report(ctx context.Context, q models.ReportQuery) (*models.Report, error) {
	if m.reads != nil {
		return m.reads.Report(ctx, q)
	}
	return m.Store.Report(ctx, q)
}

// Handler returns the worker's routes.
func (a *workerApp) Handler() http.Handler { return a.mux }

// StatusExtra reports the worker's own fields in its status: its pool, event log and
// inventory health.
func (a *workerApp) StatusExtra() map[string]any {
	m := map[string]any{"worker_id": a.id, "pool": a.pool}
	if a.events != nil {
		es := a.events.Stats()
		m["eventlog_records"] = es.Records
		m["eventlog_write_errors"] = es.WriteErrors
		m["eventlog_last_error"] = es.LastError
		m["eventlog_disk_bytes"] = es.DiskBytes
		m["eventlog_max_disk_bytes"] = int64(a.cfg.Events.MaxDisk)
	}
	age, lastErr := a.refresher.Health()
	m["inventory_error"] = lastErr
	if age > 0 {
		m["inventory_age_seconds"] = age.Seconds()
	}
	if s := a.engine.Snapshot(); s != nil {
		m["inventory_zones"] = s.NumZones()
	}
	if a.lists != nil {
		m["ip_lists"] = a.lists.status()
	}
	if r := a.reads.Load(); r != nil {
		if st := r.Status(); st.Replica {
			// Where reports and snapshots are read, and how often the replica failed one.
			m["db_reads_from"] = st.Using
			m["db_replica_fallbacks"] = st.Fallbacks
			// A current problem only while reads bypass the replica: the monitor shows a
			// non-empty "..._error" as a warning in /status.
			m["db_replica_error"] = ""
			if st.Using == "primary" {
				m["db_replica_error"] = "reading from the primary: the replica failed: " + st.LastError
			}
		}
	}
	return m
}

// Close stops the refresher and closes the event log (syncing it) and the database.
func (a *workerApp) Close() error {
	a.refresher.Close()
	var err error
	if a.events != nil {
		err = a.events.Close()
	}
	if r := a.reads.Load(); r != nil {
		r.Close()
	}
	if db := a.db.Load(); db != nil {
		db.Close()
	}
	return err
}
