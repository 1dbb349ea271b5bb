package fcgi

import (
	"os"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// latencyBounds are the upper bounds of the latency histogram buckets, fixed at compile
// time so that recording a latency is a short scan and one atomic add, and so that every
// worker reports the same buckets and the master can add them up. A request lands in the
// first bucket whose bound is >= its latency; the extra last bucket is +Inf.
var latencyBounds = [...]time.Duration{
	100 * time.Microsecond,
	250 * time.Microsecond,
	500 * time.Microsecond,
	1 * time.Millisecond,
	2500 * time.Microsecond,
	5 * time.Millisecond,
	10 * time.Millisecond,
	25 * time.Millisecond,
	50 * time.Millisecond,
	100 * time.Millisecond,
	250 * time.Millisecond,
	500 * time.Millisecond,
	1 * time.Second,
	2500 * time.Millisecond,
	5 * time.Second,
	10 * time.Second,
}

// numBuckets counts the histogram buckets including the +Inf one.
const numBuckets = len(latencyBounds) + 1

// Stats is a snapshot of one worker's counters, served as JSON on the control socket's
// /status so that the master and `adnet top` can decode it. Fields follow php-fpm's status
// page where one exists, plus what php-fpm is criticised for lacking: configured limits,
// rejected requests (not only "max children reached" episodes), and latency.
//
// Counters are read one atomic at a time, so a snapshot taken under load may be off by the
// few requests that finished while it was taken; each counter on its own is exact. Gauges
// (InFlight, Queued) and their maxima count a request from the atomic that enters it to
// the one that leaves it, so a waiter that has just taken a slot may briefly count in both.
type Stats struct {
	Pid        int       `json:"pid"`
	StartTime  time.Time `json:"start_time"`
	StartSince int64     `json:"start_since"` // seconds since StartTime
	Draining   bool      `json:"draining"`    // Shutdown has begun

	MaxChildren      int   `json:"max_children"`       // configured cap on requests in the handler
	QueueLen         int   `json:"queue"`              // configured queue length beyond the cap
	QueueTimeoutMs   int64 `json:"queue_timeout_ms"`   // configured wait in the queue
	RequestTimeoutMs int64 `json:"request_timeout_ms"` // configured request context deadline (0 = none)
	SlowTimeoutMs    int64 `json:"slow_timeout_ms"`    // configured slow-log threshold (0 = off)

	ConnsAccepted uint64 `json:"conns_accepted"` // FastCGI connections accepted
	ConnsOpen     int64  `json:"conns_open"`     // FastCGI connections open now
	IdleClosed    uint64 `json:"idle_closed"`    // connections closed by IdleTimeout
	BadInput      uint64 `json:"bad_input"`      // connections closed for breaking input limits
	PeersRefused  uint64 `json:"peers_refused"`  // TCP connections closed at accept: peer not in Options.AllowPeers

	Accepted      uint64 `json:"accepted"`       // requests received (php-fpm "accepted conn")
	InFlight      int64  `json:"in_flight"`      // requests inside the handler now (php-fpm "active processes")
	MaxInFlight   int64  `json:"max_in_flight"`  // highest InFlight seen (php-fpm "max active processes")
	Queued        int64  `json:"queued"`         // requests waiting for a slot now (php-fpm "listen queue")
	MaxQueued     int64  `json:"max_queued"`     // highest Queued seen (php-fpm "max listen queue")
	CapReached    uint64 `json:"cap_reached"`    // requests that found all MaxChildren busy (php-fpm "max children reached", but per request)
	Rejected      uint64 `json:"rejected"`       // 503s because of the cap (queue full or queue timeout)
	QueueTimeouts uint64 `json:"queue_timeouts"` // of Rejected, those that waited QueueTimeout in the queue
	DrainGoodbyes uint64 `json:"drain_goodbyes"` // responses during a drain that told the web server to drop their connection (see Shutdown)
	Panics        uint64 `json:"panics"`         // handler panics recovered (not counting http.ErrAbortHandler)
	Aborts        uint64 `json:"aborts"`         // http.ErrAbortHandler panics
	Timeouts      uint64 `json:"timeouts"`       // requests whose context deadline passed before the handler returned
	Slow          uint64 `json:"slow"`           // requests slower than SlowTimeout

	Status    StatusCounts    `json:"status"`    // every response, rejections included, by status class
	Endpoints []EndpointStats `json:"endpoints"` // per configured path prefix, then "other"
	Latency   LatencyStats    `json:"latency"`   // requests that got a slot, from arrival (queue wait included) to return

	HeapBytes  uint64 `json:"heap_bytes"` // live+unswept heap objects (runtime/metrics, no stop-the-world)
	Goroutines int    `json:"goroutines"`

	// Extra holds what Options.Extra returned, for the embedding program's own fields.
	Extra map[string]any `json:"extra,omitempty"`
}

// StatusCounts counts responses by status class. Codes outside 100..599 count as Other.
type StatusCounts struct {
	S1xx  uint64 `json:"1xx"`
	S2xx  uint64 `json:"2xx"`
	S3xx  uint64 `json:"3xx"`
	S4xx  uint64 `json:"4xx"`
	S5xx  uint64 `json:"5xx"`
	Other uint64 `json:"other"`
}

// EndpointStats counts the requests of one path prefix from Options.Endpoints; the last
// entry of Stats.Endpoints, named "other", counts everything else.
type EndpointStats struct {
	Prefix   string `json:"prefix"`
	Requests uint64 `json:"requests"` // all requests, rejections included
	Rejected uint64 `json:"rejected"` // 503s from the cap or draining
	S5xx     uint64 `json:"5xx"`      // 5xx responses, rejections included
}

// LatencyStats is a latency histogram. Counts[i] counts requests with latency
// <= BoundsSeconds[i] (and above the previous bound); the last count, one more than the
// bounds, is +Inf. Counts are per bucket, not cumulative; add them up for Prometheus.
type LatencyStats struct {
	BoundsSeconds []float64 `json:"bounds_seconds"`
	Counts        []uint64  `json:"counts"`
	Count         uint64    `json:"count"`
	SumMicros     uint64    `json:"sum_us"` // total latency, integer microseconds so that it stays exact
}

// counters are the live atomics behind Stats. Everything on the request path is one
// atomic add (or a CAS loop for the maxima); nothing allocates.
type counters struct {
	connsAccepted atomic.Uint64
	connsOpen     atomic.Int64
	idleClosed    atomic.Uint64
	idleDeferred  atomic.Uint64 // idle deadline passed on a busy conn; kept open (tests observe it)
	badInput      atomic.Uint64
	peersRefused  atomic.Uint64

	accepted      atomic.Uint64
	inFlight      atomic.Int64
	maxInFlight   atomic.Int64
	queued        atomic.Int64
	maxQueued     atomic.Int64
	capReached    atomic.Uint64
	rejected      atomic.Uint64
	queueTimeouts atomic.Uint64
	drainGoodbyes atomic.Uint64
	panics        atomic.Uint64
	aborts        atomic.Uint64
	timeouts      atomic.Uint64
	slow          atomic.Uint64

	status    [6]atomic.Uint64 // 1xx..5xx, other
	endpoints []endpointCounters
	buckets   [numBuckets]atomic.Uint64
	latCount  atomic.Uint64
	latSumUs  atomic.Uint64
}

// endpointCounters is padded to a cache line so that two hot endpoints counted on
// different cores do not contend for one line.
type endpointCounters struct {
	requests atomic.Uint64
	rejected atomic.Uint64
	s5xx     atomic.Uint64
	_        [40]byte
}

// storeMax raises m to v if v is larger; exact under concurrency (a CAS loop).
func storeMax(m *atomic.Int64, v int64) {
	for {
		cur := m.Load()
		if v <= cur || m.CompareAndSwap(cur, v) {
			return
		}
	}
}

// countStatus adds one response with the given code to its class.
func (c *counters) countStatus(code int) {
	i := code/100 - 1
	if code < 100 || i > 4 {
		i = 5
	}
	c.status[i].Add(1)
}

// observe records one latency in the histogram.
func (c *counters) observe(d time.Duration) {
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	c.buckets[i].Add(1)
	c.latCount.Add(1)
	if d > 0 {
		c.latSumUs.Add(uint64(d / time.Microsecond))
	}
}

// heapObjectsMetric is the runtime/metrics name read for Stats.HeapBytes; unlike
// runtime.ReadMemStats it does not stop the world, so /status is safe to poll often.
const heapObjectsMetric = "/memory/classes/heap/objects:bytes"

// Stats returns a snapshot of the server's counters and configuration. It only reads
// atomics (plus one runtime/metrics sample and Options.Extra), so it is cheap enough to be
// polled every second by the master.
func (s *Server) Stats() Stats {
	c := &s.c
	st := Stats{
		Pid:              os.Getpid(),
		StartTime:        s.start,
		StartSince:       int64(time.Since(s.start) / time.Second),
		Draining:         s.draining.Load(),
		MaxChildren:      s.opt.MaxChildren,
		QueueLen:         s.opt.Queue,
		QueueTimeoutMs:   s.opt.QueueTimeout.Milliseconds(),
		RequestTimeoutMs: max(s.opt.RequestTimeout, 0).Milliseconds(),
		SlowTimeoutMs:    s.opt.SlowTimeout.Milliseconds(),
		ConnsAccepted:    c.connsAccepted.Load(),
		ConnsOpen:        c.connsOpen.Load(),
		IdleClosed:       c.idleClosed.Load(),
		BadInput:         c.badInput.Load(),
		PeersRefused:     c.peersRefused.Load(),
		Accepted:         c.accepted.Load(),
		InFlight:         c.inFlight.Load(),
		MaxInFlight:      c.maxInFlight.Load(),
		Queued:           c.queued.Load(),
		MaxQueued:        c.maxQueued.Load(),
		CapReached:       c.capReached.Load(),
		Rejected:         c.rejected.Load(),
		QueueTimeouts:    c.queueTimeouts.Load(),
		DrainGoodbyes:    c.drainGoodbyes.Load(),
		Panics:           c.panics.Load(),
		Aborts:           c.aborts.Load(),
		Timeouts:         c.timeouts.Load(),
		Slow:             c.slow.Load(),
		Status: StatusCounts{
			S1xx:  c.status[0].Load(),
			S2xx:  c.status[1].Load(),
			S3xx:  c.status[2].Load(),
			S4xx:  c.status[3].Load(),
			S5xx:  c.status[4].Load(),
			Other: c.status[5].Load(),
		},
		Goroutines: runtime.NumGoroutine(),
	}
	st.Endpoints = make([]EndpointStats, len(c.endpoints))
	for i := range c.endpoints {
		name := "other"
		if i < len(s.opt.Endpoints) {
			name = s.opt.Endpoints[i]
		}
		st.Endpoints[i] = EndpointStats{
			Prefix:   name,
			Requests: c.endpoints[i].requests.Load(),
			Rejected: c.endpoints[i].rejected.Load(),
			S5xx:     c.endpoints[i].s5xx.Load(),
		}
	}
	st.Latency = LatencyStats{
		BoundsSeconds: make([]float64, len(latencyBounds)),
		Counts:        make([]uint64, numBuckets),
		Count:         c.latCount.Load(),
		SumMicros:     c.latSumUs.Load(),
	}
	for i, b := range latencyBounds {
		st.Latency.BoundsSeconds[i] = b.Seconds()
	}
	for i := range c.buckets {
		st.Latency.Counts[i] = c.buckets[i].Load()
	}
	sample := []metrics.Sample{{Name: heapObjectsMetric}}
	metrics.Read(sample)
	if sample[0].Value.Kind() == metrics.KindUint64 {
		st.HeapBytes = sample[0].Value.Uint64()
	}
	if s.opt.Extra != nil {
		st.Extra = s.opt.Extra()
	}
	return st
}
