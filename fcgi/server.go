// Package fcgi is the worker side of adnet's FastCGI serving: a Server that runs a FastCGI
// responder (its own native engine by default, or Go's net/http/fcgi as the reference,
// see Engine) behind a concurrency cap, a short queue, panic recovery, request deadlines,
// idle-connection reaping, graceful shutdown and exact counters.
//
// # Why 503 and never a closed connection
//
// The system adnet replaces died in nginx 502s. flup, its FastCGI server, either stopped
// calling accept() when all children were busy (the Unix socket backlog filled and nginx's
// connect() failed at once with EAGAIN) or accepted and immediately closed the connection.
// nginx maps both to 502 and, with the default max_fails=1, takes the backend out of
// rotation for fail_timeout, pushing its load onto the others: a cascade.
//
// A Server therefore always accepts, and always answers. When MaxChildren requests are
// already in the handler and the queue is full (or a queued request waited QueueTimeout),
// it answers at once "503 Service Unavailable" with Retry-After. nginx configured with
// `fastcgi_next_upstream error timeout http_503` then retries the request on another
// worker, because nothing has been sent to the client yet. The cost of a rejection is a
// few microseconds instead of a connection and a backlog slot. Connections are only
// closed when idle (IdleTimeout, for stuck peers, counted from the end of the last
// response), when the peer breaks the protocol, or at the very end of Shutdown if the
// peer has not closed them by then (a drain asks nginx to close them: see Shutdown).
//
// # Why counters
//
// php-fpm's status page is what operators know, and its known gaps are what they complain
// about: "max children reached" counts episodes rather than rejected requests, the listen
// queue reads 0 on Unix sockets, configured limits are not shown, and the page is served
// by a pool worker so it is unreachable exactly when the pool is saturated. Stats fixes
// these: every rejection is counted, the queue is our own so it can be measured, limits
// are included, and ControlHandler is meant for a separate per-worker control socket that
// never goes through the cap. Counters are atomics so that counting costs nothing
// measurable on the ad request path and stays exact under concurrency.
//
// # What net/http/fcgi does and does not do
//
// net/http/fcgi parses the protocol and runs one goroutine per connection and one per
// request. It has no cap, no timeouts, no shutdown and no panic recovery (a panic kills
// the process), and its request context is never cancelled. Server adds these around it:
// the handler wrapper (Handler) does the cap, queue, recovery, deadline and counting; a
// listener wrapper retries temporary accept errors and tracks connections; a connection
// wrapper follows the FastCGI record stream to know when a connection is idle, so that
// neither the idle reaper nor Shutdown cuts a response in half.
//
// # The native engine
//
// net/http/fcgi costs half of what the nginx → FastCGI topology allows: a goroutine and a
// 64 KB buffer per request, params in maps, a pipe per body, unbuffered reads and a
// write(2) per record. The native engine (native_*.go) reads each connection through one
// buffered loop, decodes params into one string and an index instead of a map, builds the
// http.Request directly with net/http/cgi's semantics, and writes a small response (CGI
// header block, body, end of stream and END_REQUEST) in a single write from a pooled
// buffer. It follows the FastCGI 1.0 specification: FCGI_KEEP_CONN, FCGI_GET_VALUES
// (FCGI_MAX_CONNS and FCGI_MAX_REQS from MaxChildren, FCGI_MPXS_CONNS 0), FCGI_ABORT_REQUEST,
// FCGI_UNKNOWN_TYPE and FCGI_UNKNOWN_ROLE, interleaved request ids up to a per-connection
// bound, and per-request limits on params. Its requests go through the same wrapper as
// the stdlib engine's, so cap, queue, 503, drain, deadlines and counters are identical.
package fcgi

