package aggregator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"adnet/internal/eventlog"
	"adnet/models"
	"adnet/models/mysql"
)

var base = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

// TestAggregatesWorkloadExactly runs the workload through four workers' logs and checks every
// counter, the money to the nano-unit, the invalid counts by reason, the click and conversion
// rows, and that the daily and zone tables hold the same events as the hourly one.
func TestAggregatesWorkloadExactly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.workload(base, 600)
	spread(t, w.events, []*eventlog.Writer{e.writer(1), e.writer(2), e.writer(3), e.writer(4)}, 1)
	a := e.newAgg(e.options(e.store))
	stop := run(a)
	e.waitTotals(w.want)
	e.stays(w.want)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st := a.Stats()
	if st.EventsCommitted != int64(len(w.events)) || st.Commits < 5 || st.CommitErrors != 0 {
		t.Errorf("stats: %d events committed in %d commits (%d errors); want %d events", st.EventsCommitted, st.Commits, st.CommitErrors, len(w.events))
	}
	if st.Verdicts["duplicate_impression"] != w.want.Invalid["impression/duplicate_impression"] ||
		st.Verdicts["duplicate_conversion"] != w.want.Invalid["conversion/duplicate_conversion"] {
		t.Errorf("verdict counters %v", st.Verdicts)
	}
	// campaign_daily feeds the caps: valid counts and spend per campaign.
	var imps, clicks, convs, spend int64
	must(t, e.raw.QueryRowContext(context.Background(),
		`SELECT SUM(impressions), SUM(clicks), SUM(conversions), SUM(spend_nanos) FROM campaign_daily`).Scan(&imps, &clicks, &convs, &spend))
	if imps != w.want.Imps || clicks != w.want.Clicks || convs != w.want.Convs || spend != w.want.Spend {
		t.Errorf("campaign_daily: %d %d %d %d, want %d %d %d %d", imps, clicks, convs, spend, w.want.Imps, w.want.Clicks, w.want.Convs, w.want.Spend)
	}
	offs, err := e.store.LoadOffsets(context.Background())
	must(t, err)
	if len(offs) != 4 {
		t.Errorf("%d offsets, want one per source", len(offs))
	}
}

// crashCase is one point of the flush at which the aggregator dies.
type crashCase struct {
	point string
	n     int
}

// TestCrashRecovery kills the aggregator at every step of a flush (and in the middle of a
// batch), at different commits, then restarts a fresh aggregator on the same logs and
// database: the totals must come out exactly as without the crash.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	cases := []crashCase{
		{"event", 1}, {"event", 150}, {"event", 777}, // mid-batch: nothing of the batch is committed
		{"before-commit", 1}, {"before-commit", 4}, // batch resolved, transaction not sent
		{"after-commit", 1}, {"after-commit", 5}, // committed, but the process dies before using it
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s-%d", c.point, c.n), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			w := e.workload(base, 300)
			spread(t, w.events, []*eventlog.Writer{e.writer(1), e.writer(2), e.writer(3)}, uint64(c.n))
			crashing := e.newAgg(e.options(e.store))
			crashing.hooks.crash = crashAt(c.point, c.n)
			if err := runToCrash(t, crashing); !errors.Is(err, errCrash) {
				t.Fatalf("Run returned %v, want the simulated crash", err)
			}
			if before := e.totals(); sameTotals(before, w.want) {
				t.Fatal("the crash came after everything was committed: it tests nothing")
			}
			stop := run(e.newAgg(e.options(e.store)))
			e.waitTotals(w.want)
			e.stays(w.want)
			must(t, stop())
		})
	}
}

// killingStore kills the aggregator (cancels its context, which makes the driver drop the
// connection: the server rolls back whatever is not committed yet) a moment after the n-th
// commit started, wherever the transaction has got to.
type killingStore struct {
	*mysql.Store
	mu    sync.Mutex
	n, at int
	after time.Duration
	kill  context.CancelFunc
}

func (s *killingStore) FlushBatch(ctx context.Context, b *models.Batch) error {
	s.mu.Lock()
	s.n++
	if s.n == s.at {
		time.AfterFunc(s.after, s.kill)
	}
	s.mu.Unlock()
	return s.Store.FlushBatch(ctx, b)
}

