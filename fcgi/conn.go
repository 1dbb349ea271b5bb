package fcgi

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// FastCGI record types and the responder role, from the FastCGI 1.0 specification.
const (
	recBeginRequest = 1
	recEndRequest   = 3
	recParams       = 4
	recStdin        = 5
	roleResponder   = 1
	recHeaderLen    = 8
)

// errParamsTooLarge ends a connection whose peer sends more than maxParamsBytes of params
// for one request.
var errParamsTooLarge = errors.New("fcgi: request params too large")

// trackedConn wraps an accepted connection. It follows the FastCGI record headers in
// both directions (a few integer operations per Read/Write, no copy) to know whether a
// request is being handled on it, which decides whether the idle reaper and Shutdown may
// close it, and it bounds the params a peer may send.
//
// "Busy" means: a responder request has begun, its input is complete (the empty STDIN
// record that ends it has been read, so net/http/fcgi has started the handler and the
// peer now rightly waits), and its END_REQUEST has not been written yet. A peer that stops
// in the middle of a request's input is not busy: it is the stuck peer IdleTimeout is for,
// and closing it also unblocks a handler waiting on the request body. nginx runs one
// request at a time per connection; with multiplexing peers the flag is per connection,
// which can only make the reaper close a stalled multiplexed connection earlier.
type trackedConn struct {
	net.Conn
	s *Server

	// open counts responder requests begun (read) minus END_REQUESTs written.
	open atomic.Int32
	// inputDone is set by the empty STDIN record and cleared by BEGIN_REQUEST.
	inputDone atomic.Bool
	// reading is set while a Read waits for the peer; lastTick is the reaper tick at which
	// the last Read began or returned data.
	reading  atomic.Bool
	lastTick atomic.Int64

	// in is only used by the single goroutine that reads the connection (net/http/fcgi's
	// per-connection loop); out is guarded by outMu because any request goroutine writes.
	in          recScanner
	paramsBytes int
	outMu       sync.Mutex
	out         recScanner

	// native is the native engine's connection state (nil under net/http/fcgi, whose
	// requests are followed by the record scanners instead); nbusy counts its requests
	// that are busy in the sense above.
	native atomic.Pointer[nconn]
	nbusy  atomic.Int32

	closeOnce sync.Once
	closeErr  error
}

// track wraps and registers a newly accepted connection.
func (s *Server) track(c net.Conn) net.Conn {
	tc := &trackedConn{Conn: c, s: s}
	tc.lastTick.Store(s.tick.Load())
	s.c.connsAccepted.Add(1)
	s.c.connsOpen.Add(1)
	s.mu.Lock()
	s.conns[tc] = struct{}{}
	s.mu.Unlock()
	return tc
}

// busy reports whether a request on c is being handled or its response written.
func (c *trackedConn) busy() bool {
	return c.open.Load() > 0 && c.inputDone.Load() || c.nbusy.Load() > 0
}

// Read reads from the peer, noting progress for the idle reaper and following records.
func (c *trackedConn) Read(p []byte) (int, error) {
	t := c.s.tick.Load()
	c.lastTick.Store(t)
	c.reading.Store(true)
	n, err := c.Conn.Read(p)
	c.reading.Store(false)
	if n > 0 {
		if t2 := c.s.tick.Load(); t2 != t {
			c.lastTick.Store(t2)
		}
		if c.native.Load() == nil {
			if serr := c.scanIn(p[:n]); serr != nil {
				c.s.c.badInput.Add(1)
				return 0, serr
			}
		}
	}
	return n, err
}

// goodbyeLen is the length of the record appendGoodbye appends.
const goodbyeLen = recHeaderLen

// appendGoodbye appends, after the END_REQUEST of request id, an empty STDERR record of
// the same request: the way a draining worker tells nginx to drop a kept-alive connection
// instead of reusing it. nginx keeps an upstream connection only if END_REQUEST is the
// last byte it has read (ngx_http_fastcgi_input_filter: "f->pos + f->padding == f->last");
// bytes after it in the same read make it close the connection itself, after the complete
// response. Were the worker to close the connection instead, nginx could write its next
// request on it in the meantime and fail it — a 502 for a POST, which nginx never retries.
// An empty STDERR record is what nginx skips silently should it ever read one at the start
// of a response, and what other FastCGI clients ignore as an empty error stream.
func appendGoodbye(b []byte, id uint16) []byte {
	return appendRecordHeader(b, recStderr, id, 0, 0)
}

// responseEnded notes the end of a response: the connection's idleness counts from here,
// not from the read that was waiting meanwhile, so that the reaper never closes a
// connection right after a request that took longer than IdleTimeout (nginx would then
// fail the next request written on it, and it never retries a POST).
func (c *trackedConn) responseEnded() {
	c.lastTick.Store(c.s.tick.Load())
}

