package fcgi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

type ctxKey struct{}

func newReqCtx(d time.Duration) *reqCtx {
	return &reqCtx{Context: context.WithValue(context.Background(), ctxKey{}, "v"), deadline: time.Now().Add(d)}
}

func waitDone(t *testing.T, ctx context.Context) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("context not done")
	}
}

func TestReqCtxExpires(t *testing.T) {
	c := newReqCtx(30 * time.Millisecond)
	if c.Value(ctxKey{}) != "v" {
		t.Fatal("parent values not visible")
	}
	if dl, ok := c.Deadline(); !ok || !dl.Equal(c.deadline) {
		t.Fatal("deadline not reported")
	}
	child, cancelChild := context.WithCancel(c)
	defer cancelChild()
	ran := make(chan struct{})
	context.AfterFunc(c, func() { close(ran) })
	stopped := make(chan struct{})
	stop := context.AfterFunc(c, func() { close(stopped) })
	if !stop() {
		t.Fatal("stop of a pending AfterFunc returned false")
	}
	waitDone(t, c) // the timer closes Done; Err then agrees
	if c.Err() != context.DeadlineExceeded {
		t.Fatalf("Err after deadline: %v", c.Err())
	}
	waitDone(t, child)
	if child.Err() != context.DeadlineExceeded {
		t.Fatalf("child Err: %v", child.Err())
	}
	<-ran
	select {
	case <-stopped:
		t.Fatal("stopped AfterFunc ran")
	default:
	}
	c.cancel()
	if c.Err() != context.DeadlineExceeded {
		t.Fatalf("cancel after the deadline changed Err to %v", c.Err())
	}
}

func TestReqCtxLazy(t *testing.T) {
	// Past deadline, Done never asked for: Err still reports it, and Done is closed.
	c := newReqCtx(-time.Second)
	if c.Err() != context.DeadlineExceeded {
		t.Fatalf("Err: %v", c.Err())
	}
	waitDone(t, c)
	if c.timer != nil {
		t.Fatal("timer armed for a past deadline")
	}

	// Ended before the deadline: Canceled, timer released, later Done closed.
	c = newReqCtx(time.Hour)
	if c.Err() != nil {
		t.Fatalf("Err before the deadline: %v", c.Err())
	}
	c.cancel()
	if c.Err() != context.Canceled || c.timer != nil {
		t.Fatalf("after cancel: %v, timer %v", c.Err(), c.timer)
	}
	waitDone(t, c)

	// Done asked for, then cancelled: the timer is stopped and Done closed.
	c = newReqCtx(time.Hour)
	d := c.Done()
	if c.timer == nil {
		t.Fatal("Done did not arm the timer")
	}
	c.cancel()
	<-d
	if c.timer.Stop() {
		t.Fatal("timer still pending after cancel")
	}
}

func TestReqCtxConcurrent(t *testing.T) {
	for i := 0; i < 50; i++ {
		c := newReqCtx(time.Millisecond)
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-c.Done()
				if c.Err() == nil {
					t.Error("Done closed but Err nil")
				}
			}()
		}
		if i%2 == 0 {
			c.cancel()
		}
		wg.Wait()
	}
}

// TestHandlerDeadline: the wrapper gives requests a deadline, using reqCtx under an
// uncancellable parent and context.WithDeadline under a cancellable one, whose
// cancellation must still reach the handler.
func TestHandlerDeadline(t *testing.T) {
	var got context.Context
	entered := make(chan struct{})
	s := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Context()
		close(entered)
		<-r.Context().Done()
	}), Options{RequestTimeout: time.Hour})

	parent, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil).WithContext(parent))
	}()
	<-entered
	if _, ok := got.(*reqCtx); ok {
		t.Fatal("reqCtx used under a cancellable parent")
	}
	if dl, ok := got.Deadline(); !ok || time.Until(dl) < 50*time.Minute {
		t.Fatalf("deadline %v %v", dl, ok)
	}
	cancel()
	<-done
	if got.Err() != context.Canceled {
		t.Fatalf("Err %v", got.Err())
	}

	s = NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Context() }),
		Options{RequestTimeout: time.Hour})
	s.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil).WithContext(context.WithoutCancel(parent)))
	if _, ok := got.(*reqCtx); !ok {
		t.Fatalf("context %T, want *reqCtx", got)
	}
	if got.Err() != context.Canceled {
		t.Fatalf("request context after the handler returned: %v", got.Err())
	}
}
