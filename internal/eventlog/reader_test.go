package eventlog

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"adnet/models"
)

// writeLog writes n events of producer 0 into a fresh directory with the given segment size
// and closes the writer.
func writeLog(t *testing.T, n int, segRecords int) string {
	t.Helper()
	w := openTestWriter(t, WriterOptions{SegmentMaxBytes: int64(segRecords) * RecordSize})
	appendN(t, w, 0, 0, n)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.opt.Dir
}

func mustNext(t *testing.T, r *Reader) (models.Event, Position) {
	t.Helper()
	var ev models.Event
	pos, err := r.Next(&ev)
	if err != nil {
		t.Fatalf("next: %v", err)
	}
	return ev, pos
}

func mustEOF(t *testing.T, r *Reader) {
	t.Helper()
	var ev models.Event
	if _, err := r.Next(&ev); !errors.Is(err, io.EOF) {
		t.Fatalf("next: %v (event %+v), want io.EOF", err, ev)
	}
}

func TestReaderResumeFromPosition(t *testing.T) {
	const n = 30
	dir := writeLog(t, n, 7)
	all, poss, _ := readAll(t, dir, Position{})
	if len(all) != n {
		t.Fatalf("read %d, want %d", len(all), n)
	}
	for k := 0; k < n; k++ {
		// Round-trip the position through its stored text form, as the aggregator does.
		pos, err := ParsePosition(poss[k].String())
		if err != nil || pos != poss[k] {
			t.Fatalf("parse %q: %v, %v", poss[k].String(), pos, err)
		}
		rest, _, r := readAll(t, dir, pos)
		if len(rest) != n-k-1 {
			t.Fatalf("resume after %d: read %d, want %d", k, len(rest), n-k-1)
		}
		checkSequence(t, rest, k+1)
		if rs := r.Stats(); rs.Corrupt != 0 || rs.SegmentsMissing != 0 {
			t.Fatalf("resume after %d: stats %+v", k, rs)
		}
	}
}

func TestPositionText(t *testing.T) {
	p := Position{Segment: 12, Offset: 3480}
	if p.String() != "12:3480" {
		t.Fatalf("String = %q", p.String())
	}
	for _, s := range []string{"12", "a:1", "1:b", "1:-5", ":", "1:2:3"} {
		if _, err := ParsePosition(s); models.ErrorCode(err) != models.EINVALID {
			t.Errorf("ParsePosition(%q) = %v, want EINVALID", s, err)
		}
	}
	if p, err := ParsePosition(""); err != nil || p != (Position{}) {
		t.Errorf("ParsePosition(\"\") = %v, %v", p, err)
	}
	order := []Position{{0, 0}, {1, 0}, {1, 116}, {2, 0}, {2, 5}}
	for i := range order {
		for j := range order {
			if got := order[i].Less(order[j]); got != (i < j) {
				t.Errorf("%v.Less(%v) = %v", order[i], order[j], got)
			}
		}
	}
}

