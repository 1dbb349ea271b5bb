package monitor

import (
	"time"

	"adnet/fcgi"
	"adnet/nginx"
)

// Snapshot is everything the monitor read in one poll: nginx's stub_status and every
// worker's full status. The status page, /metrics and `adnet top` are answered from the
// latest Snapshot, from memory, so they never wait on a worker.
type Snapshot struct {
	Time    time.Time      `json:"time"`
	Nginx   NginxStatus    `json:"nginx"`
	Workers []WorkerStatus `json:"workers"`
	// Console are the console pool's workers (see Options.Console); not recorded in the
	// history, which is the ad workers'.
	Console []WorkerStatus `json:"console,omitempty"`
}

// NginxStatus is the latest stub_status reading and the rates since the one before.
type NginxStatus struct {
	URL   string    `json:"url"`
	Up    bool      `json:"up"`              // the latest poll got an answer
	Error string    `json:"error,omitempty"` // why the latest poll failed
	Read  time.Time `json:"read"`            // when the figures below were read (the last good poll)

	Active   uint64 `json:"active"`
	Reading  uint64 `json:"reading"`
	Writing  uint64 `json:"writing"`
	Waiting  uint64 `json:"waiting"`
	Accepts  uint64 `json:"accepts"`  // counter since nginx started
	Handled  uint64 `json:"handled"`  // counter since nginx started
	Requests uint64 `json:"requests"` // counter since nginx started
	Dropped  uint64 `json:"dropped"`  // accepts − handled since nginx started

	RequestsPerSec    float64 `json:"requests_per_sec"`    // over the latest interval
	ConnectionsPerSec float64 `json:"connections_per_sec"` // over the latest interval
	Resets            uint64  `json:"resets"`              // nginx restarts seen by this monitor
}

// setStub copies a stub_status reading into n.
func (n *NginxStatus) setStub(s nginx.StubStatus) {
	n.Active, n.Reading, n.Writing, n.Waiting = s.Active, s.Reading, s.Writing, s.Waiting
	n.Accepts, n.Handled, n.Requests, n.Dropped = s.Accepts, s.Handled, s.Requests, s.Dropped()
}

// stub returns n's figures as a stub_status reading.
func (n *NginxStatus) stub() nginx.StubStatus {
	return nginx.StubStatus{Active: n.Active, Accepts: n.Accepts, Handled: n.Handled, Requests: n.Requests,
		Reading: n.Reading, Writing: n.Writing, Waiting: n.Waiting}
}

// Recorder turns successive Snapshots into Samples and keeps the latest ones in a ring of
// fixed capacity. It has no clock and does no I/O, so that counter resets, rates and the
// history are tested from recorded snapshots. It is not safe for concurrent use; Monitor
// serialises it.
type Recorder struct {
	ring  []Sample
	start int // index of the oldest Sample
	n     int // Samples held

	nginxPrev   nginx.StubStatus
	nginxPrevAt time.Time
	nginxHave   bool
	nginxResets uint64

	workers map[int]workerPrev // by worker id
	buckets []uint64           // scratch for the merged latency histogram
	delta   []uint64           // scratch for one worker's histogram delta
}

// workerPrev is what is kept of a worker's previous answer to compute deltas.
type workerPrev struct {
	pid         int
	start       time.Time
	stats       fcgi.Stats
	extraErrors uint64
}

// NewRecorder returns a Recorder that keeps the latest capacity Samples (at least 1).
func NewRecorder(capacity int) *Recorder {
	return &Recorder{ring: make([]Sample, max(capacity, 1)), workers: make(map[int]workerPrev)}
}

// Cap returns how many Samples the Recorder keeps.
func (r *Recorder) Cap() int { return len(r.ring) }

// Len returns how many Samples the Recorder holds.
func (r *Recorder) Len() int { return r.n }

