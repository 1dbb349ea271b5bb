package handlers

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"adnet/internal/monitor"
)

// WorkerCollector gathers the workers' live counters (monitor.Collector implements it).
type WorkerCollector interface {
	Workers(ctx context.Context) []monitor.WorkerStatus
}

// StatusPage is the master's status report, JSON form: the master and every worker with its
// counters. It is served by the master on its own socket, never by a worker, so it answers
// while every worker is saturated.
type StatusPage struct {
	Started   time.Time
	Collector WorkerCollector
	Limits    StatusLimits
}

// StatusLimits are the configured limits, shown beside the live figures (php-fpm's status
// page omits them, so operators cannot tell how close to a limit they are).
type StatusLimits struct {
	Workers      int    `json:"workers"`
	MaxChildren  int    `json:"max_children"`
	Queue        int    `json:"queue"`
	QueueTimeout string `json:"queue_timeout"`
}

type statusJSON struct {
	Started  time.Time              `json:"started"`
	Uptime   float64                `json:"uptime_seconds"`
	Limits   StatusLimits           `json:"limits"`
	Workers  []monitor.WorkerStatus `json:"workers"`
	Totals   statusTotals           `json:"totals"`
	Warnings []string               `json:"warnings"`
}

type statusTotals struct {
	Accepted   uint64 `json:"accepted"`
	InFlight   int64  `json:"in_flight"`
	CapReached uint64 `json:"cap_reached"`
	Rejected   uint64 `json:"rejected"`
}

// ServeHTTP answers the status as JSON.
func (s *StatusPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	workers := s.Collector.Workers(r.Context())
	out := statusJSON{Started: s.Started, Uptime: time.Since(s.Started).Seconds(), Limits: s.Limits, Workers: workers, Warnings: []string{}}
	for _, ws := range workers {
		if ws.Stats == nil {
			out.Warnings = append(out.Warnings, "worker "+strconv.Itoa(ws.ID)+" did not answer: "+ws.Error)
			continue
		}
		out.Totals.Accepted += ws.Stats.Accepted
		out.Totals.InFlight += ws.Stats.InFlight
		out.Totals.CapReached += ws.Stats.CapReached
		out.Totals.Rejected += ws.Stats.Rejected
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}
