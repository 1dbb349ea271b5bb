package eventlog

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLayout: the directories a worker writes are the ones Sources finds, under the names the
// aggregator keys its offsets by; Segments, BytesAfter and WriterGone read them.
func TestLayout(t *testing.T) {
	data := t.TempDir()
	start := time.Unix(1700000000, 123)
	dir := ProcessDir(WorkerDir(data, 2), start, 4321)
	if want := filepath.Join(data, "events", "worker-2", "w1700000000000000123-4321"); dir != want {
		t.Fatalf("ProcessDir = %s, want %s", dir, want)
	}
	if srcs, err := Sources(Root(data)); err != nil || len(srcs) != 0 {
		t.Fatalf("Sources before any writer: %v, %v", srcs, err)
	}
	w := openTestWriter(t, WriterOptions{Dir: dir, SegmentMaxBytes: 2 * RecordSize})
	appendN(t, w, 1, 0, 5) // three segments: 2, 2 and 1 records
	// Neither the aggregator's files beside the logs nor a stray file are sources.
	for _, p := range []string{filepath.Join(Root(data), ".removed", "worker-1_w1-1"), filepath.Join(Root(data), "worker-3")} {
		if err := os.MkdirAll(p, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(Root(data), "worker-3", "w-not-a-dir"), nil, 0o640); err != nil {
		t.Fatal(err)
	}
	srcs, err := Sources(Root(data))
	if err != nil || len(srcs) != 1 || srcs[0] != (Source{Name: "worker-2/w1700000000000000123-4321", Dir: dir}) {
		t.Fatalf("Sources = %+v, %v", srcs, err)
	}

	segs, size, err := Segments(dir)
	if err != nil || len(segs) != 3 || segs[0].Seq != 1 || segs[2].Seq != 3 || segs[0].Size != 2*RecordSize {
		t.Fatalf("Segments = %+v, %v", segs, err)
	}
	if size != 5*RecordSize { // the lock file is empty
		t.Errorf("size %d, want %d", size, 5*RecordSize)
	}
	for _, c := range []struct {
		pos  Position
		want int64
	}{{Position{}, 5 * RecordSize}, {Position{Segment: 2, Offset: RecordSize}, 2 * RecordSize}, {Position{Segment: 3, Offset: RecordSize}, 0}} {
		if got := BytesAfter(segs, c.pos); got != c.want {
			t.Errorf("BytesAfter(%s) = %d, want %d", c.pos, got, c.want)
		}
	}
	if segs, size, err := Segments(filepath.Join(data, "missing")); err != nil || segs != nil || size != 0 {
		t.Errorf("Segments of a missing directory: %v %d %v", segs, size, err)
	}

	if WriterGone(dir) {
		t.Errorf("WriterGone while the writer is open")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !WriterGone(dir) {
		t.Errorf("WriterGone after Close = false")
	}
	if !WriterGone(filepath.Join(data, "missing")) {
		t.Errorf("WriterGone without a lock file = false")
	}
}
