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

	"adnet/internal/aggregator"
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

// streamRead is what readAll found in the stream.
type streamRead struct {
	seen   map[uint64]int    // impression id → events stored with it
	seqOf  map[uint64]uint64 // impression id → its (last) sequence
	events int               // event messages
	beats  int               // heartbeats
	last   uint64            // the sequence of the last event (heartbeats excluded)
}

// readAll reads the whole stream from after seq, expecting want events.
func readAll(t *testing.T, url string, after uint64, want int) streamRead {
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
	got := streamRead{seen: map[uint64]int{}, seqOf: map[uint64]uint64{}}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var m aggregator.StreamMessage
		err := r.Next(&m)
		if errors.Is(err, io.EOF) {
			if got.events >= want {
				// Quiet for a moment: nothing more is coming (but heartbeats).
				time.Sleep(200 * time.Millisecond)
				for r.Next(&m) == nil {
					if m.Through.IsZero() {
						t.Fatal("more events than expected")
					}
				}
				break
			}
			time.Sleep(5 * time.Millisecond)
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		if !m.Through.IsZero() {
			// A heartbeat may be stored after the last event at any moment, so it is
			// counted but never taken as the stream's last sequence.
			got.beats++
			continue
		}
		got.last = m.Seq
		id := binary.BigEndian.Uint64(m.Event.ImpressionID[8:])
		got.seen[id]++
		got.seqOf[id] = m.Seq
		got.events++
	}
	return got
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
	got := readAll(t, srv.URL, 0, total)
	if len(got.seen) != total || got.events != total {
		t.Fatalf("stream holds %d distinct events in %d messages, want %d and %d", len(got.seen), got.events, total, total)
	}
	for id, n := range got.seen {
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
	if got := readAll(t, srv.URL, 0, total); got.events != total {
		t.Fatalf("after a restart with everything shipped the stream holds %d events, want %d", got.events, total)
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
	all := readAll(t, srv.URL, 0, 50)
	if all.events != 50 {
		t.Fatalf("stream holds %d events, want 50", all.events)
	}
	got := readAll(t, srv.URL, all.seqOf[19], 30)
	if len(got.seen) != 30 || got.last != all.last || got.seen[19] != 0 || got.seen[20] != 1 {
		t.Fatalf("after event 19 (sequence %d): %d events up to %d", all.seqOf[19], len(got.seen), got.last)
	}
	nc, js, err := Connect(ConnectOptions{Servers: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r, err := NewSource(js, "ADNET_EVENTS").OpenAt(time.Now().Add(-time.Hour), all.seqOf[9])
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 0
	for {
		var m aggregator.StreamMessage
		if err := r.Next(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if m.Through.IsZero() {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("warm-up reader through event 9 read %d events", n)
	}

	// Messages the stream no longer has when the reader reaches them are counted as missing.
	st, err := js.Stream(context.Background(), "ADNET_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range []uint64{all.seqOf[30], all.seqOf[31]} {
		if err := st.DeleteMsg(context.Background(), seq); err != nil {
			t.Fatal(err)
		}
	}
	sr, err := NewSource(js, "ADNET_EVENTS").Open(all.seqOf[25])
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
		var m aggregator.StreamMessage
		if err := sr.Next(&m); err == nil && m.Seq == all.seqOf[49] {
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
	if got := readAll(t, srv.URL, 0, total); len(got.seen) != total || got.events != total {
		t.Fatalf("stream holds %d distinct events in %d messages, want %d", len(got.seen), got.events, total)
	}
}

// TestShipperHeartbeats: while two workers of the host write events as they happen, the
// shipper sends a heartbeat every second, and each one's through time is true: every event of
// the host older than it is stored before the heartbeat. The aggregator's reorder relies on
// exactly that to apply several hosts' events in time order.
func TestShipperHeartbeats(t *testing.T) {
	srv := natstest.Start(t)
	data := t.TempDir()
	const perWorker = 300
	writers := make(chan error, 2)
	for slot := 1; slot <= 2; slot++ {
		go func() {
			w, err := eventlog.OpenWriter(eventlog.WriterOptions{Dir: eventlog.ProcessDir(eventlog.WorkerDir(data, slot), time.Now(), 1000+slot)})
			if err != nil {
				writers <- err
				return
			}
			for i := range perWorker {
				ev := models.Event{Type: models.EventImpression, Time: time.Now(), ZoneID: 1, CampaignID: 1}
				binary.BigEndian.PutUint64(ev.ImpressionID[8:], uint64(slot*perWorker+i))
				if err := w.Append(ev); err != nil {
					writers <- err
					return
				}
				time.Sleep(10 * time.Millisecond) // 3 s of traffic
			}
			writers <- w.Close()
		}()
	}
	written := 0
	err := ship(t, srv.URL, data, nil, func(s ShipperStats) bool {
		select {
		case err := <-writers:
			if err != nil {
				t.Error(err)
			}
			written++
		default:
		}
		// Everything written and acknowledged, and a heartbeat after the last event's watermark.
		return written == 2 && s.Acked == 2*perWorker && s.Pending == 0 && s.Heartbeats >= 6
	})
	if err != nil {
		t.Fatal(err)
	}
	nc, js, err := Connect(ConnectOptions{Servers: []string{srv.URL}, Name: "test-reader"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r, err := NewSource(js, "ADNET_EVENTS").Open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var msgs []aggregator.StreamMessage
	for quiet := time.Now(); time.Since(quiet) < time.Second; {
		var m aggregator.StreamMessage
		if err := r.Next(&m); errors.Is(err, io.EOF) {
			time.Sleep(5 * time.Millisecond)
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		quiet = time.Now()
		if m.Host != "h1" {
			t.Fatalf("message of host %q, want h1", m.Host)
		}
		msgs = append(msgs, m)
	}
	beats, covered := 0, 0
	var lastThrough time.Time
	for i, hb := range msgs {
		if hb.Through.IsZero() {
			continue
		}
		beats++
		if hb.Through.Before(lastThrough) {
			t.Errorf("heartbeat %d goes back: %v after %v", hb.Seq, hb.Through, lastThrough)
		}
		lastThrough = hb.Through
		for _, ev := range msgs[i+1:] {
			if ev.Through.IsZero() && ev.Event.Time.Before(hb.Through) {
				t.Fatalf("event at %v (sequence %d) stored after heartbeat %d, which says everything before %v was",
					ev.Event.Time, ev.Seq, hb.Seq, hb.Through)
			}
		}
		for _, ev := range msgs[:i] {
			if ev.Through.IsZero() && ev.Event.Time.Before(hb.Through) {
				covered++
			}
		}
	}
	if beats < 3 || covered == 0 {
		t.Fatalf("%d heartbeats covering %d events: the test shows nothing", beats, covered)
	}
	t.Logf("%d messages, %d heartbeats; the last says through %v", len(msgs), beats, lastThrough.Format(time.RFC3339Nano))
}
