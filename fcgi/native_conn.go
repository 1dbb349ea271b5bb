package fcgi

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"

	"github.com/sirupsen/logrus"
)

// Limits of the native engine, per connection and per request.
const (
	// maxConnReqs bounds the requests of one connection at once, counting an aborted
	// request until its handler has returned, so that aborting and beginning again cannot
	// start handlers without bound. nginx uses one; more get END_REQUEST CANT_MPX_CONN.
	maxConnReqs = 8
	// maxPendingBody is how much request body is buffered for a handler that has not read
	// it yet; beyond it the connection's loop waits, which pushes back on the peer.
	maxPendingBody = 64 << 10
	// readBufSize is the connection's read buffer: a whole nginx GET (BEGIN_REQUEST,
	// params, the end of params and of stdin) usually arrives in one read.
	readBufSize = 4096
)

// Errors a native request body returns.
var (
	// ErrRequestAborted is returned by the body of a request the web server aborted
	// (FCGI_ABORT_REQUEST); the request's context is cancelled too.
	ErrRequestAborted = errors.New("fcgi: request aborted by web server")
	// ErrConnClosed is returned by the body of a request whose connection ended before
	// its input was complete.
	ErrConnClosed = errors.New("fcgi: connection to web server closed")
)

// nconn is one native FastCGI connection. A single goroutine (loop) reads records and
// dispatches them; handlers run in a second goroutine of the connection, kept between
// requests, so that the loop can keep reading a request's body, FCGI_ABORT_REQUEST and
// management records meanwhile. Writes are
// whole records under wmu, so the output of concurrent requests never interleaves.
type nconn struct {
	s  *Server
	tc *trackedConn
	br *bufio.Reader

	wmu  sync.Mutex
	mgmt []byte // the loop's buffer for the records it writes itself; used under wmu

	mu   sync.Mutex
	cond sync.Cond // broadcast when live drops
	reqs [maxConnReqs]*nreq
	live int // requests begun and not finished, aborted ones included until their handler returns

	// work hands requests to the connection's handler goroutine, which is started with the
	// first request and kept: a new goroutine per request would allocate and grow a fresh
	// stack every time (stack growth alone was a quarter of request construction). Only
	// the loop sends; a request that finds the worker busy (interleaved ids) gets a
	// goroutine of its own. workerIdle is guarded by mu.
	work       chan *nreq
	workerIdle bool
	workClosed bool // loop goroutine only
}

// paramBuf holds a request's raw params and what decoding them reuses; pooled.
type paramBuf struct {
	raw, scratch []byte
	ix           paramIndex
}

var paramPool = sync.Pool{New: func() any { return &paramBuf{raw: make([]byte, 0, 2048)} }}

// nreq is one request of a native connection. The request context is embedded, so the
// allocation of nreq is also the context's; it is not pooled, because a handler may leak
// its context (or its body) past its return.
type nreq struct {
	ctx     reqCtx
	c       *nconn
	id      uint16
	keep    bool      // FCGI_KEEP_CONN
	started bool      // the handler was started (loop only)
	hasBody bool      // stdin was not empty at the start
	pb      *paramBuf // owned by the loop until the start, then by the handler

	mu      sync.Mutex
	cond    sync.Cond
	body    []byte // stdin received and not yet read: body[bodyR:]
	bodyR   int
	bodyN   int64 // stdin bytes accepted in all
	inEOF   bool  // the empty STDIN record arrived
	inErr   error // what Read returns once body is consumed (abort, closed, too large)
	done    bool  // the handler returned and its END_REQUEST was written
	counted bool  // counted in trackedConn.nbusy

	aborted bool // guarded by c.wmu: output is dropped
}

