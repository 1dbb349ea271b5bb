package monitor

import (
	"adnet/fcgi"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// MetricsSource is what the collector reads: the monitor's latest poll, its advice and its
// own counters (*Monitor implements it).
type MetricsSource interface {
	Snapshot() Snapshot
	Advice() []Advice
	Counters() Counters
}

// NewCollector returns a Prometheus collector that turns the monitor's latest poll into the
// nginx figures (adnet_nginx_*) and every worker's counters (adnet_worker_*, label
// worker="<id>").
//
// Naming follows Prometheus' conventions, unlike nginx-prometheus-exporter: counters end
// in _total, units are base units in the name (_seconds, _bytes). Counters of nginx and of
// a worker go back to zero when that process restarts, which Prometheus' rate() handles.
func NewCollector(src MetricsSource) prometheus.Collector { return newStatusCollector(src) }

// statusCollector exports the monitor's latest Snapshot as constant metrics.
type statusCollector struct {
	src MetricsSource

	monitorPolls, monitorNginxErrors, monitorSamples, advice *prometheus.Desc
	workers, workersUp                                       *prometheus.Desc

	nginxUp, nginxActive, nginxConns                                *prometheus.Desc
	nginxAccepted, nginxHandled, nginxDropped, nginxReqs, nginxRest *prometheus.Desc

	wUp, wStart, wRestarts, wMaxChildren, wQueueSize, wQueueTimeout, wRequestTimeout      *prometheus.Desc
	wInFlight, wInFlightMax, wQueued, wQueuedMax                                          *prometheus.Desc
	wRequests, wCapReached, wRejected, wSlow, wPanics, wAborts, wTimeouts                 *prometheus.Desc
	wResponses, wEndpointReqs, wEndpointRejected, wEndpoint5xx, wDuration                 *prometheus.Desc
	wConnsOpen, wConnsAccepted, wIdleClosed, wBadInput, wPeersRefused, wHeap, wGoroutines *prometheus.Desc
	wReportedErrors, wDiskBytes, wDiskLimit                                               *prometheus.Desc
}

func newStatusCollector(src MetricsSource) *statusCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	w := func(name, help string, labels ...string) *prometheus.Desc {
		return d("adnet_worker_"+name, help, append([]string{"worker"}, labels...)...)
	}
	return &statusCollector{
		src:                src,
		monitorPolls:       d("adnet_monitor_polls_total", "Polls of nginx and the workers by the master's "),
		monitorNginxErrors: d("adnet_monitor_nginx_errors_total", "Monitor polls in which nginx's stub_status did not answer."),
		monitorSamples:     d("adnet_monitor_history_samples", "Samples held in the monitor's in-memory history."),
		advice:             d("adnet_advice", "Pieces of tuning advice the monitor gives now, by level (see /status).", "level"),
		workers:            d("adnet_workers", "Worker slots the master manages."),
		workersUp:          d("adnet_workers_up", "Workers that answered the latest status poll."),

		nginxUp:       d("adnet_nginx_up", "Whether nginx's stub_status answered the latest poll (1) or not (0)."),
		nginxActive:   d("adnet_nginx_connections_active", "Open client connections, idle ones included (stub_status Active)."),
		nginxConns:    d("adnet_nginx_connections", "Client connections by state (stub_status Reading, Writing, Waiting).", "state"),
		nginxAccepted: d("adnet_nginx_connections_accepted_total", "Client connections accepted by nginx since it started."),
		nginxHandled:  d("adnet_nginx_connections_handled_total", "Client connections handled by nginx since it started."),
		nginxDropped:  d("adnet_nginx_connections_dropped_total", "Client connections accepted but not handled (worker_connections exhausted) since nginx started."),
		nginxReqs:     d("adnet_nginx_http_requests_total", "Client requests since nginx started."),
		nginxRest:     d("adnet_nginx_restarts_total", "nginx restarts seen by the monitor (its counters went down)."),

		wUp:             w("up", "Whether the worker answered the latest status poll (1) or not (0)."),
		wStart:          w("start_time_seconds", "Start time of the worker process, Unix seconds."),
		wRestarts:       w("restarts_total", "Unexpected deaths of the worker slot that the master restarted."),
		wMaxChildren:    w("max_children", "Configured cap on requests in the handler at once."),
		wQueueSize:      w("queue_size", "Configured number of requests that may wait for a free child."),
		wQueueTimeout:   w("queue_timeout_seconds", "Configured longest wait in the queue."),
		wRequestTimeout: w("request_timeout_seconds", "Configured request deadline."),
		wInFlight:       w("requests_in_flight", "Requests in the handler now."),
		wInFlightMax:    w("requests_in_flight_max", "Most requests in the handler at once since the worker started."),
		wQueued:         w("requests_queued", "Requests waiting for a free child now."),
		wQueuedMax:      w("requests_queued_max", "Most requests waiting at once since the worker started."),
		wRequests:       w("requests_total", "Requests received."),
		wCapReached:     w("cap_reached_total", "Requests that found every child busy."),
		wRejected:       w("requests_rejected_total", "Requests answered 503 by the worker itself, by reason: cap (queue full), queue_timeout, draining.", "reason"),
		wSlow:           w("slow_requests_total", "Requests slower than slowlog_timeout."),
		wPanics:         w("panics_total", "Handler panics recovered."),
		wAborts:         w("aborts_total", "Handlers that aborted their response (http.ErrAbortHandler)."),
		wTimeouts:       w("request_timeouts_total", "Requests whose deadline passed before the handler returned."),
		wResponses:      w("responses_total", "Responses by status class, rejections included.", "class"),
		wEndpointReqs:   w("endpoint_requests_total", "Requests by endpoint.", "endpoint"),
		wEndpointRejected: w("endpoint_rejected_total",
			"Requests answered 503 by the worker itself (cap or draining), by endpoint.", "endpoint"),
		wEndpoint5xx:   w("endpoint_responses_5xx_total", "5xx responses by endpoint, rejections included.", "endpoint"),
		wDuration:      w("request_duration_seconds", "Time from a request's arrival (queue wait included) to its handler's return."),
		wConnsOpen:     w("connections_open", "FastCGI connections open now."),
		wConnsAccepted: w("connections_accepted_total", "FastCGI connections accepted."),
		wIdleClosed:    w("connections_idle_closed_total", "FastCGI connections closed for being idle too long."),
		wBadInput:      w("connections_bad_input_total", "FastCGI connections closed for breaking input limits."),
		wPeersRefused: w("connections_refused_peer_total",
			"TCP FastCGI connections closed at accept because the peer is not in fcgi.allow_peers."),
		wHeap:           w("heap_bytes", "Bytes of live and unswept heap objects."),
		wGoroutines:     w("goroutines", "Goroutines in the worker."),
		wReportedErrors: w("reported_errors_total", "Errors the worker reports of its own (event log write and fsync errors)."),
		wDiskBytes:      w("eventlog_disk_bytes", "Disk used by the worker's event log."),
		wDiskLimit:      w("eventlog_disk_limit_bytes", "Limit on the disk the worker's event log may use (events.max_disk)."),
	}
}

