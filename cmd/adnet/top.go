package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"adnet/internal/monitor"
)

// runTop is `adnet top`: a terminal view of nginx and every worker for a sysadmin on ssh,
// refreshed every second from the master's status socket (socket_dir/master.sock), or from
// --url (the /status page through nginx, e.g. from another host in status_allow). It is
// plain ANSI: no curses, no colours or cursor movement when the output is not a terminal.
// It exits on q or Ctrl-C, or after --count refreshes.
func runTop(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("top", stderr)
	url := fs.String("url", "", "status page URL, e.g. http://127.0.0.1:8080/status (default: the master's socket from --config)")
	count := fs.Int("count", 0, "exit after this many refreshes (0 = until q or Ctrl-C)")
	every := fs.Duration("interval", time.Second, "time between refreshes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *every < 100*time.Millisecond {
		return fmt.Errorf("--interval %s: must be at least 100ms", *every)
	}
	src, err := topSource(*url, *path)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	term := openTerminal(stdout)
	defer term.restore()
	quit := term.keys(ctx)

	var frame bytes.Buffer
	for n := 1; ; n++ {
		fctx, cancel := context.WithTimeout(ctx, min(*every*2, 5*time.Second))
		doc, ferr := src.fetch(fctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		frame.Reset()
		renderTop(&frame, doc, ferr, topView{width: term.width(), color: term.tty, source: src.name, now: time.Now()})
		if _, err := term.frame(frame.Bytes()); err != nil {
			return err
		}
		if *count > 0 && n >= *count {
			return nil
		}
		t := time.NewTimer(*every)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-quit:
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// topFetcher reads the master's status document.
type topFetcher struct {
	name   string // what is read, shown in the header
	url    string
	client *http.Client
}

// topSource returns a fetcher for --url, or for the master's socket named by the config.
func topSource(url, configPath string) (*topFetcher, error) {
	if url != "" {
		if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
			return nil, fmt.Errorf("--url %q: must be an http(s) URL of the status page, e.g. http://127.0.0.1:8080/status", url)
		}
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		return &topFetcher{name: url, url: url + sep + "json", client: &http.Client{}}, nil
	}
	cfg, err := loadConfig(configPath)
	if err != nil {
		return nil, err
	}
	socket := cfg.StatusSocket()
	return &topFetcher{name: socket, url: "http://master/status?json", client: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}}, nil
}

func (f *topFetcher) fetch(ctx context.Context) (*monitor.StatusDoc, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", f.name, resp.Status)
	}
	var doc monitor.StatusDoc
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("decoding the status from %s: %w", f.name, err)
	}
	return &doc, nil
}

// terminal is stdout, and stdin when both are a terminal: the alternate screen, a hidden
// cursor and single-key input while top runs, all restored on exit.
type terminal struct {
	out   io.Writer
	tty   bool // out is a terminal: redraw in place, with colours
	fd    int  // stdout's descriptor, for its size
	in    int  // stdin's descriptor when it is a terminal in cbreak mode, else -1
	saved *unix.Termios
}

func openTerminal(out io.Writer) *terminal {
	t := &terminal{out: out, fd: -1, in: -1}
	if f, ok := out.(*os.File); ok {
		if _, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil {
			t.tty, t.fd = true, int(f.Fd())
		}
	}
	if !t.tty {
		return t
	}
	io.WriteString(out, "\x1b[?1049h\x1b[?25l") // alternate screen, hide the cursor
	in := int(os.Stdin.Fd())
	if saved, err := unix.IoctlGetTermios(in, unix.TCGETS); err == nil {
		raw := *saved
		// cbreak: keys arrive one at a time, unechoed; ISIG stays on so Ctrl-C is SIGINT.
		raw.Lflag &^= unix.ICANON | unix.ECHO
		raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
		if unix.IoctlSetTermios(in, unix.TCSETS, &raw) == nil {
			t.in, t.saved = in, saved
		}
	}
	return t
}

// keys returns a channel closed when q is pressed (never, without a terminal).
func (t *terminal) keys(ctx context.Context) <-chan struct{} {
	quit := make(chan struct{})
	if t.in < 0 {
		return quit
	}
	go func() {
		b := make([]byte, 1)
		for ctx.Err() == nil {
			n, err := os.Stdin.Read(b)
			if err != nil {
				return
			}
			if n == 1 && (b[0] == 'q' || b[0] == 'Q' || b[0] == 3) {
				close(quit)
				return
			}
		}
	}()
	return quit
}

func (t *terminal) width() int {
	if t.fd >= 0 {
		if ws, err := unix.IoctlGetWinsize(t.fd, unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
			return int(ws.Col)
		}
	}
	return 160
}

// frame shows one refresh: drawn over the previous one on a terminal (each line cleared
// to its end, the rest of the screen below), appended otherwise.
func (t *terminal) frame(b []byte) (int, error) {
	if !t.tty {
		return t.out.Write(append(b, '\n'))
	}
	var buf bytes.Buffer
	buf.WriteString("\x1b[H")
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		buf.Write(bytes.TrimSuffix(line, []byte("\n")))
		if bytes.HasSuffix(line, []byte("\n")) {
			buf.WriteString("\x1b[K\n")
		}
	}
	buf.WriteString("\x1b[J")
	return t.out.Write(buf.Bytes())
}

func (t *terminal) restore() {
	if t.saved != nil {
		_ = unix.IoctlSetTermios(t.in, unix.TCSETS, t.saved)
	}
	if t.tty {
		io.WriteString(t.out, "\x1b[?25h\x1b[?1049l")
	}
}