// serveNative runs the native engine on an accepted connection until it ends.
func (s *Server) serveNative(tc *trackedConn) {
	c := &nconn{s: s, tc: tc, br: bufio.NewReaderSize(tc, readBufSize)}
	c.cond.L = &c.mu
	tc.native.Store(c)
	defer func() {
		// A panic here would be a bug of the engine, not of a handler (those are recovered
		// by the wrapper): lose this connection, not the worker and all its requests.
		if v := recover(); v != nil {
			s.opt.Logger.WithFields(logrus.Fields{"panic": fmt.Sprint(v), "stack": string(debug.Stack())}).
				Error("fcgi: native connection loop panic; connection closed")
			c.end(errProtocol)
		}
	}()
	err := c.loop()
	if errors.Is(err, errProtocol) || errors.Is(err, errParamsTooLarge) {
		s.c.badInput.Add(1)
		s.opt.Logger.WithError(err).Debug("fcgi: closing connection")
	}
	c.end(err)
}

// loop reads and dispatches records until the connection fails or must close.
func (c *nconn) loop() error {
	for {
		h, err := readHeader(c.br)
		if err != nil {
			return err
		}
		if err := c.record(h); err != nil {
			return err
		}
	}
}

// errCloseConn ends the loop without error: the peer asked for the connection to close.
var errCloseConn = errors.New("fcgi: connection should be closed")

// record handles one record whose header has been read.
func (c *nconn) record(h recHeader) error {
	if h.id == 0 {
		return c.management(h)
	}
	switch h.typ {
	case recBeginRequest:
		return c.begin(h)
	case recParams:
		q := c.lookup(h.id)
		if q == nil || q.started || h.clen == 0 {
			return c.skip(h.clen + h.plen)
		}
		pb := q.pb
		if len(pb.raw)+h.clen > maxParamsBytes {
			return errParamsTooLarge
		}
		n := len(pb.raw)
		pb.raw = append(pb.raw, make([]byte, h.clen)...) // no allocation within capacity
		if _, err := io.ReadFull(c.br, pb.raw[n:]); err != nil {
			return err
		}
		return c.skip(h.plen)
	case recStdin:
		q := c.lookup(h.id)
		if q == nil {
			return c.skip(h.clen + h.plen)
		}
		if !q.started {
			c.start(q, h.clen > 0)
		}
		if h.clen == 0 {
			q.endInput()
			return c.skip(h.plen)
		}
		if err := c.stdin(q, h.clen); err != nil {
			return err
		}
		return c.skip(h.plen)
	case recAbortRequest:
		q := c.lookup(h.id)
		if err := c.skip(h.clen + h.plen); err != nil || q == nil {
			return err
		}
		c.abort(q)
		if !q.keep {
			return errCloseConn
		}
		return nil
	default:
		// DATA is for the filter role; the rest are types a responder never receives.
		return c.skip(h.clen + h.plen)
	}
}

// skip discards n bytes of content or padding.
func (c *nconn) skip(n int) error {
	if n == 0 {
		return nil
	}
	_, err := c.br.Discard(n)
	return err
}

// management answers a record with request id 0: FCGI_GET_VALUES, or FCGI_UNKNOWN_TYPE.
func (c *nconn) management(h recHeader) error {
	if h.typ != recGetValues {
		if err := c.skip(h.clen + h.plen); err != nil {
			return err
		}
		c.writeOwn(func(b []byte) []byte { return appendUnknownType(b, h.typ) })
		return nil
	}
	query := make([]byte, h.clen) // rare: a web server asks once per connection at most
	if _, err := io.ReadFull(c.br, query); err != nil {
		return err
	}
	if err := c.skip(h.plen); err != nil {
		return err
	}
	// FCGI_MAX_CONNS is MaxChildren too: connections are always accepted (a refused one is a
	// 502 in nginx), but beyond MaxChildren requests at once the answer is a 503, so a web
	// server that sizes its pool from these values stays within the cap.
	c.writeOwn(func(b []byte) []byte {
		return appendGetValuesResult(b, query, c.s.maxReqs, c.s.maxReqs)
	})
	return nil
}