// TestCrashMidCommit kills the aggregator while a commit is in flight, at various delays
// (before, during or after the transaction reached the server), without the final flush a
// graceful stop would do; a fresh aggregator must then reach the exact totals.
func TestCrashMidCommit(t *testing.T) {
	t.Parallel()
	for _, after := range []time.Duration{0, 300 * time.Microsecond, time.Millisecond, 3 * time.Millisecond, 10 * time.Millisecond} {
		t.Run(after.String(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			w := e.workload(base, 300)
			spread(t, w.events, []*eventlog.Writer{e.writer(1), e.writer(2)}, 13)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ks := &killingStore{Store: e.store, at: 3, after: after, kill: cancel}
			a := e.newAgg(e.options(ks))
			a.hooks.crash = func(point string) error {
				if point == "final" {
					return errCrash // killed: no graceful last commit
				}
				return nil
			}
			if err := a.Run(ctx); err != nil {
				t.Fatal(err)
			}
			stop := run(e.newAgg(e.options(e.store)))
			e.waitTotals(w.want)
			e.stays(w.want)
			must(t, stop())
		})
	}
}

// TestCrashDuringWarmUp commits part of the logs, crashes, crashes again while the next
// aggregator rebuilds its fraud state, and checks that the third one gets everything right.
func TestCrashDuringWarmUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.workload(base, 300)
	spread(t, w.events, []*eventlog.Writer{e.writer(1), e.writer(2)}, 7)
	first := e.newAgg(e.options(e.store))
	first.hooks.crash = crashAt("after-commit", 4)
	if err := runToCrash(t, first); !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	second := e.newAgg(e.options(e.store))
	second.hooks.crash = crashAt("warmup", 50)
	if err := runToCrash(t, second); !errors.Is(err, errCrash) {
		t.Fatalf("second run: %v, want a crash during warm-up", err)
	}
	third := e.newAgg(e.options(e.store))
	stop := run(third)
	e.waitTotals(w.want)
	e.stays(w.want)
	must(t, stop())
	if third.Stats().WarmupEvents < 50 {
		t.Errorf("the warm-up replayed %d events", third.Stats().WarmupEvents)
	}
}

// ambiguousStore commits a batch and then reports a failure, as when the connection dies
// after COMMIT reached the server.
type ambiguousStore struct {
	*mysql.Store
	mu    sync.Mutex
	every int
	n     int
}

func (s *ambiguousStore) FlushBatch(ctx context.Context, b *models.Batch) error {
	if err := s.Store.FlushBatch(ctx, b); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if s.n%s.every == 0 {
		return errors.New("invalid connection (simulated loss of the COMMIT acknowledgement)")
	}
	return nil
}

// TestAmbiguousCommit: a commit reported as failed that was in fact committed must not be
// committed again; the aggregator finds out from the offsets committed with it.
func TestAmbiguousCommit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.workload(base, 300)
	spread(t, w.events, []*eventlog.Writer{e.writer(1), e.writer(2)}, 3)
	a := e.newAgg(e.options(&ambiguousStore{Store: e.store, every: 2}))
	stop := run(a)
	e.waitTotals(w.want)
	e.stays(w.want)
	must(t, stop())
	if st := a.Stats(); st.CommitErrors == 0 {
		t.Error("no commit was reported as failed: the test did not test anything")
	}
}

// TestDuplicateAfterRestart: an impression beaconed and clicked before a restart, beaconed and
// clicked again after it (by another worker process), gives a duplicate_impression and a
// duplicate_click: the fraud state survives the restart. Without the warm-up it would not.
func TestDuplicateAfterRestart(t *testing.T) {
	t.Parallel()
	for _, warm := range []bool{true, false} {
		t.Run(fmt.Sprintf("warmup=%v", warm), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			id := models.ImpressionID{1, 2, 3}
			ev := models.Event{Type: models.EventServe, Time: base, ServedAt: base, ImpressionID: id, ZoneID: e.zone,
				CampaignID: e.camp[0], CreativeID: e.creat[0], PriceMicros: cpmRate, IP: [16]byte{15: 9}}
			first := e.writer(1)
			for _, x := range []struct {
				typ models.EventType
				d   time.Duration
			}{{models.EventServe, 0}, {models.EventImpression, time.Second}, {models.EventClick, 5 * time.Second}} {
				ev.Type, ev.Time = x.typ, base.Add(x.d)
				must(t, first.Append(ev))
			}
			a := e.newAgg(e.options(e.store))
			stop := run(a)
			e.waitTotals(totals{Requests: 1, Served: 1, Imps: 1, Clicks: 1, Spend: cpmRate, Revenue: cpmRate * shareBP / 10000,
				ClickRows: 1, DailyRequests: 1, ZoneRequests: 1, Invalid: map[string]int64{}})
			must(t, stop())

			// The replay, a minute later, through another worker process.
			second := e.writer(2)
			ev.Type, ev.Time = models.EventImpression, base.Add(time.Minute)
			must(t, second.Append(ev))
			ev.Type, ev.Time = models.EventClick, base.Add(time.Minute+time.Second)
			must(t, second.Append(ev))
			b := e.newAgg(e.options(e.store))
			b.hooks.noWarmup = !warm
			stop = run(b)
			want := totals{Requests: 1, Served: 1, Imps: 1, Clicks: 1, InvImps: 1, InvClicks: 1, Spend: cpmRate,
				Revenue: cpmRate * shareBP / 10000, ClickRows: 2, DailyRequests: 1, ZoneRequests: 1,
				Invalid: map[string]int64{"impression/duplicate_impression": 1, "click/duplicate_click": 1}}
			if !warm {
				want = totals{Requests: 1, Served: 1, Imps: 2, Clicks: 2, Spend: 2 * cpmRate, Revenue: 2 * (cpmRate * shareBP / 10000),
					ClickRows: 2, DailyRequests: 1, ZoneRequests: 1, Invalid: map[string]int64{}}
			}
			e.waitTotals(want)
			must(t, stop())
		})
	}
}

