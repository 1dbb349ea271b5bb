package eventlog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"adnet/models"
)

// Defaults for zero WriterOptions fields.
const (
	DefaultSegmentMaxBytes = 64 << 20
	DefaultSegmentMaxAge   = time.Hour
	DefaultFsyncInterval   = time.Second
)

// WriterOptions configures a Writer. Zero values select the defaults above.
type WriterOptions struct {
	Dir             string        // the worker's own directory, created with mode 0750
	SegmentMaxBytes int64         // rotate before a segment would exceed this size
	SegmentMaxAge   time.Duration // rotate a non-empty segment older than this, so Prune can reclaim it
	FsyncInterval   time.Duration // bound on what a power loss can take
	// SyncEachAppend fsyncs every record before Append returns (events.fsync = "always"):
	// nothing answered is lost on power failure, at the price of one fsync per event,
	// serialised per worker.
	SyncEachAppend bool
	MaxDiskBytes   int64 // refuse appends once the directory would exceed this; 0 = unlimited
	Logger         logrus.FieldLogger
}

// WriterStats is a snapshot of a Writer's counters for the status page and metrics.
type WriterStats struct {
	Records        int64  // records appended (write(2) returned) since OpenWriter
	Bytes          int64  // bytes appended since OpenWriter
	WriteErrors    int64  // Append calls that failed, all causes (each answered 503)
	DiskFull       int64  // of WriteErrors, those refused by MaxDiskBytes
	FsyncErrors    int64  // failed background or explicit fsyncs
	Fsyncs         int64  // fsync(2) calls made on segments
	LastError      string // text of the most recent append or fsync error, "" if none
	Segment        uint64 // sequence of the segment being written
	SegmentBytes   int64  // its size
	DiskBytes      int64  // size of the directory (refreshed every FsyncInterval, plus appends since)
	SegmentsOpened int64  // segments created since OpenWriter
}

// Writer appends events to a directory of segment files. It is safe for concurrent use; all
// appends are serialised by one mutex around one write(2), which keeps records whole and
// ordered without per-record allocation.
type Writer struct {
	opt      WriterOptions
	log      logrus.FieldLogger
	lock     *os.File // holds the directory's flock for the Writer's lifetime
	now      func() time.Time
	stop     chan struct{}
	syncDone chan struct{}

	mu       sync.Mutex
	f        *os.File   // current segment, opened O_APPEND
	seq      uint64     // its sequence
	size     int64      // its size
	opened   time.Time  // when it was created, for age rotation
	broken   bool       // the current segment may hold a torn record: rotate before writing
	dirty    bool       // records written since the last fsync of f
	dirDirty bool       // segments created since the last fsync of the directory
	retired  []*os.File // rotated segments awaiting their final fsync and close
	closed   bool
	lastErr  string
	buf      [RecordSize]byte

	syncMu sync.Mutex // serialises Sync with itself and with Close

	records, bytes, writeErrs, diskFull atomic.Int64
	fsyncs, fsyncErrs, segments         atomic.Int64
	diskBytes                           atomic.Int64
}

// OpenWriter opens the log directory for appending. It always starts a new segment, one past
// the highest existing sequence, so it never appends after a torn tail left by a crashed
// predecessor. It fails if another live Writer holds the directory.
func OpenWriter(opt WriterOptions) (*Writer, error) {
	if opt.Dir == "" {
		return nil, models.Errorf(models.EINVALID, "Event log directory is required.")
	}
	if opt.SegmentMaxBytes <= 0 {
		opt.SegmentMaxBytes = DefaultSegmentMaxBytes
	}
	if opt.SegmentMaxAge <= 0 {
		opt.SegmentMaxAge = DefaultSegmentMaxAge
	}
	if opt.FsyncInterval <= 0 {
		opt.FsyncInterval = DefaultFsyncInterval
	}
	log := opt.Logger
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = l
	}
	if err := os.MkdirAll(opt.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("eventlog: create dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(opt.Dir, lockFileName), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("eventlog: open lock: %w", err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("eventlog: %s is in use by another writer: %w", opt.Dir, err)
	}
	w := &Writer{
		opt:      opt,
		log:      log.WithField("eventlog", opt.Dir),
		lock:     lock,
		now:      time.Now,
		stop:     make(chan struct{}),
		syncDone: make(chan struct{}),
	}
	seqs, err := listSegments(opt.Dir)
	if err != nil {
		lock.Close()
		return nil, err
	}
	var last uint64
	if len(seqs) > 0 {
		last = seqs[len(seqs)-1]
	}
	if err := w.openSegment(last+1, w.now()); err != nil {
		lock.Close()
		return nil, err
	}
	w.refreshDiskBytes()
	go w.syncLoop()
	return w, nil
}

