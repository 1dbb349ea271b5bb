package eventlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/sirupsen/logrus"

	"adnet/models"
)

// readBufSize is the Reader's buffer: large enough for a few hundred records per read(2)
// and always larger than maxRecordLen.
const readBufSize = 64 << 10

// ReaderStats is a snapshot of a Reader's counters.
type ReaderStats struct {
	Records         int64 // records returned by Next
	Corrupt         int64 // skipped regions: torn tails of finished segments and corrupt records
	BytesSkipped    int64 // bytes in those regions
	SegmentsMissing int64 // segments deleted before they were read (a gap in the sequence)
}

// Reader tails one worker's log directory, normally from another process than the writer.
// It is not safe for concurrent use, except Stats. It needs no cooperation from the writer:
// a segment is known to be finished once a segment with a higher sequence exists, because
// the writer never writes to a segment after it created the next one.
type Reader struct {
	dir string
	log logrus.FieldLogger

	want Position // where to start when no segment is open
	f    *os.File // current segment, nil before the first one appears and between segments
	seq  uint64   // its sequence
	off  int64    // offset of the next record in it

	// sealed is set once a newer segment exists: f is then final, and whatever cannot be
	// parsed at its end is a torn tail to skip rather than a write in progress.
	sealed bool
	// scanAt remembers how far a resynchronisation has scanned past a bad record at off in
	// the newest segment, so polling a corrupt tail does not rescan it every time.
	scanAt int64

	buf    []byte
	bufOff int64 // file offset of buf[0]
	n      int   // valid bytes in buf

	records, corrupt, skipped, missing atomic.Int64
}

// OpenReader returns a Reader of dir that starts after from (a Position returned by Next
// and committed by the aggregator), or at the oldest segment for the zero Position. The
// directory need not exist yet; Next returns io.EOF until it has records.
func OpenReader(dir string, from Position, logger logrus.FieldLogger) (*Reader, error) {
	if dir == "" {
		return nil, models.Errorf(models.EINVALID, "Event log directory is required.")
	}
	if from.Offset < 0 {
		return nil, models.Errorf(models.EINVALID, "Invalid event log position %s.", from)
	}
	if logger == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		logger = l
	}
	return &Reader{
		dir:  dir,
		log:  logger.WithField("eventlog", dir),
		want: from,
		buf:  make([]byte, readBufSize),
	}, nil
}

// Next fills ev with the next record and returns the Position after it, which is what the
// caller commits once ev is accounted for. It returns io.EOF when no complete record is
// available yet; the caller polls again later. It never blocks. Other errors (an I/O error,
// a record of a format version this build does not know) leave the Reader where it was.
func (r *Reader) Next(ev *models.Event) (Position, error) {
	for {
		if r.f == nil {
			if err := r.openNext(); err != nil {
				return Position{}, err
			}
		}
		n, st := checkRecord(r.avail(r.off))
		switch st {
		case recordOK:
			decodeRecord(r.avail(r.off), ev)
			r.off += int64(n)
			r.scanAt = 0
			r.records.Add(1)
			return Position{Segment: r.seq, Offset: r.off}, nil
		case recordUnsupported:
			return Position{}, fmt.Errorf("eventlog: %s offset %d: record format version %d is not supported by this build",
				filepath.Join(r.dir, segmentName(r.seq)), r.off, r.avail(r.off)[1])
		case recordShort:
			grew, err := r.fill(r.off)
			if err != nil {
				return Position{}, err
			} else if grew {
				continue
			}
			if err := r.atEnd(); err != nil {
				return Position{}, err
			}
		case recordBad:
			if err := r.resync(); err != nil {
				return Position{}, err
			}
		}
	}
}

// resync skips forward from a bad record at off to the next offset where a header and its
// CRC check out. In the newest segment it returns io.EOF when none is found yet: the writer
// may still append valid records after the damage, and only then is the damage known to be
// a finished region to skip. The caller loops on nil.
func (r *Reader) resync() error {
	at := max(r.off+1, r.scanAt)
	for {
		b := r.avail(at)
		if i := bytes.IndexByte(b, recordMagic); i < 0 {
			at += int64(len(b))
		} else {
			c := at + int64(i)
			switch _, st := checkRecord(b[i:]); st {
			case recordBad:
				at = c + 1
				continue
			case recordOK, recordUnsupported:
				r.skip(c-r.off, "corrupt record")
				r.off, r.scanAt = c, 0
				return nil
			case recordShort:
				at = c // need the rest of this candidate
			}
		}
		grew, err := r.fill(at)
		if err != nil {
			return err
		} else if grew {
			continue
		}
		if !r.sealed {
			newer, err := r.newerExists()
			if err != nil {
				return err
			} else if !newer {
				r.scanAt = at
				r.dropBuffer()
				return io.EOF
			}
			r.sealed = true // re-read once: records may have landed before the rotation
			continue
		}
		r.skip(r.bufOff+int64(r.n)-r.off, "corrupt tail")
		r.closeSegment()
		return nil
	}
}

