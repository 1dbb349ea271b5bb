package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"adnet/internal/aggregator"
	"adnet/internal/config"
	"adnet/internal/demo"
	"adnet/internal/eventlog"
	"adnet/internal/jetstream"
	"adnet/internal/jetstream/natstest"
	"adnet/internal/monitor"
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

// shipperView is what TestStatusShowsShipper reads of the master: /status?json (through
// nginx) and /metrics, parsed by Prometheus' own parser.
func shipperView(t *testing.T, tp *topology) (monitor.StatusDoc, map[string]float64) {
	t.Helper()
	var doc monitor.StatusDoc
	code, body, err := tp.get("/status?json")
	if err != nil || code != http.StatusOK {
		t.Fatalf("/status?json: %d %v %s", code, err, body)
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	code, body, err = tp.get("/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("/metrics: %d %v", code, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	m := map[string]float64{}
	for name, f := range fams {
		if !strings.HasPrefix(name, "adnet_shipper_") && !strings.HasPrefix(name, "adnet_stream_") {
			continue
		}
		for _, s := range f.Metric {
			if s.Counter != nil {
				m[name] = s.Counter.GetValue()
			} else if s.Gauge != nil {
				m[name] = s.Gauge.GetValue()
			}
		}
	}
	return doc, m
}

// asJSON is v as /status?json shows it, for the test's messages.
func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func shipperAdvice(doc monitor.StatusDoc) string { return adviceOf(doc, "shipper") }

// adviceText is the statistics advice lines of doc, one per line, each prefixed by its level.
func adviceText(doc monitor.StatusDoc) string { return adviceOf(doc, "statistics") }

func adviceOf(doc monitor.StatusDoc, topic string) string {
	var b strings.Builder
	for _, a := range doc.Advice {
		if a.Topic == topic {
			b.WriteString(string(a.Level) + " " + a.Text + "\n")
		}
	}
	return b.String()
}

// TestStatusShowsShipper: a master with events.transport = "jetstream" (real master,
// workers, aggregator and shipper processes, nginx, MariaDB and a nats-server) shows its
// host's shipper in /status?json, in the advice, on the page as Chromium renders it and in
// /metrics, and the figures move: ads served are published and acknowledged and the lag
// drains to zero; with the nats-server gone the served events wait (published, not
// acknowledged, behind) until the advice says that no acknowledgement came and names
// nats.servers; with the server back everything is acknowledged.
func TestStatusShowsShipper(t *testing.T) {
	srv := natstest.Start(t)
	tp := startTopologyWith(t, topoOptions{demo: true, sections: fmt.Sprintf(`[events]
transport = "jetstream"
[nats]
servers = [%q]
host = "h1"
replicas = 1
`, srv.URL)})
	var doc monitor.StatusDoc
	var m map[string]float64
	tp.waitFor("the shipper in /status", func() bool {
		doc, m = shipperView(t, tp)
		return doc.Shipper != nil && doc.Shipper.Running && m["adnet_shipper_up"] == 1
	})
	before := doc.Shipper.ShipperStats
	t.Logf("shipper at start: %s", asJSON(before))

	// Ads served: the workers log a serve event each, the shipper publishes them.
	serve := func(n int) (ok int) {
		for range n {
			code, _, err := tp.get("/serve/json?zone=1")
			if err != nil {
				t.Fatal(err)
			}
			if code == http.StatusOK {
				ok++
			}
		}
		return ok
	}
	served := serve(200)
	if served == 0 {
		t.Fatal("no ad served")
	}
	tp.waitFor("the served events acknowledged and the lag drained", func() bool {
		doc, m = shipperView(t, tp)
		s := doc.Shipper
		return s != nil && s.Acked >= before.Acked+int64(served) && s.Pending == 0 && s.LagRecords == 0 && s.BehindSeconds == 0 &&
			m["adnet_shipper_acked_total"] == float64(s.Acked) && m["adnet_shipper_lag_records"] == 0
	})
	s := doc.Shipper
	t.Logf("after %d ads served: %s; metrics %v", served, asJSON(s), m)
	if s.Published < s.Acked || s.Sources < 1 || s.LastAckAgeSeconds == nil || *s.LastAckAgeSeconds > 30 || s.LastError != "" {
		t.Errorf("shipper after shipping: %s", asJSON(s))
	}
	if m["adnet_shipper_published_total"] != float64(s.Published) || m["adnet_shipper_running"] != 1 || m["adnet_shipper_logs"] != float64(s.Sources) ||
		time.Since(time.Unix(int64(m["adnet_shipper_last_ack_timestamp_seconds"]), 0)) > 30*time.Second {
		t.Errorf("metrics disagree with the status: %v, %s", m, asJSON(s))
	}
	// The consuming aggregator orders the stream's events by time: its reorder shows this one
	// host shipping, nothing left held once the heartbeats passed the ads served.
	var rdoc monitor.StatusDoc
	var rm map[string]float64
	tp.waitFor("the aggregator's reorder in /status and /metrics", func() bool {
		rdoc, rm = shipperView(t, tp)
		a := rdoc.Aggregator
		return a != nil && a.Reorder != nil && a.Reorder.Hosts == 1 && a.Reorder.Held == 0 && a.Reorder.MaxHeld > 0 &&
			rm["adnet_stream_hosts_live"] == 1 && rm["adnet_stream_reorder_held_events"] == 0
	})
	if r := rdoc.Aggregator.Reorder; r.Late != 0 || r.Forced != 0 || r.Stalled != "" || rm["adnet_stream_reorder_lag_seconds"] > 30 {
		t.Errorf("reorder of a healthy single host: %s, lag metric %v", asJSON(r), rm["adnet_stream_reorder_lag_seconds"])
	}
	if adv := adviceText(rdoc); !strings.Contains(adv, "info events across hosts: 1 hosts shipping, 0 events held") {
		t.Errorf("no reorder advice:\n%s", adv)
	}
	adv := shipperAdvice(doc)
	if !regexp.MustCompile(`^info shipper: \d+ events published \(\d+ re-sent\), \d+ acknowledged by the stream \(last ack \d+s ago\), 0 awaiting their ack; 0 records \(0 B\) behind across \d+ logs\n$`).MatchString(adv) {
		t.Errorf("shipper advice:\n%s", adv)
	}

	// The page, rendered by Chromium, has the shipper's row.
	dom := runChromium(t, filepath.Join(t.TempDir(), "profile"), "--dump-dom", "--window-size=1280,1600", "--virtual-time-budget=4000", tp.nginx.URL+"/status")
	if body := regexp.MustCompile(`<body[^>]*>`).FindString(dom); !strings.Contains(body, `data-render="ok"`) || strings.Contains(body, "data-js-errors") {
		t.Fatalf("the page did not render cleanly: %s", body)
	}
	if !strings.Contains(dom, `<section id="shipper-section">`) ||
		!regexp.MustCompile(`<tbody id="shipper"><tr><td>shipping</td><td>[\d,]+</td><td>[\d,]+</td>`).MatchString(dom) ||
		!strings.Contains(dom, "info</span>shipper: ") {
		i := strings.Index(dom, `id="shipper-section"`)
		t.Errorf("no shipper section on the rendered page: %s", dom[max(0, i-20):min(len(dom), i+1500)])
	}

	// The nats-server goes away: served events wait, the shipper falls behind, and once no
	// acknowledgement has come for 30 s the advice says so.
	srv.Kill()
	outage := time.Now()
	waiting := serve(50)
	if waiting == 0 {
		t.Fatal("no ad served during the outage")
	}
	acked := s.Acked
	tp.waitFor("the served events waiting", func() bool {
		doc, m = shipperView(t, tp)
		s := doc.Shipper
		return s != nil && s.Acked == acked && s.Pending > 0 && s.LagRecords >= int64(waiting) && s.BehindSeconds > 2 &&
			m["adnet_shipper_pending_acks"] > 0 && m["adnet_shipper_behind_seconds"] > 2
	})
	t.Logf("during the outage: %s; metrics %v", asJSON(doc.Shipper), m)
	deadline := time.Now().Add(90 * time.Second)
	for {
		doc, m = shipperView(t, tp)
		adv = shipperAdvice(doc)
		if strings.Contains(adv, "warning the event shipper has had no acknowledgement from the stream for ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no warning %v after the nats-server went away; shipper advice:\n%s", time.Since(outage), adv)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("advice %v into the outage:\n%s", time.Since(outage).Round(time.Second), adv)
	if !strings.Contains(adv, "check nats.servers and the NATS cluster") || doc.Shipper.BehindSeconds < 30 || m["adnet_shipper_behind_seconds"] < 30 ||
		m["adnet_shipper_acked_total"] != float64(acked) {
		t.Errorf("outage: advice\n%s, shipper %s, metrics %v", adv, asJSON(doc.Shipper), m)
	}

	// Back: everything acknowledged, the warning gone. (Not counted from the figures before:
	// were the shipper restarted meanwhile, its counters would start again from 0.)
	back := time.Now()
	srv.Start()
	tp.waitFor("the shipper caught up after the outage", func() bool {
		doc, m = shipperView(t, tp)
		s := doc.Shipper
		return s != nil && s.LastAck.After(back) && s.Pending == 0 && s.LagRecords == 0 && s.BehindSeconds == 0 &&
			m["adnet_shipper_lag_records"] == 0 && !strings.Contains(shipperAdvice(doc), "warning")
	})
	t.Logf("after the outage: %s; metrics %v; advice:\n%s", asJSON(doc.Shipper), m, shipperAdvice(doc))
	tp.stop() // while the nats-server runs: the shipper records its offsets and exits
}

// TestShipperStatusWhileWaiting: `adnet ship` answers its control socket before the stream is
// available — not running, with the reason, which the advice turns into a warning naming
// nats.servers — and, once the nats-server is up, running.
func TestShipperStatusWhileWaiting(t *testing.T) {
	srv := natstest.Start(t)
	srv.Kill()
	h := newJSHost(t, "h1", "adnet@unix(/nonexistent.sock)/adnet", []string{srv.URL}) // adnet ship does not use MariaDB
	cfg, err := config.Load(h.conf)
	if err != nil {
		t.Fatal(err)
	}
	h.start("ship")
	var st jetstream.ShipperStats
	fetch := func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		st = jetstream.ShipperStats{}
		return monitor.FetchControl(ctx, cfg.ShipperSocket(), &st) == nil
	}
	waitFor(t, 40*time.Second, "the shipper to answer while it waits for the stream", func() bool {
		return fetch() && !st.Running && st.LastError != ""
	})
	as := monitor.ShipperAdvice(&st, nil, time.Now())
	t.Logf("waiting: %s; advice %+v", asJSON(st), as)
	if len(as) != 1 || as[0].Level != monitor.Warning || !strings.Contains(as[0].Text, "waiting for the stream") ||
		!strings.Contains(as[0].Text, "check nats.servers") {
		t.Errorf("advice while waiting: %+v", as)
	}
	srv.Start()
	waitFor(t, 40*time.Second, "the shipper to run once the nats-server is up", func() bool { return fetch() && st.Running })
	t.Logf("running: %s", asJSON(st))
}
