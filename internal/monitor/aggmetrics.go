package monitor

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"adnet/internal/aggregator"
)

// AggregatorFetch fetches the statistics aggregator's status (over its control socket).
type AggregatorFetch func(ctx context.Context) (*aggregator.Stats, error)

// processScrapeTimeout bounds a scrape's wait for a helper process (the aggregator, the
// shipper): /metrics must answer even when one is wedged (it then reports its _up 0).
const processScrapeTimeout = time.Second

// scrapeProcess fetches a helper process's status for a scrape and emits its _up gauge (up):
// 1 and the status when it answered within processScrapeTimeout, else 0 and nil.
func scrapeProcess[T any](e emitter, up *prometheus.Desc, fetch func(context.Context) (*T, error)) *T {
	ctx, cancel := context.WithTimeout(context.Background(), processScrapeTimeout)
	defer cancel()
	st, err := fetch(ctx)
	if err != nil || st == nil {
		e.gauge(up, 0)
		return nil
	}
	e.gauge(up, 1)
	return st
}

// NewAggregatorCollector returns a Prometheus collector of the aggregator's duplicate-filter
// capacity (adnet_dedup_*, label filter="impressions" | "beacons" | "clicks" | "tainted") and design
// load, fetched at each scrape.
func NewAggregatorCollector(fetch AggregatorFetch) prometheus.Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &aggCollector{
		fetch:      fetch,
		up:         d("adnet_aggregator_up", "Whether the statistics aggregator answered this scrape (1) or not (0)."),
		designLoad: d("adnet_aggregator_design_load_events_per_second", "fraud.design_load: the event rate the aggregator's duplicate filters and flood counters are sized for."),
		memory:     d("adnet_aggregator_fraud_memory_bytes", "Memory held by the aggregator's fraud state (fixed at start by fraud.design_load and fraud.click_window)."),
		unchecked:  d("adnet_aggregator_no_impression_unchecked_total", "Clicks the no_impression rule let pass because the beacon filter was saturated (load above fraud.design_load) and could not tell."),
		fill: d("adnet_dedup_fill_ratio",
			"Fraction of a duplicate filter's bits that are set, in its current segment (scope=\"segment\") or over the live window (scope=\"window\").", "filter", "scope"),
		capacity: d("adnet_dedup_capacity_used_ratio",
			"A duplicate filter's current segment's fill over its saturation point: at 1 it stops recording until the segment leaves the window.", "filter"),
		fp: d("adnet_dedup_false_positive_ratio",
			"Estimated probability, from the filters' fill, that a never-seen key is reported as a duplicate now.", "filter"),
		bound: d("adnet_dedup_false_positive_bound_ratio",
			"The false-positive rate a duplicate filter never exceeds (it stops recording instead).", "filter"),
		saturated: d("adnet_dedup_saturated_segments",
			"Live segments of a duplicate filter that are saturated (above fraud.design_load): repeats of what they did not record are billed.", "filter"),
		unrecorded: d("adnet_dedup_unrecorded_total",
			"Occurrences a duplicate filter could not record because its segment was saturated (passed unchecked for later repeats).", "filter"),
		incomplete: d("adnet_dedup_incomplete_answers_total",
			"\"Not seen\" answers a duplicate filter gave while a saturated segment was in its window.", "filter"),
		held:     d("adnet_stream_reorder_held_events", "Events of the stream held by the aggregator until every live host has shipped everything older (events.transport = \"jetstream\")."),
		boundLag: d("adnet_stream_reorder_lag_seconds", "How far the aggregator's release bound is behind the stream's newest message: about the shippers' 2 s watermark normally, up to nats.reorder_window while a host is silent."),
		late:     d("adnet_stream_reorder_late_total", "Events applied after later events of other hosts: their host was silent longer than nats.reorder_window."),
		forced:   d("adnet_stream_reorder_forced_total", "Events released before their turn because the bound on held events was reached."),
		hosts:    d("adnet_stream_hosts_live", "Hosts whose shipper was heard from within nats.reorder_window."),
	}
}

type aggCollector struct {
	fetch                                                        AggregatorFetch
	up, designLoad, memory, unchecked                            *prometheus.Desc
	fill, capacity, fp, bound, saturated, unrecorded, incomplete *prometheus.Desc
	held, boundLag, late, forced, hosts                          *prometheus.Desc // the stream's reorder
}

func (c *aggCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.designLoad, c.memory, c.unchecked, c.fill, c.capacity, c.fp, c.bound,
		c.saturated, c.unrecorded, c.incomplete, c.held, c.boundLag, c.late, c.forced, c.hosts} {
		ch <- d
	}
}

func (c *aggCollector) Collect(ch chan<- prometheus.Metric) {
	e := emitter{ch}
	st := scrapeProcess(e, c.up, c.fetch)
	if st == nil {
		return
	}
	e.gauge(c.designLoad, float64(st.DesignLoad))
	e.gauge(c.memory, float64(st.FraudMemoryBytes))
	e.counter(c.unchecked, float64(st.NoImpressionUnchecked))
	for name, d := range st.Dedup {
		e.gauge(c.fill, d.SegmentFill, name, "segment")
		e.gauge(c.fill, d.WindowFill, name, "window")
		e.gauge(c.capacity, d.SegmentCapacityUsed, name)
		e.gauge(c.fp, d.FalsePositiveRate, name)
		e.gauge(c.bound, d.Bound, name)
		e.gauge(c.saturated, float64(d.SaturatedSegments), name)
		e.counter(c.unrecorded, float64(d.Unrecorded), name)
		e.counter(c.incomplete, float64(d.Incomplete), name)
	}
	if r := st.Reorder; r != nil {
		e.gauge(c.held, float64(r.Held))
		e.gauge(c.boundLag, float64(r.BoundLag)/1000)
		e.counter(c.late, float64(r.Late))
		e.counter(c.forced, float64(r.Forced))
		e.gauge(c.hosts, float64(r.Hosts))
	}
}
