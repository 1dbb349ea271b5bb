package master

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// A stand-in answers on a worker's socket while no worker process runs on it (after a
// crash, through the restart backoff of up to MaxRestartBackoff). Without it the master's
// still-open socket accepts connections into its backlog and nobody reads them: nginx waits
// out its fastcgi_read_timeout and answers 504, and retries nothing. The stand-in answers
// every FastCGI request at once with "503 Service Unavailable" and Retry-After: 1, which
// nginx's `fastcgi_next_upstream http_503` turns into a retry on another worker (a GET;
// nginx never retries a POST it has sent, so that client gets the 503 and may retry).
//
// It is a minimal FastCGI responder written here rather than the fcgi package's server,
// which the master must not depend on: it reads records until the request's empty
// FCGI_STDIN (so nginx never sees its request refused half-way), writes one FCGI_STDOUT
// record with the headers, an empty one, and FCGI_END_REQUEST, then closes the connection,
// also when nginx asked to keep it (FCGI_KEEP_CONN): a kept connection would stay with the
// stand-in after the worker is back. nginx drops a cached connection the peer closed.

// FastCGI protocol constants (FastCGI specification, section 8).
const (
	fcgiVersion        = 1
	fcgiBeginRequest   = 1
	fcgiAbortRequest   = 2
	fcgiEndRequest     = 3
	fcgiStdin          = 5
	fcgiStdout         = 6
	fcgiRequestDone    = 0 // FCGI_REQUEST_COMPLETE
	fcgiHeaderLen      = 8
	standInConnTimeout = 5 * time.Second // a connection that sends no complete request is closed
)

// standInResponse is the CGI response of the stand-in: what nginx turns into an HTTP 503.
const standInResponse = "Status: 503 Service Unavailable\r\n" +
	"Retry-After: 1\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Cache-Control: no-store\r\n" +
	"\r\n" +
	"worker restarting, retry\n"

// standIn serves one worker socket until stopped.
type standIn struct {
	ln       net.Listener
	allow    []netip.Prefix // TCP peers answered; empty = all (see Options.AllowPeers)
	done     chan struct{}  // closed when the accept loop has returned
	answered atomic.Int64   // requests answered with 503
}

// startStandIn starts answering on the listening socket f (a duplicate descriptor is
// used; f itself stays open for the next worker process).
func startStandIn(f *os.File, allow []netip.Prefix) (*standIn, error) {
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, err
	}
	s := &standIn{ln: ln, allow: allow, done: make(chan struct{})}
	go s.serve()
	return s, nil
}

func (s *standIn) serve() {
	defer close(s.done)
	for {
		c, err := s.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return // stopped
		}
		if err != nil {
			// EMFILE and the like: keep the socket served rather than give up.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if !s.allowed(c) {
			c.Close() // as the worker would: a stranger gets nothing, not even a 503
			continue
		}
		go func() {
			if s.answer(c) {
				s.answered.Add(1)
			}
		}()
	}
}

// allowed reports whether c's peer may be answered: any Unix socket peer, a TCP peer in
// the allow-list.
func (s *standIn) allowed(c net.Conn) bool {
	ta, ok := c.RemoteAddr().(*net.TCPAddr)
	if !ok || len(s.allow) == 0 {
		return true
	}
	a := ta.AddrPort().Addr().Unmap()
	for _, p := range s.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// stop closes the stand-in's descriptor, so it accepts nothing more, and waits until its
// accept loop has returned. Connections still in the backlog stay there for the worker
// process started next; those already accepted are answered on their own.
func (s *standIn) stop() int64 {
	s.ln.Close()
	<-s.done
	return s.answered.Load()
}

// answer reads one FastCGI request from c and answers 503; it reports whether it did.
func (s *standIn) answer(c net.Conn) bool {
	defer c.Close()
	c.SetDeadline(time.Now().Add(standInConnTimeout))
	r := bufio.NewReader(c)
	var hdr [fcgiHeaderLen]byte
	reqID := uint16(0)
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return false
		}
		typ := hdr[1]
		id := binary.BigEndian.Uint16(hdr[2:4])
		n := int(binary.BigEndian.Uint16(hdr[4:6])) + int(hdr[6])
		if _, err := r.Discard(n); err != nil {
			return false
		}
		switch {
		case typ == fcgiBeginRequest:
			reqID = id
		case typ == fcgiAbortRequest && id == reqID:
			writeEnd(c, reqID)
			return false
		case typ == fcgiStdin && id == reqID && n == 0:
			// The request is complete (nginx sends the whole body before the empty
			// FCGI_STDIN): answer it.
			var out []byte
			out = appendRecord(out, fcgiStdout, reqID, []byte(standInResponse))
			out = appendRecord(out, fcgiStdout, reqID, nil)
			out = appendEnd(out, reqID)
			_, err := c.Write(out)
			return err == nil
		}
	}
}

// appendRecord appends one FastCGI record (content up to 65535 bytes, 8-byte aligned).
func appendRecord(b []byte, typ byte, id uint16, content []byte) []byte {
	pad := (8 - len(content)%8) % 8
	b = append(b, fcgiVersion, typ, byte(id>>8), byte(id), byte(len(content)>>8), byte(len(content)), byte(pad), 0)
	b = append(b, content...)
	return append(b, make([]byte, pad)...)
}

// appendEnd appends FCGI_END_REQUEST with appStatus 0 and FCGI_REQUEST_COMPLETE.
func appendEnd(b []byte, id uint16) []byte {
	return appendRecord(b, fcgiEndRequest, id, []byte{0, 0, 0, 0, fcgiRequestDone, 0, 0, 0})
}

func writeEnd(c net.Conn, id uint16) { c.Write(appendEnd(nil, id)) }

// startStandInLocked makes the master answer 503 on s's socket until a process is started
// on it again. Called with m.mu held, when s's process died and a restart is scheduled.
func (m *Master) startStandInLocked(s *slot) {
	if s.listener == nil || s.standIn != nil {
		return
	}
	st, err := startStandIn(s.listener, m.opt.AllowPeers)
	if err != nil {
		m.opt.Logger.WithError(err).WithField("process", s.name).
			Error("master: cannot answer 503 on the dead worker's socket; requests wait for its restart")
		return
	}
	s.standIn = st
	m.opt.Logger.WithField("process", s.name).Info("master: answering 503 on the worker's socket until it is back")
}

// stopStandIn stops s's stand-in, if any, so that the process about to be started is the
// only one accepting on the socket.
func (s *slot) stopStandIn(log logrus.FieldLogger) {
	if s.standIn == nil {
		return
	}
	n := s.standIn.stop()
	s.standIn = nil
	log.WithFields(logrus.Fields{"process": s.name, "answered_503": n}).Info("master: stopped answering for the worker")
}
