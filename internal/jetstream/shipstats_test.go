package jetstream

import (
	"context"
	"testing"
	"time"

	"adnet/internal/eventlog"
	"adnet/internal/jetstream/natstest"
)

// TestShipperStatsLag: the shipper's figures say how far behind it is, against a real
// nats-server. A backlog shows as lag (records and bytes of the logs not acknowledged) and as
// the age of its oldest unacknowledged event until the stream has acknowledged it all; with
// the server down, new events are published but not acknowledged, no ack comes and the age
// stays; with the server back, everything is acknowledged and the lag is zero again.
func TestShipperStatsLag(t *testing.T) {
	srv := natstest.Start(t)
	data := t.TempDir()
	writeEvents(t, data, 1, 100, 0, 500) // a minute ago
	nc, js, err := Connect(ConnectOptions{Servers: []string{srv.URL}, Name: "test-shipper"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer scancel()
	if _, err := EnsureStream(sctx, js, StreamOptions{Name: "ADNET_EVENTS", Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	sh, err := NewShipper(ShipperOptions{DataDir: data, Host: "h1", Stream: "ADNET_EVENTS", JS: js, MaxPending: 64})
	if err != nil {
		t.Fatal(err)
	}
	if st := sh.Stats(); st.Running || !st.LastAck.IsZero() || !st.OldestUnacked.IsZero() {
		t.Fatalf("before Run: %+v", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sh.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	wait := func(what string, d time.Duration, cond func(ShipperStats) bool) ShipperStats {
		t.Helper()
		deadline := time.Now().Add(d)
		for {
			st := sh.Stats()
			if cond(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %+v", what, st)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	// The first round measures the whole log as lag (the lag is refreshed every few
	// seconds); the oldest event waiting is a minute old.
	st := wait("the first round", 10*time.Second, func(s ShipperStats) bool { return s.Running })
	if st.LagRecords != 500 || st.LagBytes != 500*eventlog.RecordSize || st.Sources != 1 {
		t.Errorf("first round: lag %d records, %d bytes, %d logs; want 500, %d, 1", st.LagRecords, st.LagBytes, st.Sources, 500*eventlog.RecordSize)
	}
	if age := time.Since(st.OldestUnacked); st.OldestUnacked.IsZero() || age < 55*time.Second || age > 5*time.Minute {
		t.Errorf("first round: oldest unacknowledged event %v (age %v), want about a minute old", st.OldestUnacked, age)
	}
	st = wait("the backlog acknowledged, the lag zero", 20*time.Second, func(s ShipperStats) bool {
		return s.Acked == 500 && s.Pending == 0 && s.LagRecords == 0 && s.OldestUnacked.IsZero()
	})
	if st.LagBytes != 0 || st.Published != 500 || st.LastAck.IsZero() || time.Since(st.LastAck) > 15*time.Second {
		t.Errorf("caught up: %+v", st)
	}
	lastAck := st.LastAck
	t.Logf("caught up: %+v", st)

	// The server goes away; a new log gets 100 events (Published counts first sends: at most
	// the window of 64 is out, and re-sent while no ack comes).
	srv.Kill()
	writeEvents(t, data, 2, 200, 1000, 100)
	st = wait("the new events published, not acknowledged, measured as lag", 20*time.Second, func(s ShipperStats) bool {
		return s.Published > 500 && s.Sources == 2 && s.LagRecords == 100 && s.LastError != ""
	})
	if st.Acked != 500 || !st.LastAck.Equal(lastAck) || st.Pending == 0 || st.OldestUnacked.IsZero() ||
		time.Since(st.OldestUnacked) < 55*time.Second || st.LastErrorAt.IsZero() {
		t.Errorf("server down: %+v", st)
	}
	t.Logf("server down: %+v", st)

	// Back: the waiting events are acknowledged (re-sent with the same ids), the lag drains.
	srv.Start()
	st = wait("caught up after the outage", 30*time.Second, func(s ShipperStats) bool {
		return s.Acked >= 600 && s.Pending == 0 && s.LagRecords == 0 && s.OldestUnacked.IsZero()
	})
	if !st.LastAck.After(lastAck) {
		t.Errorf("no new ack after the outage: %+v", st)
	}
	t.Logf("after the outage: %+v", st)
}
