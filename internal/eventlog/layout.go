package eventlog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The on-disk layout of the event log is defined here and nowhere else; the worker that
// writes a log and the aggregator that reads every log both ask this file:
//
//	<data_dir>/events/                           Root
//	  worker-<n>/                                WorkerDir: one per worker slot
//	    w<start-unixnano>-<pid>/                 ProcessDir: one per worker process
//	      00000000000000000042.seg               segments, 20-digit sequence
//	      writer.lock                            flock held by the live Writer
//
// One directory per worker *process* (not per slot) means a worker and its replacement
// during a reload never share a directory, so each directory has exactly one writer ever
// and a reader's Position in it stays valid for the directory's whole life.
const (
	rootDirName    = "events"
	workerDirGlob  = "worker-*"
	processDirGlob = "w*"
	segmentExt     = ".seg"
	segmentNameLen = 20 + len(segmentExt)
	lockFileName   = "writer.lock"
)

// Root returns the directory under which every worker's event log lives.
func Root(dataDir string) string {
	return filepath.Join(dataDir, rootDirName)
}

// WorkerDir returns the directory of worker slot n's logs, which holds one ProcessDir per
// process that has served in that slot.
func WorkerDir(dataDir string, n int) string {
	return filepath.Join(Root(dataDir), fmt.Sprintf("worker-%d", n))
}

// ProcessDir returns the log directory of the worker process with the given pid, started at
// start, within workerDir: the Dir a worker passes to OpenWriter. The start time keeps the
// name unique when the kernel reuses a pid.
func ProcessDir(workerDir string, start time.Time, pid int) string {
	return filepath.Join(workerDir, fmt.Sprintf("w%d-%d", start.UnixNano(), pid))
}

// Source is one worker process's log directory as found under Root.
type Source struct {
	// Name is "worker-<n>/w<start-unixnano>-<pid>": unique under Root and stable for the
	// directory's life, so the aggregator keys its committed Position by it.
	Name string
	Dir  string // the path to pass to OpenReader
}

// Sources returns the worker-process log directories under root (see Root), sorted by path.
// Only worker-<n>/w… directories match: files the aggregator keeps beside them in root
// (its lock, its directory of sources being removed) are never taken for a log.
func Sources(root string) ([]Source, error) {
	dirs, err := filepath.Glob(filepath.Join(root, workerDirGlob, processDirGlob))
	if err != nil {
		return nil, err
	}
	out := make([]Source, 0, len(dirs))
	for _, d := range dirs {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			continue
		}
		out = append(out, Source{Name: filepath.Base(filepath.Dir(d)) + "/" + filepath.Base(d), Dir: d})
	}
	return out, nil
}

// segmentName returns the file name of segment seq.
func segmentName(seq uint64) string {
	return fmt.Sprintf("%020d%s", seq, segmentExt)
}

// parseSegmentName returns the sequence of a segment file name, or false for other files.
func parseSegmentName(name string) (uint64, bool) {
	if len(name) != segmentNameLen || !strings.HasSuffix(name, segmentExt) {
		return 0, false
	}
	digits := name[:20]
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	return seq, err == nil
}

// listSegments returns the sequences of the segments in dir, ascending. A missing directory
// has no segments: the reader may start before the worker created its directory.
func listSegments(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("eventlog: list segments: %w", err)
	}
	seqs := make([]uint64, 0, len(entries))
	for _, e := range entries {
		if seq, ok := parseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	return seqs, nil
}

// SegmentInfo describes one segment file of a log directory.
type SegmentInfo struct {
	Seq     uint64 // sequence number, as in Position.Segment
	Size    int64
	ModTime time.Time // its last append
}

// Segments returns the segments of dir in ascending sequence, and the total size of the
// regular files in dir (segments and lock file: what the directory costs on disk). A missing
// directory has none; a file removed while it is listed is left out.
func Segments(dir string) ([]SegmentInfo, int64, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	} else if err != nil {
		return nil, 0, fmt.Errorf("eventlog: list segments: %w", err)
	}
	var segs []SegmentInfo
	var total int64
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile (pruned)
		}
		total += fi.Size()
		seq, ok := parseSegmentName(e.Name())
		if !ok {
			continue
		}
		segs = append(segs, SegmentInfo{Seq: seq, Size: fi.Size(), ModTime: fi.ModTime()})
	}
	slices.SortFunc(segs, func(x, y SegmentInfo) int {
		if x.Seq < y.Seq {
			return -1
		} else if x.Seq > y.Seq {
			return 1
		}
		return 0
	})
	return segs, total, nil
}

// BytesAfter returns how many bytes of segs lie after pos: what a reader at pos has still to
// read. The zero Position is before everything.
func BytesAfter(segs []SegmentInfo, pos Position) int64 {
	var n int64
	for _, sg := range segs {
		switch {
		case sg.Seq > pos.Segment || pos.Segment == 0:
			n += sg.Size
		case sg.Seq == pos.Segment:
			n += max(0, sg.Size-pos.Offset)
		}
	}
	return n
}

// WriterGone reports whether no live Writer holds dir: its lock file is missing, or can be
// locked. The probe takes the lock (shared) for an instant, which would make a Writer opening
// the directory at that moment fail; so probe only directories idle for a while. A directory
// belongs to one process, which takes the lock right after creating it and never again, so an
// idle directory is not about to be opened. An error other than a missing lock file counts as
// a live writer: a log is never given up on a doubt.
func WriterGone(dir string) bool {
	f, err := os.Open(filepath.Join(dir, lockFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return true
	} else if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		return false
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return true
}
