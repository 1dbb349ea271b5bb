package aggregator

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"adnet/internal/eventlog"
	"adnet/models"
)

const (
	// removedDir holds sources being deleted, in the events root beside the logs, where
	// eventlog.Sources does not look.
	removedDir = ".removed"
	// deadProbeAge: a source is probed for a live writer only after this long without a
	// write, which keeps the probe's momentary lock away from a writer that is just starting.
	deadProbeAge = 30 * time.Second
)

// logReader is what a source is read through: an *eventlog.Reader (a worker process's log)
// or a StreamReader (the JetStream stream, events.transport = "jetstream").
type logReader interface {
	Next(ev *models.Event) (eventlog.Position, error)
	Close() error
}

// source is one worker process's event log, or the stream.
type source struct {
	name string // "worker-<n>/w<…>-<pid>", the eventlog_offsets key
	dir  string // "" for the stream
	r    logReader

	eventlog.Cursor // its next event; Dead once its writer is gone

	committed    eventlog.Position // in the database
	consumed     eventlog.Position // after the last event put in a batch
	consumedTime time.Time
	// The stream only: the release mark committed, and the one after the head event.
	committedMark, headMark models.ReleaseMark

	lagBytes, diskBytes int64
}

// discover opens the sources that appeared since the last call, at their committed offsets
// (a new source has none and is read from its beginning).
func (a *Aggregator) discover() error {
	srcs, err := eventlog.Sources(a.eventsDir)
	if err != nil {
		return err
	}
	added := false
	for _, src := range srcs {
		name, d := src.Name, src.Dir
		if a.byName[name] != nil {
			continue
		}
		if len(name) > 64 {
			a.log.WithField("dir", d).Warn("aggregator: source name longer than 64 bytes; not read")
			continue
		}
		var pos eventlog.Position
		var at time.Time
		if o, ok := a.offsets[name]; ok {
			pos, at = eventlog.Position{Segment: o.Segment, Offset: o.Offset}, o.EventTime
		}
		r, err := eventlog.OpenReader(d, pos, a.log)
		if err != nil {
			return err
		}
		s := &source{name: name, dir: d, r: r, committed: pos, consumed: pos, consumedTime: at}
		a.sources = append(a.sources, s)
		a.byName[name] = s
		added = true
		a.log.WithFields(logrus.Fields{"source": name, "from": pos.String()}).Info("aggregator: reading source")
	}
	if added {
		slices.SortFunc(a.sources, func(x, y *source) int { return strings.Compare(x.name, y.name) })
	}
	return nil
}

// pick returns the source whose head event comes next in the merge, reading heads as
// needed, or nil when nothing may be consumed now. The merge is by event time, ties going to
// the source first by name. A live source with no event buffered might still deliver an
// earlier one (workers write concurrently), and a new worker's log may not be discovered yet,
// so only events older than the watermark are released: an impression beacon written by one
// worker is counted before the click on it that another worker logged a moment later.
func (a *Aggregator) pick(now time.Time) *source {
	var best *source
	for _, s := range a.sources {
		ok, err := s.Fill(s.r, now, a.opt.PollInterval)
		if err != nil {
			a.log.WithError(err).WithField("source", s.name).Error("aggregator: cannot read source")
		}
		if ok && (best == nil || s.Before(&best.Cursor)) {
			best = s
		}
	}
	// An event is released only once it is older than the watermark, even when every known
	// source has one buffered: a worker process started a moment ago has a log directory the
	// next discovery (every second, less than the watermark) has not found yet, and its
	// earlier events — an impression beacon whose click another worker logged — must not be
	// overtaken. Catching up on a backlog is not slowed: old events pass at once.
	if best == nil || best.Head.Time.After(now.Add(-a.opt.Watermark)) {
		return nil
	}
	return best
}

// lastWrite returns the newest modification time in dir (the directory itself included).
func lastWrite(dir string, segs []eventlog.SegmentInfo) time.Time {
	var t time.Time
	if fi, err := os.Stat(dir); err == nil {
		t = fi.ModTime()
	}
	for _, sg := range segs {
		if sg.ModTime.After(t) {
			t = sg.ModTime
		}
	}
	return t
}