// atEnd handles the end of the available data at off with no complete record there. The
// caller loops on nil.
func (r *Reader) atEnd() error {
	if !r.sealed {
		newer, err := r.newerExists()
		if err != nil {
			return err
		} else if !newer {
			// A partial record here is a write in progress. Forget the buffered bytes: if
			// the writer removes a failed partial write, different bytes take their place.
			r.dropBuffer()
			return io.EOF
		}
		r.sealed = true // re-read once before deciding: see resync
		return nil
	}
	if end := r.bufOff + int64(r.n); end > r.off {
		r.skip(end-r.off, "torn tail")
	}
	r.closeSegment()
	return nil
}

// skip counts a skipped region of n bytes at off.
func (r *Reader) skip(n int64, what string) {
	r.corrupt.Add(1)
	r.skipped.Add(n)
	r.log.WithFields(logrus.Fields{"segment": r.seq, "offset": r.off, "bytes": n}).
		Warnf("eventlog: skipped %s", what)
}

// closeSegment finishes the current segment; the next one is opened by Next.
func (r *Reader) closeSegment() {
	r.f.Close()
	r.f = nil
	r.want = Position{Segment: r.seq + 1}
}

// openNext opens the first segment at or after want. A segment deleted between listing and
// opening (retention) is not an error: the directory is listed again.
func (r *Reader) openNext() error {
	for attempt := 0; attempt < 3; attempt++ {
		seqs, err := listSegments(r.dir)
		if err != nil {
			return err
		}
		i := 0
		for i < len(seqs) && seqs[i] < r.want.Segment {
			i++
		}
		if i == len(seqs) {
			return io.EOF
		}
		seq := seqs[i]
		f, err := os.Open(filepath.Join(r.dir, segmentName(seq)))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return fmt.Errorf("eventlog: open segment: %w", err)
		}
		off := r.want.Offset
		if seq != r.want.Segment {
			off = 0
			if r.want.Segment != 0 {
				r.missing.Add(int64(seq - r.want.Segment))
				r.log.WithFields(logrus.Fields{"wanted": r.want.String(), "found": seq}).
					Warn("eventlog: segments missing; continuing with the next one")
			}
		}
		r.f, r.seq, r.off, r.sealed, r.scanAt = f, seq, off, false, 0
		r.dropBuffer()
		return nil
	}
	return io.EOF
}

// newerExists reports whether a segment after the current one exists.
func (r *Reader) newerExists() (bool, error) {
	seqs, err := listSegments(r.dir)
	if err != nil {
		return false, err
	}
	return len(seqs) > 0 && seqs[len(seqs)-1] > r.seq, nil
}

// avail returns the buffered bytes from file offset at on; if at lies outside the buffer
// the buffer is emptied and restarted at at.
func (r *Reader) avail(at int64) []byte {
	if at < r.bufOff || at > r.bufOff+int64(r.n) {
		r.bufOff, r.n = at, 0
	}
	return r.buf[at-r.bufOff : r.n]
}

// fill moves the bytes from at to the front of the buffer and reads more after them. It
// reports whether any bytes were added.
func (r *Reader) fill(at int64) (bool, error) {
	if d := at - r.bufOff; d > 0 && d <= int64(r.n) {
		r.n = copy(r.buf, r.buf[d:r.n])
	} else if d != 0 {
		r.n = 0
	}
	r.bufOff = at
	if r.n == len(r.buf) {
		return false, nil // unreachable: callers only fill when they hold less than maxRecordLen
	}
	m, err := r.f.ReadAt(r.buf[r.n:], r.bufOff+int64(r.n))
	r.n += m
	if err != nil && !errors.Is(err, io.EOF) {
		return m > 0, fmt.Errorf("eventlog: read segment: %w", err)
	}
	return m > 0, nil
}

func (r *Reader) dropBuffer() { r.bufOff, r.n = r.off, 0 }

// Position returns the position of the next record: where the Reader stands.
func (r *Reader) Position() Position {
	if r.f == nil {
		return r.want
	}
	return Position{Segment: r.seq, Offset: r.off}
}

// Stats returns a snapshot of the counters; it may be called concurrently with Next.
func (r *Reader) Stats() ReaderStats {
	return ReaderStats{
		Records:         r.records.Load(),
		Corrupt:         r.corrupt.Load(),
		BytesSkipped:    r.skipped.Load(),
		SegmentsMissing: r.missing.Load(),
	}
}

// Close releases the current segment.
func (r *Reader) Close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}
