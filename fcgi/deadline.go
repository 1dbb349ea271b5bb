package fcgi

import (
	"context"
	"sync"
	"time"
)

// reqCtx is the request context carrying RequestTimeout's deadline. context.WithDeadline
// costs about 0.9µs and 5 allocations per request, nearly all of it arming and stopping
// a runtime timer that most ad requests never look at. reqCtx arms its timer only when
// someone calls Done (or derives a cancelable context from it); Err and Deadline just
// compare with the clock. It is used only when the parent can never be cancelled, which
// is always the case under net/http/fcgi (its request context is never cancelled);
// otherwise the wrapper falls back to context.WithDeadline. The wrapper calls cancel when
// the handler returns.
//
// The native engine embeds one in each request (so it costs no allocation of its own),
// with a zero deadline when RequestTimeout is negative, cancels it on FCGI_ABORT_REQUEST,
// and stores the raw params in it for ProcessEnv and Param.
type reqCtx struct {
	context.Context           // parent: Value; its Done is nil
	deadline        time.Time // zero: none
	params          string    // the native engine's raw params, served as paramsKey{}

	mu    sync.Mutex
	done  chan struct{} // created by the first Done
	timer *time.Timer   // armed by the first Done before the deadline
	err   error
	funcs []*afterFunc // registered by AfterFunc, run when err is set
}

type afterFunc struct{ f func() }

// Deadline returns the request deadline, if any.
func (c *reqCtx) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }

// Value returns the native engine's params for paramsKey{}, else the parent's value.
func (c *reqCtx) Value(key any) any {
	if _, ok := key.(paramsKey); ok && c.params != "" {
		return c.params
	}
	return c.Context.Value(key)
}

// Done returns a channel closed at the deadline or when the request ends.
func (c *reqCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		c.check()
		if c.err != nil {
			close(c.done)
		} else if !c.deadline.IsZero() {
			c.timer = time.AfterFunc(time.Until(c.deadline), c.expire)
		}
	}
	return c.done
}

// Err returns nil before the deadline, context.DeadlineExceeded after it, and
// context.Canceled once the request has ended before its deadline.
func (c *reqCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.check()
	return c.err
}

// AfterFunc implements the interface context.AfterFunc and cancelable children look
// for, so that deriving a context from a request does not cost a goroutine.
func (c *reqCtx) AfterFunc(f func()) (stop func() bool) {
	c.Done() // arm the timer
	a := &afterFunc{f: f}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		go f()
		return func() bool { return false }
	}
	c.funcs = append(c.funcs, a)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, x := range c.funcs {
			if x == a {
				c.funcs = append(c.funcs[:i], c.funcs[i+1:]...)
				return true
			}
		}
		return false
	}
}

// check ends the context if the deadline has passed; c.mu is held.
func (c *reqCtx) check() {
	if c.err == nil && !c.deadline.IsZero() && !time.Now().Before(c.deadline) {
		c.finish(context.DeadlineExceeded)
	}
}

// finish sets err, closes done and runs the registered functions, once; c.mu is held.
func (c *reqCtx) finish(err error) {
	if c.err != nil {
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	for _, a := range c.funcs {
		go a.f()
	}
	c.funcs = nil
}

func (c *reqCtx) expire() {
	c.mu.Lock()
	c.finish(context.DeadlineExceeded)
	c.mu.Unlock()
}

// cancel ends the context when the request returns (Canceled, or DeadlineExceeded if the
// deadline has passed) and releases its timer.
func (c *reqCtx) cancel() {
	c.mu.Lock()
	c.check()
	c.finish(context.Canceled)
	c.mu.Unlock()
}

// abort cancels the context (FCGI_ABORT_REQUEST, or the connection failed).
func (c *reqCtx) abort() {
	c.mu.Lock()
	c.finish(context.Canceled)
	c.mu.Unlock()
}

// String describes the context for debugging, as the context package's own types do.
func (c *reqCtx) String() string {
	return "fcgi.reqCtx(deadline " + c.deadline.String() + ")"
}