import (
	"context"
	"errors"
	"net"
	"net/http"
	stdfcgi "net/http/fcgi"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

// Defaults applied by NewServer to zero Options fields.
const (
	DefaultMaxChildren     = 50 // flup's and Django runfcgi's default, which ops already size against
	DefaultQueueTimeout    = 100 * time.Millisecond
	DefaultRequestTimeout  = 30 * time.Second
	DefaultShutdownTimeout = 30 * time.Second
	DefaultIdleTimeout     = 5 * time.Minute // nginx keeps FastCGI connections open between requests
	DefaultRetryAfter      = time.Second
	DefaultMaxBodyBytes    = 16 << 20 // far above any ad request or postback; nginx's own default is 1 MB
)

// maxParamsBytes bounds the FastCGI params of one request (the native engine counts per
// request id, so interleaved requests cannot add up beyond it). net/http/fcgi buffers
// params without limit, so a broken or hostile peer could grow a worker's memory at will; nginx's
// params are a few kilobytes (its header buffers are 4×8k by default).
const maxParamsBytes = 1 << 20

// Options configures a Server. Zero values take the defaults named on each field.
type Options struct {
	// Engine is the FastCGI implementation (default EngineNative); with any other value
	// than the Engine constants, Serve returns an error at once.
	Engine Engine
	// MaxBodyBytes bounds a request body on the native engine: a handler reading beyond it
	// gets an *http.MaxBytesError and the rest is discarded (default 16 MB; negative = no
	// limit). net/http/fcgi has no such limit.
	MaxBodyBytes int64
	// MaxChildren caps the requests inside the wrapped handler at once (default 50).
	MaxChildren int
	// Queue is how many requests beyond MaxChildren may wait for a slot (default 0: reject
	// at once, so that nginx retries on a worker with a free slot).
	Queue int
	// QueueTimeout bounds the wait in the queue; then the request gets 503 (default 100ms).
	QueueTimeout time.Duration
	// RequestTimeout is the deadline put on each request's context, counted from arrival
	// (default 30s; negative = no deadline). Handlers must honour it; the server does not
	// interrupt them. Set nginx's fastcgi_read_timeout just above it.
	RequestTimeout time.Duration
	// ShutdownTimeout bounds the drain in Shutdown, in addition to Shutdown's context
	// (default 30s).
	ShutdownTimeout time.Duration
	// SlowTimeout: requests slower than this are logged at warning level and counted
	// (0 = off).
	SlowTimeout time.Duration
	// IdleTimeout closes a FastCGI connection on which the server has waited this long
	// for the peer, counted from its last byte read or the end of its last response,
	// whichever is later, unless a request of that connection is being handled
	// (default 5m; negative = never). It protects against stuck peers; nginx's kept-alive
	// connections legitimately sit idle between requests, so keep it generous.
	IdleTimeout time.Duration
	// RetryAfter is sent as Retry-After on 503s, in whole seconds, at least 1 (default 1s).
	RetryAfter time.Duration
	// Endpoints are path prefixes counted separately in Stats (e.g. "/serve/"); the first
	// matching prefix wins, other paths count as "other".
	Endpoints []string
	// Logger receives panics (error), slow requests and accept errors (warning). Default:
	// a logger that discards everything.
	Logger logrus.FieldLogger
	// Extra, if set, is called by Stats and its result served as "extra" in the status
	// JSON, so the embedding program can report its own fields (e.g. event log write
	// errors). It must be cheap and safe for concurrent use.
	Extra func() map[string]any
	// AllowPeers, if not empty, are the only addresses whose TCP connections are served:
	// any other is closed at accept, counted (Stats.PeersRefused) and logged once a minute
	// per address. Unix socket connections are not affected. FastCGI has no
	// authentication, so a TCP listener needs this (config: fcgi.allow_peers).
	AllowPeers []netip.Prefix
}

// withDefaults returns opt with zero fields replaced by defaults and bad values clamped.
func (opt Options) withDefaults() Options {
	if opt.Engine == "" {
		opt.Engine = EngineNative
	}
	if opt.MaxBodyBytes == 0 {
		opt.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opt.MaxChildren <= 0 {
		opt.MaxChildren = DefaultMaxChildren
	}
	opt.Queue = max(opt.Queue, 0)
	if opt.QueueTimeout <= 0 {
		opt.QueueTimeout = DefaultQueueTimeout
	}
	if opt.RequestTimeout == 0 {
		opt.RequestTimeout = DefaultRequestTimeout
	}
	if opt.ShutdownTimeout <= 0 {
		opt.ShutdownTimeout = DefaultShutdownTimeout
	}
	opt.SlowTimeout = max(opt.SlowTimeout, 0)
	if opt.IdleTimeout == 0 {
		opt.IdleTimeout = DefaultIdleTimeout
	}
	if opt.RetryAfter < time.Second {
		opt.RetryAfter = DefaultRetryAfter
	}
	if opt.Logger == nil {
		l := logrus.New()
		l.Out = discard{}
		opt.Logger = l
	}
	return opt
}

// discard is an io.Writer that drops everything (for the default logger).
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Server serves FastCGI requests with a cap, a queue, and counters. Create it with
// NewServer; it is safe for concurrent use.
type Server struct {
	opt     Options
	inner   http.Handler
	handler http.Handler // the wrapped handler (*limiter)
	start   time.Time
	c       counters
	peers   *peerFilter // nil: every peer is served

	// sem holds a token per request inside the inner handler.
	sem chan struct{}
	// retryAfter and the other pre-built header values keep the 503 path allocation-free.
	retryAfter []string
	// recorders and timers recycle the status recorders and the queue-wait timers, so
	// that neither the ad request path nor the overload path allocates for them.
	recorders sync.Pool
	timers    sync.Pool

	// draining is set when Shutdown begins; drainCh is closed at the same time so that
	// queued requests and accept backoffs wake up.
	draining  atomic.Bool
	drainCh   chan struct{}
	drainOnce sync.Once
	// done is closed when Shutdown has finished; Serve waits for it.
	done     chan struct{}
	doneOnce sync.Once
	// active counts requests anywhere in the wrapped handler (queued, running, rejected).
	active atomic.Int64
	// writing counts native requests from their start until their END_REQUEST is written.
	writing atomic.Int64
	// maxReqs is MaxChildren as text, for FCGI_GET_VALUES.
	maxReqs string

	// tick is a coarse clock for idle detection, advanced by the reaper goroutine, so that
	// the read path stores an integer instead of calling time.Now and re-arming a timer.
	tick       atomic.Int64
	reaperOnce sync.Once

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*trackedConn]struct{}
}

// NewServer returns a Server that serves h with the given options. An unknown
// Options.Engine makes Serve fail (config validation is the place to catch it).
func NewServer(h http.Handler, opt Options) *Server {
	opt = opt.withDefaults()
	s := &Server{
		opt:        opt,
		inner:      h,
		start:      time.Now(),
		sem:        make(chan struct{}, opt.MaxChildren),
		retryAfter: []string{strconv.FormatInt(int64(opt.RetryAfter/time.Second), 10)},
		maxReqs:    strconv.Itoa(opt.MaxChildren),
		drainCh:    make(chan struct{}),
		done:       make(chan struct{}),
		listeners:  make(map[net.Listener]struct{}),
		conns:      make(map[*trackedConn]struct{}),
	}
	s.c.endpoints = make([]endpointCounters, len(opt.Endpoints)+1)
	s.handler = &limiter{s: s}
	s.peers = newPeerFilter(opt.AllowPeers, opt.Logger)
	return s
}

// Handler returns the wrapped handler (cap, queue, panic recovery, deadline, counters),
// the one Serve runs, so that it can also be tested or benchmarked without FastCGI.
//
// A panic in the inner handler is logged with its stack and answered 500 if nothing was
// written yet; after that the response simply ends as written, since net/http/fcgi gives
// no way to abort a connection. http.ErrAbortHandler is counted as an abort, not logged.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve accepts FastCGI connections on ln and serves them until Shutdown, then returns
// nil once the drain is over. It returns early only on a fatal accept error; temporary
// ones (EMFILE, ECONNABORTED, ...) are logged and retried with backoff. After a fatal
// error ln is left open for the caller, and connections already accepted keep being
// served until Shutdown.
//
// ln may be a socket inherited from the master and shared with other processes: Shutdown
// closes only this process's descriptor. Note that a *net.UnixListener created by
// net.Listen unlinks its socket file on Close; one from net.FileListener does not.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.draining.Load() {
		s.mu.Unlock()
		ln.Close()
		<-s.done
		return nil
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	if s.opt.IdleTimeout > 0 {
		s.reaperOnce.Do(func() { go s.reap() })
	}

	var err error
	switch s.opt.Engine {
	case EngineNative:
		err = s.serveNativeLoop(&listener{Listener: ln, s: s})
	case EngineStdlib:
		err = stdfcgi.Serve(&listener{Listener: ln, s: s}, s.handler)
	default:
		_, err = ParseEngine(string(s.opt.Engine))
	}
	if s.draining.Load() {
		<-s.done
		return nil
	}
	s.mu.Lock()
	delete(s.listeners, ln)
	s.mu.Unlock()
	return err
}