// openSegment creates segment seq and makes it current. The caller holds mu (or owns w).
// O_EXCL makes a sequence collision fail loudly instead of interleaving two writers.
func (w *Writer) openSegment(seq uint64, now time.Time) error {
	path := filepath.Join(w.opt.Dir, segmentName(seq))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("eventlog: create segment: %w", err)
	}
	if w.f != nil {
		w.retired = append(w.retired, w.f)
	}
	w.f, w.seq, w.size, w.opened = f, seq, 0, now
	w.broken, w.dirty, w.dirDirty = false, false, true
	w.segments.Add(1)
	return nil
}

// Append writes ev as one record with one write(2) and returns once the write returned, so
// the record survives a crash of this process. It rotates segments by size and age. On
// failure it returns an error wrapping a *models.Error with code EUNAVAILABLE (the caller
// answers 503) and counts it.
//
// The event is taken by value: callers hold it through an interface (a worker's recorder),
// and a pointer passed through one would move every event to the heap.
func (w *Writer) Append(ev models.Event) error {
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.fail(errors.New("eventlog: writer closed"), false)
	}
	if limit := w.opt.MaxDiskBytes; limit > 0 && w.diskBytes.Load()+RecordSize > limit {
		return w.fail(fmt.Errorf("eventlog: %s reached its disk limit of %d bytes", w.opt.Dir, limit), true)
	}
	if w.broken ||
		w.size > 0 && (w.size+RecordSize > w.opt.SegmentMaxBytes || now.Sub(w.opened) >= w.opt.SegmentMaxAge) {
		if err := w.openSegment(w.seq+1, now); err != nil {
			return w.fail(err, false)
		}
	}
	encodeRecord(w.buf[:], &ev)
	n, err := w.f.Write(w.buf[:])
	if err != nil {
		w.diskBytes.Add(int64(n))
		w.dropPartial(n, err)
		return w.fail(fmt.Errorf("eventlog: append: %w", err), false)
	}
	if w.opt.SyncEachAppend {
		if err := w.syncAppended(); err != nil {
			return w.fail(err, false)
		}
	} else {
		w.dirty = true
	}
	w.size += RecordSize
	w.records.Add(1)
	w.bytes.Add(RecordSize)
	w.diskBytes.Add(RecordSize)
	return nil
}

// syncAppended makes the record just written durable (and a new segment's name): the
// SyncEachAppend policy. When the fsync fails the record is cut off again, so that an event
// answered 503 is never counted, and the segment is retired. The caller holds mu.
func (w *Writer) syncAppended() error {
	if err := w.fsync(w.f); err != nil {
		if terr := w.f.Truncate(w.size); terr != nil {
			w.log.WithError(terr).Error("eventlog: cannot remove a record whose fsync failed")
		}
		w.broken = true
		return err
	}
	if w.dirDirty {
		if err := w.fsyncDir(); err != nil {
			return err
		}
		w.dirDirty = false
	}
	return nil
}

// dropPartial cleans up after a write that failed with werr having written n bytes. It
// removes a partial record (a short write on a full disk or at a file size limit) so the next
// record starts on a record boundary. If that is impossible, or the error says the file
// itself is unusable (EIO, a bad descriptor), the segment is marked broken and the next
// Append starts a new one; the reader skips a torn tail once a newer segment exists. Running
// out of space is not a reason to rotate: that would litter the disk with empty segments,
// one per refused request. The caller holds mu.
func (w *Writer) dropPartial(n int, werr error) {
	if n > 0 {
		if err := w.f.Truncate(w.size); err != nil {
			w.broken = true
			w.log.WithError(err).Error("eventlog: cannot remove partial record; rotating segment")
			return
		}
		w.diskBytes.Add(-int64(n))
	}
	if !errors.Is(werr, unix.ENOSPC) && !errors.Is(werr, unix.EDQUOT) && !errors.Is(werr, unix.EFBIG) {
		w.broken = true
	}
}

// fail counts a failed append and wraps err as EUNAVAILABLE. The caller holds mu.
func (w *Writer) fail(err error, diskFull bool) error {
	w.writeErrs.Add(1)
	if diskFull {
		w.diskFull.Add(1)
	}
	if msg := err.Error(); msg != w.lastErr {
		w.lastErr = msg
		// Logged on change only: a full disk fails every request and must not flood the log.
		w.log.WithError(err).Error("eventlog: append failed")
	}
	return fmt.Errorf("%w: %w", models.Errorf(models.EUNAVAILABLE, "Event log unavailable."), err)
}

