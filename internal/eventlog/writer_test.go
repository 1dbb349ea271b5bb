package eventlog

import (
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"adnet/models"
)

// seqEvent is an event that identifies its producer (ZoneID) and its order (CampaignID).
func seqEvent(producer, i int) models.Event {
	return models.Event{
		Type:       models.EventServe,
		Time:       time.Unix(1700000000, int64(i)),
		ZoneID:     int64(producer),
		CampaignID: int64(i),
		CreativeID: int64(producer*1_000_000 + i),
	}
}

func openTestWriter(t *testing.T, opt WriterOptions) *Writer {
	t.Helper()
	if opt.Dir == "" {
		opt.Dir = t.TempDir()
	}
	w, err := OpenWriter(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func appendN(t *testing.T, w *Writer, producer, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		ev := seqEvent(producer, i)
		if err := w.Append(ev); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
}

// readAll reads dir from pos until io.EOF.
func readAll(t *testing.T, dir string, from Position) ([]models.Event, []Position, *Reader) {
	t.Helper()
	r, err := OpenReader(dir, from, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	var evs []models.Event
	var poss []Position
	for {
		var ev models.Event
		pos, err := r.Next(&ev)
		if errors.Is(err, io.EOF) {
			return evs, poss, r
		} else if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
		poss = append(poss, pos)
	}
}

// checkSequence asserts evs are producer 0's events first..first+len-1, in order.
func checkSequence(t *testing.T, evs []models.Event, first int) {
	t.Helper()
	for i, ev := range evs {
		if ev.ZoneID != 0 || ev.CampaignID != int64(first+i) {
			t.Fatalf("event %d: zone %d seq %d, want zone 0 seq %d", i, ev.ZoneID, ev.CampaignID, first+i)
		}
	}
}

func segmentsOf(t *testing.T, dir string) []uint64 {
	t.Helper()
	seqs, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	return seqs
}

func TestWriteReadRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "events", "worker-1")
	w := openTestWriter(t, WriterOptions{Dir: dir})
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o750 {
		t.Fatalf("dir: %v %v, want mode 0750", fi, err)
	}
	var want []models.Event
	for i := 0; i < 500; i++ {
		ev := randomEventFromSeed(uint64(i))
		if err := w.Append(ev); err != nil {
			t.Fatal(err)
		}
		want = append(want, normalised(ev))
	}
	st := w.Stats()
	if st.Records != 500 || st.Bytes != 500*RecordSize || st.WriteErrors != 0 || st.Segment != 1 {
		t.Fatalf("stats %+v", st)
	}
	evs, poss, r := readAll(t, w.opt.Dir, Position{})
	if len(evs) != len(want) {
		t.Fatalf("read %d events, want %d", len(evs), len(want))
	}
	for i := range evs {
		if evs[i] != want[i] {
			t.Fatalf("event %d:\n got %+v\nwant %+v", i, evs[i], want[i])
		}
		if wantPos := (Position{1, int64(i+1) * RecordSize}); poss[i] != wantPos {
			t.Fatalf("position %d: %v, want %v", i, poss[i], wantPos)
		}
	}
	if rs := r.Stats(); rs.Records != 500 || rs.Corrupt != 0 || rs.BytesSkipped != 0 {
		t.Fatalf("reader stats %+v", rs)
	}
}

func randomEventFromSeed(seed uint64) models.Event {
	return randomEvent(rand.New(rand.NewPCG(seed, seed)))
}

func TestConcurrentAppendExactlyOnceInOrder(t *testing.T) {
	const producers, perProducer = 8, 10_000
	w := openTestWriter(t, WriterOptions{SegmentMaxBytes: 1000 * RecordSize})
	dir := w.opt.Dir

	// The reader tails the log while it is written, as the aggregator does.
	type result struct {
		next  [producers]int
		total int
		err   string
	}
	done := make(chan result)
	go func() {
		var res result
		r, err := OpenReader(dir, Position{}, nil)
		if err != nil {
			res.err = err.Error()
			done <- res
			return
		}
		defer r.Close()
		deadline := time.Now().Add(2 * time.Minute)
		var last Position
		for res.total < producers*perProducer && time.Now().Before(deadline) {
			var ev models.Event
			pos, err := r.Next(&ev)
			if errors.Is(err, io.EOF) {
				time.Sleep(time.Millisecond)
				continue
			} else if err != nil {
				res.err = err.Error()
				break
			}
			if !last.Less(pos) {
				res.err = "positions not increasing: " + last.String() + " then " + pos.String()
				break
			}
			last = pos
			p := int(ev.ZoneID)
			if p < 0 || p >= producers || ev.CampaignID != int64(res.next[p]) {
				res.err = "out of order or duplicate event"
				break
			}
			res.next[p]++
			res.total++
		}
		if rs := r.Stats(); rs.Corrupt != 0 && res.err == "" {
			res.err = "reader skipped corrupt data"
		}
		done <- res
	}()

	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < perProducer; i++ {
				ev := seqEvent(p, i)
				if err := w.Append(ev); err != nil {
					errs <- err
					return
				}
			}
		}(p)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	res := <-done
	if res.err != "" {
		t.Fatal(res.err)
	}
	for p, n := range res.next {
		if n != perProducer {
			t.Errorf("producer %d: read %d events, want %d", p, n, perProducer)
		}
	}
	st := w.Stats()
	if st.Records != producers*perProducer || st.SegmentsOpened != producers*perProducer/1000 {
		t.Errorf("writer stats %+v", st)
	}
	// Nothing more after the last record.
	if evs, _, _ := readAll(t, dir, Position{Segment: st.Segment, Offset: st.SegmentBytes}); len(evs) != 0 {
		t.Errorf("%d events after the end", len(evs))
	}
}

