package monitor

import (
	"math"
	"strconv"
	"time"

	"adnet/fcgi"
)

// Sample is what happened during one monitor interval: nginx's gauges at the end of it and
// its counters' deltas over it, and the same for every worker. Counts are exact deltas of
// the underlying counters (corrected for resets); the history is a ring of Samples.
//
// Fields are small (uint32 deltas, float32 latencies) because an hour at one-second
// resolution is 3,600 Samples per worker; a second's delta never comes near 2^32.
type Sample struct {
	Time    time.Time      `json:"time"`
	Elapsed time.Duration  `json:"elapsed"` // since the previous Sample; 0 for the first one
	Nginx   NginxSample    `json:"nginx"`
	Workers []WorkerSample `json:"workers"`
	// Latency is the percentiles of every worker's requests that finished in the interval,
	// computed from the sum of their histogram deltas.
	Latency Percentiles `json:"latency"`
}

// NginxSample is one interval of nginx's stub_status.
type NginxSample struct {
	Up       bool   `json:"up"` // stub_status answered this interval; the rest is zero otherwise
	Active   uint32 `json:"active"`
	Reading  uint32 `json:"reading"`
	Writing  uint32 `json:"writing"`
	Waiting  uint32 `json:"waiting"`
	Requests uint32 `json:"requests"` // requests during the interval
	Accepts  uint32 `json:"accepts"`  // connections accepted during the interval
	Dropped  uint32 `json:"dropped"`  // connections accepted but not handled during the interval
	Reset    bool   `json:"reset"`    // nginx's counters went down: it was restarted
}

// WorkerSample is one interval of one worker.
type WorkerSample struct {
	ID       uint16 `json:"id"`
	PID      int32  `json:"pid"`
	Up       bool   `json:"up"`       // its control socket answered; the figures below are zero otherwise
	Restarts uint32 `json:"restarts"` // the master's count of unexpected restarts of this slot, cumulative
	// Restarted is set when this is a new process since the previous Sample (a restart or
	// a reload): its counters started again from zero.
	Restarted bool `json:"restarted"`

	MaxChildren int32 `json:"max_children"` // configured cap
	Queue       int32 `json:"queue"`        // configured queue length
	InFlight    int32 `json:"in_flight"`    // requests in the handler at the end of the interval
	// Peak is the most requests in the handler during the interval as far as can be told
	// from the counters: the current figure, raised to the worker's max-in-flight when
	// that grew during the interval, and to MaxChildren when the cap was reached.
	Peak       int32 `json:"peak"`
	Queued     int32 `json:"queued"`      // requests waiting for a slot at the end of the interval
	QueuedPeak int32 `json:"queued_peak"` // as Peak, for the queue

	Accepted      uint32 `json:"accepted"`       // requests received during the interval
	CapReached    uint32 `json:"cap_reached"`    // requests that found every child busy
	Rejected      uint32 `json:"rejected"`       // 503s because of the cap (queue full or timed out)
	QueueTimeouts uint32 `json:"queue_timeouts"` // of Rejected, those that waited queue_timeout
	Slow          uint32 `json:"slow"`           // requests slower than slowlog_timeout
	Timeouts      uint32 `json:"timeouts"`       // requests past request_timeout
	Panics        uint32 `json:"panics"`         // handler panics
	S5xx          uint32 `json:"5xx"`            // 5xx responses, rejections included
	// ExtraErrors counts the errors the worker reports in its extra status fields (event
	// log write and fsync errors), see ExtraHealth.
	ExtraErrors uint32 `json:"extra_errors"`

	Latency Percentiles `json:"latency"`
}

// Percentiles of request latency over one interval, in seconds; NaN when no request
// finished in it (encoded as null in JSON).
type Percentiles struct {
	P50 Seconds `json:"p50"`
	P90 Seconds `json:"p90"`
	P99 Seconds `json:"p99"`
}

// Seconds is a latency in seconds; NaN means "no data" and is encoded as JSON null.
type Seconds float32

// MarshalJSON encodes NaN as null.
func (s Seconds) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, float64(s), 'g', 6, 32), nil
}

// UnmarshalJSON decodes null as NaN.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = Seconds(math.NaN())
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 32)
	*s = Seconds(f)
	return err
}

// noLatency is the Percentiles of an interval without requests.
func noLatency() Percentiles {
	nan := Seconds(math.NaN())
	return Percentiles{nan, nan, nan}
}

// percentiles computes p50/p90/p99 from per-bucket counts (not cumulative) with the given
// upper bounds; the last count is the +Inf bucket. Within a bucket the latency is taken
// as spread evenly, as Prometheus' histogram_quantile does; the +Inf bucket reports the
// highest finite bound, since nothing better is known about it.
func percentiles(bounds []float64, counts []uint64) Percentiles {
	var total uint64
	for _, c := range counts {
		total += c
	}
	if total == 0 || len(counts) != len(bounds)+1 {
		return noLatency()
	}
	return Percentiles{
		P50: Seconds(quantile(0.50, bounds, counts, total)),
		P90: Seconds(quantile(0.90, bounds, counts, total)),
		P99: Seconds(quantile(0.99, bounds, counts, total)),
	}
}

func quantile(q float64, bounds []float64, counts []uint64, total uint64) float64 {
	rank := q * float64(total)
	var cum float64
	for i, c := range counts {
		if c == 0 {
			continue
		}
		if cum+float64(c) >= rank {
			if i == len(bounds) {
				return bounds[len(bounds)-1]
			}
			lo := 0.0
			if i > 0 {
				lo = bounds[i-1]
			}
			return lo + (bounds[i]-lo)*(rank-cum)/float64(c)
		}
		cum += float64(c)
	}
	return bounds[len(bounds)-1]
}

// sat32 converts a count to uint32, saturating: a delta that large means a counter jumped
// for a reason the reset detection did not see, and saturating keeps it visible.
func sat32(v uint64) uint32 {
	if v > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(v)
}

// clamp32 converts a gauge to int32, saturating at both ends.
func clamp32(v int64) int32 {
	return int32(max(min(v, math.MaxInt32), math.MinInt32))
}

// counterDelta is cur − prev for a counter, or cur when the counter was reset (a new
// process, or a counter that went down).
func counterDelta(cur, prev uint64, reset bool) uint64 {
	if reset || cur < prev {
		return cur
	}
	return cur - prev
}

// histogramDelta returns the per-bucket counts of cur minus those of prev (or cur after a
// reset), appended to dst.
func histogramDelta(dst []uint64, cur, prev fcgi.LatencyStats, reset bool) []uint64 {
	for i, c := range cur.Counts {
		var p uint64
		if !reset && i < len(prev.Counts) && len(prev.Counts) == len(cur.Counts) {
			p = prev.Counts[i]
		}
		dst = append(dst, counterDelta(c, p, false))
	}
	return dst
}
