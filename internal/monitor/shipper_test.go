package monitor

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"adnet/internal/eventlog"
	"adnet/internal/jetstream"
	"adnet/internal/jetstream/natstest"
	"adnet/models"
)

// scrapeShipper gathers the shipper collector's metrics by name (one series each).
func scrapeShipper(t *testing.T, fetch ShipperFetch) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewShipperCollector(fetch))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.Metric {
			switch {
			case m.Counter != nil:
				out[f.GetName()] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[f.GetName()] = m.Gauge.GetValue()
			}
		}
	}
	return out
}

func adviceText(as []Advice) string {
	var b strings.Builder
	for _, a := range as {
		b.WriteString(string(a.Level) + " " + a.Text + "\n")
	}
	return b.String()
}

// TestShipperAdviceAndMetrics runs a real shipper against a real nats-server that goes away
// before the first event is shipped: the advice warns that no acknowledgement came and names
// nats.servers, /metrics shows the events published and waiting and how old the oldest is;
// once the server is back the figures move (acknowledged, lag zero, last ack now) and the
// warning goes. A shipper that does not answer its control socket is critical and down.
func TestShipperAdviceAndMetrics(t *testing.T) {
	srv := natstest.Start(t)
	nc, js, err := jetstream.Connect(jetstream.ConnectOptions{Servers: []string{srv.URL}, Name: "test-shipper"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer scancel()
	if _, err := jetstream.EnsureStream(sctx, js, jetstream.StreamOptions{Name: "ADNET_EVENTS", Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	srv.Kill()

	// 200 events of a worker process, a minute old.
	data := t.TempDir()
	w, err := eventlog.OpenWriter(eventlog.WriterOptions{Dir: eventlog.ProcessDir(eventlog.WorkerDir(data, 1), time.Now(), 4242)})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Minute)
	for i := range 200 {
		ev := models.Event{Type: models.EventImpression, Time: base.Add(time.Duration(i) * time.Millisecond), ZoneID: 1, CampaignID: 1}
		binary.BigEndian.PutUint64(ev.ImpressionID[8:], uint64(i+1))
		if err := w.Append(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	sh, err := jetstream.NewShipper(jetstream.ShipperOptions{DataDir: data, Host: "h1", Stream: "ADNET_EVENTS", JS: js})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sh.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shipper: %v", err)
		}
	}()
	fetch := func(context.Context) (*jetstream.ShipperStats, error) { st := sh.Stats(); return &st, nil }
	waitFor := func(what string, cond func(st jetstream.ShipperStats) bool) jetstream.ShipperStats {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			st := sh.Stats()
			if cond(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %+v", what, st)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// The server is down: everything published, nothing acknowledged.
	st := waitFor("the events published", func(st jetstream.ShipperStats) bool {
		return st.Running && st.Published == 200 && st.Pending == 200 && st.LagRecords == 200
	})
	now := time.Now()
	got := adviceText(ShipperAdvice(&st, nil, now))
	t.Logf("server down:\n%s", got)
	for _, want := range []string{
		"warning the event shipper has had no acknowledgement from the stream since it started: the oldest event of this host not in the stream is ",
		"200 records (23.4 KiB) wait in the local logs and 200 publishes await their ack — check nats.servers and the NATS cluster",
		"info shipper: 200 events published (0 re-sent), 0 acknowledged by the stream (no ack since it started), 200 awaiting their ack; 200 records (23.4 KiB) behind across 1 logs",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	// Five minutes behind is critical.
	if as := ShipperAdvice(&st, nil, st.OldestUnacked.Add(6*time.Minute)); as[0].Level != Critical {
		t.Errorf("six minutes behind: %+v", as[0])
	}
	doc := NewShipperDoc(&st, now)
	if doc.BehindSeconds < 55 || doc.LastAckAgeSeconds != nil || doc.Published != 200 {
		t.Errorf("status document: %+v", doc)
	}
	m := scrapeShipper(t, fetch)
	t.Logf("metrics, server down: %v", m)
	for name, want := range map[string]float64{"adnet_shipper_up": 1, "adnet_shipper_running": 1, "adnet_shipper_published_total": 200,
		"adnet_shipper_acked_total": 0, "adnet_shipper_pending_acks": 200, "adnet_shipper_logs": 1, "adnet_shipper_lag_records": 200,
		"adnet_shipper_lag_bytes": 200 * eventlog.RecordSize} {
		if v, ok := m[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	if b := m["adnet_shipper_behind_seconds"]; b < 55 || b > 600 {
		t.Errorf("adnet_shipper_behind_seconds = %v, want about 60", b)
	}
	if _, ok := m["adnet_shipper_last_ack_timestamp_seconds"]; ok {
		t.Errorf("a last ack timestamp before any ack")
	}

	// The server is back: the figures move.
	srv.Start()
	st = waitFor("everything acknowledged", func(st jetstream.ShipperStats) bool {
		return st.Acked >= 200 && st.Pending == 0 && st.LagRecords == 0 && st.OldestUnacked.IsZero()
	})
	now = time.Now()
	as := ShipperAdvice(&st, nil, now)
	got = adviceText(as)
	t.Logf("server back:\n%s", got)
	if len(as) != 1 || as[0].Level != Info || !strings.Contains(got, "200 acknowledged by the stream (last ack ") ||
		!strings.Contains(got, "0 awaiting their ack; 0 records (0 B) behind across 1 logs") {
		t.Errorf("caught up: advice\n%s", got)
	}
	if doc := NewShipperDoc(&st, now); doc.BehindSeconds != 0 || doc.LastAckAgeSeconds == nil || *doc.LastAckAgeSeconds > 30 {
		t.Errorf("status document: %+v", doc)
	}
	m = scrapeShipper(t, fetch)
	t.Logf("metrics, server back: %v", m)
	if m["adnet_shipper_acked_total"] < 200 || m["adnet_shipper_pending_acks"] != 0 || m["adnet_shipper_lag_records"] != 0 ||
		m["adnet_shipper_behind_seconds"] != 0 || time.Since(time.Unix(int64(m["adnet_shipper_last_ack_timestamp_seconds"]), 0)) > 30*time.Second {
		t.Errorf("metrics after catching up: %v", m)
	}

	// No shipper behind the socket: critical advice, and down in /metrics.
	gone := func(ctx context.Context) (*jetstream.ShipperStats, error) {
		var st jetstream.ShipperStats
		if err := FetchControl(ctx, filepath.Join(t.TempDir(), "shipper.sock"), &st); err != nil {
			return nil, err
		}
		return &st, nil
	}
	_, ferr := gone(context.Background())
	if as := ShipperAdvice(nil, ferr, now); len(as) != 1 || as[0].Level != Critical || !strings.HasPrefix(as[0].Text, "the event shipper does not answer (") {
		t.Errorf("no shipper: %+v", as)
	}
	if m := scrapeShipper(t, gone); len(m) != 1 || m["adnet_shipper_up"] != 0 {
		t.Errorf("no shipper: metrics %v", m)
	}
	// Waiting for the stream (adnet ship before its shipper runs).
	wait := jetstream.ShipperStats{LastError: "context deadline exceeded", LastErrorAt: now.Add(-2 * time.Second)}
	if as := ShipperAdvice(&wait, nil, now); len(as) != 1 || as[0].Level != Warning ||
		!strings.Contains(as[0].Text, "waiting for the stream") || !strings.Contains(as[0].Text, "last error 2s ago: context deadline exceeded") {
		t.Errorf("waiting: %+v", as)
	}
}