func TestRotationBySize(t *testing.T) {
	w := openTestWriter(t, WriterOptions{SegmentMaxBytes: 10*RecordSize + RecordSize/2})
	appendN(t, w, 0, 0, 25)
	seqs := segmentsOf(t, w.opt.Dir)
	if len(seqs) != 3 || seqs[0] != 1 || seqs[2] != 3 {
		t.Fatalf("segments %v, want [1 2 3]", seqs)
	}
	for i, want := range []int64{10, 10, 5} {
		fi, err := os.Stat(filepath.Join(w.opt.Dir, segmentName(seqs[i])))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != want*RecordSize {
			t.Errorf("segment %d: %d bytes, want %d records", seqs[i], fi.Size(), want)
		}
	}
	evs, poss, r := readAll(t, w.opt.Dir, Position{})
	checkSequence(t, evs, 0)
	if len(evs) != 25 || poss[10] != (Position{2, RecordSize}) || r.Stats().Corrupt != 0 {
		t.Fatalf("read %d events, pos[10]=%v, stats %+v", len(evs), poss[10], r.Stats())
	}
}

func TestRotationByAge(t *testing.T) {
	w := openTestWriter(t, WriterOptions{SegmentMaxAge: time.Minute})
	clock := time.Now()
	w.now = func() time.Time { return clock }
	w.opened = clock
	appendN(t, w, 0, 0, 3)
	clock = clock.Add(59 * time.Second)
	appendN(t, w, 0, 3, 1) // not yet a minute old
	if s := w.Stats().Segment; s != 1 {
		t.Fatalf("rotated early: segment %d", s)
	}
	clock = clock.Add(time.Second)
	appendN(t, w, 0, 4, 2)
	if s := w.Stats().Segment; s != 2 {
		t.Fatalf("not rotated by age: segment %d", s)
	}
	// An empty segment is not rotated however old it is: that would only make empty files.
	w.mu.Lock()
	w.openSegment(w.seq+1, clock)
	w.mu.Unlock()
	clock = clock.Add(time.Hour)
	appendN(t, w, 0, 6, 1)
	if s := w.Stats().Segment; s != 3 {
		t.Fatalf("empty segment rotated: segment %d", s)
	}
	evs, _, _ := readAll(t, w.opt.Dir, Position{})
	if len(evs) != 7 {
		t.Fatalf("read %d events, want 7", len(evs))
	}
	checkSequence(t, evs, 0)
}

