package nginx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"time"
)

// StubStatus is one reading of nginx's stub_status page. Accepts, Handled and Requests are
// counters since the nginx master started: they survive a reload and reset on a restart.
// The other four are gauges. Active = Reading + Writing + Waiting, give or take the
// connections that changed state while nginx read its counters one by one. Writing counts
// every request from its header being read until it is freed (so it includes requests
// waiting on a worker); Waiting counts idle keepalive connections.
type StubStatus struct {
	Active   uint64 // open client connections, including idle ones
	Accepts  uint64 // client connections accepted
	Handled  uint64 // client connections handled (less than Accepts when connections were dropped)
	Requests uint64 // client requests
	Reading  uint64 // connections whose request header is being read
	Writing  uint64 // requests in progress, from header read to response done
	Waiting  uint64 // idle keepalive connections
}

// Dropped returns the connections nginx accepted but could not handle (for example when
// worker_connections was exhausted) since it started.
func (s StubStatus) Dropped() uint64 {
	if s.Handled > s.Accepts { // the two counters are read one after the other
		return 0
	}
	return s.Accepts - s.Handled
}

// String renders s exactly as nginx's stub_status does, trailing spaces included.
func (s StubStatus) String() string {
	return fmt.Sprintf("Active connections: %d \nserver accepts handled requests\n %d %d %d \nReading: %d Writing: %d Waiting: %d \n",
		s.Active, s.Accepts, s.Handled, s.Requests, s.Reading, s.Writing, s.Waiting)
}

// ErrMalformedStubStatus is wrapped by every error ParseStubStatus returns, for callers
// that want to tell a bad page from a failed fetch.
var ErrMalformedStubStatus = errors.New("malformed stub_status")

// ParseStubStatus parses nginx's stub_status page:
//
//	Active connections: 291 \n
//	server accepts handled requests\n
//	 16630948 16630948 31070465 \n
//	Reading: 6 Writing: 179 Waiting: 106 \n
//
// Spaces and tabs around and between fields are not significant, lines may end in \r\n and
// trailing blank lines are ignored. The last line must end with a newline: a page cut short
// could otherwise end inside a number and be read as a smaller one. Every number must fit in
// a uint64. Errors wrap ErrMalformedStubStatus and name the line and field at fault; the
// StubStatus is then zero.
func ParseStubStatus(b []byte) (StubStatus, error) {
	s, err := parseStubStatus(b)
	if err != nil {
		return StubStatus{}, err
	}
	return s, nil
}

func parseStubStatus(b []byte) (StubStatus, error) {
	var s StubStatus
	if len(b) == 0 {
		return s, stubErr(0, "empty page")
	}
	// Split into the four lines first, keeping a truncation or extra-line error for after
	// the lines that did arrive are checked: "line 1 is not stub_status" (an HTML error
	// page, say) says more than "too many lines".
	var lines [4][]byte
	var tailErr error
	n := 0
	for len(b) > 0 && tailErr == nil {
		i := bytes.IndexByte(b, '\n')
		if i < 0 && n < len(lines) {
			tailErr = stubErr(n+1, "truncated: no newline at the end of %q", b)
			break
		}
		if i < 0 {
			i = len(b)
		}
		line := bytes.TrimSuffix(b[:i], []byte("\r"))
		b = b[min(i+1, len(b)):]
		if n < len(lines) {
			lines[n] = line
			n++
		} else if len(trimSpace(line)) != 0 {
			tailErr = stubErr(n+1, "unexpected extra line %q", line)
		}
	}
	if tailErr == nil && n < len(lines) {
		tailErr = stubErr(n+1, "truncated: got %d of 4 lines", n)
	}

	var f fields
	var err error
	for i, line := range lines[:n] {
		f.split(line)
		switch i {
		case 0: // "Active connections: N"
			if f.n != 3 || string(f.f[0]) != "Active" || string(f.f[1]) != "connections:" {
				return s, stubErr(1, "want \"Active connections: N\", got %q", line)
			}
			if s.Active, err = parseCount(1, "active connections", f.f[2]); err != nil {
				return s, err
			}
		case 1: // "server accepts handled requests"
			if f.n != 4 || string(f.f[0]) != "server" || string(f.f[1]) != "accepts" ||
				string(f.f[2]) != "handled" || string(f.f[3]) != "requests" {
				return s, stubErr(2, "want \"server accepts handled requests\", got %q", line)
			}
		case 2: // " accepts handled requests"
			if f.n != 3 {
				return s, stubErr(3, "want three numbers (accepts handled requests), got %q", line)
			}
			if s.Accepts, err = parseCount(3, "accepts", f.f[0]); err != nil {
				return s, err
			}
			if s.Handled, err = parseCount(3, "handled", f.f[1]); err != nil {
				return s, err
			}
			if s.Requests, err = parseCount(3, "requests", f.f[2]); err != nil {
				return s, err
			}
		case 3: // "Reading: N Writing: N Waiting: N"
			if f.n != 6 || string(f.f[0]) != "Reading:" || string(f.f[2]) != "Writing:" || string(f.f[4]) != "Waiting:" {
				return s, stubErr(4, "want \"Reading: N Writing: N Waiting: N\", got %q", line)
			}
			if s.Reading, err = parseCount(4, "reading", f.f[1]); err != nil {
				return s, err
			}
			if s.Writing, err = parseCount(4, "writing", f.f[3]); err != nil {
				return s, err
			}
			if s.Waiting, err = parseCount(4, "waiting", f.f[5]); err != nil {
				return s, err
			}
		}
	}
	return s, tailErr
}