// Record computes the Sample for snap against the previous Snapshot, appends it to the
// ring (dropping the oldest when full) and returns it. It also fills snap.Nginx's rates
// and reset count. nginx's counters are differenced with nginx.Delta, which treats a
// decrease as a restart; a worker's counters start again from zero when its pid or start
// time changes (a restart or a reload), and its first answer after that counts from zero.
// A worker or nginx that did not answer keeps its previous reading, so the interval after
// an outage covers the whole outage rather than losing it.
func (r *Recorder) Record(snap *Snapshot) Sample {
	s := r.next()
	s.Time = snap.Time
	if r.n > 1 {
		s.Elapsed = snap.Time.Sub(r.at(r.n - 2).Time)
	}
	r.recordNginx(snap, s)
	r.recordWorkers(snap, s)
	return cloneSample(*s)
}

// next makes room for one more Sample and returns it, reusing the evicted one's memory.
func (r *Recorder) next() *Sample {
	var i int
	if r.n < len(r.ring) {
		i = (r.start + r.n) % len(r.ring)
		r.n++
	} else {
		i = r.start
		r.start = (r.start + 1) % len(r.ring)
	}
	s := &r.ring[i]
	workers := s.Workers[:0]
	*s = Sample{Workers: workers}
	return s
}

// at returns the i-th held Sample, oldest first.
func (r *Recorder) at(i int) *Sample { return &r.ring[(r.start+i)%len(r.ring)] }

// At returns the i-th held Sample, oldest first (0 <= i < Len). It points into the ring:
// it is valid until the next Record and must not be modified.
func (r *Recorder) At(i int) *Sample { return r.at(i) }

// History is a sequence of Samples, oldest first: a Recorder, or a SampleList recorded
// earlier.
type History interface {
	Len() int
	At(i int) *Sample
}

// SampleList is a History held in a slice, e.g. one decoded from a recorded fixture.
type SampleList []Sample

// Len returns the number of Samples.
func (l SampleList) Len() int { return len(l) }

// At returns the i-th Sample.
func (l SampleList) At(i int) *Sample { return &l[i] }

func (r *Recorder) recordNginx(snap *Snapshot, s *Sample) {
	ns := &snap.Nginx
	ns.Resets = r.nginxResets
	if !ns.Up {
		if r.nginxHave { // keep showing the last figures, marked down
			ns.setStub(r.nginxPrev)
			ns.Read = r.nginxPrevAt
		}
		return
	}
	cur := ns.stub()
	s.Nginx = NginxSample{Up: true, Active: sat32(cur.Active), Reading: sat32(cur.Reading),
		Writing: sat32(cur.Writing), Waiting: sat32(cur.Waiting)}
	if r.nginxHave {
		d := nginx.Delta(r.nginxPrev, cur, ns.Read.Sub(r.nginxPrevAt))
		s.Nginx.Requests, s.Nginx.Accepts, s.Nginx.Dropped = sat32(d.Requests), sat32(d.Accepts), sat32(d.Dropped)
		s.Nginx.Reset = d.Reset
		if d.Reset {
			r.nginxResets++
			ns.Resets = r.nginxResets
		}
		ns.RequestsPerSec, ns.ConnectionsPerSec = d.RequestsPerSec, d.ConnectionsPerSec
	}
	r.nginxPrev, r.nginxPrevAt, r.nginxHave = cur, ns.Read, true
}