// begin handles BEGIN_REQUEST.
func (c *nconn) begin(h recHeader) error {
	if h.clen != 8 {
		return errProtocol
	}
	b, err := c.br.Peek(8)
	if err != nil {
		return err
	}
	role, flags := uint16(b[0])<<8|uint16(b[1]), b[2]
	if err := c.skip(8 + h.plen); err != nil {
		return err
	}
	if c.lookup(h.id) != nil {
		return errProtocol // an id already in flight: the peer lost track of its requests
	}
	if role != roleResponder {
		c.writeOwn(func(b []byte) []byte { return appendEndRequest(b, h.id, 0, statusUnknownRole) })
		return nil
	}
	c.mu.Lock()
	if c.live >= maxConnReqs {
		c.mu.Unlock()
		c.writeOwn(func(b []byte) []byte { return appendEndRequest(b, h.id, 0, statusCantMpxConn) })
		return nil
	}
	q := &nreq{c: c, id: h.id, keep: flags&flagKeepConn != 0, pb: paramPool.Get().(*paramBuf)}
	q.cond.L = &q.mu
	q.pb.raw = q.pb.raw[:0]
	for i := range c.reqs {
		if c.reqs[i] == nil {
			c.reqs[i] = q
			break
		}
	}
	c.live++
	c.mu.Unlock()
	return nil
}

// lookup returns the begun request with id, or nil.
func (c *nconn) lookup(id uint16) *nreq {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, q := range c.reqs {
		if q != nil && q.id == id {
			return q
		}
	}
	return nil
}

// writeOwn writes a record the engine produces itself (management answers, END_REQUEST
// of a refused or aborted request).
func (c *nconn) writeOwn(build func([]byte) []byte) {
	c.wmu.Lock()
	c.mgmt = build(c.mgmt[:0])
	c.tc.Write(c.mgmt) // a failed write shows as a failed read next
	c.wmu.Unlock()
}

// write writes records of q's response, unless q was aborted.
func (c *nconn) write(q *nreq, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if q.aborted {
		return errAborted
	}
	_, err := c.tc.Write(b)
	return err
}

// stdin hands n bytes of body content to q's handler, copying from the read buffer.
func (c *nconn) stdin(q *nreq, n int) error {
	for n > 0 {
		if c.br.Buffered() == 0 {
			if _, err := c.br.Peek(1); err != nil {
				return err
			}
		}
		k := min(n, c.br.Buffered())
		p, _ := c.br.Peek(k)
		q.push(p)
		c.br.Discard(k)
		n -= k
	}
	return nil
}

// abort handles FCGI_ABORT_REQUEST: the request's END_REQUEST is written now and its id
// freed, and whatever its handler writes later is dropped, so it can never reach a request
// that reuses the id. Its context is cancelled and its body fails.
func (c *nconn) abort(q *nreq) {
	c.mu.Lock()
	c.remove(q)
	if !q.started {
		c.released()
	}
	c.mu.Unlock()
	c.wmu.Lock()
	q.aborted = true
	c.mgmt = appendEndRequest(c.mgmt[:0], q.id, 0, statusRequestComplete)
	c.tc.Write(c.mgmt)
	c.wmu.Unlock()
	if !q.started {
		paramPool.Put(q.pb)
		return
	}
	q.ctx.abort()
	q.fail(ErrRequestAborted)
}

// remove takes q out of the id table; c.mu is held.
func (c *nconn) remove(q *nreq) {
	for i := range c.reqs {
		if c.reqs[i] == q {
			c.reqs[i] = nil
		}
	}
}

// released counts one request less on the connection; c.mu is held.
func (c *nconn) released() {
	c.live--
	c.cond.Broadcast()
}

// end cleans up after the loop: requests that never started are dropped, running ones see
// their body fail. After EOF the peer may still read (it only stopped sending), so the
// handlers are left to answer before the connection is closed; after any other error it
// is closed at once and their contexts cancelled.
func (c *nconn) end(err error) {
	if c.work != nil && !c.workClosed {
		c.workClosed = true
		close(c.work) // the loop, the only sender, is done
	}
	graceful := errors.Is(err, io.EOF) || errors.Is(err, errCloseConn)
	c.mu.Lock()
	for i, q := range c.reqs {
		if q == nil {
			continue
		}
		c.reqs[i] = nil
		if !q.started {
			c.released()
			paramPool.Put(q.pb)
			continue
		}
		q.fail(ErrConnClosed)
		if !graceful {
			q.ctx.abort()
		}
	}
	if graceful {
		for c.live > 0 {
			c.cond.Wait()
		}
	}
	c.mu.Unlock()
	c.tc.Close()
}
