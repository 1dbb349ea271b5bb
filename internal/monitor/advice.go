package monitor

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// Level says how urgent a piece of Advice is.
type Level string

// Levels, most urgent first. Advise orders its output Critical, Warning, OK, Info: the
// capacity headline before the notes.
const (
	Critical Level = "critical" // requests are failing or the monitor is blind
	Warning  Level = "warning"  // a limit is reached or nearly so; act before it hurts
	Info     Level = "info"     // worth knowing, nothing to change yet
	OK       Level = "ok"       // the headline when all is well
)

func (l Level) rank() int {
	switch l {
	case Critical:
		return 0
	case Warning:
		return 1
	case OK: // the headline comes before the notes
		return 2
	}
	return 3
}

// Advice is one plain-words finding about the recorded history and what to change.
type Advice struct {
	Level Level  `json:"level"`
	Topic string `json:"topic"` // capacity, queue, nginx, workers, latency, event_log
	Text  string `json:"text"`
}

// Headroom is the share of the configured capacity the peak should stay under: the
// advice sizes max_children so that the recorded peak is at most 75% of it, which is how
// the advice arrives at "peak 180, 2 workers: max_children ≥ 120 per worker".
const Headroom = 0.75

// nearCapPercent is when a peak without rejections is worth a warning.
const nearCapPercent = 80

