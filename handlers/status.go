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
//	GET /status?json           monitor.StatusDoc as JSON, for scripts and `adnet top`
//	    &history=SECONDS       … plus that much history in columns (StatusDoc.History)
//	    &since=UNIX_MS         … plus the history after that time (the page's polls)
//	GET /status/advice         the advice as plain text, one finding a line
type StatusPage struct {
	Started time.Time
	Source  StatusSource
	Limits  monitor.StatusLimits
	// Aggregator, if set, fetches the statistics aggregator's status; it is shown in the
	// JSON and turned into advice (outages, disk, lag, fraud memory).
	Aggregator func(ctx context.Context) (*aggregator.Stats, error)
	// Shipper, if set (events.transport = "jetstream"), fetches the event shipper's status;
	// it is shown in the JSON and turned into advice (no acknowledgement, lag).
	Shipper monitor.ShipperFetch
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
	s.addShipper(r.Context(), &doc)
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
func (s *StatusPage) addAggregator(ctx context.Context, doc *monitor.StatusDoc) {
	if s.Aggregator == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := s.Aggregator(ctx)
	doc.Aggregator = st
	if st != nil && st.CapacityWarning != "" {
		doc.Warnings = append(doc.Warnings, "aggregator: "+st.CapacityWarning)
	}
	doc.Advice = append(doc.Advice, monitor.AggregatorAdvice(st, err, time.Now())...)
}

// addShipper adds the event shipper's status and advice to doc, bounded as addAggregator.
func (s *StatusPage) addShipper(ctx context.Context, doc *monitor.StatusDoc) {
	if s.Shipper == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := s.Shipper(ctx)
	now := time.Now()
	doc.Shipper = monitor.NewShipperDoc(st, now)
	doc.Advice = append(doc.Advice, monitor.ShipperAdvice(st, err, now)...)
}

// Doc builds the status document from the monitor's latest poll (without history).
func (s *StatusPage) Doc() monitor.StatusDoc {
	return monitor.BuildStatus(&monitor.StatusInput{Snapshot: s.Source.Snapshot(), Latest: s.Source.Samples(time.Time{}, 1),
		Advice: s.Source.Advice(), Interval: s.Source.Interval(), Started: s.Started, Limits: s.Limits})
}
