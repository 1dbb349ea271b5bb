package aggregator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"adnet/internal/eventlog"
	"adnet/models"
)

// memStream is an in-memory StreamSource: message i (0-based) has sequence i+1.
type memStream struct {
	mu     sync.Mutex
	events []models.Event
}

func (m *memStream) Name() string { return "stream/TEST" }

func (m *memStream) Open(after uint64) (StreamReader, error) {
	return &memReader{m: m, next: after}, nil
}

func (m *memStream) OpenAt(t time.Time, through uint64) (StreamReader, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Stored times are not kept: start from the first event at or after t, as near enough.
	i := 0
	for i < len(m.events) && m.events[i].Time.Before(t) {
		i++
	}
	return &memReader{m: m, next: uint64(i), through: through}, nil
}

type memReader struct {
	m             *memStream
	next, through uint64
}

func (r *memReader) Next(ev *models.Event) (eventlog.Position, error) {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if r.through > 0 && r.next >= r.through || r.next >= uint64(len(r.m.events)) {
		return eventlog.Position{}, io.EOF
	}
	*ev = r.m.events[r.next]
	r.next++
	return eventlog.Position{Offset: int64(r.next)}, nil
}

func (r *memReader) Close() error { return nil }

// TestStreamCrashRecovery: the consumer of the stream, killed at every step of a flush,
// resumes from the sequence committed with the aggregates and reaches the exact totals.
func TestStreamCrashRecovery(t *testing.T) {
	t.Parallel()
	cases := []crashCase{{"event", 150}, {"before-commit", 2}, {"after-commit", 1}, {"after-commit", 4}}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s-%d", c.point, c.n), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			w := e.workload(base, 300)
			ms := &memStream{events: w.events}
			opt := e.options(e.store)
			opt.Stream = ms
			crashing := e.newAgg(opt)
			crashing.hooks.crash = crashAt(c.point, c.n)
			if err := runToCrash(t, crashing); !errors.Is(err, errCrash) {
				t.Fatalf("Run returned %v, want the simulated crash", err)
			}
			if before := e.totals(); sameTotals(before, w.want) {
				t.Fatal("the crash came after everything was committed: it tests nothing")
			}
			stop := run(e.newAgg(opt))
			e.waitTotals(w.want)
			e.stays(w.want)
			must(t, stop())
			offs, err := e.store.LoadOffsets(context.Background())
			must(t, err)
			if o := offs[ms.Name()]; o.Offset != int64(len(w.events)) || o.Segment != 0 {
				t.Errorf("committed stream position %d:%d, want 0:%d", o.Segment, o.Offset, len(w.events))
			}
		})
	}
}

// TestStreamFlushFenced: an aggregator whose batch was read from a sequence another one has
// committed past (it lost its leadership) cannot commit it: the flush's compare-and-set fails,
// and the aggregator stops rather than count those events a second time.
func TestStreamFlushFenced(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.workload(base, 200)
	ms := &memStream{events: w.events}
	opt := e.options(e.store)
	opt.Stream = ms
	// The deposed one: holds its first batch at the moment of committing it...
	gate, release := make(chan struct{}), make(chan struct{})
	deposed := e.newAgg(opt)
	var once sync.Once
	deposed.hooks.crash = func(p string) error {
		if p == "before-commit" {
			once.Do(func() { close(gate); <-release })
		}
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- deposed.Run(context.Background()) }()
	<-gate
	// ...while its successor (on another host: its own data directory) counts everything.
	succ := opt
	succ.DataDir = t.TempDir()
	stop := run(e.newAgg(succ))
	e.waitTotals(w.want)
	must(t, stop())
	close(release)
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the deposed aggregator went on")
		}
		t.Logf("deposed aggregator stopped: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the deposed aggregator neither committed nor stopped")
	}
	e.stays(w.want)
}