// Advise compares what was recorded with the configured limits and says what to change,
// the way an operator reads nginx's stub_status (reading + writing ≈ requests in the
// backends) and the workers' counters by hand. h is the recorded history, oldest first;
// now is the latest Snapshot (current limits, errors, extra status); interval is the
// polling interval. It is a pure function: the same history always gives the same advice,
// most urgent first.
func Advise(h History, now Snapshot, interval time.Duration) []Advice {
	a := aggregate(h, interval)
	var out []Advice
	add := func(l Level, topic, format string, args ...any) {
		out = append(out, Advice{Level: l, Topic: topic, Text: fmt.Sprintf(format, args...)})
	}
	if a.n == 0 {
		return []Advice{{Level: Info, Topic: "monitor", Text: "no samples recorded yet: the first poll has not finished"}}
	}
	over := "over " + describeSpan(a.span)
	lim := limitsOf(h, now)

	// Capacity: the peak of requests in the backends against the total of max_children.
	if lim.workers > 0 && lim.maxChildren > 0 {
		total := int64(lim.maxChildren) * int64(lim.workers)
		target := int64(math.Ceil(float64(a.peak) / Headroom))
		perWorker := ceilDiv(target, int64(lim.workers))
		workersWord := plural(int64(lim.workers), "worker", "workers")
		switch {
		case a.rejected > 0:
			missed := ""
			if perWorker <= int64(lim.maxChildren) {
				// Rejections prove the cap was reached, but between two polls: the
				// polls saw less than the real peak. Ask for a quarter more at least.
				perWorker = int64(math.Ceil(float64(lim.maxChildren) * 1.25))
				missed = " (the rejections show that the real peak, between two polls, was higher than the polls saw)"
			}
			level := Warning
			if a.rejected*100 >= max(a.accepted, 1) { // 1% or more of the requests
				level = Critical
			}
			add(level, "capacity", "peak concurrent backend requests %s %s; total max_children is %s across %d %s; %s %s rejected%s: raise max_children to ≥ %s per worker or add workers (%s in all at max_children = %s)",
				count(a.peak), over, count(total), lim.workers, workersWord, count(a.rejected),
				plural(a.rejected, "request was", "requests were"), missed, count(perWorker),
				count(ceilDiv(perWorker*int64(lim.workers), int64(lim.maxChildren))), count(int64(lim.maxChildren)))
			if lim.queue == 0 && a.avgDemand < 0.5*float64(total) {
				add(Info, "queue", "the rejections came in bursts: concurrent backend requests averaged %.0f %s against a total max_children of %s; with queue = 0 a burst is rejected at once, while a short queue (e.g. queue = %d, queue_timeout = \"100ms\") lets it wait for a free child",
					a.avgDemand, over, count(total), max(lim.maxChildren/4, 4))
			}
		case a.peak*100 >= nearCapPercent*total:
			add(Warning, "capacity", "peak concurrent backend requests %s %s is %d%% of the total max_children %s across %d %s; nothing was rejected yet: raise max_children to ≥ %s per worker or add workers before the peak grows",
				count(a.peak), over, a.peak*100/total, count(total), lim.workers, workersWord, count(perWorker))
		default:
			add(OK, "capacity", "peak concurrent backend requests %s %s, %d%% of the total max_children %s across %d %s; no request was rejected",
				count(a.peak), over, a.peak*100/total, count(total), lim.workers, workersWord)
		}
	}
	if a.queueTimeouts > 0 {
		add(Warning, "queue", "%s %s the whole queue_timeout (%s) for a free child and %s then rejected %s: the workers finish requests more slowly than they arrive; a longer queue_timeout only delays the 503s, raise max_children or add workers",
			count(a.queueTimeouts), plural(a.queueTimeouts, "request waited", "requests waited"), lim.queueTimeout,
			plural(a.queueTimeouts, "was", "were"), over)
	}

	// nginx.
	if now.Nginx.URL != "" {
		switch {
		case !now.Nginx.Up:
			add(Critical, "nginx", "nginx's stub_status at %s does not answer (%s): nginx may be down, or monitor.nginx_status_url (default http://<nginx.listen>/nginx_status) does not point at it; the nginx figures are missing meanwhile",
				now.Nginx.URL, now.Nginx.Error)
		case a.nginxDown > 0:
			add(Info, "nginx", "nginx's stub_status did not answer %s of the last %s polls %s", count(a.nginxDown), count(int64(a.n)), over)
		}
		if a.nginxResets > 0 {
			add(Info, "nginx", "nginx was restarted %s %s (its counters went back to zero); a reload (nginx -s reload) keeps them", times(a.nginxResets), over)
		}
		if a.dropped > 0 {
			add(Critical, "nginx", "nginx dropped %s %s (accepts − handled): it ran out of worker_connections; raise worker_connections in the events block of nginx.conf, and worker_rlimit_nofile to at least twice that",
				plural2(a.dropped, "connection"), over)
		}
	}

	// Workers.
	for _, w := range now.Workers {
		if w.Stats != nil {
			continue
		}
		if w.PID == 0 {
			exit := ""
			if w.LastExit != "" {
				exit = " after " + w.LastExit
			}
			add(Critical, "workers", "worker %d is not running: the master is restarting it%s", w.ID, exit)
		} else {
			add(Critical, "workers", "worker %d (pid %d) does not answer on its control socket: %s", w.ID, w.PID, w.Error)
		}
	}
	for _, id := range a.ids {
		wa := a.worker[id]
		if n := wa.restartsLast - wa.restartsFirst; n > 0 {
			exit := ""
			if e := lastExit(now, id); e != "" {
				exit = " (last exit: " + e + ")"
			}
			add(Warning, "workers", "worker %d died and was restarted %s %s%s: look for panics in the workers' log and for the OOM killer in the kernel log (journalctl -k)",
				id, times(n), over, exit)
		}
	}
	if a.panics > 0 {
		add(Warning, "workers", "%s %s: each answered 500; the stack traces are in the workers' log",
			plural2(a.panics, "handler panic"), over)
	}
	if a.timeouts > 0 {
		add(Warning, "latency", "%s ran past request_timeout (%s) %s: look at the slow log for where their time went (queue wait or handler) and at the database",
			plural2(a.timeouts, "request"), lim.requestTimeout, over)
	}
	if a.slow > 0 && lim.slowTimeout != "" {
		add(Info, "latency", "%s slower than slowlog_timeout (%s) %s; the slow log shows each with its endpoint, queue wait and handler time",
			plural(a.slow, count(a.slow)+" request was", count(a.slow)+" requests were"), lim.slowTimeout, over)
	}

	// What the workers report of their own (event log errors, disk, warnings).
	for _, id := range a.ids {
		if n := a.worker[id].extraErrors; n > 0 {
			last := ""
			if hl := healthOf(now, id); hl.LastError != "" {
				last = " (last: " + hl.LastError + ")"
			}
			add(Critical, "event_log", "worker %d reported %s in its event log %s%s: those events were not recorded; check the free space and the permissions of data_dir",
				id, plural2(n, "error"), over, last)
		}
	}
	for _, w := range now.Workers {
		if w.Stats == nil {
			continue
		}
		hl := ExtraHealth(w.Stats.Extra)
		if hl.MaxDisk > 0 && hl.DiskBytes >= 0.8*hl.MaxDisk {
			add(Warning, "event_log", "worker %d's event log uses %s of its %s limit (%.0f%%): appends are refused when it is full; check that the aggregator keeps up and prunes, or raise events.max_disk",
				w.ID, bytesText(hl.DiskBytes), bytesText(hl.MaxDisk), 100*hl.DiskBytes/hl.MaxDisk)
		}
		for _, msg := range hl.Warnings {
			add(Warning, "workers", "worker %d: %s", w.ID, msg)
		}
	}

	slices.SortStableFunc(out, func(x, y Advice) int { return x.Level.rank() - y.Level.rank() })
	return out
}

