package jetstream

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"adnet/internal/eventlog"
	"adnet/internal/jetstream/natstest"
	"adnet/models"
)

var errCrash = errors.New("simulated crash")

// writeEvents appends n events to a new worker-process log of slot under dataDir, with
// impression ids first, first+1, … and times a minute ago (past every watermark).
func writeEvents(t *testing.T, dataDir string, slot, pid int, first, n int) {
	t.Helper()
	w, err := eventlog.OpenWriter(eventlog.WriterOptions{Dir: eventlog.ProcessDir(eventlog.WorkerDir(dataDir, slot), time.Unix(1700000000, 0), pid)})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Minute)
	for i := range n {
		ev := models.Event{Type: models.EventImpression, Time: base.Add(time.Duration(first+i) * time.Microsecond), ZoneID: 1, CampaignID: 1}
		binary.BigEndian.PutUint64(ev.ImpressionID[8:], uint64(first+i))
		if err := w.Append(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// ship runs a shipper of dataDir on its own connection until done says so or the crash hook
// fires (the connection is then dropped at once, as by a killed process).
func ship(t *testing.T, url, dataDir string, crash func(string) error, done func(ShipperStats) bool) error {
	t.Helper()
	nc, js, err := Connect(ConnectOptions{Servers: []string{url}, Name: "test-shipper"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := EnsureStream(ctx, js, StreamOptions{Name: "ADNET_EVENTS", Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	sh, err := NewShipper(ShipperOptions{DataDir: dataDir, Host: "h1", Stream: "ADNET_EVENTS", JS: js, MaxPending: 64, crash: crash})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for ctx.Err() == nil {
			if done(sh.Stats()) {
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	start := time.Now()
	err = sh.Run(ctx)
	t.Logf("shipper ran %v: %+v, %v", time.Since(start).Round(time.Millisecond), sh.Stats(), err)
	if errors.Is(err, errCrash) {
		nc.Close() // the crash: unacknowledged publishes and the unrecorded offsets are lost
	}
	return err
}

// readAll reads the whole stream from after seq and returns the impression ids seen, how
// often, and the last sequence.
func readAll(t *testing.T, url string, after uint64, want int) (map[uint64]int, uint64) {
	t.Helper()
	nc, js, err := Connect(ConnectOptions{Servers: []string{url}, Name: "test-reader"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r, err := NewSource(js, "ADNET_EVENTS").Open(after)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	seen := map[uint64]int{}
	var last uint64
	deadline := time.Now().Add(10 * time.Second)
	for n := 0; time.Now().Before(deadline); {
		var ev models.Event
		pos, err := r.Next(&ev)
		if errors.Is(err, io.EOF) {
			if n >= want {
				// Quiet for a moment: nothing more is coming.
				time.Sleep(200 * time.Millisecond)
				if _, err := r.Next(&ev); errors.Is(err, io.EOF) {
					break
				}
				t.Fatal("more messages than expected")
			}
			time.Sleep(5 * time.Millisecond)
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		seen[binary.BigEndian.Uint64(ev.ImpressionID[8:])]++
		last = uint64(pos.Offset)
		n++
	}
	return seen, last
}

// TestShipperCrashResendsWithoutDuplicates: a shipper killed after publishing but before
// recording what the stream acknowledged sends those events again on restart; the stream's
// duplicate window stores each event once, and nothing is skipped.
func TestShipperCrashResendsWithoutDuplicates(t *testing.T) {
	srv := natstest.Start(t)
	data := t.TempDir()
	writeEvents(t, data, 1, 100, 0, 500)
	writeEvents(t, data, 2, 200, 500, 700)
	const total = 1200

	// First run: killed after 300 publishes; the shipped file was written a few times at most.
	published := 0
	err := ship(t, srv.URL, data, func(point string) error {
		if point == "published" {
			if published++; published == 300 {
				return errCrash
			}
		}
		return nil
	}, func(ShipperStats) bool { return false })
	if !errors.Is(err, errCrash) {
		t.Fatalf("first run: %v", err)
	}
	// Second run: killed right after its first record of the shipped file.
	err = ship(t, srv.URL, data, func(point string) error {
		if point == "recorded" {
			return errCrash
		}
		return nil
	}, func(ShipperStats) bool { return false })
	if !errors.Is(err, errCrash) {
		t.Fatalf("second run: %v", err)
	}
	// Third run: to the end, then a clean stop.
	if err := ship(t, srv.URL, data, nil, func(s ShipperStats) bool {
		return s.Acked > 0 && s.Pending == 0 && s.Published > 0 && s.Acked == s.Published && s.Sources == 2
	}); err != nil {
		t.Fatal(err)
	}
	seen, last := readAll(t, srv.URL, 0, total)
	if len(seen) != total || last != total {
		t.Fatalf("stream holds %d distinct events up to sequence %d, want %d and %d", len(seen), last, total, total)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("event %d stored %d times", id, n)
		}
	}
	b, err := os.ReadFile(filepath.Join(eventlog.Root(data), shippedFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("shipped offsets: %s", b)
	// A fourth run finds everything shipped: it publishes nothing.
	if err := ship(t, srv.URL, data, nil, func(s ShipperStats) bool { return s.Sources == 2 }); err != nil {
		t.Fatal(err)
	}
	if _, last := readAll(t, srv.URL, 0, total); last != total {
		t.Fatalf("after a restart with everything shipped the stream ends at %d, want %d", last, total)
	}
}

// TestSourceResumesAfterSequence: the aggregator's reader starts after the committed
// sequence, and the warm-up reader stops after its end sequence.
func TestSourceResumesAfterSequence(t *testing.T) {
	srv := natstest.Start(t)
	data := t.TempDir()
	writeEvents(t, data, 1, 100, 0, 50)
	if err := ship(t, srv.URL, data, nil, func(s ShipperStats) bool { return s.Acked == 50 && s.Pending == 0 }); err != nil {
		t.Fatal(err)
	}
	seen, last := readAll(t, srv.URL, 20, 30)
	if len(seen) != 30 || last != 50 || seen[19] != 0 || seen[20] != 1 {
		t.Fatalf("after 20: %d events up to %d", len(seen), last)
	}
	nc, js, err := Connect(ConnectOptions{Servers: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r, err := NewSource(js, "ADNET_EVENTS").OpenAt(time.Now().Add(-time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 0
	for {
		var ev models.Event
		if _, err := r.Next(&ev); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 10 {
		t.Fatalf("warm-up reader through 10 read %d", n)
	}

	// Messages the stream no longer has when the reader reaches them are counted as missing.
	st, err := js.Stream(context.Background(), "ADNET_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range []uint64{30, 31} {
		if err := st.DeleteMsg(context.Background(), seq); err != nil {
			t.Fatal(err)
		}
	}
	sr, err := NewSource(js, "ADNET_EVENTS").Open(25)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
		var ev models.Event
		if pos, err := sr.Next(&ev); err == nil && pos.Offset == 50 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if m := sr.(*Reader).Missing(); m != 2 {
		t.Fatalf("missing %d messages, want 2", m)
	}
}

// TestShipperPrunesOnlyShipped: with the JetStream transport the shipper deletes local
// segments, and only those wholly shipped: after a crash with part of the log unshipped,
// pruning leaves every unshipped event on disk, and the next run ships all of them.
func TestShipperPrunesOnlyShipped(t *testing.T) {
	srv := natstest.Start(t)
	data := t.TempDir()
	dir := eventlog.ProcessDir(eventlog.WorkerDir(data, 1), time.Unix(1700000000, 0), 100)
	w, err := eventlog.OpenWriter(eventlog.WriterOptions{Dir: dir, SegmentMaxBytes: 50 * eventlog.RecordSize})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Minute)
	const total = 1000 // 20 segments of 50
	for i := range total {
		ev := models.Event{Type: models.EventImpression, Time: base.Add(time.Duration(i) * time.Microsecond)}
		binary.BigEndian.PutUint64(ev.ImpressionID[8:], uint64(i))
		if err := w.Append(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _, _ := eventlog.Segments(dir)
	// A run killed after recording part of what it shipped.
	published := 0
	err = ship(t, srv.URL, data, func(point string) error {
		switch point {
		case "published":
			published++
		case "recorded":
			if published > 400 {
				return errCrash
			}
		}
		return nil
	}, func(ShipperStats) bool { return false })
	if !errors.Is(err, errCrash) {
		t.Fatalf("first run: %v", err)
	}
	// Prune as the next run's maintenance does, from the recorded offsets.
	nc, js, err := Connect(ConnectOptions{Servers: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sh, err := NewShipper(ShipperOptions{DataDir: data, Host: "h1", Stream: "ADNET_EVENTS", JS: js, Retention: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.loadShipped(); err != nil {
		t.Fatal(err)
	}
	if err := sh.discover(); err != nil {
		t.Fatal(err)
	}
	shipped := sh.shipped["worker-1/w1700000000000000000-100"]
	time.Sleep(10 * time.Millisecond)
	sh.maintain(time.Now())
	after, _, _ := eventlog.Segments(dir)
	t.Logf("%d segments, shipped up to %s, %d left after pruning", len(segs), shipped, len(after))
	if len(after) >= len(segs) || shipped.Segment <= 1 {
		t.Fatalf("nothing pruned (shipped %s, %d → %d segments)", shipped, len(segs), len(after))
	}
	if after[0].Seq != shipped.Segment {
		t.Fatalf("oldest segment left is %d; the shipped position is in %d", after[0].Seq, shipped.Segment)
	}
	for _, src := range sh.sources {
		src.r.Close()
	}
	// The next run ships everything that was not shipped: the stream ends up complete. (Acked
	// equals Published for a moment between a round's acks and its publishes, too: the lag,
	// measured after both, says that the log is all shipped.)
	if err := ship(t, srv.URL, data, nil, func(s ShipperStats) bool {
		return s.Sources == 1 && s.Published > 0 && s.Acked == s.Published && s.LagRecords == 0
	}); err != nil {
		t.Fatal(err)
	}
	if seen, last := readAll(t, srv.URL, 0, total); len(seen) != total || last != total {
		t.Fatalf("stream holds %d distinct events up to %d, want %d", len(seen), last, total)
	}
}
