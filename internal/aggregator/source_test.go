package aggregator

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"adnet/internal/eventlog"
	"adnet/models"
)

// TestNoImpressionOrderingAcrossSources: worker 2 logs a click before worker 1 logs the beacon
// that preceded it. The merge holds the click back (watermark) until worker 1's events are
// known, so the click is valid; without the watermark it would be a no_impression click.
// The clock is the test's, so nothing here depends on timing.
func TestNoImpressionOrderingAcrossSources(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		watermark time.Duration
		want      totals
	}{
		{2 * time.Second, totals{Imps: 1, Clicks: 1, Spend: cpcRate * 1000, Revenue: cpcRate * 1000 * shareBP / 10000,
			ClickRows: 1, Invalid: map[string]int64{}}},
		{time.Nanosecond, totals{Imps: 1, InvClicks: 1, ClickRows: 1, Invalid: map[string]int64{"click/no_impression": 1}}},
	} {
		t.Run(c.watermark.String(), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := newEnv(t)
			beaconLog, clickLog := e.writer(1), e.writer(2)
			at := time.Now().Truncate(time.Millisecond)
			clock := at.Add(500 * time.Millisecond)
			opt := e.options(e.store)
			opt.Watermark = c.watermark
			opt.Now = func() time.Time { return clock }
			a := e.newAgg(opt)
			must(t, a.start(ctx))
			steps := func() {
				for range 10 {
					clock = clock.Add(opt.PollInterval)
					if _, err := a.step(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			id := models.ImpressionID{4, 2}
			ev := models.Event{Type: models.EventClick, Time: at, ServedAt: at.Add(-10 * time.Second), ImpressionID: id,
				ZoneID: e.zone, CampaignID: e.camp[1], CreativeID: e.creat[1], PriceMicros: cpcRate, IP: [16]byte{15: 3}}
			must(t, clickLog.Append(ev))
			steps()
			ev.Type, ev.Time = models.EventImpression, at.Add(-200*time.Millisecond)
			must(t, beaconLog.Append(ev))
			steps()
			clock = clock.Add(10 * time.Second)
			steps()
			e.waitTotals(c.want)
			a.closeSources()
		})
	}
}

// TestFinishedSourceRemoved: with the clock two days ahead and a retention of one day, the log
// of a worker process that exited is removed with its offset once fully committed, and the
// live worker's committed segments are pruned, never its newest.
func TestFinishedSourceRemoved(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	gone := e.writer(1)
	ev := models.Event{Type: models.EventServe, Time: base, ServedAt: base, ZoneID: e.zone}
	for range 3 {
		must(t, gone.Append(ev))
	}
	must(t, gone.Close())
	live := e.writer(2)
	for range 200 {
		must(t, live.Append(ev))
	}
	dirs, err := filepath.Glob(filepath.Join(e.dataDir, "events", "worker-*", "w*"))
	must(t, err)
	if len(dirs) != 2 {
		t.Fatalf("%d source dirs", len(dirs))
	}
	goneDir, liveDir := dirs[0], dirs[1]
	segsBefore, _, err := eventlog.Segments(liveDir)
	must(t, err)

	opt := e.options(e.store)
	opt.Retention = 24 * time.Hour
	opt.ClickWindow = time.Minute
	opt.Now = func() time.Time { return time.Now().Add(48 * time.Hour) }
	a := e.newAgg(opt)
	a.maintEvery = 10 * time.Millisecond
	stop := run(a)
	e.waitTotals(totals{Requests: 203, DailyRequests: 203, ZoneRequests: 203, Invalid: map[string]int64{}})
	goneName := filepath.Base(filepath.Dir(goneDir)) + "/" + filepath.Base(goneDir)
	waitFor(t, "the finished source to be removed", func() bool {
		_, err := os.Stat(goneDir)
		offs, oerr := e.store.LoadOffsets(context.Background())
		_, has := offs[goneName]
		return errors.Is(err, fs.ErrNotExist) && oerr == nil && !has
	})
	waitFor(t, "the live source's committed segments to be pruned", func() bool {
		segs, _, _ := eventlog.Segments(liveDir)
		return len(segs) >= 1 && len(segs) < len(segsBefore)
	})
	must(t, stop())
	if _, err := os.Stat(liveDir); err != nil {
		t.Errorf("the live source's directory: %v", err)
	}
	left, err := os.ReadDir(filepath.Join(e.dataDir, "events", removedDir))
	if err != nil || len(left) != 0 {
		t.Errorf("removal left %v (%v)", left, err)
	}
	// Nothing was counted twice by the removal, and a fresh aggregator agrees.
	stop = run(e.newAgg(e.options(e.store)))
	e.stays(totals{Requests: 203, DailyRequests: 203, ZoneRequests: 203, Invalid: map[string]int64{}})
	must(t, stop())
}

// TestInterruptedRemovalFinished: a source renamed away before its offset was deleted (a
// crash in the middle of a removal) has its offset deleted and its files removed at start.
func TestInterruptedRemovalFinished(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	must(t, e.store.FlushBatch(ctx, &models.Batch{Offsets: []models.Offset{{Source: "worker-9/w1-1", Segment: 3, Offset: 116}}}))
	tomb := filepath.Join(e.dataDir, "events", removedDir, "worker-9_w1-1")
	must(t, os.MkdirAll(tomb, 0o750))
	must(t, os.WriteFile(filepath.Join(tomb, "00000000000000000003.seg"), make([]byte, 116), 0o640))
	stop := run(e.newAgg(e.options(e.store)))
	waitFor(t, "the removal to be finished", func() bool {
		offs, err := e.store.LoadOffsets(ctx)
		_, serr := os.Stat(tomb)
		return err == nil && len(offs) == 0 && errors.Is(serr, fs.ErrNotExist)
	})
	must(t, stop())
}

// TestStatsLagAndDisk: events logged while MariaDB is down show as lag of their source, a
// worker log near events.max_disk raises the warning, and both clear after the catch-up.
func TestStatsLagAndDisk(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.writer(1)
	fs := &flakyStore{Store: e.store}
	opt := e.options(fs)
	opt.MaxDisk = 12400 // 100 records are 96.8 % of it
	a := e.newAgg(opt)
	a.maintEvery = 10 * time.Millisecond
	stop := run(a)
	waitFor(t, "the aggregator to start", func() bool { return a.Stats().Running })
	fs.set(true)
	ev := models.Event{Type: models.EventServe, Time: base, ServedAt: base, ZoneID: e.zone}
	for range 100 {
		must(t, w.Append(ev))
	}
	waitFor(t, "the lag and the disk warning", func() bool {
		st := a.Stats()
		return len(st.Sources) == 1 && st.Sources[0].LagBytes == 100*eventlog.RecordSize &&
			st.Sources[0].LagRecords == 100 && st.DiskWarning && st.DiskBytes == 100*eventlog.RecordSize
	})
	if st := a.Stats(); st.DiskUsedRatio < 0.96 || st.DiskUsedRatio > 0.97 || !st.Sources[0].Live {
		t.Errorf("disk ratio %v, live %v", st.DiskUsedRatio, st.Sources[0].Live)
	}
	fs.set(false)
	waitFor(t, "the catch-up", func() bool {
		st := a.Stats()
		return len(st.Sources) == 1 && st.Sources[0].LagBytes == 0 && st.EventsCommitted == 100 && !st.Outage
	})
	must(t, stop())
}