func stubErr(line int, format string, args ...any) error {
	if line == 0 {
		return fmt.Errorf("%w: %s", ErrMalformedStubStatus, fmt.Sprintf(format, args...))
	}
	return fmt.Errorf("%w: line %d: %s", ErrMalformedStubStatus, line, fmt.Sprintf(format, args...))
}

// parseCount parses a non-empty decimal counter without allocating (strconv would need a
// string, and would also accept "+1" and "0x1").
func parseCount(line int, name string, b []byte) (uint64, error) {
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, stubErr(line, "%s: %q is not a number", name, b)
		}
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, stubErr(line, "%s: %q does not fit in 64 bits", name, b)
		}
		v = v*10 + d
	}
	return v, nil
}

// fields splits a line on spaces and tabs into at most 7 fields without allocating; n
// counts every field even past the seventh, so an overlong line is still detected.
type fields struct {
	f [7][]byte
	n int
}

func (f *fields) split(line []byte) {
	f.n = 0
	for {
		line = trimSpace(line)
		if len(line) == 0 {
			return
		}
		i := 0
		for i < len(line) && line[i] != ' ' && line[i] != '\t' {
			i++
		}
		if f.n < len(f.f) {
			f.f[f.n] = line[:i]
		}
		f.n++
		line = line[i:]
	}
}

func trimSpace(b []byte) []byte {
	return bytes.Trim(b, " \t")
}

// maxStubStatusSize bounds what Fetch reads: the real page is under 200 bytes.
const maxStubStatusSize = 4 << 10

// Client fetches nginx's stub_status page.
type Client struct {
	URL  string       // e.g. "http://127.0.0.1:8080/nginx_status"
	HTTP *http.Client // nil = http.DefaultClient; bound the fetch with the context
}

// Fetch gets and parses the stub_status page. Any status but 200, a body over 4 KiB and a
// malformed page are errors.
func (c *Client) Fetch(ctx context.Context) (StubStatus, error) {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
	if err != nil {
		return StubStatus{}, fmt.Errorf("nginx stub_status: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return StubStatus{}, fmt.Errorf("nginx stub_status: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxStubStatusSize))
		return StubStatus{}, fmt.Errorf("nginx stub_status: GET %s: %s", c.URL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxStubStatusSize+1))
	if err != nil {
		return StubStatus{}, fmt.Errorf("nginx stub_status: read %s: %w", c.URL, err)
	}
	if len(body) > maxStubStatusSize {
		return StubStatus{}, fmt.Errorf("nginx stub_status: %s: body larger than %d bytes: %w", c.URL, maxStubStatusSize, ErrMalformedStubStatus)
	}
	s, err := ParseStubStatus(body)
	if err != nil {
		return StubStatus{}, fmt.Errorf("nginx stub_status: %s: %w", c.URL, err)
	}
	return s, nil
}

// Rates is the change between two stub_status readings. Counts are exact; the per-second
// figures are for display.
type Rates struct {
	Interval          time.Duration // time between the readings, as given to Delta
	Requests          uint64        // requests in the interval
	Accepts           uint64        // connections accepted in the interval
	Dropped           uint64        // connections accepted but not handled in the interval
	RequestsPerSec    float64       // Requests / Interval; 0 when Interval <= 0
	ConnectionsPerSec float64       // Accepts / Interval; 0 when Interval <= 0
	// Reset is true when a counter went down: nginx was restarted between the readings, so
	// the counts are those since the restart (cur's values), and the interval overstates
	// the time they took.
	Reset bool
}

// Delta computes the rates between two readings taken dt apart. A counter that decreased
// means nginx restarted (counters survive a reload, not a restart): cur is then taken as
// the delta since the restart and Rates.Reset is set.
func Delta(prev, cur StubStatus, dt time.Duration) Rates {
	r := Rates{Interval: dt}
	if cur.Accepts < prev.Accepts || cur.Handled < prev.Handled || cur.Requests < prev.Requests {
		r.Reset = true
		prev = StubStatus{}
	}
	r.Requests = cur.Requests - prev.Requests
	r.Accepts = cur.Accepts - prev.Accepts
	if handled := cur.Handled - prev.Handled; handled < r.Accepts {
		r.Dropped = r.Accepts - handled
	}
	if dt > 0 {
		secs := dt.Seconds()
		r.RequestsPerSec = float64(r.Requests) / secs
		r.ConnectionsPerSec = float64(r.Accepts) / secs
	}
	return r
}
