package top

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"adnet/internal/monitor"
)

// view is how a frame is drawn.
type view struct {
	width  int
	color  bool
	source string
	now    time.Time
}

// ANSI attributes.
const (
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiGreen  = "\x1b[32m"
	ansiBlue   = "\x1b[34m"
	ansiDim    = "\x1b[2m"
	ansiReset  = "\x1b[0m"
)

// paint wraps s in an ANSI attribute when the view has colours.
func (v view) paint(attr, s string) string {
	if !v.color || attr == "" {
		return s
	}
	return attr + s + ansiReset
}

// render draws one frame of `adnet top` from a status document (or the error that
// prevented reading it): the master and nginx, the workers' table, then advice and warnings.
func render(w *bytes.Buffer, doc *monitor.StatusDoc, ferr error, v view) {
	paint := v.paint
	fmt.Fprintf(w, "%s  %s  %s\n", paint(ansiBold, "adnet top"), v.now.Format("15:04:05"), paint(ansiDim, v.source+" · q quits"))
	if ferr != nil {
		fmt.Fprintf(w, "\n%s\n", paint(ansiRed, "cannot read the master's status: "+ferr.Error()))
		return
	}
	renderSummary(w, doc, v)
	renderWorkers(w, doc.Workers, v)
	renderNotes(w, doc, v)
}

// renderSummary draws the master's limits, nginx's connections and the workers' totals.
func renderSummary(w *bytes.Buffer, doc *monitor.StatusDoc, v view) {
	paint := v.paint
	lim := doc.Limits
	fmt.Fprintf(w, "master up %s · %d workers · max_children %d · queue %d (%s) · polled %s ago\n\n",
		fmtDur(doc.Uptime), lim.Workers, lim.MaxChildren, lim.Queue, lim.QueueTimeout, fmtAge(v.now, doc.Updated))

	ng := doc.Nginx
	switch {
	case ng.URL == "":
		fmt.Fprintln(w, paint(ansiBold, "nginx")+"   monitoring off")
	case !ng.Up:
		fmt.Fprintf(w, "%s   %s\n", paint(ansiBold, "nginx"), paint(ansiRed, "stub_status does not answer: "+ng.Error))
	default:
		fmt.Fprintf(w, "%s   active %s  reading %s  writing %s  waiting %s   req/s %s  conn/s %s   dropped %s  restarts %s\n",
			paint(ansiBold, "nginx"), fmtNum(ng.Active), fmtNum(ng.Reading), fmtNum(ng.Writing), fmtNum(ng.Waiting),
			fmtRate(ng.RequestsPerSec), fmtRate(ng.ConnectionsPerSec), fmtNum(ng.Dropped), fmtNum(ng.Resets))
	}
	tot := doc.Totals
	fmt.Fprintf(w, "%s in flight %s / %s   queued %s   req/s %s   rejected %s   cap reached %s  (since start)\n\n",
		paint(ansiBold, "workers"), fmtNum(tot.InFlight), fmtNum(tot.MaxChildren), fmtNum(tot.Queued),
		fmtRate(tot.RequestsPerSec), fmtNum(tot.Rejected), fmtNum(tot.CapReached))
}

// renderWorkers draws one row per worker slot, in columns that line up with colours on.
func renderWorkers(w *bytes.Buffer, workers []monitor.WorkerDoc, v view) {
	paint := v.paint
	const rowFormat = "%-6s %7s %7s  %-19s %4s %7s %7s %7s %11s %10s %6s %7s %7s %7s %8s %3s"
	header := fmt.Sprintf(rowFormat, "WORKER", "PID", "UPTIME", "IN FLIGHT / MAX", "PEAK", "QUEUED", "REQ/S", "REJ/S",
		"ACCEPTED", "REJECTED", "SLOW", "5XX", "P50", "P99", "HEAP", "RST")
	fmt.Fprintln(w, paint(ansiBold, clip(header, v.width)))
	for _, ws := range workers {
		st := ws.Stats
		if st == nil {
			why := "not answering: " + ws.Error
			if ws.PID == 0 {
				why = "not running"
				if ws.LastExit != "" {
					why += " (" + ws.LastExit + ")"
				}
			}
			fmt.Fprintln(w, clip(fmt.Sprintf("%-6d %7s %7s  ", ws.ID, fmtPID(ws.PID), "-"), v.width)+paint(ansiRed, why))
			continue
		}
		peak, rps, rejps, p50, p99 := "-", "-", "-", "-", "-"
		if r := ws.Rates; r != nil {
			peak, rps, rejps = fmtNum(r.Peak), fmtRate(r.RequestsPerSec), fmtRate(r.RejectedPerSec)
			p50, p99 = fmtSecs(r.Latency.P50), fmtSecs(r.Latency.P99)
		}
		bar, attr := fmtBar(st.InFlight, st.MaxChildren, 8)
		inflight := bar + " " + fmtNum(st.InFlight) + "/" + fmtNum(st.MaxChildren)
		// Padded by runes (the bar's are 3 bytes each), then clipped, then coloured, so
		// that colour codes never count as columns.
		inflight += strings.Repeat(" ", max(0, 19-utf8.RuneCountInString(inflight)))
		line := clip(fmt.Sprintf(rowFormat, fmt.Sprint(ws.ID), fmt.Sprint(st.Pid), fmtDur(float64(st.StartSince)), inflight,
			peak, fmtNum(st.Queued)+"/"+fmtNum(st.QueueLen), rps, rejps, fmtNum(st.Accepted), fmtNum(st.Rejected),
			fmtNum(st.Slow), fmtNum(st.Status.S5xx), p50, p99, fmtBytes(st.HeapBytes), fmt.Sprint(ws.Restarts)), v.width)
		if v.color {
			line = strings.Replace(line, bar, paint(attr, bar), 1)
		}
		fmt.Fprintln(w, line)
	}
}