// Describe sends every descriptor.
func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.monitorPolls, c.monitorNginxErrors, c.monitorSamples, c.advice, c.workers, c.workersUp,
		c.nginxUp, c.nginxActive, c.nginxConns, c.nginxAccepted, c.nginxHandled, c.nginxDropped, c.nginxReqs, c.nginxRest,
		c.wUp, c.wStart, c.wRestarts, c.wMaxChildren, c.wQueueSize, c.wQueueTimeout, c.wRequestTimeout,
		c.wInFlight, c.wInFlightMax, c.wQueued, c.wQueuedMax, c.wRequests, c.wCapReached, c.wRejected,
		c.wSlow, c.wPanics, c.wAborts, c.wTimeouts, c.wResponses, c.wEndpointReqs, c.wEndpointRejected,
		c.wEndpoint5xx, c.wDuration, c.wConnsOpen, c.wConnsAccepted, c.wIdleClosed, c.wBadInput, c.wPeersRefused, c.wHeap,
		c.wGoroutines, c.wReportedErrors, c.wDiskBytes, c.wDiskLimit} {
		ch <- d
	}
}

// Collect sends the metrics of the monitor's latest poll.
func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	snap := c.src.Snapshot()
	mc := c.src.Counters()
	e := emitter{ch}
	e.counter(c.monitorPolls, float64(mc.Polls))
	e.counter(c.monitorNginxErrors, float64(mc.NginxErrors))
	e.gauge(c.monitorSamples, float64(mc.Samples))
	levels := map[Level]int{Critical: 0, Warning: 0, Info: 0, OK: 0}
	for _, a := range c.src.Advice() {
		levels[a.Level]++
	}
	for l, n := range levels {
		e.gauge(c.advice, float64(n), string(l))
	}
	c.collectNginx(e, &snap)
	e.gauge(c.workers, float64(len(snap.Workers)))
	up := 0
	for i := range snap.Workers {
		ws := &snap.Workers[i]
		id := strconv.Itoa(ws.ID)
		e.counter(c.wRestarts, float64(ws.Restarts), id)
		e.gauge(c.wUp, boolean(ws.Stats != nil), id)
		if ws.Stats != nil {
			up++
			c.collectWorker(e, ws.Stats, id)
		}
	}
	e.gauge(c.workersUp, float64(up))
	// The console pool's workers, labelled apart (worker="console-<n>").
	for i := range snap.Console {
		ws := &snap.Console[i]
		id := "console-" + strconv.Itoa(ws.ID)
		e.counter(c.wRestarts, float64(ws.Restarts), id)
		e.gauge(c.wUp, boolean(ws.Stats != nil), id)
		if ws.Stats != nil {
			c.collectWorker(e, ws.Stats, id)
		}
	}
}

// emitter sends constant metrics.
type emitter struct{ ch chan<- prometheus.Metric }