func (r *Recorder) recordWorkers(snap *Snapshot, s *Sample) {
	clear(r.buckets)
	var bounds []float64
	seen := make(map[int]bool, len(snap.Workers))
	for i := range snap.Workers {
		ws := &snap.Workers[i]
		seen[ws.ID] = true
		w := WorkerSample{ID: uint16(ws.ID), PID: int32(ws.PID), Restarts: uint32(max(ws.Restarts, 0)),
			Latency: noLatency()}
		st := ws.Stats
		if st == nil {
			s.Workers = append(s.Workers, w)
			continue
		}
		prev, had := r.workers[ws.ID]
		reset := !had || prev.pid != st.Pid || !prev.start.Equal(st.StartTime) || st.Accepted < prev.stats.Accepted
		p := &prev.stats
		if reset {
			p = &fcgi.Stats{}
		}
		w.Up = true
		w.PID = int32(st.Pid)
		w.Restarted = had && reset
		w.MaxChildren, w.Queue = clamp32(int64(st.MaxChildren)), clamp32(int64(st.QueueLen))
		w.InFlight, w.Queued = clamp32(st.InFlight), clamp32(st.Queued)
		w.Accepted = sat32(counterDelta(st.Accepted, p.Accepted, reset))
		w.CapReached = sat32(counterDelta(st.CapReached, p.CapReached, reset))
		w.Rejected = sat32(counterDelta(st.Rejected, p.Rejected, reset))
		w.QueueTimeouts = sat32(counterDelta(st.QueueTimeouts, p.QueueTimeouts, reset))
		w.Slow = sat32(counterDelta(st.Slow, p.Slow, reset))
		w.Timeouts = sat32(counterDelta(st.Timeouts, p.Timeouts, reset))
		w.Panics = sat32(counterDelta(st.Panics, p.Panics, reset))
		w.S5xx = sat32(counterDelta(st.Status.S5xx, p.Status.S5xx, reset))
		extra := ExtraHealth(st.Extra)
		prevExtra := prev.extraErrors
		if reset {
			prevExtra = 0
		}
		w.ExtraErrors = sat32(counterDelta(extra.Errors, prevExtra, reset))

		// The peaks: a gauge sampled once an interval misses what happened in between,
		// but the since-start maxima and the cap counter tell when it went higher.
		w.Peak, w.QueuedPeak = w.InFlight, w.Queued
		if reset || st.MaxInFlight > p.MaxInFlight {
			w.Peak = max(w.Peak, clamp32(st.MaxInFlight))
		}
		if reset || st.MaxQueued > p.MaxQueued {
			w.QueuedPeak = max(w.QueuedPeak, clamp32(st.MaxQueued))
		}
		if w.CapReached > 0 {
			w.Peak = max(w.Peak, w.MaxChildren)
		}

		r.delta = histogramDelta(r.delta[:0], st.Latency, p.Latency, reset)
		w.Latency = percentiles(st.Latency.BoundsSeconds, r.delta)
		if bounds == nil || len(bounds) == len(st.Latency.BoundsSeconds) {
			bounds = st.Latency.BoundsSeconds
			if len(r.buckets) != len(r.delta) {
				r.buckets = make([]uint64, len(r.delta))
			}
			for j, c := range r.delta {
				r.buckets[j] += c
			}
		}
		r.workers[ws.ID] = workerPrev{pid: st.Pid, start: st.StartTime, stats: *st, extraErrors: extra.Errors}
		s.Workers = append(s.Workers, w)
	}
	// A worker slot that is gone (fewer workers after a reload) must not leave a stale
	// reading that a later worker with the same id would be differenced against.
	for id := range r.workers {
		if !seen[id] {
			delete(r.workers, id)
		}
	}
	s.Latency = noLatency()
	if bounds != nil {
		s.Latency = percentiles(bounds, r.buckets)
	}
}

// Samples returns copies of the held Samples taken after since (all of them for the zero
// time), oldest first, at most limit of them (the newest; limit <= 0 = no limit).
func (r *Recorder) Samples(since time.Time, limit int) []Sample {
	first := r.n // scanning back from the newest: pollers ask for the last few
	for first > 0 && r.at(first-1).Time.After(since) {
		first--
	}
	if limit > 0 && r.n-first > limit {
		first = r.n - limit
	}
	out := make([]Sample, 0, r.n-first)
	for i := first; i < r.n; i++ {
		out = append(out, cloneSample(*r.at(i)))
	}
	return out
}

// cloneSample copies s so that the caller's copy does not share the ring's memory.
func cloneSample(s Sample) Sample {
	s.Workers = append([]WorkerSample(nil), s.Workers...)
	return s
}