// renderNotes draws the monitor's advice, wrapped to the width, and its warnings.
func renderNotes(w *bytes.Buffer, doc *monitor.StatusDoc, v view) {
	paint := v.paint
	if len(doc.Advice) > 0 {
		fmt.Fprintf(w, "\n%s\n", paint(ansiBold, "ADVICE"))
		for _, a := range doc.Advice {
			attr, mark := ansiBlue, "i"
			switch a.Level {
			case monitor.Critical:
				attr, mark = ansiRed, "!"
			case monitor.Warning:
				attr, mark = ansiYellow, "!"
			case monitor.OK:
				attr, mark = ansiGreen, "✓"
			}
			for i, line := range wrap(a.Text, max(v.width-4, 40)) {
				prefix := "   "
				if i == 0 {
					prefix = " " + paint(attr, mark) + " "
				}
				fmt.Fprintln(w, prefix+line)
			}
		}
	}
	if len(doc.Warnings) > 0 {
		fmt.Fprintln(w)
		for _, s := range doc.Warnings {
			fmt.Fprintln(w, paint(ansiRed, clip(s, v.width)))
		}
	}
}

// fmtBar draws n of max as a bar of the given width, and the colour it deserves.
func fmtBar(n int64, limit, width int) (string, string) {
	if limit <= 0 {
		return strings.Repeat("░", width), ""
	}
	frac := float64(n) / float64(limit)
	full := min(int(math.Round(frac*float64(width))), width)
	attr := ansiGreen
	switch {
	case frac >= 1:
		attr = ansiRed
	case frac >= 0.8:
		attr = ansiYellow
	}
	return strings.Repeat("█", full) + strings.Repeat("░", width-full), attr
}

// clip cuts s to width runes (0: no limit).
func clip(s string, width int) string {
	if width <= 0 || utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:width])
}

// wrap breaks text into lines of at most width runes at spaces.
func wrap(text string, width int) []string {
	var lines []string
	var cur strings.Builder
	n := 0
	for _, word := range strings.Fields(text) {
		wl := utf8.RuneCountInString(word)
		if n > 0 && n+1+wl > width {
			lines = append(lines, cur.String())
			cur.Reset()
			n = 0
		}
		if n > 0 {
			cur.WriteByte(' ')
			n++
		}
		cur.WriteString(word)
		n += wl
	}
	if n > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}

// fmtNum writes n with thousands separators: 1,234,567.
func fmtNum[T int | int32 | int64 | uint64](n T) string {
	neg := n < 0
	u := uint64(n)
	if neg {
		u = uint64(-int64(n))
	}
	s := fmt.Sprint(u)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// fmtRate writes a per-second rate: one decimal below 100, whole numbers above, "-" for none.
func fmtRate(f float64) string {
	if math.IsNaN(f) {
		return "-"
	}
	if f >= 100 {
		return fmtNum(int64(math.Round(f)))
	}
	return fmt.Sprintf("%.1f", f)
}

// fmtSecs writes a latency in the unit that keeps it short (µs, ms, s), "-" for none.
func fmtSecs(s monitor.Seconds) string {
	f := float64(s)
	switch {
	case math.IsNaN(f):
		return "-"
	case f < 0.001:
		return fmt.Sprintf("%.0fµs", f*1e6)
	case f < 1:
		return fmt.Sprintf("%.1fms", f*1e3)
	}
	return fmt.Sprintf("%.2fs", f)
}

// fmtBytes writes a size in binary units up to GiB.
func fmtBytes(b uint64) string {
	f := float64(b)
	for _, u := range []string{"B", "KiB", "MiB", "GiB"} {
		if f < 1024 || u == "GiB" {
			if u == "B" {
				return fmt.Sprintf("%.0f%s", f, u)
			}
			return fmt.Sprintf("%.1f%s", f, u)
		}
		f /= 1024
	}
	return ""
}

// fmtDur writes an uptime in its two largest units: 2d3h, 4h5m, 6m7s, 8s.
func fmtDur(secs float64) string {
	d := time.Duration(secs) * time.Second
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%dm", d/time.Hour, d%time.Hour/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%ds", d/time.Minute, d%time.Minute/time.Second)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// fmtAge writes how long ago t was, or "never".
func fmtAge(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return now.Sub(t).Round(100 * time.Millisecond).String()
}

// fmtPID writes a pid, "-" when there is no process.
func fmtPID(pid int) string {
	if pid == 0 {
		return "-"
	}
	return fmt.Sprint(pid)
}