// flakyStore fails its commits (and the check of a failed commit) while down is set, without
// touching the database; attempts counts the calls that failed.
type flakyStore struct {
	*mysql.Store
	mu       sync.Mutex
	down     bool
	attempts int
}

func (s *flakyStore) set(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

func (s *flakyStore) FlushBatch(ctx context.Context, b *models.Batch) error {
	s.mu.Lock()
	down := s.down
	if down {
		s.attempts++
	}
	s.mu.Unlock()
	if down {
		return errors.New("dial unix /run/mysqld.sock: connect: connection refused")
	}
	return s.Store.FlushBatch(ctx, b)
}

func (s *flakyStore) LoadOffsets(ctx context.Context) (map[string]models.Offset, error) {
	s.mu.Lock()
	down := s.down
	if down {
		s.attempts++
	}
	s.mu.Unlock()
	if down {
		return nil, errors.New("dial unix /run/mysqld.sock: connect: connection refused")
	}
	return s.Store.LoadOffsets(ctx)
}

// TestOutageCatchUp: while MariaDB is unreachable the aggregator keeps reading only up to its
// memory bound, retries with backoff, logs the outage once, and after recovery catches up with
// exact totals.
func TestOutageCatchUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.workload(base, 300)
	ws := []*eventlog.Writer{e.writer(1), e.writer(2), e.writer(3)}
	fs := &flakyStore{Store: e.store}
	opt := e.options(fs)
	opt.FlushInterval = time.Millisecond
	hook := &countingHook{}
	opt.Logger.(*logrus.Logger).AddHook(hook)
	a := e.newAgg(opt)
	stop := run(a)
	waitFor(t, "the aggregator to start", func() bool { return a.Stats().Running })
	fs.set(true)
	spread(t, w.events, ws, 11)
	waitFor(t, "the outage to fill the memory bound", func() bool {
		st := a.Stats()
		if st.PendingEvents > opt.MaxBatchEvents {
			t.Fatalf("%d events held in memory, bound is %d", st.PendingEvents, opt.MaxBatchEvents)
		}
		fs.mu.Lock()
		defer fs.mu.Unlock()
		return st.Outage && st.PendingEvents == opt.MaxBatchEvents && fs.attempts >= 3
	})
	if got := e.totals(); got.Requests != 0 {
		t.Fatalf("something was committed during the outage: %+v", got)
	}
	fs.set(false)
	e.waitTotals(w.want)
	e.stays(w.want)
	must(t, stop())
	st := a.Stats()
	if st.Outage || st.CommitErrors < 1 {
		t.Errorf("after recovery: outage %v, %d commit errors", st.Outage, st.CommitErrors)
	}
	if n := hook.count("MariaDB unavailable"); n != 1 {
		t.Errorf("the outage was logged %d times as an error, want once", n)
	}
	if n := hook.count("MariaDB reachable again"); n != 1 {
		t.Errorf("the recovery was logged %d times, want once", n)
	}
}

// waitFor polls cond until it holds, failing after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestOneValidClickFrom64Goroutines: 64 goroutines append the same click to four workers'
// logs at once; exactly one is valid, 63 are duplicates.
func TestOneValidClickFrom64Goroutines(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws := []*eventlog.Writer{e.writer(1), e.writer(2), e.writer(3), e.writer(4)}
	id := models.ImpressionID{6, 4}
	ev := models.Event{Type: models.EventImpression, Time: base, ServedAt: base.Add(-time.Second), ImpressionID: id,
		ZoneID: e.zone, CampaignID: e.camp[1], CreativeID: e.creat[1], PriceMicros: cpcRate, IP: [16]byte{15: 7}}
	must(t, ws[0].Append(ev))
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := ev
			c.Type, c.Time = models.EventClick, base.Add(10*time.Second+time.Duration(g)*time.Microsecond)
			if err := ws[g%4].Append(c); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	stop := run(e.newAgg(e.options(e.store)))
	e.waitTotals(totals{Imps: 1, Clicks: 1, InvClicks: 63, Spend: cpcRate * 1000, Revenue: cpcRate * 1000 * shareBP / 10000,
		ClickRows: 64, Invalid: map[string]int64{"click/duplicate_click": 63}})
	must(t, stop())
}

