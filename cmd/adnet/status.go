package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"adnet/fcgi/master"
	"adnet/handlers"
	"adnet/internal/aggregator"
	"adnet/internal/config"
	"adnet/internal/jetstream"
	"adnet/internal/monitor"
	"adnet/nginx"
)

// masterWorkers adapts the process manager to monitor.WorkerSource.
type masterWorkers struct{ m *master.Master }

// Workers lists the master's worker slots (not its extra processes) with their current
// process and control socket.
func (mw masterWorkers) Workers() []monitor.WorkerRef {
	var refs []monitor.WorkerRef
	for _, p := range mw.m.Processes() {
		if p.ID == 0 {
			continue
		}
		refs = append(refs, monitor.WorkerRef{ID: p.ID, PID: p.PID, Started: p.Started, Restarts: p.Restarts,
			LastExit: p.LastExit, Socket: p.Socket, ControlSocket: p.ControlSocket})
	}
	return refs
}

// newMonitor builds the master's monitor: nginx's stub_status at monitor.nginx_status_url
// (default http://<nginx.listen>/nginx_status) and every worker's control socket, polled
// every monitor.interval, with monitor.history kept in memory.
func newMonitor(cfg *config.Config, m, console *master.Master, log logrus.FieldLogger) *monitor.Monitor {
	interval := cfg.Monitor.Interval.D()
	timeout := min(max(interval, 250*time.Millisecond), 5*time.Second)
	url := cfg.NginxStatusURL()
	return monitor.New(monitor.Options{
		// One kept-alive connection: a new connection every poll would add the monitor's
		// own connections to nginx's accepts (connections/s); kept alive, it shows as one
		// Waiting connection between polls.
		Nginx: &nginx.Client{URL: url, HTTP: &http.Client{Timeout: timeout,
			Transport: &http.Transport{MaxIdleConns: 1, MaxIdleConnsPerHost: 1, IdleConnTimeout: 10 * interval}}},
		NginxURL: url,
		Workers:  &monitor.Collector{Source: masterWorkers{m}, Timeout: timeout},
		Console:  &monitor.Collector{Source: masterWorkers{console}, Timeout: timeout},
		Interval: interval,
		History:  cfg.Monitor.History.D(),
		Logger:   log,
	})
}

// statusHandler routes the master's status socket: /status (HTML, ?json), /status/advice,
// /metrics and /ping. Everything is answered from the monitor's memory.
func statusHandler(cfg *config.Config, mon *monitor.Monitor, started time.Time) http.Handler {
	fetchAggregator := func(ctx context.Context) (*aggregator.Stats, error) {
		var st aggregator.Stats
		if err := monitor.FetchControl(ctx, cfg.AggregatorSocket(), &st); err != nil {
			return nil, err
		}
		return &st, nil
	}
	page := &handlers.StatusPage{
		Started: started,
		Source:  mon,
		Limits: monitor.StatusLimits{Workers: cfg.Workers, MaxChildren: cfg.MaxChildren, Queue: cfg.Queue,
			QueueTimeout: cfg.QueueTimeout.D().String(), RequestTimeout: cfg.RequestTimeout.D().String(),
			SlowlogTimeout: cfg.SlowlogTimeout.D().String()},
		Aggregator: fetchAggregator,
	}
	var fetchShipper monitor.ShipperFetch
	if cfg.Events.Transport == config.TransportJetStream {
		// This host's shipper (an extra process of the master only in this mode), asked over
		// its control socket as the aggregator is.
		fetchShipper = func(ctx context.Context) (*jetstream.ShipperStats, error) {
			var st jetstream.ShipperStats
			if err := monitor.FetchControl(ctx, cfg.ShipperSocket(), &st); err != nil {
				return nil, err
			}
			return &st, nil
		}
		page.Shipper = fetchShipper
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ping", handlers.Ping)
	mux.Handle("/status", page)
	mux.Handle("/status/", page)
	mux.Handle("/metrics", handlers.NewMetrics(mon, fetchAggregator, fetchShipper))
	return mux
}

// startStatusServer starts the master's monitor and serves the status pages over HTTP on
// the master's own Unix socket (socket_dir/master.sock), which nginx proxies /status,
// /status/… and /metrics to: status stays reachable when every worker is saturated, and
// is never queued behind ad traffic. Closing the returned server stops the monitor too.
func startStatusServer(cfg *config.Config, m, console *master.Master, log *logrus.Logger) (*http.Server, error) {
	path := cfg.StatusSocket()
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("status socket %s: %w", path, err)
	}
	if err := os.Chmod(path, os.FileMode(cfg.SocketMode)); err != nil {
		ln.Close()
		return nil, err
	}
	mon := newMonitor(cfg, m, console, log)
	srv := &http.Server{
		Handler:           statusHandler(cfg, mon, time.Now()),
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	ctx, stop := context.WithCancel(context.Background())
	go mon.Run(ctx)
	go func() {
		defer stop() // the monitor lives as long as the server
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.WithError(err).Error("status server stopped")
		}
	}()
	log.WithFields(logrus.Fields{"socket": filepath.Base(path), "nginx_status": cfg.NginxStatusURL(),
		"interval": cfg.Monitor.Interval.D().String()}).Debug("status server and monitor running")
	return srv, nil
}