// Write writes to the peer, following records to see END_REQUESTs.
func (c *trackedConn) Write(p []byte) (int, error) {
	if c.native.Load() != nil {
		return c.Conn.Write(p) // the native engine keeps its own state
	}
	if c.s.draining.Load() && c.out.left == 0 && c.out.hn == 0 && len(p) == recHeaderLen+8 && p[1] == recEndRequest {
		// net/http/fcgi writes each END_REQUEST with one Write: send the goodbye in the
		// same write, so that nginx reads both at once (see appendGoodbye).
		b := appendGoodbye(append(make([]byte, 0, len(p)+goodbyeLen), p...), uint16(p[2])<<8|uint16(p[3]))
		n, err := c.Conn.Write(b)
		if n >= len(p) {
			c.s.c.drainGoodbyes.Add(1)
			c.scanOut(p)
			return len(p), err
		}
		c.scanOut(p[:n])
		return n, err
	}
	n, err := c.Conn.Write(p)
	c.scanOut(p[:n])
	return n, err
}

// scanOut follows the records written to the peer, to see END_REQUESTs.
func (c *trackedConn) scanOut(p []byte) {
	if len(p) > 0 {
		c.outMu.Lock()
		for q := p; len(q) > 0; {
			k, ev := c.out.feed(q)
			q = q[k:]
			if ev&evHeader != 0 && c.out.typ == recStderr {
				// net/http/fcgi writes STDERR only when the params make no request, after
				// its own "Status: 500" and without calling the handler: count that answer.
				c.s.countStdlibBadRequest()
			}
			if ev&evHeader != 0 && c.out.typ == recEndRequest {
				// Floor at zero: an END_REQUEST for a request we did not count (unknown
				// role, abort) must not make another request look idle for ever after.
				for {
					v := c.open.Load()
					if v <= 0 || c.open.CompareAndSwap(v, v-1) {
						break
					}
				}
				c.responseEnded()
			}
		}
		c.outMu.Unlock()
	}
}

// scanIn follows the records read from the peer.
func (c *trackedConn) scanIn(p []byte) error {
	for len(p) > 0 {
		k, ev := c.in.feed(p)
		p = p[k:]
		if ev&evHeader != 0 {
			switch c.in.typ {
			case recParams:
				c.paramsBytes += c.in.clen
				if c.paramsBytes > maxParamsBytes {
					return errParamsTooLarge
				}
			case recStdin:
				if c.in.clen == 0 {
					c.inputDone.Store(true)
				}
			}
		}
		if ev&evRecord != 0 && c.in.typ == recBeginRequest && c.in.clen == 8 && c.in.role == roleResponder {
			c.paramsBytes = 0
			c.inputDone.Store(false)
			c.open.Add(1)
		}
	}
	return nil
}

// Close closes the connection once and unregisters it.
func (c *trackedConn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.Conn.Close()
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
		c.s.c.connsOpen.Add(-1)
	})
	return c.closeErr
}

// reap advances the coarse clock and closes connections that have been waiting for the
// peer, not busy, for IdleTimeout. It runs from the first Serve until Shutdown ends. The
// tick is a quarter of IdleTimeout (at most a second), so a connection is closed between
// IdleTimeout and IdleTimeout plus one tick after its last byte.
func (s *Server) reap() {
	step := min(s.opt.IdleTimeout/4, time.Second)
	idleTicks := int64((s.opt.IdleTimeout + step - 1) / step)
	t := time.NewTicker(step)
	defer t.Stop()
	var victims []*trackedConn
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		now := s.tick.Add(1)
		victims = victims[:0]
		s.mu.Lock()
		for c := range s.conns {
			if !c.reading.Load() || now-c.lastTick.Load() < idleTicks {
				continue
			}
			if c.busy() {
				s.c.idleDeferred.Add(1)
				continue
			}
			victims = append(victims, c)
		}
		s.mu.Unlock()
		for _, c := range victims {
			s.c.idleClosed.Add(1)
			c.Close()
		}
	}
}

// Events returned by recScanner.feed.
const (
	evHeader = 1 << iota // a record header is complete: typ and clen are set
	evRecord             // a whole record (header, content, padding) is complete
)

// recScanner follows the record boundaries of a FastCGI byte stream however it is split
// into reads or writes. It keeps the current header and, for BEGIN_REQUEST, the role.
type recScanner struct {
	hdr  [recHeaderLen]byte
	hn   int // header bytes collected
	left int // content+padding bytes of the current record still to come
	pos  int // content bytes seen of the current record
	typ  byte
	clen int
	role uint16
}

// feed consumes bytes of p up to the next event (or all of p) and returns how many it
// consumed and the events reached.
func (sc *recScanner) feed(p []byte) (int, int) {
	if sc.left == 0 {
		k := copy(sc.hdr[sc.hn:], p)
		sc.hn += k
		if sc.hn < recHeaderLen {
			return k, 0
		}
		sc.hn = 0
		sc.typ = sc.hdr[1]
		sc.clen = int(binary.BigEndian.Uint16(sc.hdr[4:6]))
		sc.left = sc.clen + int(sc.hdr[6])
		sc.pos = 0
		sc.role = 0
		if sc.left == 0 {
			return k, evHeader | evRecord
		}
		return k, evHeader
	}
	k := min(len(p), sc.left)
	if sc.typ == recBeginRequest {
		// The role is the first two content bytes, big-endian.
		for i := 0; i < k && sc.pos+i < 2; i++ {
			sc.role = sc.role<<8 | uint16(p[i])
		}
	}
	sc.pos += k
	sc.left -= k
	if sc.left == 0 {
		return k, evRecord
	}
	return k, 0
}