// topView is how a frame is drawn.
type topView struct {
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

// renderTop draws one frame of `adnet top` from a status document (or the error that
// prevented reading it).
func renderTop(w *bytes.Buffer, doc *monitor.StatusDoc, ferr error, v topView) {
	paint := func(attr, s string) string {
		if !v.color || attr == "" {
			return s
		}
		return attr + s + ansiReset
	}
	fmt.Fprintf(w, "%s  %s  %s\n", paint(ansiBold, "adnet top"), v.now.Format("15:04:05"), paint(ansiDim, v.source+" · q quits"))
	if ferr != nil {
		fmt.Fprintf(w, "\n%s\n", paint(ansiRed, "cannot read the master's status: "+ferr.Error()))
		return
	}
	lim := doc.Limits
	fmt.Fprintf(w, "master up %s · %d workers · max_children %d · queue %d (%s) · polled %s ago\n\n",
		topDur(doc.Uptime), lim.Workers, lim.MaxChildren, lim.Queue, lim.QueueTimeout, topAge(v.now, doc.Updated))

	ng := doc.Nginx
	switch {
	case ng.URL == "":
		fmt.Fprintln(w, paint(ansiBold, "nginx")+"   monitoring off")
	case !ng.Up:
		fmt.Fprintf(w, "%s   %s\n", paint(ansiBold, "nginx"), paint(ansiRed, "stub_status does not answer: "+ng.Error))
	default:
		fmt.Fprintf(w, "%s   active %s  reading %s  writing %s  waiting %s   req/s %s  conn/s %s   dropped %s  restarts %s\n",
			paint(ansiBold, "nginx"), topNum(ng.Active), topNum(ng.Reading), topNum(ng.Writing), topNum(ng.Waiting),
			topRate(ng.RequestsPerSec), topRate(ng.ConnectionsPerSec), topNum(ng.Dropped), topNum(ng.Resets))
	}
	tot := doc.Totals
	fmt.Fprintf(w, "%s in flight %s / %s   queued %s   req/s %s   rejected %s   cap reached %s  (since start)\n\n",
		paint(ansiBold, "workers"), topNum(tot.InFlight), topNum(tot.MaxChildren), topNum(tot.Queued),
		topRate(tot.RequestsPerSec), topNum(tot.Rejected), topNum(tot.CapReached))

	const rowFormat = "%-6s %7s %7s  %-19s %4s %7s %7s %7s %11s %10s %6s %7s %7s %7s %8s %3s"
	header := fmt.Sprintf(rowFormat, "WORKER", "PID", "UPTIME", "IN FLIGHT / MAX", "PEAK", "QUEUED", "REQ/S", "REJ/S",
		"ACCEPTED", "REJECTED", "SLOW", "5XX", "P50", "P99", "HEAP", "RST")
	fmt.Fprintln(w, paint(ansiBold, clip(header, v.width)))
	for _, ws := range doc.Workers {
		st := ws.Stats
		if st == nil {
			why := "not answering: " + ws.Error
			if ws.PID == 0 {
				why = "not running"
				if ws.LastExit != "" {
					why += " (" + ws.LastExit + ")"
				}
			}
			fmt.Fprintln(w, clip(fmt.Sprintf("%-6d %7s %7s  ", ws.ID, topPID(ws.PID), "-"), v.width)+paint(ansiRed, why))
			continue
		}
		peak, rps, rejps, p50, p99 := "-", "-", "-", "-", "-"
		if r := ws.Rates; r != nil {
			peak, rps, rejps = topNum(r.Peak), topRate(r.RequestsPerSec), topRate(r.RejectedPerSec)
			p50, p99 = topSecs(r.Latency.P50), topSecs(r.Latency.P99)
		}
		bar, attr := topBar(st.InFlight, st.MaxChildren, 8)
		inflight := bar + " " + topNum(st.InFlight) + "/" + topNum(st.MaxChildren)
		// Padded by runes (the bar's are 3 bytes each), then clipped, then coloured, so
		// that colour codes never count as columns.
		inflight += strings.Repeat(" ", max(0, 19-utf8.RuneCountInString(inflight)))
		line := clip(fmt.Sprintf(rowFormat, fmt.Sprint(ws.ID), fmt.Sprint(st.Pid), topDur(float64(st.StartSince)), inflight,
			peak, topNum(st.Queued)+"/"+topNum(st.QueueLen), rps, rejps, topNum(st.Accepted), topNum(st.Rejected),
			topNum(st.Slow), topNum(st.Status.S5xx), p50, p99, topBytes(st.HeapBytes), fmt.Sprint(ws.Restarts)), v.width)
		if v.color {
			line = strings.Replace(line, bar, paint(attr, bar), 1)
		}
		fmt.Fprintln(w, line)
	}

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

// topBar draws n of max as a bar of the given width, and the colour it deserves.
func topBar(n int64, limit, width int) (string, string) {
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

func topNum[T int | int32 | int64 | uint64](n T) string {
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

func topRate(f float64) string {
	if math.IsNaN(f) {
		return "-"
	}
	if f >= 100 {
		return topNum(int64(math.Round(f)))
	}
	return fmt.Sprintf("%.1f", f)
}

func topSecs(s monitor.Seconds) string {
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

func topBytes(b uint64) string {
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

func topDur(secs float64) string {
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

func topAge(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return now.Sub(t).Round(100 * time.Millisecond).String()
}

func topPID(pid int) string {
	if pid == 0 {
		return "-"
	}
	return fmt.Sprint(pid)
}
