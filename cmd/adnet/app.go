package main

import (
	"context"
	"net/http"

	"github.com/sirupsen/logrus"

	"adnet/handlers"
	"adnet/internal/config"
)

// workerApp is everything one worker process serves with: the HTTP routes and the engines
// behind them. It is built once per process and closed on exit.
type workerApp struct {
	cfg *config.Config
	id  int
	log *logrus.Logger
	mux *http.ServeMux
}

func newWorkerApp(_ context.Context, cfg *config.Config, id int, log *logrus.Logger) (*workerApp, error) {
	a := &workerApp{cfg: cfg, id: id, log: log, mux: http.NewServeMux()}
	a.mux.HandleFunc("/ping", handlers.Ping)
	if cfg.DebugEndpoints {
		a.mux.HandleFunc("/debug/sleep", handlers.DebugSleep)
	}
	return a, nil
}

// Handler returns the worker's routes.
func (a *workerApp) Handler() http.Handler { return a.mux }

// StatusExtra reports the worker's own fields in its status (event log health, inventory age).
func (a *workerApp) StatusExtra() map[string]any {
	return map[string]any{"worker_id": a.id}
}

// Close releases what the worker holds.
func (a *workerApp) Close() error { return nil }
