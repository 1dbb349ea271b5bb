package main

import (
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
	"adnet/internal/config"
	"adnet/internal/monitor"
)

// masterWorkers adapts the process manager to monitor.WorkerSource.
type masterWorkers struct{ m *master.Master }

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

// startStatusServer serves /status and /ping over HTTP on the master's own Unix socket, which
// nginx proxies to: status stays reachable when every worker is saturated.
func startStatusServer(cfg *config.Config, m *master.Master, log *logrus.Logger) (*http.Server, error) {
	path := cfg.StatusSocket()
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("status socket %s: %w", path, err)
	}
	if err := os.Chmod(path, os.FileMode(cfg.SocketMode)); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ping", handlers.Ping)
	mux.Handle("/status", &handlers.StatusPage{
		Started:   time.Now(),
		Collector: &monitor.Collector{Source: masterWorkers{m}},
		Limits: handlers.StatusLimits{Workers: cfg.Workers, MaxChildren: cfg.MaxChildren, Queue: cfg.Queue,
			QueueTimeout: cfg.QueueTimeout.D().String()},
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: nil}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.WithError(err).Error("status server stopped")
		}
	}()
	log.WithField("socket", filepath.Base(path)).Debug("status server listening")
	return srv, nil
}
