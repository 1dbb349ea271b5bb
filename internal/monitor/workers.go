// Package monitor is the master's view of the running system. Every monitor.interval it
// reads nginx's stub_status and every worker's counters over the workers' control sockets
// (answered outside the worker's request cap, so it works when the worker is saturated),
// turns each poll into a Sample of deltas (Recorder: counter resets when nginx or a worker
// restarts, rates, peaks, latency percentiles from the workers' histograms), keeps an hour
// of them in a bounded ring, and derives plain-words tuning Advice from that history.
// The status page, /metrics and `adnet top` are answered from this memory.
//
// The pieces are separable so that each is tested on its own: Recorder and Advise are pure
// (recorded readings in, samples and sentences out); Monitor does the I/O and the locking.
package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"adnet/fcgi"
)

// WorkerSource lists the live worker processes; the master's process manager implements it.
type WorkerSource interface {
	Workers() []WorkerRef
}

// WorkerRef identifies one worker process and where its control socket is.
type WorkerRef struct {
	ID            int       `json:"id"`
	PID           int       `json:"pid"`
	Started       time.Time `json:"started"`
	Restarts      int       `json:"restarts"`
	LastExit      string    `json:"last_exit,omitempty"`
	Socket        string    `json:"socket"`
	ControlSocket string    `json:"-"`
}

// WorkerStatus is one worker's identity and its counters (Stats is nil if it did not answer).
type WorkerStatus struct {
	WorkerRef
	Stats *fcgi.Stats `json:"stats,omitempty"`
	Error string      `json:"error,omitempty"`
}

// Collector fetches worker counters over their control sockets.
type Collector struct {
	Source  WorkerSource
	Timeout time.Duration // per worker; default 1s
}

// Workers asks every worker for its counters concurrently and returns them ordered by id.
// A worker that does not answer in time is reported with Error set, never dropped.
func (c *Collector) Workers(ctx context.Context) []WorkerStatus {
	refs := c.Source.Workers()
	out := make([]WorkerStatus, len(refs))
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = time.Second
	}
	var wg sync.WaitGroup
	for i, ref := range refs {
		out[i].WorkerRef = ref
		wg.Add(1)
		go func(ws *WorkerStatus) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			st, err := FetchWorkerStats(ctx, ws.ControlSocket)
			if err != nil {
				ws.Error = err.Error()
				return
			}
			ws.Stats = &st
		}(&out[i])
	}
	wg.Wait()
	return out
}

// FetchWorkerStats GETs /status from a worker's control socket.
func FetchWorkerStats(ctx context.Context, controlSocket string) (fcgi.Stats, error) {
	var st fcgi.Stats
	if controlSocket == "" {
		return st, fmt.Errorf("worker has no control socket yet")
	}
	return st, FetchControl(ctx, controlSocket, &st)
}

// FetchControl GETs /status from a process's control socket (plain HTTP on a Unix socket,
// answered outside any request cap) and decodes the JSON into v.
func FetchControl(ctx context.Context, socket string, v any) error {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableKeepAlives: true,
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://adnet/status", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("control socket answered %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("decoding status: %w", err)
	}
	return nil
}
