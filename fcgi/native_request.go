package fcgi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/sirupsen/logrus"
)

// The life of a native request once its input has begun: its handler goroutine, the
// wrapper around the application handler (or the engine's own 400), the response, and the
// release of the request's place on the connection.

// start starts q's handler at its first STDIN record, as net/http/fcgi does: the params
// are complete and the body is streamed from here on.
func (c *nconn) start(q *nreq, hasBody bool) {
	q.started = true
	q.hasBody = hasBody
	q.ctx.Context = context.Background()
	if d := c.s.opt.RequestTimeout; d > 0 {
		q.ctx.deadline = time.Now().Add(d)
	}
	c.s.writing.Add(1)
	c.mu.Lock()
	idle := c.workerIdle
	c.workerIdle = false
	c.mu.Unlock()
	switch {
	case idle:
		c.work <- q // buffered: never blocks, the worker is waiting or about to
	case c.work == nil:
		c.work = make(chan *nreq, 1)
		go c.worker(q)
	default:
		go q.run()
	}
}

// worker runs the connection's requests one after the other until the loop ends.
func (c *nconn) worker(q *nreq) {
	for {
		q.run()
		c.mu.Lock()
		c.workerIdle = true
		c.mu.Unlock()
		var ok bool
		if q, ok = <-c.work; !ok {
			return
		}
	}
}

// run serves q: builds the request, runs the wrapped handler (cap, queue, counters) or,
// for params that make no valid request, answers 400 through the same wrapper, and
// writes the response.
func (q *nreq) run() {
	s := q.c.s
	finished := false
	defer func() {
		// As in serveNative: an engine bug costs this connection, not the worker.
		if v := recover(); v != nil {
			s.opt.Logger.WithFields(logrus.Fields{"panic": fmt.Sprint(v), "stack": string(debug.Stack())}).
				Error("fcgi: native request panic outside the handler; connection closed")
			q.c.tc.Close()
			if !finished {
				q.finished()
			}
		}
	}()
	w := newResp(q)
	pb := q.pb
	r, env, scratch, err := buildRequest(&q.ctx, pb.raw, &pb.ix, pb.scratch)
	pb.scratch = scratch
	if err != nil {
		r = fallbackRequest(&q.ctx, pb.raw, &pb.ix)
		s.opt.Logger.WithFields(logrus.Fields{"error": err.Error(), "remote": r.RemoteAddr}).
			Warn("fcgi: bad request")
		s.serveWith(w, r, badRequest{})
	} else {
		q.ctx.params = env
		if q.hasBody {
			r.Body = q
		} else {
			r.Body = http.NoBody
		}
		s.handler.ServeHTTP(w, r)
	}
	q.ctx.cancel()
	paramPool.Put(pb)
	// Free the id before END_REQUEST goes out: the peer may reuse it as soon as it reads
	// END_REQUEST, and the loop must then see a new request, not this one.
	q.c.mu.Lock()
	q.c.remove(q)
	q.c.mu.Unlock()
	w.finish()
	w.free()
	finished = true
	q.finished()
}

// finished releases q after its END_REQUEST: the connection is idle for the reaper from
// now (not from its last read, which may be long before for a slow request), and without
// FCGI_KEEP_CONN it is closed. During a drain a kept connection stays open for the peer
// to close (see Server.Shutdown).
func (q *nreq) finished() {
	c := q.c
	q.mu.Lock()
	q.done = true
	q.body = nil
	counted := q.counted
	q.counted = false
	q.cond.Broadcast()
	q.mu.Unlock()
	if counted {
		c.tc.nbusy.Add(-1)
	}
	c.tc.responseEnded()
	c.mu.Lock()
	c.released()
	c.mu.Unlock()
	c.s.writing.Add(-1)
	if !q.keep {
		c.tc.Close()
	}
}

// badRequest is the engine's own answer to params that do not make an HTTP request.
type badRequest struct{}

// ServeHTTP answers 400.
func (badRequest) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h["Content-Type"] = hdrTextPlain
	h["Cache-Control"] = hdrNoStore
	w.WriteHeader(http.StatusBadRequest)
	io.WriteString(w, bodyBadRequest)
}