func TestWriterRestartStartsNewSegment(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, WriterOptions{Dir: dir})
	appendN(t, w, 0, 0, 10)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Simulate the predecessor crashing mid-write: tear its last record.
	path := filepath.Join(dir, segmentName(1))
	if err := os.Truncate(path, 10*RecordSize-7); err != nil {
		t.Fatal(err)
	}
	w = openTestWriter(t, WriterOptions{Dir: dir})
	if s := w.Stats().Segment; s != 2 {
		t.Fatalf("restarted writer uses segment %d, want 2", s)
	}
	appendN(t, w, 0, 10, 5)
	if fi, _ := os.Stat(path); fi.Size() != 10*RecordSize-7 {
		t.Fatalf("old segment changed to %d bytes", fi.Size())
	}
	evs, _, r := readAll(t, dir, Position{})
	if len(evs) != 14 {
		t.Fatalf("read %d events, want 14", len(evs))
	}
	checkSequence(t, evs[:9], 0)
	checkSequence(t, evs[9:], 10)
	if rs := r.Stats(); rs.Corrupt != 1 || rs.BytesSkipped != RecordSize-7 {
		t.Fatalf("reader stats %+v, want 1 corrupt, %d bytes", rs, RecordSize-7)
	}
}

func TestWriterDirectoryLocked(t *testing.T) {
	w := openTestWriter(t, WriterOptions{})
	if w2, err := OpenWriter(WriterOptions{Dir: w.opt.Dir}); err == nil {
		w2.Close()
		t.Fatal("second writer opened a directory in use")
	}
	w.Close()
	w2 := openTestWriter(t, WriterOptions{Dir: w.opt.Dir})
	if s := w2.Stats().Segment; s != 2 {
		t.Fatalf("writer after close uses segment %d, want 2", s)
	}
}

func isUnavailable(err error) bool {
	return models.ErrorCode(err) == models.EUNAVAILABLE
}

