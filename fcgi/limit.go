package fcgi

import (
	"context"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// Bodies of the responses the wrapper writes itself. Short and plain: they are read by
// nginx (which retries a 503 elsewhere) and by operators, not by browsers.
const (
	bodyOverloaded = "503 overloaded, retry later\n"
	bodyPanic      = "500 internal server error\n"
	bodyBadRequest = "400 bad request\n"
)

// Shared header values for the responses the wrapper writes, so the 503 path does not
// allocate. net/http/fcgi only reads header slices, never appends to them.
var (
	hdrTextPlain = []string{"text/plain; charset=utf-8"}
	hdrNoStore   = []string{"no-store"}
)

// limiter is the wrapped handler returned by Server.Handler.
type limiter struct {
	s *Server
}

// ServeHTTP runs one request through the draining check, the cap and queue, the request
// deadline and panic recovery, and counts it.
func (l *limiter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.s.serveWith(w, r, l.s.inner)
}

// serveWith is the wrapper around inner: the application handler, or the native engine's
// own answers (400 for a malformed request), which are thus counted and logged exactly
// like the application's.
func (s *Server) serveWith(w http.ResponseWriter, r *http.Request, inner http.Handler) {
	c := &s.c
	start := time.Now()
	s.active.Add(1)
	defer s.active.Add(-1)
	c.accepted.Add(1)
	ep := &c.endpoints[s.endpoint(r.URL.Path)]
	ep.requests.Add(1)

	// A drain serves what reaches it: a request on a kept-alive connection, or one queued
	// when Shutdown began, was written by nginx to this process, and a 503 for a POST is
	// never retried elsewhere (see Shutdown).
	ok, waited := s.acquire(r.Context())
	if !ok {
		c.rejected.Add(1)
		s.reject(w, ep, bodyOverloaded)
		return
	}
	// granted is when the request got its slot, for the slow log's breakdown. Only a
	// request that waited in the queue pays for a second clock read.
	granted := start
	if waited {
		granted = time.Now()
	}
	storeMax(&c.maxInFlight, c.inFlight.Add(1))
	defer func() {
		c.inFlight.Add(-1)
		<-s.sem
	}()

	if _, own := r.Context().(*reqCtx); own {
		// The native engine's request context: it carries the deadline already (counted
		// from the request's arrival) and is cancelled by the engine.
	} else if d := s.opt.RequestTimeout; d > 0 {
		if parent := r.Context(); parent.Done() == nil {
			rc := &reqCtx{Context: parent, deadline: start.Add(d)}
			defer rc.cancel()
			r = r.WithContext(rc)
		} else {
			ctx, cancel := context.WithDeadline(parent, start.Add(d))
			defer cancel()
			r = r.WithContext(ctx)
		}
	}
	rec := s.newRecorder(w)
	code := s.run(rec.writer(), r, rec, inner)
	s.freeRecorder(rec)

	dur := time.Since(start)
	c.countStatus(code)
	if code >= 500 {
		ep.s5xx.Add(1)
	}
	c.observe(dur)
	if s.opt.RequestTimeout > 0 && dur >= s.opt.RequestTimeout {
		c.timeouts.Add(1) // the context's deadline had passed when the handler returned
	}
	if s.opt.SlowTimeout > 0 && dur > s.opt.SlowTimeout {
		c.slow.Add(1)
		s.logSlow(r, code, start, granted, dur)
	}
}

// logSlow writes one slow-log line: the endpoint (the Options.Endpoints prefix it was
// counted under), the status, the whole duration and its breakdown. queue_wait is the time
// spent waiting for a free slot among MaxChildren and handler the time inside the handler;
// a slow request with a long queue_wait means the worker is short of children, one with a
// long handler time means the handler itself (or what it waits on) is slow. The
// millisecond fields are numbers, so that JSON logs can be filtered and sorted on them.
func (s *Server) logSlow(r *http.Request, code int, start, granted time.Time, dur time.Duration) {
	wait := granted.Sub(start)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	s.opt.Logger.WithFields(logrus.Fields{
		"method":      r.Method,
		"path":        r.URL.Path,
		"endpoint":    s.endpointName(s.endpoint(r.URL.Path)),
		"status":      code,
		"duration":    dur,
		"duration_ms": ms(dur),
		"queue_ms":    ms(wait),
		"handler_ms":  ms(dur - wait),
	}).Warn("fcgi: slow request")
}

// run calls the inner handler, turning a panic into a 500 if nothing was sent yet, and
// returns the status code the client got.
func (s *Server) run(w http.ResponseWriter, r *http.Request, rec *recorder, inner http.Handler) (code int) {
	defer func() {
		v := recover()
		if v == nil {
			code = rec.code()
			return
		}
		if v == http.ErrAbortHandler {
			// The handler's way to say "abort this response"; not a bug.
			s.c.aborts.Add(1)
		} else {
			s.c.panics.Add(1)
			s.opt.Logger.WithFields(logrus.Fields{
				"method": r.Method, "path": r.URL.Path, "panic": fmt.Sprint(v),
				"stack": string(debug.Stack()),
			}).Error("fcgi: handler panic")
		}
		if !rec.wrote {
			// net/http/fcgi cannot drop the connection from here, so answer properly.
			h := rec.ResponseWriter.Header()
			for k := range h {
				delete(h, k)
			}
			h["Content-Type"] = hdrTextPlain
			h["Cache-Control"] = hdrNoStore
			rec.ResponseWriter.WriteHeader(http.StatusInternalServerError)
			rec.ResponseWriter.Write([]byte(bodyPanic))
			code = http.StatusInternalServerError
			return
		}
		// Headers are gone: the client gets what was written. Count it as a 5xx anyway.
		code = http.StatusInternalServerError
	}()
	inner.ServeHTTP(w, r)
	return 0 // replaced by the deferred function
}

// acquire takes a handler slot, waiting in the queue if there is room there. It reports
// false when the request must be rejected: queue full, QueueTimeout passed, Shutdown
// began, or the request's context ended. waited reports whether the request went through
// the queue rather than finding a free slot at once.
func (s *Server) acquire(ctx context.Context) (ok, waited bool) {
	select {
	case s.sem <- struct{}{}:
		return true, false
	default:
	}
	c := &s.c
	c.capReached.Add(1)
	if s.opt.Queue == 0 {
		return false, false
	}
	q := c.queued.Add(1)
	defer c.queued.Add(-1)
	if q > int64(s.opt.Queue) {
		return false, false
	}
	storeMax(&c.maxQueued, q)
	t, _ := s.timers.Get().(*time.Timer)
	if t == nil {
		t = time.NewTimer(s.opt.QueueTimeout)
	} else {
		t.Reset(s.opt.QueueTimeout)
	}
	defer func() {
		t.Stop()
		s.timers.Put(t)
	}()
	select {
	case s.sem <- struct{}{}:
		return true, true
	case <-t.C:
		c.queueTimeouts.Add(1)
	case <-ctx.Done():
	}
	return false, true
}

// countStdlibBadRequest counts the 500 net/http/fcgi answers, bypassing the wrapper, to
// params that make no request (the native engine answers 400 through the wrapper), so
// that the counters still add up to every answer. Its path is unknown: it counts as
// "other".
func (s *Server) countStdlibBadRequest() {
	c := &s.c
	c.accepted.Add(1)
	ep := &c.endpoints[len(s.opt.Endpoints)]
	ep.requests.Add(1)
	ep.s5xx.Add(1)
	c.countStatus(http.StatusInternalServerError)
	c.observe(0)
	s.opt.Logger.Warn("fcgi: bad request (net/http/fcgi answered 500)")
}

// reject answers 503 with Retry-After, which nginx's `fastcgi_next_upstream http_503`
// turns into a retry on another worker.
func (s *Server) reject(w http.ResponseWriter, ep *endpointCounters, body string) {
	ep.rejected.Add(1)
	ep.s5xx.Add(1)
	s.c.countStatus(http.StatusServiceUnavailable)
	h := w.Header()
	h["Content-Type"] = hdrTextPlain
	h["Cache-Control"] = hdrNoStore
	h["Retry-After"] = s.retryAfter
	w.WriteHeader(http.StatusServiceUnavailable)
	w.Write([]byte(body)) // constant string to []byte: the compiler does not allocate here
}

// endpointName returns the name Stats uses for endpoint index i: its prefix, or "other".
func (s *Server) endpointName(i int) string {
	if i < len(s.opt.Endpoints) {
		return s.opt.Endpoints[i]
	}
	return "other"
}

// endpoint returns the index of the first Options.Endpoints prefix of path, or the index
// of "other".
func (s *Server) endpoint(path string) int {
	for i, p := range s.opt.Endpoints {
		if strings.HasPrefix(path, p) {
			return i
		}
	}
	return len(s.opt.Endpoints)
}

// recorder wraps the ResponseWriter to learn the status code. It is pooled: one per
// request would be an allocation on every ad request.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

// newRecorder takes a recorder from s's pool for w.
func (s *Server) newRecorder(w http.ResponseWriter) *recorder {
	rec, _ := s.recorders.Get().(*recorder)
	if rec == nil {
		rec = new(recorder)
	}
	rec.ResponseWriter = w
	return rec
}

// freeRecorder returns rec to the pool. The handler must have returned: a handler that
// keeps its ResponseWriter after returning is already broken under net/http's rules.
func (s *Server) freeRecorder(rec *recorder) {
	*rec = recorder{}
	s.recorders.Put(rec)
}

// writer returns rec as the handler's ResponseWriter, as a type that implements
// http.Flusher exactly when the underlying writer does, so that handlers testing for
// Flusher keep seeing the truth. flushRecorder holds one pointer, so converting it to an
// interface does not allocate.
func (rec *recorder) writer() http.ResponseWriter {
	if _, ok := rec.ResponseWriter.(http.Flusher); ok {
		return flushRecorder{rec}
	}
	return rec
}

// code is the status the client got: 200 when the handler wrote nothing (net/http/fcgi
// then sends an empty 200).
func (rec *recorder) code() int {
	if !rec.wrote {
		return http.StatusOK
	}
	return rec.status
}

// WriteHeader records the final status. A 1xx is dropped: CGI has no interim responses,
// and net/http/fcgi would send it as the final status (nginx would then answer the
// client with it), while the handler goes on to write the real one.
func (rec *recorder) WriteHeader(code int) {
	if code >= 100 && code < 200 {
		return
	}
	if !rec.wrote {
		rec.status = code
		rec.wrote = true
	}
	rec.ResponseWriter.WriteHeader(code)
}

// Write writes body bytes, implying a 200 if no status was set.
func (rec *recorder) Write(p []byte) (int, error) {
	if !rec.wrote {
		rec.status = http.StatusOK
		rec.wrote = true
	}
	return rec.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// flushRecorder is a recorder whose underlying writer is an http.Flusher.
type flushRecorder struct{ *recorder }

// Flush sends buffered data to the peer, implying a 200 if no status was set.
func (f flushRecorder) Flush() {
	if !f.wrote {
		f.status = http.StatusOK
		f.wrote = true
	}
	f.ResponseWriter.(http.Flusher).Flush()
}
