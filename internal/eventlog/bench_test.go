package eventlog

import (
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"adnet/models"
)

// BenchmarkAppend measures the request-path cost of recording one event: encode, CRC, one
// write(2) into the page cache, with the background fsync running as in production. The
// target is 0 allocs/op.
func BenchmarkAppend(b *testing.B) {
	w, err := OpenWriter(WriterOptions{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	ev := randomEvent(rand.New(rand.NewPCG(1, 1)))
	b.SetBytes(RecordSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev.ViewerID = uint64(i)
		if err := w.Append(ev); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if st := w.Stats(); st.Records != int64(b.N) {
		b.Fatalf("wrote %d records, want %d", st.Records, b.N)
	}
}

// BenchmarkAppendParallel is Append under contention from concurrent requests.
func BenchmarkAppendParallel(b *testing.B) {
	w, err := OpenWriter(WriterOptions{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	b.SetBytes(RecordSize)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ev := randomEvent(rand.New(rand.NewPCG(2, 2)))
		for pb.Next() {
			if err := w.Append(ev); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkEncode is the codec alone, to separate its cost from the system call's.
func BenchmarkEncode(b *testing.B) {
	ev := randomEvent(rand.New(rand.NewPCG(3, 3)))
	var buf [RecordSize]byte
	b.SetBytes(RecordSize)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ev.ViewerID = uint64(i)
		encodeRecord(buf[:], &ev)
	}
}

// BenchmarkRead measures the aggregator's cost per record: buffered reads, CRC check and
// decode, across segment rotations.
func BenchmarkRead(b *testing.B) {
	w, err := OpenWriter(WriterOptions{Dir: b.TempDir(), SegmentMaxBytes: 8 << 20})
	if err != nil {
		b.Fatal(err)
	}
	ev := randomEvent(rand.New(rand.NewPCG(4, 4)))
	for i := 0; i < b.N; i++ {
		if err := w.Append(ev); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	r, err := OpenReader(w.opt.Dir, Position{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	var got models.Event
	b.SetBytes(RecordSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := r.Next(&got); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if _, err := r.Next(&got); !errors.Is(err, io.EOF) {
		b.Fatalf("after %d records: %v, want io.EOF", b.N, err)
	}
}
