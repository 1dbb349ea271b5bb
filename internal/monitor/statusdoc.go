package monitor

import (
	"adnet/internal/aggregator"
	"strconv"
	"time"
)

// StatusLimits are the configured limits, shown beside the live figures (php-fpm's status
// page omits them, so operators cannot tell how close to a limit they are).
type StatusLimits struct {
	Workers        int    `json:"workers"`
	MaxChildren    int    `json:"max_children"`
	Queue          int    `json:"queue"`
	QueueTimeout   string `json:"queue_timeout"`
	RequestTimeout string `json:"request_timeout,omitempty"`
	SlowlogTimeout string `json:"slowlog_timeout,omitempty"`
}

// StatusDoc is the JSON form of the status page.
type StatusDoc struct {
	Started         time.Time    `json:"started"`
	Uptime          float64      `json:"uptime_seconds"`
	Updated         time.Time    `json:"updated"` // when the monitor last polled (zero before its first poll)
	IntervalSeconds float64      `json:"interval_seconds"`
	Limits          StatusLimits `json:"limits"` // as the workers report them (a reload is followed)
	Nginx           NginxStatus  `json:"nginx"`
	Workers         []WorkerDoc  `json:"workers"`
	// Console is the console pool (the console and the REST API on workers of their own).
	Console    []WorkerStatus    `json:"console"`
	Totals     StatusTotals      `json:"totals"`
	Warnings   []string          `json:"warnings"`
	Advice     []Advice          `json:"advice"`
	History    *Series           `json:"history,omitempty"`
	Aggregator *aggregator.Stats `json:"aggregator,omitempty"`
	// Shipper is this host's event shipper (events.transport = "jetstream" only).
	Shipper *ShipperDoc `json:"shipper,omitempty"`
}

// WorkerDoc is one worker: its identity and full counters (WorkerStatus) and the
// rates of the latest interval.
type WorkerDoc struct {
	WorkerStatus
	Rates *WorkerRates `json:"rates,omitempty"`
}

// WorkerRates are a worker's figures over the latest monitor interval.
type WorkerRates struct {
	RequestsPerSec float64     `json:"requests_per_sec"`
	RejectedPerSec float64     `json:"rejected_per_sec"`
	Peak           int32       `json:"peak"` // most requests in flight during the interval
	Latency        Percentiles `json:"latency"`
}

// StatusTotals add up the workers that answered.
type StatusTotals struct {
	Accepted       uint64  `json:"accepted"`
	InFlight       int64   `json:"in_flight"`
	Queued         int64   `json:"queued"`
	MaxChildren    int64   `json:"max_children"` // the sum of the workers' caps
	CapReached     uint64  `json:"cap_reached"`
	Rejected       uint64  `json:"rejected"`
	RequestsPerSec float64 `json:"requests_per_sec"` // over the latest interval
}

// StatusInput is what a status document is built from.
type StatusInput struct {
	Snapshot Snapshot
	Latest   []Sample // the latest sample, if any (rates are taken from it when it is the snapshot's)
	Advice   []Advice
	Interval time.Duration
	Started  time.Time    // when the master started
	Limits   StatusLimits // the configured limits (the workers' own figures override them)
}

// BuildStatus builds the status document of the latest poll (without history): the limits,
// nginx, every worker with its rates, the totals and warnings for workers that did not answer.
func BuildStatus(in *StatusInput) StatusDoc {
	snap := in.Snapshot
	doc := StatusDoc{
		Started:         in.Started,
		Uptime:          time.Since(in.Started).Seconds(),
		Updated:         snap.Time,
		IntervalSeconds: in.Interval.Seconds(),
		Limits:          in.Limits,
		Nginx:           snap.Nginx,
		Workers:         make([]WorkerDoc, len(snap.Workers)),
		Warnings:        []string{},
		Advice:          in.Advice,
		Console:         snap.Console,
	}
	if doc.Console == nil {
		doc.Console = []WorkerStatus{}
	}
	for _, ws := range snap.Console {
		if ws.Stats == nil {
			doc.Warnings = append(doc.Warnings, "console worker "+strconv.Itoa(ws.ID)+" did not answer")
		}
	}
	// The limits as the workers report them follow a reload; the master's configuration
	// is the fallback while none answers.
	if len(snap.Workers) > 0 {
		doc.Limits.Workers = len(snap.Workers)
	}
	for _, ws := range snap.Workers {
		if st := ws.Stats; st != nil {
			doc.Limits.MaxChildren, doc.Limits.Queue = st.MaxChildren, st.QueueLen
			doc.Limits.QueueTimeout = (time.Duration(st.QueueTimeoutMs) * time.Millisecond).String()
			doc.Limits.RequestTimeout = (time.Duration(st.RequestTimeoutMs) * time.Millisecond).String()
			doc.Limits.SlowlogTimeout = (time.Duration(st.SlowTimeoutMs) * time.Millisecond).String()
			break
		}
	}
	var latest *Sample
	if ls := in.Latest; len(ls) == 1 && ls[0].Time.Equal(snap.Time) {
		latest = &ls[0]
	}
	for i, ws := range snap.Workers {
		doc.Workers[i].WorkerStatus = ws
		if ws.Stats == nil {
			if ws.PID == 0 {
				doc.Warnings = append(doc.Warnings, "worker "+strconv.Itoa(ws.ID)+" is not running")
			} else {
				doc.Warnings = append(doc.Warnings, "worker "+strconv.Itoa(ws.ID)+" did not answer: "+ws.Error)
			}
			continue
		}
		st := ws.Stats
		doc.Totals.Accepted += st.Accepted
		doc.Totals.InFlight += st.InFlight
		doc.Totals.Queued += st.Queued
		doc.Totals.MaxChildren += int64(st.MaxChildren)
		doc.Totals.CapReached += st.CapReached
		doc.Totals.Rejected += st.Rejected
		if latest == nil || latest.Elapsed <= 0 {
			continue
		}
		for _, w := range latest.Workers {
			if int(w.ID) != ws.ID || !w.Up || w.Restarted {
				continue
			}
			secs := latest.Elapsed.Seconds()
			doc.Workers[i].Rates = &WorkerRates{RequestsPerSec: float64(w.Accepted) / secs,
				RejectedPerSec: float64(w.Rejected) / secs, Peak: w.Peak, Latency: w.Latency}
			doc.Totals.RequestsPerSec += float64(w.Accepted) / secs
		}
	}
	return doc
}