// aggregated is the history summed up for Advise.
type aggregated struct {
	n             int
	span          time.Duration
	peak          int64   // most concurrent backend requests in any sample
	avgDemand     float64 // mean of the samples' concurrent backend requests
	accepted      uint64
	rejected      uint64
	queueTimeouts uint64
	slow          uint64
	timeouts      uint64
	panics        uint64
	dropped       uint64
	nginxDown     uint64
	nginxResets   uint64
	worker        map[uint16]*workerAgg
	ids           []uint16 // keys of worker, sorted
}

type workerAgg struct {
	restartsFirst, restartsLast uint64
	extraErrors                 uint64
}

func aggregate(h History, interval time.Duration) aggregated {
	a := aggregated{n: h.Len(), worker: map[uint16]*workerAgg{}}
	if a.n == 0 {
		return a
	}
	first, last := h.At(0), h.At(a.n-1)
	lead := first.Elapsed
	if lead <= 0 {
		lead = interval
	}
	a.span = last.Time.Sub(first.Time) + lead
	var demandSum float64
	for i := 0; i < a.n; i++ {
		s := h.At(i)
		var busy int64
		for _, w := range s.Workers {
			wa := a.worker[w.ID]
			if wa == nil {
				wa = &workerAgg{restartsFirst: uint64(w.Restarts)}
				a.worker[w.ID] = wa
				a.ids = append(a.ids, w.ID)
			}
			wa.restartsLast = max(wa.restartsLast, uint64(w.Restarts))
			if !w.Up {
				continue
			}
			busy += int64(w.Peak) + int64(w.QueuedPeak)
			a.accepted += uint64(w.Accepted)
			a.rejected += uint64(w.Rejected)
			a.queueTimeouts += uint64(w.QueueTimeouts)
			a.slow += uint64(w.Slow)
			a.timeouts += uint64(w.Timeouts)
			a.panics += uint64(w.Panics)
			wa.extraErrors += uint64(w.ExtraErrors)
		}
		if s.Nginx.Up {
			// Reading + Writing ≈ requests in the backends; the stub_status request that
			// produced the figures is itself Writing.
			busy = max(busy, int64(s.Nginx.Reading)+int64(s.Nginx.Writing)-1)
			a.dropped += uint64(s.Nginx.Dropped)
			if s.Nginx.Reset {
				a.nginxResets++
			}
		} else {
			a.nginxDown++
		}
		a.peak = max(a.peak, busy)
		demandSum += float64(busy)
	}
	a.avgDemand = demandSum / float64(a.n)
	slices.Sort(a.ids)
	return a
}

