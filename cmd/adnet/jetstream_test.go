package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"adnet/internal/aggregator"
	"adnet/internal/config"
	"adnet/internal/demo"
	"adnet/internal/eventlog"
	"adnet/internal/jetstream"
	"adnet/internal/jetstream/natstest"
	"adnet/models"
	"adnet/models/mysql"
	"adnet/models/mysql/mysqltest"
)

// jsHost is one app host of the JetStream tests: its config, data directory and processes.
type jsHost struct {
	t              *testing.T
	name, conf     string
	dataDir, logFn string
}

func newJSHost(t *testing.T, name, dsn string, servers []string) *jsHost {
	t.Helper()
	dir := t.TempDir()
	sock, err := os.MkdirTemp("/tmp", "adnet-js-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sock) })
	h := &jsHost{t: t, name: name, dataDir: filepath.Join(dir, "data"), logFn: filepath.Join(dir, "adnet.log"),
		conf: filepath.Join(dir, "adnet.toml")}
	conf := fmt.Sprintf(`data_dir = %q
socket_dir = %q
log_file = %q
log_level = "debug"
[mysql]
dsn = %q
[stats]
flush_interval = "300ms"
[events]
transport = "jetstream"
[nats]
servers = [%s]
host = %q
replicas = %d
`, h.dataDir, sock, h.logFn, dsn, `"`+strings.Join(servers, `", "`)+`"`, name, len(servers))
	if err := os.WriteFile(h.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return h
}

// start runs `adnet <cmd>` for the host; the process is killed when the test ends.
func (h *jsHost) start(cmd string) *exec.Cmd {
	h.t.Helper()
	c := exec.Command(adnetBinary, cmd, "--config", h.conf)
	if err := c.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = c.Process.Kill(); _, _ = c.Process.Wait() })
	return c
}

// kill stops a process with SIGKILL, as a crash.
func kill(t *testing.T, c *exec.Cmd) {
	t.Helper()
	_ = c.Process.Signal(syscall.SIGKILL)
	_, _ = c.Process.Wait()
}

func (h *jsHost) log() string {
	b, _ := os.ReadFile(h.logFn)
	return string(b)
}

// writer opens a worker-process log of slot n on the host, as a worker would.
func (h *jsHost) writer(n, pid int) *eventlog.Writer {
	h.t.Helper()
	w, err := eventlog.OpenWriter(eventlog.WriterOptions{Dir: eventlog.ProcessDir(eventlog.WorkerDir(h.dataDir, n), time.Now(), pid)})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { w.Close() })
	return w
}

// impressions appends n impression beacons of zone and campaign with ids from first on,
// alternating between the writers, at times from at on (1 ms apart).
func impressions(t *testing.T, ws []*eventlog.Writer, zone, campaign int64, first, n int, at time.Time) {
	t.Helper()
	for i := range n {
		tm := at.Add(time.Duration(i) * time.Millisecond)
		ev := models.Event{Type: models.EventImpression, Time: tm, ServedAt: tm.Add(-time.Second), ZoneID: zone, CampaignID: campaign}
		binary.BigEndian.PutUint64(ev.ImpressionID[8:], uint64(first+i))
		if err := ws[i%len(ws)].Append(ev); err != nil {
			t.Fatal(err)
		}
	}
}

// jsZoneTotals returns the valid and invalid impressions and the duplicate_impression
// verdicts per zone.
func jsZoneTotals(store *mysql.Store) (map[int64][3]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := time.Now()
	rep, err := store.Report(ctx, models.ReportQuery{From: now.Add(-24 * time.Hour), To: now.Add(2 * time.Hour),
		GroupBy: []string{models.GroupZone}, Location: time.UTC})
	if err != nil {
		return nil, err
	}
	out := map[int64][3]int64{}
	for _, r := range rep.Rows {
		out[r.ZoneID] = [3]int64{r.Impressions, r.InvalidImpressions, r.InvalidByReason[models.ReasonDuplicateImpression.String()]}
	}
	return out, nil
}