// maintain refreshes the lag and disk figures, marks sources whose writer is gone, deletes
// committed segments past retention, and removes finished sources.
func (a *Aggregator) maintain(ctx context.Context, now time.Time) {
	if a.opt.Stream != nil {
		a.maintainStream()
		return
	}
	var total, fullest int64
	stats := make([]SourceStats, 0, len(a.sources))
	var keep []*source
	for _, s := range a.sources {
		segs, size, err := eventlog.Segments(s.dir)
		if err != nil {
			a.log.WithError(err).WithField("source", s.name).Warn("aggregator: listing source")
		}
		s.lagBytes, s.diskBytes = eventlog.BytesAfter(segs, s.committed), size
		idle := now.Sub(lastWrite(s.dir, segs))
		if !s.Dead && s.AtEnd() && idle >= deadProbeAge && eventlog.WriterGone(s.dir) {
			s.Dead = true
			a.log.WithField("source", s.name).Info("aggregator: source finished (its writer is gone)")
		}
		if s.committed != (eventlog.Position{}) {
			// Committed events are in MariaDB; events.retention only keeps them on disk a
			// while longer. When a worker's directory passes half of events.max_disk that
			// courtesy gives way: otherwise a busy worker (1,000 events/s fill 10 GiB in a
			// day) would reach its limit and answer every ad request 503 while its aggregator
			// is perfectly healthy.
			keep := a.opt.Retention
			if a.opt.MaxDisk > 0 && size > a.opt.MaxDisk/2 {
				keep = 0
			}
			if n, err := eventlog.Prune(s.dir, s.committed, keep, now); err != nil {
				a.log.WithError(err).WithField("source", s.name).Warn("aggregator: pruning segments")
			} else if n > 0 {
				a.log.WithFields(logrus.Fields{"source": s.name, "segments": n}).Debug("aggregator: pruned committed segments")
			}
		}
		if s.Dead && s.AtEnd() && s.consumed == s.committed && idle > a.opt.Retention {
			if a.remove(ctx, s) {
				continue
			}
		}
		keep = append(keep, s)
		total += size
		if !s.Dead {
			fullest = max(fullest, size)
		}
		var rs eventlog.ReaderStats
		if r, ok := s.r.(*eventlog.Reader); ok {
			rs = r.Stats()
		}
		stats = append(stats, SourceStats{Name: s.name, Live: !s.Dead, Committed: s.committed.String(),
			LagBytes: s.lagBytes, LagRecords: s.lagBytes / eventlog.RecordSize, DiskBytes: size,
			Corrupt: rs.Corrupt, SegmentsMissing: rs.SegmentsMissing, Error: s.LastErr})
	}
	a.sources = keep
	if err := a.finishRemovals(ctx); err != nil {
		a.log.WithError(err).Debug("aggregator: finishing source removals")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stats.Sources = stats
	a.stats.DiskBytes = total
	a.stats.PendingEvents = a.pending()
	if a.opt.MaxDisk > 0 {
		a.stats.DiskUsedRatio = float64(fullest) / float64(a.opt.MaxDisk)
		warn := a.stats.DiskUsedRatio >= 0.8
		if warn && !a.stats.DiskWarning {
			a.log.WithField("ratio", a.stats.DiskUsedRatio).Warn("aggregator: a worker's event log is above 80% of events.max_disk")
		}
		a.stats.DiskWarning = warn
	}
}

// remove deletes a finished source together with its offset: first the directory is renamed
// out of eventlog.Sources' sight (atomic), then the offset row is deleted, then the files. A
// crash in between leaves the renamed directory, and finishRemovals completes the job; the
// offset is never deleted while the directory can still be found and re-read from its start.
func (a *Aggregator) remove(ctx context.Context, s *source) bool {
	tombs := filepath.Join(a.eventsDir, removedDir)
	if err := os.MkdirAll(tombs, 0o750); err != nil {
		a.log.WithError(err).Warn("aggregator: removing source")
		return false
	}
	tomb := filepath.Join(tombs, strings.Replace(s.name, "/", "_", 1))
	if err := os.Rename(s.dir, tomb); err != nil {
		a.log.WithError(err).WithField("source", s.name).Warn("aggregator: removing source")
		return false
	}
	s.r.Close()
	delete(a.byName, s.name)
	a.log.WithField("source", s.name).Info("aggregator: removed finished source past retention")
	if err := a.store.DeleteOffset(ctx, s.name); err == nil {
		delete(a.offsets, s.name)
		_ = os.RemoveAll(tomb)
	}
	return true
}

// finishRemovals completes removals interrupted after the rename.
func (a *Aggregator) finishRemovals(ctx context.Context) error {
	tombs := filepath.Join(a.eventsDir, removedDir)
	entries, err := os.ReadDir(tombs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	for _, e := range entries {
		name := strings.Replace(e.Name(), "_", "/", 1)
		if err := a.store.DeleteOffset(ctx, name); err != nil {
			return err
		}
		delete(a.offsets, name)
		if err := os.RemoveAll(filepath.Join(tombs, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