func (e emitter) counter(d *prometheus.Desc, v float64, labels ...string) {
	e.ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func (e emitter) gauge(d *prometheus.Desc, v float64, labels ...string) {
	e.ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func boolean(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// collectNginx sends the nginx figures of the latest poll.
func (c *statusCollector) collectNginx(e emitter, snap *Snapshot) {
	ng := snap.Nginx
	if ng.URL == "" || snap.Time.IsZero() {
		return
	}
	e.gauge(c.nginxUp, boolean(ng.Up))
	if !ng.Read.IsZero() { // figures from the last good reading
		e.gauge(c.nginxActive, float64(ng.Active))
		e.gauge(c.nginxConns, float64(ng.Reading), "reading")
		e.gauge(c.nginxConns, float64(ng.Writing), "writing")
		e.gauge(c.nginxConns, float64(ng.Waiting), "waiting")
		e.counter(c.nginxAccepted, float64(ng.Accepts))
		e.counter(c.nginxHandled, float64(ng.Handled))
		e.counter(c.nginxDropped, float64(ng.Dropped))
		e.counter(c.nginxReqs, float64(ng.Requests))
	}
	e.counter(c.nginxRest, float64(ng.Resets))
}

// collectWorker sends the counters of one worker that answered.
func (c *statusCollector) collectWorker(e emitter, st *fcgi.Stats, id string) {
	e.gauge(c.wStart, float64(st.StartTime.UnixNano())/1e9, id)
	e.gauge(c.wMaxChildren, float64(st.MaxChildren), id)
	e.gauge(c.wQueueSize, float64(st.QueueLen), id)
	e.gauge(c.wQueueTimeout, float64(st.QueueTimeoutMs)/1000, id)
	e.gauge(c.wRequestTimeout, float64(st.RequestTimeoutMs)/1000, id)
	e.gauge(c.wInFlight, float64(st.InFlight), id)
	e.gauge(c.wInFlightMax, float64(st.MaxInFlight), id)
	e.gauge(c.wQueued, float64(st.Queued), id)
	e.gauge(c.wQueuedMax, float64(st.MaxQueued), id)
	e.counter(c.wRequests, float64(st.Accepted), id)
	e.counter(c.wCapReached, float64(st.CapReached), id)
	e.counter(c.wRejected, float64(st.Rejected-min(st.QueueTimeouts, st.Rejected)), id, "cap")
	e.counter(c.wRejected, float64(st.QueueTimeouts), id, "queue_timeout")
	e.counter(c.wSlow, float64(st.Slow), id)
	e.counter(c.wPanics, float64(st.Panics), id)
	e.counter(c.wAborts, float64(st.Aborts), id)
	e.counter(c.wTimeouts, float64(st.Timeouts), id)
	for _, sc := range []struct {
		class string
		n     uint64
	}{{"1xx", st.Status.S1xx}, {"2xx", st.Status.S2xx}, {"3xx", st.Status.S3xx}, {"4xx", st.Status.S4xx},
		{"5xx", st.Status.S5xx}, {"other", st.Status.Other}} {
		e.counter(c.wResponses, float64(sc.n), id, sc.class)
	}
	for _, ep := range st.Endpoints {
		e.counter(c.wEndpointReqs, float64(ep.Requests), id, ep.Prefix)
		e.counter(c.wEndpointRejected, float64(ep.Rejected), id, ep.Prefix)
		e.counter(c.wEndpoint5xx, float64(ep.S5xx), id, ep.Prefix)
	}
	if lat := st.Latency; len(lat.Counts) == len(lat.BoundsSeconds)+1 {
		buckets := make(map[float64]uint64, len(lat.BoundsSeconds))
		var cum uint64
		for i, b := range lat.BoundsSeconds {
			cum += lat.Counts[i]
			buckets[b] = cum
		}
		// The count is the +Inf bucket's cumulative count, so that the exposition is
		// consistent even when the snapshot's Count was read a request apart.
		cum += lat.Counts[len(lat.BoundsSeconds)]
		e.ch <- prometheus.MustNewConstHistogram(c.wDuration, cum, float64(lat.SumMicros)/1e6, buckets, id)
	}
	e.gauge(c.wConnsOpen, float64(st.ConnsOpen), id)
	e.counter(c.wConnsAccepted, float64(st.ConnsAccepted), id)
	e.counter(c.wIdleClosed, float64(st.IdleClosed), id)
	e.counter(c.wBadInput, float64(st.BadInput), id)
	e.counter(c.wPeersRefused, float64(st.PeersRefused), id)
	e.gauge(c.wHeap, float64(st.HeapBytes), id)
	e.gauge(c.wGoroutines, float64(st.Goroutines), id)
	h := ExtraHealth(st.Extra)
	e.counter(c.wReportedErrors, float64(h.Errors), id)
	if h.DiskBytes > 0 || h.MaxDisk > 0 {
		e.gauge(c.wDiskBytes, h.DiskBytes, id)
		if h.MaxDisk > 0 {
			e.gauge(c.wDiskLimit, h.MaxDisk, id)
		}
	}
}