// TestJetStreamTwoHosts runs the JetStream transport with real processes: two app hosts
// whose shippers forward their logs to a private nats-server, and an aggregator on each host
// of which MariaDB's lock lets exactly one consume. The first host's shipper is killed after
// shipping part of its log and restarted (its re-sends are de-duplicated); the consuming
// aggregator is killed once it has committed (the standby takes over from the committed
// sequence); one impression's beacon is logged on both hosts (one duplicate_impression).
// The per-host (per-zone) totals must come out exact.
func TestJetStreamTwoHosts(t *testing.T) {
	srv := natstest.Start(t)
	ctx := context.Background()
	dsn := mysqltest.MustCreateDatabase(t)
	db, err := mysql.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store := mysql.NewStore(db)
	network, err := demo.Seed(ctx, store, "http://127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	zA, zB, camp := network.Zones[0].ID, network.Zones[1].ID, network.Campaigns[0].ID

	a := newJSHost(t, "app-a", dsn, []string{srv.URL})
	b := newJSHost(t, "app-b", dsn, []string{srv.URL})
	// Click rows hash client addresses with the IP hash key: every host's aggregator needs the same.
	if _, err := aggregator.LoadIPHashKey(a.dataDir); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(a.dataDir, "ip-hash.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(b.dataDir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.dataDir, "ip-hash.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}

	at := time.Now().Add(-time.Minute)
	wa := []*eventlog.Writer{a.writer(1, 101), a.writer(2, 102)}
	wb := []*eventlog.Writer{b.writer(1, 201)}
	impressions(t, wa, zA, camp, 1, 1500, at)
	impressions(t, wb, zB, camp, 100001, 2000, at)

	// Host A's shipper: killed once it has recorded part of what it shipped.
	shipA := a.start("ship")
	waitFor(t, 20*time.Second, "host A's first shipped offsets", func() bool {
		_, err := os.Stat(filepath.Join(eventlog.Root(a.dataDir), "shipped.json"))
		return err == nil
	})
	kill(t, shipA)

	aggA := a.start("aggregate")
	var atKill int64
	waitFor(t, 30*time.Second, "host A's aggregator to commit", func() bool {
		offs, err := store.LoadOffsets(ctx)
		atKill = offs["stream/ADNET_EVENTS"].Offset
		return err == nil && atKill > 0
	})
	b.start("aggregate")
	waitFor(t, 10*time.Second, "host B's aggregator to wait as a standby", func() bool {
		return strings.Contains(b.log(), "standby")
	})
	if strings.Contains(b.log(), "aggregator: leader") {
		t.Fatal("both aggregators lead")
	}
	kill(t, aggA)
	waitFor(t, 20*time.Second, "host B's aggregator to take over", func() bool {
		return strings.Contains(b.log(), "aggregator: leader")
	})
	t.Logf("host A's aggregator killed after committing sequence %d or later; host B's took over", atKill)

	// More traffic after the take-over; the same impression's beacon is logged by host B as
	// well: one duplicate across hosts.
	impressions(t, wa, zA, camp, 1501, 1500, at.Add(2*time.Second))
	impressions(t, wb, zA, camp, 7, 1, at.Add(5*time.Second))
	a.start("ship")
	b.start("ship")

	const total = 1500 + 2000 + 1500 + 1
	want := map[int64][3]int64{zA: {3000, 1, 1}, zB: {2000, 0, 0}}
	var got map[int64][3]int64
	waitFor(t, 40*time.Second, "the exact totals", func() bool {
		got, err = jsZoneTotals(store)
		return err == nil && got[zA] == want[zA] && got[zB] == want[zB]
	})
	time.Sleep(time.Second) // nothing more may come
	if got, _ = jsZoneTotals(store); got[zA] != want[zA] || got[zB] != want[zB] {
		t.Fatalf("per-host totals changed after convergence: %v, want %v", got, want)
	}
	offs, err := store.LoadOffsets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nc, js, err := jetstream.Connect(jetstream.ConnectOptions{Servers: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	st, err := js.Stream(ctx, "ADNET_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Every event stored once (the heartbeats are the other messages), and all committed.
	r, err := jetstream.NewSource(js, "ADNET_EVENTS").Open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var events, beats int
	var lastEvent uint64
	ids := map[models.ImpressionID]int{}
	for quiet := time.Now(); time.Since(quiet) < 500*time.Millisecond && (events+beats) < int(info.State.Msgs); {
		var m aggregator.StreamMessage
		if err := r.Next(&m); errors.Is(err, io.EOF) {
			time.Sleep(5 * time.Millisecond)
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		quiet = time.Now()
		if !m.Through.IsZero() {
			beats++
			continue
		}
		events++
		ids[m.Event.ImpressionID]++
		lastEvent = m.Seq
	}
	committed := uint64(offs["stream/ADNET_EVENTS"].Offset)
	t.Logf("stream: %d messages (%d events, %d heartbeats; last sequence %d), committed sequence %d; per zone (valid, invalid, duplicate_impression): %v",
		info.State.Msgs, events, beats, info.State.LastSeq, committed, got)
	if events != total || len(ids) != total-1 || committed < lastEvent {
		t.Fatalf("the stream holds %d events (%d distinct, want %d and %d) and the committed sequence %d is before the last event's %d: a re-send was stored twice or an event skipped",
			events, len(ids), total, total-1, committed, lastEvent)
	}
}

// waitFor polls cond every 50 ms until it holds, or fails the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestShipperSupervised: the master supervises a shipper only with the JetStream transport.
func TestShipperSupervised(t *testing.T) {
	cfg := config.Defaults()
	names := func() (n []string) {
		for _, p := range extraProcesses(cfg, "/bin/adnet") {
			n = append(n, p.Name+" "+strings.Join(p.Command().Args[1:], " "))
		}
		return n
	}
	if got := names(); len(got) != 1 || !strings.HasPrefix(got[0], "aggregator aggregate") {
		t.Errorf("file transport: extras %v", got)
	}
	cfg.Events.Transport = config.TransportJetStream
	if got := names(); len(got) != 2 || !strings.HasPrefix(got[1], "shipper ship") {
		t.Errorf("jetstream transport: extras %v", got)
	}
}