// Sync fsyncs the current segment (if written since the last fsync), the segments retired
// by rotation (then closes them) and the directory (if segments were created). The
// background goroutine calls it every FsyncInterval.
func (w *Writer) Sync() error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()

	w.mu.Lock()
	f, dirty, dirDirty, retired := w.f, w.dirty, w.dirDirty, w.retired
	w.dirty, w.dirDirty, w.retired = false, false, nil
	w.mu.Unlock()

	// Fsync outside mu so appends continue meanwhile; f stays open because only Close
	// closes the current segment and Close holds syncMu too.
	var firstErr error
	for _, rf := range retired {
		firstErr = cmpOr(firstErr, w.fsync(rf))
		if err := rf.Close(); err != nil {
			firstErr = cmpOr(firstErr, fmt.Errorf("eventlog: close segment: %w", err))
		}
	}
	if dirty && f != nil {
		if err := w.fsync(f); err != nil {
			firstErr = cmpOr(firstErr, err)
			// After a failed fsync the kernel may have dropped the dirty pages; do not keep
			// appending to a segment whose earlier records may be gone.
			w.mu.Lock()
			if w.f == f {
				w.broken = true
			}
			w.mu.Unlock()
		}
	}
	if dirDirty {
		if err := w.fsyncDir(); err != nil {
			firstErr = cmpOr(firstErr, err)
		}
	}
	if firstErr != nil {
		w.fsyncErrs.Add(1)
		w.mu.Lock()
		w.lastErr = firstErr.Error()
		w.mu.Unlock()
		w.log.WithError(firstErr).Error("eventlog: sync failed")
	}
	return firstErr
}

func (w *Writer) fsync(f *os.File) error {
	w.fsyncs.Add(1)
	if err := f.Sync(); err != nil {
		return fmt.Errorf("eventlog: fsync: %w", err)
	}
	return nil
}

// fsyncDir makes new segment names durable, so a power loss cannot lose a whole segment.
func (w *Writer) fsyncDir() error {
	d, err := os.Open(w.opt.Dir)
	if err != nil {
		return fmt.Errorf("eventlog: fsync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("eventlog: fsync dir: %w", err)
	}
	return nil
}

// refreshDiskBytes re-reads the directory size: Prune runs in another process, so the
// running total kept by Append only grows between refreshes.
func (w *Writer) refreshDiskBytes() {
	n, err := DirSize(w.opt.Dir)
	if err != nil {
		w.log.WithError(err).Warn("eventlog: cannot measure directory")
		return
	}
	w.diskBytes.Store(n)
}

// syncLoop fsyncs every FsyncInterval until Close.
func (w *Writer) syncLoop() {
	defer close(w.syncDone)
	t := time.NewTicker(w.opt.FsyncInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			_ = w.Sync() // counted and logged by Sync
			w.refreshDiskBytes()
		}
	}
}

// Close stops the background fsync, fsyncs and closes everything and releases the
// directory. Appends after Close fail with EUNAVAILABLE. Close is idempotent.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true // no Append writes from here on
	w.mu.Unlock()

	close(w.stop)
	<-w.syncDone
	w.mu.Lock()
	w.dirty = true // a final fsync regardless of what the last tick saw
	w.mu.Unlock()
	err := w.Sync()

	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		if cerr := w.f.Close(); cerr != nil {
			err = cmpOr(err, fmt.Errorf("eventlog: close segment: %w", cerr))
		}
		w.f = nil
	}
	if cerr := w.lock.Close(); cerr != nil { // releases the flock
		err = cmpOr(err, fmt.Errorf("eventlog: close lock: %w", cerr))
	}
	return err
}

// Stats returns a snapshot of the counters.
func (w *Writer) Stats() WriterStats {
	w.mu.Lock()
	seq, size, lastErr := w.seq, w.size, w.lastErr
	w.mu.Unlock()
	return WriterStats{
		Records:        w.records.Load(),
		Bytes:          w.bytes.Load(),
		WriteErrors:    w.writeErrs.Load(),
		DiskFull:       w.diskFull.Load(),
		FsyncErrors:    w.fsyncErrs.Load(),
		Fsyncs:         w.fsyncs.Load(),
		LastError:      lastErr,
		Segment:        seq,
		SegmentBytes:   size,
		DiskBytes:      w.diskBytes.Load(),
		SegmentsOpened: w.segments.Load(),
	}
}