// TestTornTail cuts the last record of the newest segment at every byte offset: the reader
// must wait (io.EOF, nothing counted) while it could be a write in progress, and skip and
// count it once a newer segment shows the writer has moved on.
func TestTornTail(t *testing.T) {
	src := writeLog(t, 5, 1000)
	data, err := os.ReadFile(filepath.Join(src, segmentName(1)))
	if err != nil {
		t.Fatal(err)
	}
	for cut := 1; cut < RecordSize; cut++ {
		dir := t.TempDir()
		torn := data[:4*RecordSize+cut]
		if err := os.WriteFile(filepath.Join(dir, segmentName(1)), torn, 0o640); err != nil {
			t.Fatal(err)
		}
		r, err := OpenReader(dir, Position{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 4; i++ {
			mustNext(t, r)
		}
		mustEOF(t, r)
		mustEOF(t, r)
		if rs := r.Stats(); rs.Corrupt != 0 || rs.BytesSkipped != 0 {
			t.Fatalf("cut %d: counted a write in progress as corrupt: %+v", cut, rs)
		}
		// The writer restarts: a new segment with one record.
		w := openTestWriter(t, WriterOptions{Dir: dir})
		appendN(t, w, 0, 100, 1)
		ev, pos := mustNext(t, r)
		if ev.CampaignID != 100 || pos != (Position{2, RecordSize}) {
			t.Fatalf("cut %d: got seq %d at %v, want 100 at 2:%d", cut, ev.CampaignID, pos, RecordSize)
		}
		mustEOF(t, r)
		if rs := r.Stats(); rs.Corrupt != 1 || rs.BytesSkipped != int64(cut) || rs.Records != 5 {
			t.Fatalf("cut %d: stats %+v, want 1 corrupt, %d bytes skipped", cut, rs, cut)
		}
		w.Close()
		r.Close()
	}
}

// TestWriteInProgress: bytes of a record arriving in pieces are not corruption.
func TestWriteInProgress(t *testing.T) {
	src := writeLog(t, 3, 1000)
	data, err := os.ReadFile(filepath.Join(src, segmentName(1)))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f, err := os.OpenFile(filepath.Join(dir, segmentName(1)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := OpenReader(dir, Position{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := 0
	for off := 0; off < len(data); off += 13 { // 13 does not divide RecordSize
		end := min(off+13, len(data))
		if _, err := f.Write(data[off:end]); err != nil {
			t.Fatal(err)
		}
		for {
			var ev models.Event
			_, err := r.Next(&ev)
			if errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			if ev.CampaignID != int64(got) {
				t.Fatalf("event %d has seq %d", got, ev.CampaignID)
			}
			got++
		}
		if want := end / RecordSize; got != want {
			t.Fatalf("after %d bytes: %d events, want %d", end, got, want)
		}
	}
	if rs := r.Stats(); rs.Corrupt != 0 || rs.Records != 3 {
		t.Fatalf("stats %+v", rs)
	}
}

// corruptAndRead writes a 20-record segment (plus, when sealed, an empty newer one), applies
// damage, and reads it all.
func corruptAndRead(t *testing.T, sealed bool, damage func([]byte) []byte) ([]models.Event, ReaderStats) {
	t.Helper()
	src := writeLog(t, 20, 1000)
	data, err := os.ReadFile(filepath.Join(src, segmentName(1)))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, segmentName(1)), damage(data), 0o640); err != nil {
		t.Fatal(err)
	}
	if sealed {
		if err := os.WriteFile(filepath.Join(dir, segmentName(2)), nil, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	evs, _, r := readAll(t, dir, Position{})
	return evs, r.Stats()
}

func TestCorruptionInTheMiddle(t *testing.T) {
	// Every byte of record 7 flipped in turn, in a finished and in the live segment: the
	// record is skipped, all others are read, and the skip is counted once.
	for _, sealed := range []bool{false, true} {
		for i := 0; i < RecordSize; i++ {
			evs, rs := corruptAndRead(t, sealed, func(b []byte) []byte {
				b[7*RecordSize+i] ^= 0x5A
				return b
			})
			if len(evs) != 19 || rs.Corrupt != 1 || rs.BytesSkipped != RecordSize {
				t.Fatalf("sealed=%v byte %d: %d events, stats %+v", sealed, i, len(evs), rs)
			}
			checkSequence(t, evs[:7], 0)
			checkSequence(t, evs[7:], 8)
		}
	}
}

func TestGarbageBetweenRecords(t *testing.T) {
	garbage := []byte("\xEA\x01\x74\x00not a record at all, but it starts like one \xEA\xEA\x01")
	evs, rs := corruptAndRead(t, false, func(b []byte) []byte {
		out := append([]byte{}, b[:5*RecordSize]...)
		out = append(out, garbage...)
		return append(out, b[5*RecordSize:]...)
	})
	if len(evs) != 20 || rs.Corrupt != 1 || rs.BytesSkipped != int64(len(garbage)) {
		t.Fatalf("%d events, stats %+v; want 20, 1 skip of %d bytes", len(evs), rs, len(garbage))
	}
	checkSequence(t, evs, 0)

	// Two damaged regions, one of them zeroed (what a power loss can leave behind).
	evs, rs = corruptAndRead(t, true, func(b []byte) []byte {
		clear(b[2*RecordSize+50 : 4*RecordSize+3])
		b[12*RecordSize+1] = 7
		return b
	})
	if len(evs) != 16 || rs.Corrupt != 2 || rs.BytesSkipped != 3*RecordSize+RecordSize {
		t.Fatalf("%d events, stats %+v", len(evs), rs)
	}
}

// TestCorruptTailOfLiveSegment: damage at the end of the newest segment reads as io.EOF
// until the writer either appends a valid record after it or moves to a new segment.
func TestCorruptTailOfLiveSegment(t *testing.T) {
	evs, rs := corruptAndRead(t, false, func(b []byte) []byte {
		b[19*RecordSize+30] ^= 1
		return b
	})
	if len(evs) != 19 || rs.Corrupt != 0 {
		t.Fatalf("%d events, stats %+v; want 19, nothing skipped yet", len(evs), rs)
	}

	dir := writeLog(t, 3, 1000)
	path := filepath.Join(dir, segmentName(1))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, 300)); err != nil { // zeros
		t.Fatal(err)
	}
	r, err := OpenReader(dir, Position{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := 0; i < 3; i++ {
		mustNext(t, r)
	}
	mustEOF(t, r)
	mustEOF(t, r)
	var rec [RecordSize]byte
	ev := seqEvent(0, 3)
	encodeRecord(rec[:], &ev)
	if _, err := f.Write(rec[:]); err != nil {
		t.Fatal(err)
	}
	if got, pos := mustNext(t, r); got.CampaignID != 3 || pos.Offset != 4*RecordSize+300 {
		t.Fatalf("got seq %d at %v", got.CampaignID, pos)
	}
	if rs := r.Stats(); rs.Corrupt != 1 || rs.BytesSkipped != 300 {
		t.Fatalf("stats %+v", rs)
	}
}

func TestUnsupportedVersionStops(t *testing.T) {
	dir := writeLog(t, 2, 1000)
	path := filepath.Join(dir, segmentName(1))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[RecordSize+1] = 9 // record 1 claims version 9 with a valid CRC
	recordCRCFix(data[RecordSize : 2*RecordSize])
	if err := os.WriteFile(path, data, 0o640); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(dir, Position{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	mustNext(t, r)
	for i := 0; i < 2; i++ { // it stays stopped rather than skipping billable events
		var ev models.Event
		if _, err := r.Next(&ev); err == nil || errors.Is(err, io.EOF) {
			t.Fatalf("next: %v, want an unsupported-version error", err)
		}
	}
	if rs := r.Stats(); rs.Corrupt != 0 {
		t.Fatalf("stats %+v", rs)
	}
}

func recordCRCFix(rec []byte) {
	c := recordCRC(rec)
	rec[4], rec[5], rec[6], rec[7] = byte(c), byte(c>>8), byte(c>>16), byte(c>>24)
}

// TestSegmentDeletedUnderReader: retention deleting the segment being read, or the next
// ones, does not crash the reader; it finishes what it has open and counts the gap.
func TestSegmentDeletedUnderReader(t *testing.T) {
	dir := writeLog(t, 30, 10) // segments 1, 2, 3
	r, err := OpenReader(dir, Position{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	mustNext(t, r)
	for _, seq := range []uint64{1, 2} {
		if err := os.Remove(filepath.Join(dir, segmentName(seq))); err != nil {
			t.Fatal(err)
		}
	}
	var got []models.Event
	for {
		var ev models.Event
		_, err := r.Next(&ev)
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	// The rest of segment 1 (still open) and all of segment 3.
	if len(got) != 9+10 {
		t.Fatalf("read %d, want 19", len(got))
	}
	checkSequence(t, got[:9], 1)
	checkSequence(t, got[9:], 20)
	if rs := r.Stats(); rs.SegmentsMissing != 1 || rs.Corrupt != 0 {
		t.Fatalf("stats %+v", rs)
	}

	// Opening from a position in a deleted segment continues with the next one.
	evs, _, r2 := readAll(t, dir, Position{Segment: 2, Offset: 5 * RecordSize})
	if len(evs) != 10 || r2.Stats().SegmentsMissing != 1 {
		t.Fatalf("read %d, stats %+v", len(evs), r2.Stats())
	}
	checkSequence(t, evs, 20)
}

func TestReaderEmptyAndMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "worker-9")
	r, err := OpenReader(dir, Position{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	mustEOF(t, r)
	w := openTestWriter(t, WriterOptions{Dir: dir})
	mustEOF(t, r) // an empty segment
	appendN(t, w, 0, 0, 1)
	if ev, _ := mustNext(t, r); ev.CampaignID != 0 {
		t.Fatalf("got seq %d", ev.CampaignID)
	}
}

func TestPrune(t *testing.T) {
	dir := writeLog(t, 50, 10) // segments 1..5
	now := time.Now()
	old := now.Add(-2 * time.Hour)
	for seq := uint64(1); seq <= 5; seq++ {
		mtime := old
		if seq == 2 {
			mtime = now // recently modified: kept
		}
		if err := os.Chtimes(filepath.Join(dir, segmentName(seq)), mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := Prune(dir, Position{Segment: 4, Offset: 3 * RecordSize}, time.Hour, now)
	if err != nil || removed != 2 {
		t.Fatalf("prune: %d, %v; want 2", removed, err)
	}
	if seqs := segmentsOf(t, dir); len(seqs) != 3 || seqs[0] != 2 || seqs[1] != 4 || seqs[2] != 5 {
		t.Fatalf("left %v, want [2 4 5]", seqs)
	}
	// Never the newest segment, even when committed is past it.
	removed, err = Prune(dir, Position{Segment: 99}, 0, now.Add(time.Hour))
	if err != nil || removed != 2 {
		t.Fatalf("prune: %d, %v; want 2", removed, err)
	}
	if seqs := segmentsOf(t, dir); len(seqs) != 1 || seqs[0] != 5 {
		t.Fatalf("left %v, want [5]", seqs)
	}
	if removed, err := Prune(filepath.Join(dir, "nope"), Position{Segment: 9}, 0, now); err != nil || removed != 0 {
		t.Fatalf("prune missing dir: %d, %v", removed, err)
	}
}

func TestDirSize(t *testing.T) {
	dir := writeLog(t, 25, 10)
	n, err := DirSize(dir)
	if err != nil || n != 25*RecordSize {
		t.Fatalf("DirSize = %d, %v; want %d", n, err, 25*RecordSize)
	}
	if n, err := DirSize(filepath.Join(dir, "nope")); err != nil || n != 0 {
		t.Fatalf("DirSize(missing) = %d, %v", n, err)
	}
}

// scriptedSource yields a fixed sequence of events and errors, then io.EOF.
type scriptedSource struct {
	steps []error // nil: an event
	n     int     // steps taken
	calls int
}

func (s *scriptedSource) Next(ev *models.Event) (Position, error) {
	s.calls++
	if s.n >= len(s.steps) {
		return Position{}, io.EOF
	}
	err := s.steps[s.n]
	s.n++
	if err != nil {
		return Position{}, err
	}
	ev.Time = time.Unix(int64(s.n), 0)
	return Position{Segment: 1, Offset: int64(s.n)}, nil
}

// TestCursorFill: a head is read once and kept until consumed; a source at its end is not
// read again for poll (DeadPoll once Dead); an error is returned once, retried after a second
// and forgotten after a successful read.
func TestCursorFill(t *testing.T) {
	boom := errors.New("boom")
	src := &scriptedSource{steps: []error{nil, boom, boom, nil}}
	var c Cursor
	now := time.Unix(1000, 0)
	if ok, err := c.Fill(src, now, time.Second); !ok || err != nil || c.HeadPos.Offset != 1 {
		t.Fatalf("first fill: %v %v %+v", ok, err, c)
	}
	if ok, _ := c.Fill(src, now, time.Second); !ok || src.n != 1 {
		t.Fatalf("a buffered head was read again: %d reads", src.n)
	}
	c.HasHead = false
	if ok, err := c.Fill(src, now, time.Second); ok || err != boom {
		t.Fatalf("error: %v %v", ok, err)
	}
	if ok, err := c.Fill(src, now.Add(500*time.Millisecond), time.Second); ok || err != nil || src.n != 2 {
		t.Fatalf("retried within a second: %v %v, %d reads", ok, err, src.n)
	}
	if ok, err := c.Fill(src, now.Add(2*time.Second), time.Second); ok || err != nil || src.n != 3 {
		t.Fatalf("the same error again must not be returned: %v %v, %d reads", ok, err, src.n)
	}
	if ok, err := c.Fill(src, now.Add(4*time.Second), time.Second); !ok || err != nil || c.LastErr != "" {
		t.Fatalf("success after errors: %v %v %q", ok, err, c.LastErr)
	}
	c.HasHead = false
	at := now.Add(5 * time.Second)
	if ok, _ := c.Fill(src, at, time.Second); ok || !c.AtEnd() || src.calls != 5 {
		t.Fatalf("end: %+v, %d reads", c, src.calls)
	}
	c.Fill(src, at.Add(500*time.Millisecond), time.Second)
	c.Dead = true
	c.Fill(src, at.Add(5*time.Second), time.Second)
	if src.calls != 5 {
		t.Fatalf("a source at its end was read again within poll: %d reads", src.calls)
	}
	c.Fill(src, at.Add(11*time.Second), time.Second)
	if src.calls != 6 {
		t.Fatalf("a dead source was not read after DeadPoll: %d reads", src.calls)
	}
}
