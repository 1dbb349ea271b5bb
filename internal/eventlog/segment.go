package eventlog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"adnet/models"
)

// Position is a place in a worker's log: the byte offset within a segment. The reader
// returns the Position after each record, which is what the aggregator commits; resuming
// from it yields exactly the records after that one. The zero Position means "from the
// oldest segment". Positions are comparable with == and ordered by Less.
type Position struct {
	Segment uint64 // segment sequence number
	Offset  int64  // byte offset within the segment
}

// Less reports whether p comes before q in the log.
func (p Position) Less(q Position) bool {
	if p.Segment != q.Segment {
		return p.Segment < q.Segment
	}
	return p.Offset < q.Offset
}

// String returns the text form "segment:offset" stored in MariaDB next to the aggregates.
func (p Position) String() string {
	return strconv.FormatUint(p.Segment, 10) + ":" + strconv.FormatInt(p.Offset, 10)
}

// ParsePosition parses the text form written by Position.String. The empty string parses as
// the zero Position, so an aggregator with nothing committed yet starts from the beginning.
func ParsePosition(s string) (Position, error) {
	if s == "" {
		return Position{}, nil
	}
	seg, off, ok := strings.Cut(s, ":")
	if !ok {
		return Position{}, models.Errorf(models.EINVALID, "Invalid event log position %q: want segment:offset.", s)
	}
	n, err1 := strconv.ParseUint(seg, 10, 64)
	o, err2 := strconv.ParseInt(off, 10, 64)
	if err1 != nil || err2 != nil || o < 0 {
		return Position{}, models.Errorf(models.EINVALID, "Invalid event log position %q: want segment:offset.", s)
	}
	return Position{Segment: n, Offset: o}, nil
}

// Prune deletes the segments of dir that lie wholly before committed (the position the
// aggregator has durably committed) and were last modified more than olderThan before now.
// It never deletes the segment containing committed nor the newest segment, so neither the
// aggregator's resume point nor the writer's open file goes away. Segments that vanish
// concurrently are not errors. It returns how many segments it removed.
func Prune(dir string, committed Position, olderThan time.Duration, now time.Time) (removed int, err error) {
	seqs, err := listSegments(dir)
	if err != nil || len(seqs) == 0 {
		return 0, err
	}
	newest := seqs[len(seqs)-1]
	var firstErr error
	for _, seq := range seqs {
		if seq >= committed.Segment || seq == newest {
			break
		}
		path := filepath.Join(dir, segmentName(seq))
		fi, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			firstErr = cmpOr(firstErr, fmt.Errorf("eventlog: prune: %w", err))
			continue
		}
		if now.Sub(fi.ModTime()) <= olderThan {
			continue
		}
		if err := os.Remove(path); errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			firstErr = cmpOr(firstErr, fmt.Errorf("eventlog: prune: %w", err))
			continue
		}
		removed++
	}
	return removed, firstErr
}

// cmpOr returns a if it is non-nil, else b: Prune reports the first of several errors.
func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// DirSize returns the total size in bytes of the regular files directly in dir (the
// segments and the lock file), for disk-usage limits and the status page. A missing
// directory has size 0.
func DirSize(dir string) (int64, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("eventlog: dir size: %w", err)
	}
	var total int64
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // pruned while we were looking
		} else if err != nil {
			return 0, fmt.Errorf("eventlog: dir size: %w", err)
		}
		total += fi.Size()
	}
	return total, nil
}
