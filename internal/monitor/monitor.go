package monitor

import (
	"context"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"adnet/nginx"
)

// Defaults for zero Options fields.
const (
	DefaultInterval = time.Second
	DefaultHistory  = time.Hour
)

// MaxSamples bounds the history whatever History/Interval asks for (a day at one-second
// resolution), so that a tiny interval cannot make the master's memory grow without limit.
const MaxSamples = 86400

// NginxFetcher reads nginx's stub_status; *nginx.Client implements it.
type NginxFetcher interface {
	Fetch(ctx context.Context) (nginx.StubStatus, error)
}

// WorkerFetcher asks every worker for its status; *Collector implements it.
type WorkerFetcher interface {
	Workers(ctx context.Context) []WorkerStatus
}

// Options configures a Monitor.
type Options struct {
	// Nginx reads stub_status; nil disables the nginx side (the figures then stay zero and
	// no advice is given about nginx).
	Nginx NginxFetcher
	// NginxURL is the stub_status URL, for the status page and the advice.
	NginxURL string
	// Workers reads the workers' status (required).
	Workers WorkerFetcher
	// Console reads the console pool's workers, shown apart (their counters are not part
	// of the ad workers' rates, limits and advice); nil: no console pool.
	Console WorkerFetcher
	// Interval between polls (default 1s); History is how far back the ring reaches
	// (default 1h): it holds History/Interval Samples, at most MaxSamples.
	Interval time.Duration
	History  time.Duration
	// Logger receives nginx and worker outages and recoveries, once each, not every poll.
	Logger logrus.FieldLogger
}

// Monitor polls nginx and the workers every Interval, records the history, and computes
// the advice after each poll, so that every reader (status page, /metrics, `adnet top`) is
// answered from memory without waiting on anything. It is safe for concurrent use.
type Monitor struct {
	opt Options

	pollMu sync.Mutex // serialises Poll (Run and tests)
	rec    *Recorder  // guarded by pollMu for writing and mu for reading

	mu          sync.RWMutex
	snap        Snapshot
	advice      []Advice
	polls       uint64
	nginxErrors uint64
	nginxWasUp  bool
	workersDown map[int]bool // logged as not answering
}

// New returns a Monitor that has not polled yet.
func New(opt Options) *Monitor {
	if opt.Interval <= 0 {
		opt.Interval = DefaultInterval
	}
	if opt.History <= 0 {
		opt.History = DefaultHistory
	}
	if opt.Logger == nil {
		l := logrus.New()
		l.Out = discard{}
		opt.Logger = l
	}
	capacity := int(min((opt.History+opt.Interval-1)/opt.Interval, MaxSamples))
	return &Monitor{
		opt:         opt,
		rec:         NewRecorder(capacity),
		snap:        Snapshot{Nginx: NginxStatus{URL: opt.NginxURL}},
		advice:      []Advice{},
		nginxWasUp:  true,
		workersDown: make(map[int]bool),
	}
}

// discard is the default logger's output.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Interval returns the polling interval.
func (m *Monitor) Interval() time.Duration { return m.opt.Interval }

// Run polls at once and then every Interval until ctx is done. A poll that takes longer
// than Interval delays the next one rather than piling up.
func (m *Monitor) Run(ctx context.Context) {
	t := time.NewTicker(m.opt.Interval)
	defer t.Stop()
	for {
		m.Poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Poll reads nginx and every worker once, concurrently, each bounded by the interval
// (at least 250ms, at most 5s), records the Sample and recomputes the advice.
func (m *Monitor) Poll(ctx context.Context) {
	m.pollMu.Lock()
	defer m.pollMu.Unlock()
	timeout := min(max(m.opt.Interval, 250*time.Millisecond), 5*time.Second)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	snap := Snapshot{Nginx: NginxStatus{URL: m.opt.NginxURL}}
	var nerr error
	var wg sync.WaitGroup
	if m.opt.Nginx != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := m.opt.Nginx.Fetch(ctx)
			if err != nil {
				nerr = err
				return
			}
			snap.Nginx.Up = true
			snap.Nginx.Read = time.Now()
			snap.Nginx.setStub(st)
		}()
	}
	if m.opt.Console != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			snap.Console = m.opt.Console.Workers(ctx)
		}()
	}
	snap.Workers = m.opt.Workers.Workers(ctx)
	wg.Wait()
	snap.Time = time.Now()
	if nerr != nil {
		snap.Nginx.Error = nerr.Error()
	}

	m.mu.Lock()
	m.rec.Record(&snap)
	m.mu.Unlock()
	// The advice reads the whole history in place, without the lock: Poll is the only
	// writer (pollMu), and readers only read.
	advice := Advise(m.rec, snap, m.opt.Interval)

	m.mu.Lock()
	m.snap = snap
	m.advice = advice
	m.polls++
	if m.opt.Nginx != nil && !snap.Nginx.Up {
		m.nginxErrors++
	}
	m.mu.Unlock()
	m.logTransitions(&snap)
}

// logTransitions logs nginx and workers going silent or answering again, once each.
func (m *Monitor) logTransitions(snap *Snapshot) {
	if m.opt.Nginx != nil && snap.Nginx.Up != m.nginxWasUp {
		if snap.Nginx.Up {
			m.opt.Logger.WithField("url", snap.Nginx.URL).Info("monitor: nginx stub_status answers again")
		} else {
			m.opt.Logger.WithField("url", snap.Nginx.URL).WithField("error", snap.Nginx.Error).
				Warn("monitor: nginx stub_status does not answer")
		}
		m.nginxWasUp = snap.Nginx.Up
	}
	for _, w := range snap.Workers {
		down := w.Stats == nil
		if down == m.workersDown[w.ID] {
			continue
		}
		if down && w.PID != 0 { // a worker being restarted has no process to ask
			m.opt.Logger.WithFields(logrus.Fields{"worker": w.ID, "pid": w.PID, "error": w.Error}).
				Warn("monitor: worker does not answer on its control socket")
		} else if !down {
			m.opt.Logger.WithFields(logrus.Fields{"worker": w.ID, "pid": w.PID}).Debug("monitor: worker answers")
		}
		m.workersDown[w.ID] = down
	}
}

// Snapshot returns the latest poll's readings (the zero Snapshot, with Time zero, before
// the first poll). Its slices are shared and must not be modified.
func (m *Monitor) Snapshot() Snapshot {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.snap
}

// Advice returns the advice computed after the latest poll. The slice is shared and must
// not be modified.
func (m *Monitor) Advice() []Advice {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.advice
}

// Samples returns copies of the recorded Samples after since (all for the zero time),
// oldest first, at most limit of the newest (limit <= 0 = all).
func (m *Monitor) Samples(since time.Time, limit int) []Sample {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.rec.Samples(since, limit)
}

// Counters are the monitor's own counts, for /metrics.
type Counters struct {
	Polls       uint64 // polls done
	NginxErrors uint64 // polls in which nginx's stub_status did not answer
	Samples     int    // Samples held in the history
	Capacity    int    // Samples the history can hold
}

// Counters returns the monitor's own counts.
func (m *Monitor) Counters() Counters {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return Counters{Polls: m.polls, NginxErrors: m.nginxErrors, Samples: m.rec.Len(), Capacity: m.rec.Cap()}
}
