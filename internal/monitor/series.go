package monitor

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"
)

// Series is a stretch of the history in columns, the shape the status page's charts
// draw from: one array per figure, all as long as T. A figure that is unknown at a time
// (nginx or a worker not answering, a rate before the second poll, a latency without
// requests) is null.
type Series struct {
	IntervalSeconds float64        `json:"interval_seconds"`
	T               []int64        `json:"t"` // sample times, Unix milliseconds
	Nginx           NginxSeries    `json:"nginx"`
	Latency         LatencySeries  `json:"latency"` // all workers together
	Workers         []WorkerSeries `json:"workers"` // by worker id
}

// NginxSeries are nginx's figures over time.
type NginxSeries struct {
	Active            Nums `json:"active"`
	Reading           Nums `json:"reading"`
	Writing           Nums `json:"writing"`
	Waiting           Nums `json:"waiting"`
	RequestsPerSec    Nums `json:"requests_per_sec"`
	ConnectionsPerSec Nums `json:"connections_per_sec"`
	Dropped           Nums `json:"dropped"` // connections dropped in the interval
}

// LatencySeries are latency percentiles over time, in seconds.
type LatencySeries struct {
	P50 Nums `json:"p50"`
	P90 Nums `json:"p90"`
	P99 Nums `json:"p99"`
}

// WorkerSeries are one worker's figures over time.
type WorkerSeries struct {
	ID             int  `json:"id"`
	InFlight       Nums `json:"in_flight"`
	Peak           Nums `json:"peak"`
	Queued         Nums `json:"queued"`
	MaxChildren    Nums `json:"max_children"`
	RequestsPerSec Nums `json:"requests_per_sec"`
	RejectedPerSec Nums `json:"rejected_per_sec"`
	P50            Nums `json:"p50"`
	P99            Nums `json:"p99"`
}

// Nums is a column of figures; NaN is encoded as null. Values keep six significant
// digits, plenty for a chart, and enough for microsecond latencies.
type Nums []float64

// MarshalJSON encodes the column without reflection: a full hour is tens of thousands
// of numbers.
func (n Nums) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+len(n)*6)
	b = append(b, '[')
	for i, v := range n {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendFloat(b, v, 'g', 6, 64)
	}
	return append(b, ']'), nil
}

// UnmarshalJSON decodes null as NaN.
func (n *Nums) UnmarshalJSON(b []byte) error {
	var raw []*float64
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*n = make(Nums, len(raw))
	for i, p := range raw {
		if p == nil {
			(*n)[i] = math.NaN()
		} else {
			(*n)[i] = *p
		}
	}
	return nil
}

// NewSeries turns Samples (oldest first) into columns.
func NewSeries(samples []Sample, interval time.Duration) Series {
	n := len(samples)
	nan := math.NaN()
	col := func() Nums {
		c := make(Nums, n)
		for i := range c {
			c[i] = nan
		}
		return c
	}
	s := Series{IntervalSeconds: interval.Seconds(), T: make([]int64, n)}
	s.Nginx = NginxSeries{col(), col(), col(), col(), col(), col(), col()}
	s.Latency = LatencySeries{col(), col(), col()}
	byID := map[uint16]int{}
	for i := range samples {
		sm := &samples[i]
		s.T[i] = sm.Time.UnixMilli()
		secs := sm.Elapsed.Seconds()
		rate := func(c uint32) float64 {
			if secs <= 0 {
				return nan
			}
			return float64(c) / secs
		}
		if ng := sm.Nginx; ng.Up {
			s.Nginx.Active[i] = float64(ng.Active)
			s.Nginx.Reading[i] = float64(ng.Reading)
			s.Nginx.Writing[i] = float64(ng.Writing)
			s.Nginx.Waiting[i] = float64(ng.Waiting)
			s.Nginx.Dropped[i] = float64(ng.Dropped)
			if !ng.Reset && i > 0 && samples[i-1].Nginx.Up {
				s.Nginx.RequestsPerSec[i] = rate(ng.Requests)
				s.Nginx.ConnectionsPerSec[i] = rate(ng.Accepts)
			}
		}
		s.Latency.P50[i], s.Latency.P90[i], s.Latency.P99[i] = float64(sm.Latency.P50), float64(sm.Latency.P90), float64(sm.Latency.P99)
		for _, w := range sm.Workers {
			j, ok := byID[w.ID]
			if !ok {
				j = len(s.Workers)
				byID[w.ID] = j
				s.Workers = append(s.Workers, WorkerSeries{ID: int(w.ID), InFlight: col(), Peak: col(), Queued: col(),
					MaxChildren: col(), RequestsPerSec: col(), RejectedPerSec: col(), P50: col(), P99: col()})
			}
			if !w.Up {
				continue
			}
			ws := &s.Workers[j]
			ws.InFlight[i], ws.Peak[i], ws.Queued[i] = float64(w.InFlight), float64(w.Peak), float64(w.Queued)
			ws.MaxChildren[i] = float64(w.MaxChildren)
			if !w.Restarted {
				ws.RequestsPerSec[i], ws.RejectedPerSec[i] = rate(w.Accepted), rate(w.Rejected)
			}
			ws.P50[i], ws.P99[i] = float64(w.Latency.P50), float64(w.Latency.P99)
		}
	}
	slices.SortFunc(s.Workers, func(a, b WorkerSeries) int { return a.ID - b.ID })
	return s
}