// serveNativeLoop accepts connections for the native engine, one goroutine each, and
// returns the first fatal accept error as net/http/fcgi's Serve does.
func (s *Server) serveNativeLoop(l *listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go s.serveNative(c.(*trackedConn))
	}
}

// Shutdown stops the server gracefully: it stops accepting (closing this process's
// listener descriptors) and serves, as usual, every request that still reaches it on a
// kept-alive connection or waits in the queue; after each such response it tells the web
// server to drop the connection (appendGoodbye) instead of reusing it. It returns once no
// request is being handled or written and the peers have closed every connection — nginx
// closes the ones it keeps idle after its upstream keepalive_timeout, which adnet's
// rendered configuration keeps below ShutdownTimeout — bounded by ctx and ShutdownTimeout;
// then it closes whatever is left.
//
// Why the worker never closes a kept-alive connection itself while nginx may still use
// it: nginx can write its next request on an idle connection at the very moment the
// worker closes it, and then fails that request; it retries GETs on another worker, but
// never a POST it has written (conversion postbacks, console and API changes). Nor does a
// drain answer 503: nginx does not retry a POST after a 503 either.
//
// It returns ctx's error (or context.DeadlineExceeded) if the drain was cut short;
// handlers still running then are left to finish on their own.
func (s *Server) Shutdown(ctx context.Context) error {
	s.drainOnce.Do(func() {
		s.mu.Lock()
		s.draining.Store(true)
		close(s.drainCh)
		for ln := range s.listeners {
			ln.Close()
		}
		s.mu.Unlock()
	})
	ctx, cancel := context.WithTimeout(ctx, s.opt.ShutdownTimeout)
	defer cancel()

	err := s.waitDrained(ctx)
	s.mu.Lock()
	conns := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	s.doneOnce.Do(func() { close(s.done) })
	return err
}

