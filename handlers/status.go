package handlers

import (
	"context"
	_ "embed"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"adnet/internal/aggregator"
	"adnet/internal/monitor"
	"adnet/models"
)

// StatusSource is what the master's status pages read: the monitor's latest poll, its
// advice and its history (*monitor.Monitor implements it). Every method answers from
// memory, so the pages never wait on a worker or on nginx.
type StatusSource interface {
	Snapshot() monitor.Snapshot
	Advice() []monitor.Advice
	Samples(since time.Time, limit int) []monitor.Sample
	Interval() time.Duration
}

// StatusPage is the master's status report, served on the master's own socket (nginx
// proxies /status and /status/… to it), never by a worker, so it answers while every
// worker is saturated:
//
//	GET /status                the HTML page: live charts and the advice (polls ?json)
//	GET /status?json           StatusDoc as JSON, for scripts and `adnet top`
//	    &history=SECONDS       … plus that much history in columns (StatusDoc.History)
//	    &since=UNIX_MS         … plus the history after that time (the page's polls)
//	GET /status/advice         the advice as plain text, one finding a line
type StatusPage struct {
	Started time.Time
	Source  StatusSource
	Limits  StatusLimits
	// Aggregator, if set, fetches the statistics aggregator's status; it is shown in the
	// JSON and turned into advice (outages, disk, lag, fraud memory).
	Aggregator func(ctx context.Context) (*aggregator.Stats, error)
}

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
	Started         time.Time           `json:"started"`
	Uptime          float64             `json:"uptime_seconds"`
	Updated         time.Time           `json:"updated"` // when the monitor last polled (zero before its first poll)
	IntervalSeconds float64             `json:"interval_seconds"`
	Limits          StatusLimits        `json:"limits"` // as the workers report them (a reload is followed)
	Nginx           monitor.NginxStatus `json:"nginx"`
	Workers         []WorkerDoc         `json:"workers"`
	Totals          StatusTotals        `json:"totals"`
	Warnings        []string            `json:"warnings"`
	Advice          []monitor.Advice    `json:"advice"`
	History         *monitor.Series     `json:"history,omitempty"`
	Aggregator      *aggregator.Stats   `json:"aggregator,omitempty"`
}

// WorkerDoc is one worker: its identity and full counters (monitor.WorkerStatus) and the
// rates of the latest interval.
type WorkerDoc struct {
	monitor.WorkerStatus
	Rates *WorkerRates `json:"rates,omitempty"`
}

// WorkerRates are a worker's figures over the latest monitor interval.
type WorkerRates struct {
	RequestsPerSec float64             `json:"requests_per_sec"`
	RejectedPerSec float64             `json:"rejected_per_sec"`
	Peak           int32               `json:"peak"` // most requests in flight during the interval
	Latency        monitor.Percentiles `json:"latency"`
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

// maxHistory bounds ?history: the ring never holds more than monitor.history anyway.
const maxHistory = 7 * 24 * time.Hour

//go:embed templates/status.html
var statusHTML []byte

// ServeHTTP answers /status, /status?json and /status/advice.
func (s *StatusPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeMethodNotAllowed(w, "GET, HEAD")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	switch strings.TrimSuffix(r.URL.Path, "/") {
	case "/status":
		if r.URL.Query().Has("json") {
			s.serveJSON(w, r)
			return
		}
		s.serveHTML(w)
	case "/status/advice":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		for _, a := range s.Source.Advice() {
			fmt.Fprintf(w, "%-8s %s: %s\n", a.Level, a.Topic, a.Text)
		}
	default:
		http.NotFound(w, r)
	}
}

func (s *StatusPage) serveHTML(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// The page is self-contained: nothing may be loaded from anywhere, and it may only
	// talk back to this server (its ?json polls).
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(statusHTML)
}

func (s *StatusPage) serveJSON(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	doc := s.Doc()
	s.addAggregator(r.Context(), &doc)
	interval := s.Source.Interval()
	switch {
	case q.Has("since"):
		ms, err := strconv.ParseInt(q.Get("since"), 10, 64)
		if err != nil || ms < 0 {
			writeError(w, r, nil, models.Errorf(models.EINVALID, "since must be a Unix time in milliseconds"))
			return
		}
		// Samples after the whole millisecond `since` names: the page sends back the last
		// time it got, truncated to milliseconds.
		series := monitor.NewSeries(s.Source.Samples(time.UnixMilli(ms).Add(time.Millisecond-1), 0), interval)
		doc.History = &series
	case q.Has("history"):
		secs, err := strconv.ParseFloat(q.Get("history"), 64)
		if err != nil || secs < 0 || secs > maxHistory.Seconds() {
			writeError(w, r, nil, models.Errorf(models.EINVALID, "history must be a number of seconds"))
			return
		}
		n := int(time.Duration(secs*float64(time.Second))/max(interval, time.Millisecond)) + 1
		series := monitor.NewSeries(s.Source.Samples(time.Time{}, n), interval)
		doc.History = &series
	}
	writeJSON(w, http.StatusOK, doc)
}

// addAggregator adds the aggregator's status and advice to doc (bounded by a short timeout:
// the status page must answer even when the aggregator is wedged).
func (s *StatusPage) addAggregator(ctx context.Context, doc *StatusDoc) {
	if s.Aggregator == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := s.Aggregator(ctx)
	doc.Aggregator = st
	doc.Advice = append(doc.Advice, monitor.AggregatorAdvice(st, err, time.Now())...)
}

// Doc builds the status document from the monitor's latest poll (without history).
func (s *StatusPage) Doc() StatusDoc {
	snap := s.Source.Snapshot()
	doc := StatusDoc{
		Started:         s.Started,
		Uptime:          time.Since(s.Started).Seconds(),
		Updated:         snap.Time,
		IntervalSeconds: s.Source.Interval().Seconds(),
		Limits:          s.Limits,
		Nginx:           snap.Nginx,
		Workers:         make([]WorkerDoc, len(snap.Workers)),
		Warnings:        []string{},
		Advice:          s.Source.Advice(),
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
	var latest *monitor.Sample
	if ls := s.Source.Samples(time.Time{}, 1); len(ls) == 1 && ls[0].Time.Equal(snap.Time) {
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