func TestMaxDiskBytes(t *testing.T) {
	w := openTestWriter(t, WriterOptions{
		SegmentMaxBytes: 2 * RecordSize,
		MaxDiskBytes:    5 * RecordSize,
		FsyncInterval:   10 * time.Millisecond,
	})
	appendN(t, w, 0, 0, 5)
	ev := seqEvent(0, 5)
	err := w.Append(ev)
	if !isUnavailable(err) {
		t.Fatalf("append over the limit: %v, want EUNAVAILABLE", err)
	}
	if st := w.Stats(); st.WriteErrors != 1 || st.DiskFull != 1 || st.Records != 5 || st.LastError == "" {
		t.Fatalf("stats %+v", st)
	}
	// Retention frees space; the writer notices on its next refresh and accepts again.
	removed, err := Prune(w.opt.Dir, Position{Segment: 3}, 0, time.Now().Add(time.Hour))
	if err != nil || removed != 2 {
		t.Fatalf("prune: %d, %v; want 2", removed, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err = w.Append(ev); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("append after prune: %v", err)
	}
}

func TestAppendClosed(t *testing.T) {
	w := openTestWriter(t, WriterOptions{})
	appendN(t, w, 0, 0, 1)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ev := seqEvent(0, 1)
	if err := w.Append(ev); !isUnavailable(err) {
		t.Fatalf("append after close: %v, want EUNAVAILABLE", err)
	}
	if st := w.Stats(); st.WriteErrors != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestAppendFileSizeLimit makes write(2) fail for real with RLIMIT_FSIZE (root ignores
// permissions), including a short write that leaves a partial record behind.
func TestAppendFileSizeLimit(t *testing.T) {
	w := openTestWriter(t, WriterOptions{})
	appendN(t, w, 0, 0, 2)

	signal.Ignore(syscall.SIGXFSZ) // so write(2) returns EFBIG instead of killing the test
	defer signal.Reset(syscall.SIGXFSZ)
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	lim := old
	lim.Cur = 3*RecordSize + 10 // the fourth record fits only partly
	if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &old); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer restore()

	appendN(t, w, 0, 2, 1)
	for i := 0; i < 2; i++ {
		ev := seqEvent(0, 3)
		err := w.Append(ev)
		if !isUnavailable(err) || !errors.Is(err, syscall.EFBIG) {
			t.Fatalf("append past the limit: %v, want EUNAVAILABLE wrapping EFBIG", err)
		}
	}
	restore()
	st := w.Stats()
	if st.WriteErrors != 2 || st.Records != 3 || st.SegmentBytes != 3*RecordSize || st.LastError == "" {
		t.Fatalf("stats %+v", st)
	}
	appendN(t, w, 0, 3, 2)
	// The partial writes were removed: the reader sees whole records only, no corruption.
	evs, _, r := readAll(t, w.opt.Dir, Position{})
	if len(evs) != 5 || r.Stats().Corrupt != 0 {
		t.Fatalf("read %d events, stats %+v; want 5, no corruption", len(evs), r.Stats())
	}
	checkSequence(t, evs, 0)
}

// TestAppendBadDescriptor makes write(2) fail with EBADF; the writer must report 503, count
// it, and recover on a new segment.
func TestAppendBadDescriptor(t *testing.T) {
	w := openTestWriter(t, WriterOptions{})
	appendN(t, w, 0, 0, 2)
	w.mu.Lock()
	ro, err := os.Open(filepath.Join(w.opt.Dir, segmentName(w.seq)))
	if err != nil {
		w.mu.Unlock()
		t.Fatal(err)
	}
	good := w.f
	w.f = ro // a read-only descriptor: write(2) fails with EBADF
	w.mu.Unlock()
	defer good.Close()

	ev := seqEvent(0, 2)
	if err := w.Append(ev); !isUnavailable(err) || !errors.Is(err, syscall.EBADF) {
		t.Fatalf("append: %v, want EUNAVAILABLE wrapping EBADF", err)
	}
	if st := w.Stats(); st.WriteErrors != 1 || st.LastError == "" {
		t.Fatalf("stats %+v", st)
	}
	appendN(t, w, 0, 2, 3)
	if st := w.Stats(); st.Segment != 2 || st.Records != 5 {
		t.Fatalf("not recovered on a new segment: %+v", st)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	evs, _, _ := readAll(t, w.opt.Dir, Position{})
	if len(evs) != 5 {
		t.Fatalf("read %d events, want 5", len(evs))
	}
	checkSequence(t, evs, 0)
}

func TestSyncFsyncs(t *testing.T) {
	w := openTestWriter(t, WriterOptions{FsyncInterval: time.Hour})
	base := w.Stats().Fsyncs
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if n := w.Stats().Fsyncs - base; n != 0 {
		t.Fatalf("%d fsyncs with nothing written", n)
	}
	appendN(t, w, 0, 0, 3)
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if n := w.Stats().Fsyncs - base; n != 1 {
		t.Fatalf("%d fsyncs after writing, want 1", n)
	}
	// The background goroutine fsyncs on its own.
	w2 := openTestWriter(t, WriterOptions{FsyncInterval: 5 * time.Millisecond})
	appendN(t, w2, 0, 0, 1)
	deadline := time.Now().Add(30 * time.Second)
	for w2.Stats().Fsyncs == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if w2.Stats().Fsyncs == 0 {
		t.Fatal("background fsync never ran")
	}
	if st := w2.Stats(); st.DiskBytes != RecordSize || st.FsyncErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestSyncEachAppend: with events.fsync = "always" every record is fsynced before Append
// returns (the background interval is an hour here, so no other fsync happens).
func TestSyncEachAppend(t *testing.T) {
	w := openTestWriter(t, WriterOptions{FsyncInterval: time.Hour, SyncEachAppend: true})
	before := w.Stats().Fsyncs
	appendN(t, w, 1, 0, 5)
	if got := w.Stats().Fsyncs - before; got < 5 {
		t.Fatalf("%d fsyncs for 5 appends with SyncEachAppend, want at least 5", got)
	}
	plain := openTestWriter(t, WriterOptions{FsyncInterval: time.Hour})
	before = plain.Stats().Fsyncs
	appendN(t, plain, 1, 0, 5)
	if got := plain.Stats().Fsyncs - before; got != 0 {
		t.Fatalf("%d fsyncs for 5 appends with the interval policy, want 0", got)
	}
	evs, _, r := readAll(t, w.opt.Dir, Position{})
	r.Close()
	if len(evs) != 5 {
		t.Fatalf("read %d events, want 5", len(evs))
	}
}
