package jetstream

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"adnet/internal/aggregator"
	"adnet/internal/eventlog"
	"adnet/internal/jetstream/natstest"
	"adnet/models"
)

// TestClusterNodeKilled: on a 3-node cluster with an R3 stream, killing the stream's leader
// while a shipper publishes and a reader consumes stops neither: every event is stored once
// and read once, in the end.
func TestClusterNodeKilled(t *testing.T) {
	nodes := natstest.StartCluster(t, 3)
	urls := natstest.URLs(nodes)
	nc, js, err := Connect(ConnectOptions{Servers: urls, Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The cluster elects its meta leader a moment after the servers start.
	for {
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := EnsureStream(actx, js, StreamOptions{Name: "ADNET_EVENTS", Replicas: 3})
		acancel()
		if err == nil {
			break
		} else if ctx.Err() != nil {
			t.Fatalf("no R3 stream: %v\n%s", err, nodes[0].Log())
		}
		time.Sleep(200 * time.Millisecond)
	}

	data := t.TempDir()
	w, err := eventlog.OpenWriter(eventlog.WriterOptions{Dir: eventlog.ProcessDir(eventlog.WorkerDir(data, 1), time.Now(), 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var written atomic.Int64
	stopWriting := make(chan struct{})
	writerDone := make(chan struct{})
	go func() { // steady traffic: an event a millisecond
		defer close(writerDone)
		for i := 1; ; i++ {
			select {
			case <-stopWriting:
				return
			case <-time.After(time.Millisecond):
			}
			ev := models.Event{Type: models.EventImpression, Time: time.Now(), ZoneID: 1, CampaignID: 1}
			binary.BigEndian.PutUint64(ev.ImpressionID[8:], uint64(i))
			if err := w.Append(ev); err != nil {
				t.Error(err)
				return
			}
			written.Add(1)
		}
	}()
	sh, err := NewShipper(ShipperOptions{DataDir: data, Host: "h1", Stream: "ADNET_EVENTS", JS: js, Watermark: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	shipCtx, stopShip := context.WithCancel(context.Background())
	shipDone := make(chan error, 1)
	go func() { shipDone <- sh.Run(shipCtx) }()

	// The reader, on its own connection.
	rc, rjs, err := Connect(ConnectOptions{Servers: urls, Name: "reader"})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	r, err := NewSource(rjs, "ADNET_EVENTS").Open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	seen := map[uint64]int{}
	var last uint64
	read := func(d time.Duration) {
		deadline := time.Now().Add(d)
		for time.Now().Before(deadline) {
			var m aggregator.StreamMessage
			err := r.Next(&m)
			if errors.Is(err, io.EOF) {
				time.Sleep(2 * time.Millisecond)
				continue
			} else if err != nil {
				t.Fatal(err)
			}
			if m.Seq <= last {
				t.Fatalf("sequence %d after %d", m.Seq, last)
			}
			last = m.Seq
			if m.Through.IsZero() {
				seen[binary.BigEndian.Uint64(m.Event.ImpressionID[8:])]++
			}
		}
	}
	read(time.Second)
	before := len(seen)

	st, err := js.Stream(ctx, "ADNET_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil || info.Cluster == nil {
		t.Fatalf("stream info: %v", err)
	}
	for _, n := range nodes {
		if n.Name == info.Cluster.Leader {
			n.Kill()
			t.Logf("killed %s, the stream's leader, after %d events were read", n.Name, before)
		}
	}
	killed := time.Now()
	for len(seen) < before+500 && time.Since(killed) < 20*time.Second {
		read(50 * time.Millisecond)
	}
	resumed := time.Since(killed)
	during := len(seen) - before
	close(stopWriting)
	<-writerDone
	total := int(written.Load())
	for end := time.Now().Add(20 * time.Second); len(seen) < total && time.Now().Before(end); {
		read(100 * time.Millisecond)
	}
	stopShip()
	if err := <-shipDone; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d events written, %d read; 500 more events read %v after the kill; shipper %+v",
		total, len(seen), resumed.Round(time.Millisecond), sh.Stats())
	if during < 500 {
		t.Errorf("only %d events read in the 20 s after the leader was killed", during)
	}
	if len(seen) != total {
		t.Fatalf("read %d distinct events of %d", len(seen), total)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("event %d read %d times", id, n)
		}
	}
}
