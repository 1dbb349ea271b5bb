package monitor

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"adnet/internal/jetstream"
)

// ShipperFetch fetches the event shipper's status (over its control socket).
type ShipperFetch func(ctx context.Context) (*jetstream.ShipperStats, error)

// NewShipperCollector returns a Prometheus collector of the event shipper's figures
// (adnet_shipper_*: events.transport = "jetstream"), fetched at each scrape with the same
// bound as the aggregator's (a wedged shipper reports adnet_shipper_up 0).
func NewShipperCollector(fetch ShipperFetch) prometheus.Collector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &shipCollector{
		fetch:     fetch,
		up:        d("adnet_shipper_up", "Whether the event shipper answered this scrape (1) or not (0)."),
		running:   d("adnet_shipper_running", "Whether the event shipper is shipping (1) or still waiting for the stream (0)."),
		published: d("adnet_shipper_published_total", "Events the shipper published to the stream, first sends only (since the shipper started; re-sends: adnet_shipper_resent_total)."),
		acked:     d("adnet_shipper_acked_total", "Events the stream acknowledged (PubAck), duplicates included (since the shipper started)."),
		resent:    d("adnet_shipper_resent_total", "Publishes repeated after an error or an acknowledgement timeout (since the shipper started)."),
		pending:   d("adnet_shipper_pending_acks", "Events published and awaiting their acknowledgement from the stream."),
		logs:      d("adnet_shipper_logs", "Worker-process event logs the shipper reads on this host."),
		lagBytes:  d("adnet_shipper_lag_bytes", "Bytes of this host's event logs not yet acknowledged by the stream (refreshed every few seconds)."),
		lagRecs:   d("adnet_shipper_lag_records", "Events of this host's logs not yet acknowledged by the stream (refreshed every few seconds)."),
		behind: d("adnet_shipper_behind_seconds",
			"Age of the oldest event read and not yet acknowledged by the stream (0 when every event read is acknowledged)."),
		lastAck: d("adnet_shipper_last_ack_timestamp_seconds",
			"Unix time of the stream's last acknowledgement (absent before the first since the shipper started)."),
	}
}

type shipCollector struct {
	fetch                                          ShipperFetch
	up, running, published, acked, resent, pending *prometheus.Desc
	logs, lagBytes, lagRecs, behind, lastAck       *prometheus.Desc
}

func (c *shipCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.running, c.published, c.acked, c.resent, c.pending,
		c.logs, c.lagBytes, c.lagRecs, c.behind, c.lastAck} {
		ch <- d
	}
}

func (c *shipCollector) Collect(ch chan<- prometheus.Metric) {
	e := emitter{ch}
	st := scrapeProcess(e, c.up, c.fetch)
	if st == nil {
		return
	}
	now := time.Now()
	e.gauge(c.running, boolean(st.Running))
	e.counter(c.published, float64(st.Published))
	e.counter(c.acked, float64(st.Acked))
	e.counter(c.resent, float64(st.Resent))
	e.gauge(c.pending, float64(st.Pending))
	e.gauge(c.logs, float64(st.Sources))
	e.gauge(c.lagBytes, float64(st.LagBytes))
	e.gauge(c.lagRecs, float64(st.LagRecords))
	e.gauge(c.behind, shipperBehind(st, now).Seconds())
	if !st.LastAck.IsZero() {
		e.gauge(c.lastAck, float64(st.LastAck.UnixNano())/1e9)
	}
}
