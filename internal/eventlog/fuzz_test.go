package eventlog

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"adnet/models"
)

// FuzzReader feeds arbitrary bytes to the reader as a segment, read from an arbitrary
// offset. The reader must not panic or loop, and once the segment is finished (a newer one
// exists) every byte after the start must be accounted for exactly once: either inside a
// returned record or in a counted skip.
func FuzzReader(f *testing.F) {
	var valid []byte
	for i := 0; i < 5; i++ {
		var rec [RecordSize]byte
		ev := seqEvent(0, i)
		encodeRecord(rec[:], &ev)
		valid = append(valid, rec[:]...)
	}
	f.Add(valid, uint16(0))
	f.Add(valid, uint16(RecordSize))
	f.Add(valid, uint16(7))
	f.Add(valid[:3*RecordSize+40], uint16(0))
	damaged := append([]byte{}, valid...)
	damaged[2*RecordSize+9] ^= 0xFF
	f.Add(damaged, uint16(0))
	f.Add(append(append([]byte{}, valid[:RecordSize]...), append(make([]byte, 500), valid...)...), uint16(0))
	future := append([]byte{}, valid[:2*RecordSize]...)
	future[RecordSize+1] = 3
	binary.LittleEndian.PutUint16(future[RecordSize+2:], 90)
	binary.LittleEndian.PutUint32(future[RecordSize+4:], recordCRC(future[RecordSize:RecordSize+90]))
	f.Add(future, uint16(0))
	f.Add([]byte{recordMagic, 1, 0xFF, 0x0F}, uint16(0))
	f.Add([]byte{}, uint16(3))

	f.Fuzz(func(t *testing.T, data []byte, start uint16) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segmentName(1)), data, 0o640); err != nil {
			t.Fatal(err)
		}
		from := Position{Segment: 1, Offset: int64(start)}
		r, err := OpenReader(dir, from, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		maxRecords := len(data)/RecordSize + 1
		last := from
		// read returns false if the reader stopped on an unsupported record.
		read := func() bool {
			for calls := 0; ; calls++ {
				if calls > maxRecords {
					t.Fatalf("more than %d records from %d bytes", maxRecords, len(data))
				}
				var ev models.Event
				pos, err := r.Next(&ev)
				if errors.Is(err, io.EOF) {
					return true
				} else if err != nil {
					return false
				}
				if !last.Less(pos) {
					t.Fatalf("position went from %v to %v", last, pos)
				}
				last = pos
			}
		}
		if !read() {
			return
		}
		rs := r.Stats()
		if used := rs.Records*RecordSize + rs.BytesSkipped; used > int64(len(data)) {
			t.Fatalf("accounted %d bytes of %d", used, len(data))
		}
		// The writer moves on: the segment is final now.
		if err := os.WriteFile(filepath.Join(dir, segmentName(2)), nil, 0o640); err != nil {
			t.Fatal(err)
		}
		if !read() {
			return
		}
		rs = r.Stats()
		want := max(int64(len(data))-int64(start), 0)
		if used := rs.Records*RecordSize + rs.BytesSkipped; used != want {
			t.Fatalf("accounted %d bytes (%+v), want %d", used, rs, want)
		}
		if p := r.Position(); p.Segment != 2 || p.Offset != 0 {
			t.Fatalf("reader at %v, want 2:0", p)
		}
	})
}