// countingHook records the messages logged.
type countingHook struct {
	mu   sync.Mutex
	msgs []string
}

func (h *countingHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h *countingHook) Fire(e *logrus.Entry) error {
	h.mu.Lock()
	h.msgs = append(h.msgs, e.Message)
	h.mu.Unlock()
	return nil
}

func (h *countingHook) count(sub string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.msgs {
		if strings.Contains(m, sub) {
			n++
		}
	}
	return n
}

// scriptedStore reports its first commit as failed although it committed (an ambiguous
// outcome), then fails the next commit that carries on from the same sources for real.
type scriptedStore struct {
	*mysql.Store
	mu         sync.Mutex
	calls      int
	firstSrcs  map[string]bool
	realFailed bool
	ambiguous  chan struct{}
}

func (s *scriptedStore) FlushBatch(ctx context.Context, b *models.Batch) error {
	s.mu.Lock()
	s.calls++
	call := s.calls
	shares := false
	for _, o := range b.Offsets {
		shares = shares || s.firstSrcs[o.Source]
	}
	fail := call > 1 && !s.realFailed && shares
	if fail {
		s.realFailed = true
	}
	s.mu.Unlock()
	if fail {
		return errors.New("Deadlock found when trying to get lock (simulated failure, nothing committed)")
	}
	if err := s.Store.FlushBatch(ctx, b); err != nil {
		return err
	}
	if call == 1 {
		s.mu.Lock()
		s.firstSrcs = map[string]bool{}
		for _, o := range b.Offsets {
			s.firstSrcs[o.Source] = true
		}
		s.mu.Unlock()
		close(s.ambiguous)
		return errors.New("invalid connection (simulated loss of the COMMIT acknowledgement)")
	}
	return nil
}

// TestAmbiguousCommitThenRealFailure: a commit of unknown outcome (in fact committed),
// events read meanwhile, then a real failure of their commit: the aggregator must see that
// the second batch starts where the first one ended, not take the database's offsets for
// someone else's work ("another aggregator is running") and stop.
func TestAmbiguousCommitThenRealFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.workload(base, 300)
	half := len(w.events) / 2
	writers := []*eventlog.Writer{e.writer(1), e.writer(2)}
	spread(t, w.events[:half], writers, 5)
	st := &scriptedStore{Store: e.store, ambiguous: make(chan struct{})}
	opt := e.options(st)
	opt.MaxBatchEvents = 10000 // one batch per flush: the second is read while the first is unsettled
	a := e.newAgg(opt)
	stop := run(a)
	select {
	case <-st.ambiguous:
	case <-time.After(time.Minute):
		t.Fatal("no commit in a minute")
	}
	spread(t, w.events[half:], writers, 6)
	e.waitTotals(w.want)
	if err := stop(); err != nil {
		t.Fatalf("the aggregator stopped: %v", err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.realFailed {
		t.Error("no commit carrying on from the first one failed: the test did not test anything")
	}
}

// TestDiskPressurePrunesCommittedSegments: past half of events.max_disk, committed segments are
// deleted however young (they are in MariaDB); without pressure they keep events.retention.
func TestDiskPressurePrunesCommittedSegments(t *testing.T) {
	t.Parallel()
	for _, pressure := range []bool{false, true} {
		t.Run(fmt.Sprintf("pressure=%v", pressure), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.segMax = 10 * eventlog.RecordSize
			w := e.workload(base, 100)
			wr := e.writer(1)
			spread(t, w.events, []*eventlog.Writer{wr}, 7)
			opt := e.options(e.store)
			opt.Retention = 24 * time.Hour
			if pressure {
				opt.MaxDisk = 20 * 10 * eventlog.RecordSize // half of it: 10 segments
			}
			a := e.newAgg(opt)
			a.maintEvery = 20 * time.Millisecond
			stop := run(a)
			e.waitTotals(w.want)
			count := func() int {
				n := 0
				srcs, _ := eventlog.Sources(eventlog.Root(e.dataDir))
				for _, s := range srcs {
					segs, _, _ := eventlog.Segments(s.Dir)
					n += len(segs)
				}
				return n
			}
			deadline := time.Now().Add(10 * time.Second)
			for pressure && count() > 3 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond) // a few more maintenance rounds
			n := count()
			must(t, stop())
			if pressure && n > 3 {
				t.Errorf("%d segments left under disk pressure, want at most 3 (all but the one holding the committed position and the one being written)", n)
			}
			if !pressure && n < 10 {
				t.Errorf("%d segments left without disk pressure: retention deleted young committed segments", n)
			}
		})
	}
}