// limits are the configured limits the advice compares with.
type limits struct {
	workers        int
	maxChildren    int
	queue          int
	queueTimeout   string
	requestTimeout string
	slowTimeout    string // "" when the slow log is off
}

// limitsOf reads the configured limits from the workers' own reports (so a reload that
// changed them is followed), falling back to the newest sample that has them.
func limitsOf(h History, now Snapshot) limits {
	l := limits{workers: len(now.Workers)}
	for _, w := range now.Workers {
		if st := w.Stats; st != nil {
			l.maxChildren = max(l.maxChildren, st.MaxChildren)
			l.queue = max(l.queue, st.QueueLen)
			l.queueTimeout = msText(st.QueueTimeoutMs)
			l.requestTimeout = msText(st.RequestTimeoutMs)
			if st.SlowTimeoutMs > 0 {
				l.slowTimeout = msText(st.SlowTimeoutMs)
			}
		}
	}
	for i := h.Len() - 1; i >= 0 && l.maxChildren == 0; i-- {
		for _, w := range h.At(i).Workers {
			if w.Up {
				l.maxChildren = max(l.maxChildren, int(w.MaxChildren))
				l.queue = max(l.queue, int(w.Queue))
			}
		}
	}
	if l.workers == 0 && h.Len() > 0 {
		l.workers = len(h.At(h.Len() - 1).Workers)
	}
	return l
}

func lastExit(now Snapshot, id uint16) string {
	for _, w := range now.Workers {
		if w.ID == int(id) {
			return w.LastExit
		}
	}
	return ""
}

func healthOf(now Snapshot, id uint16) Health {
	for _, w := range now.Workers {
		if w.ID == int(id) && w.Stats != nil {
			return ExtraHealth(w.Stats.Extra)
		}
	}
	return Health{}
}

func ceilDiv(a, b int64) int64 {
	if b <= 0 {
		return 0
	}
	return (a + b - 1) / b
}

// count formats an integer with thousands separators: 3412 → "3,412".
func count[T int64 | uint64 | int](n T) string {
	neg := n < 0
	s := strconv.FormatUint(uint64(n), 10)
	if neg {
		s = strconv.FormatInt(int64(n), 10)[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3+1)
	if neg {
		out = append(out, '-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

func plural[T int64 | uint64](n T, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// plural2 is "1 thing" or "3,412 things".
func plural2(n uint64, noun string) string {
	return count(n) + " " + plural(n, noun, noun+"s")
}

func times(n uint64) string {
	switch n {
	case 1:
		return "once"
	case 2:
		return "twice"
	}
	return count(n) + " times"
}

// describeSpan says how far back the history reaches: "the last hour", "the last 12
// minutes", "the last 40 seconds".
func describeSpan(d time.Duration) string {
	switch {
	case d >= 59*time.Minute && d < 61*time.Minute:
		return "the last hour"
	case d >= 2*time.Hour:
		return fmt.Sprintf("the last %d hours", int(d.Round(time.Hour)/time.Hour))
	case d >= 90*time.Second:
		return fmt.Sprintf("the last %d minutes", int(d.Round(time.Minute)/time.Minute))
	}
	if d < 1500*time.Millisecond {
		return "the last second"
	}
	return fmt.Sprintf("the last %d seconds", int(d.Round(time.Second)/time.Second))
}

// msText renders a configured duration given in milliseconds, as the config file
// spells durations: "1s", "100ms", "1m30s".
func msText(ms int64) string {
	return (time.Duration(ms) * time.Millisecond).String()
}

func bytesText(b float64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%.0f B", b)
	}
	exp, div := 0, float64(unit)
	for n := b / unit; n >= unit && exp < 4; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", b/div, "KMGTP"[exp])
}