// waitDrained polls, with a growing interval, until no request is in the wrapped
// handler or being written and the peers have closed every connection (the response is
// written by net/http/fcgi after the handler returns, so the handler count alone would
// let Shutdown cut the tail of a response).
func (s *Server) waitDrained(ctx context.Context) error {
	wait := time.Millisecond
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		if s.drained() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, 50*time.Millisecond)
		t.Reset(wait)
	}
}

func (s *Server) drained() bool {
	if s.active.Load() > 0 || s.writing.Load() > 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns) == 0
}

// listener wraps the listener given to Serve: it retries temporary accept errors (Go's
// fcgi.Serve returns on the first error of any kind) and wraps accepted connections.
type listener struct {
	net.Listener
	s *Server
}

// Accept returns the next connection. A connection accepted while Shutdown begins is
// still returned and served, never closed unanswered: an accepted-then-closed connection
// is a 502 in nginx.
func (l *listener) Accept() (net.Conn, error) {
	var backoff time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			if a, ok := l.s.peers.allowed(c); !ok {
				c.Close()
				l.s.c.peersRefused.Add(1)
				l.s.peers.refused(a, time.Now())
				continue
			}
			return l.s.track(c), nil
		}
		if l.s.draining.Load() {
			return nil, net.ErrClosed
		}
		if !temporary(err) {
			return nil, err
		}
		backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
		l.s.opt.Logger.WithError(err).WithField("retry_in", backoff).Warn("fcgi: accept error")
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-l.s.drainCh:
			t.Stop()
		}
	}
}

// temporary reports whether an accept error is worth retrying: resource exhaustion and
// connections aborted before accept, as net/http does.
func temporary(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return false
	}
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS,
		syscall.ENOMEM, syscall.ECONNABORTED, syscall.EAGAIN, syscall.EINTR, syscall.EPROTO} {
		if errors.Is(err, e) {
			return true
		}
	}
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary()
}
