package handlers

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"adnet/internal/monitor"
)

// NewMetrics returns the master's /metrics handler: one Prometheus registry with the
// master process's own collectors (Go runtime, process) and the monitor's collector
// (monitor.NewCollector: nginx and every worker's counters). Scrapes are answered from
// memory and never reach a worker, so they work when the workers are saturated. With agg
// set, each scrape also asks the aggregator (at most a second) for its duplicate filters'
// capacity (monitor.NewAggregatorCollector: adnet_dedup_*, adnet_aggregator_*), and with ship
// set (events.transport = "jetstream") the event shipper for its figures and lag
// (monitor.NewShipperCollector: adnet_shipper_*).
func NewMetrics(src monitor.MetricsSource, agg monitor.AggregatorFetch, ship monitor.ShipperFetch) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		monitor.NewCollector(src),
	)
	if agg != nil {
		reg.MustRegister(monitor.NewAggregatorCollector(agg))
	}
	if ship != nil {
		reg.MustRegister(monitor.NewShipperCollector(ship))
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
