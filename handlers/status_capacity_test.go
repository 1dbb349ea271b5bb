package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"adnet/internal/aggregator"
	"adnet/internal/fraud"
	"adnet/internal/monitor"
)

// saturatedStats is an aggregator above its design load: the beacon filter saturated.
func saturatedStats() *aggregator.Stats {
	return &aggregator.Stats{Running: true, DesignLoad: 25000, FraudMemoryBytes: 60 << 20, NoImpressionUnchecked: 42,
		Dedup: map[string]fraud.DedupStats{
			"beacons": {SegmentFill: 0.43, WindowFill: 0.41, SegmentCapacityUsed: 1, FalsePositiveRate: 0.00093, Bound: 0.001,
				SaturatedSegments: 3, Unrecorded: 777, Incomplete: 55},
			"clicks": {SegmentFill: 0.1, WindowFill: 0.12, SegmentCapacityUsed: 0.23, FalsePositiveRate: 0.00001, Bound: 0.001},
		},
		CapacityWarning: "the event rate is above fraud.design_load = 25000 events/s: the duplicate filters beacons (777 occurrences unrecorded, 3 of its segments saturated) stop recording"}
}

// TestMetricsDedupCapacity: /metrics exports the aggregator's duplicate-filter fill,
// estimated false-positive rate and saturation per filter, and reports a silent aggregator
// as down without failing the scrape.
func TestMetricsDedupCapacity(t *testing.T) {
	src, _ := newSource(t)
	var fail bool
	fetch := func(ctx context.Context) (*aggregator.Stats, error) {
		if fail {
			return nil, errors.New("connection refused")
		}
		return saturatedStats(), nil
	}
	scrape := func() map[string]float64 {
		rec := httptest.NewRecorder()
		NewMetrics(src, fetch, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
		if rec.Code != 200 || err != nil {
			t.Fatalf("%d %v\n%s", rec.Code, err, rec.Body)
		}
		out := map[string]float64{}
		for name, f := range fams {
			for _, m := range f.Metric {
				key := name
				for _, lp := range m.Label {
					key += "," + lp.GetName() + "=" + lp.GetValue()
				}
				if m.Gauge != nil {
					out[key] = m.Gauge.GetValue()
				} else if m.Counter != nil {
					out[key] = m.Counter.GetValue()
				}
			}
		}
		return out
	}
	got := scrape()
	for key, want := range map[string]float64{
		"adnet_aggregator_up":                                   1,
		"adnet_aggregator_design_load_events_per_second":        25000,
		"adnet_aggregator_no_impression_unchecked_total":        42,
		"adnet_dedup_fill_ratio,filter=beacons,scope=segment":   0.43,
		"adnet_dedup_fill_ratio,filter=beacons,scope=window":    0.41,
		"adnet_dedup_capacity_used_ratio,filter=clicks":         0.23,
		"adnet_dedup_false_positive_ratio,filter=beacons":       0.00093,
		"adnet_dedup_false_positive_bound_ratio,filter=beacons": 0.001,
		"adnet_dedup_saturated_segments,filter=beacons":         3,
		"adnet_dedup_saturated_segments,filter=clicks":          0,
		"adnet_dedup_unrecorded_total,filter=beacons":           777,
		"adnet_dedup_incomplete_answers_total,filter=beacons":   55,
		"adnet_worker_up,worker=1":                              1,
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", key, v, ok, want)
		}
	}
	fail = true
	if got := scrape(); got["adnet_aggregator_up"] != 0 || got["adnet_worker_up,worker=1"] != 1 {
		t.Errorf("aggregator down: up %v, worker up %v", got["adnet_aggregator_up"], got["adnet_worker_up,worker=1"])
	}
}

// TestStatusDedupCapacity: /status?json carries the filters' figures and, above the design
// load, a warning naming fraud.design_load (shown by the HTML page with the advice).
func TestStatusDedupCapacity(t *testing.T) {
	src, _ := newSource(t)
	page := &StatusPage{Started: time.Now(), Source: src,
		Aggregator: func(ctx context.Context) (*aggregator.Stats, error) { return saturatedStats(), nil }}
	rec := httptest.NewRecorder()
	page.ServeHTTP(rec, httptest.NewRequest("GET", "/status?json", nil))
	var doc monitor.StatusDoc
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Aggregator == nil || doc.Aggregator.Dedup["beacons"].FalsePositiveRate != 0.00093 || doc.Aggregator.Dedup["beacons"].SegmentFill != 0.43 {
		t.Fatalf("aggregator figures missing: %+v", doc.Aggregator)
	}
	joined := strings.Join(doc.Warnings, "\n")
	if !strings.Contains(joined, "fraud.design_load = 25000") {
		t.Errorf("no warning naming fraud.design_load in %q", joined)
	}
	var warned, shown bool
	for _, a := range doc.Advice {
		warned = warned || (a.Level == monitor.Warning && strings.Contains(a.Text, "fraud.design_load"))
		shown = shown || strings.Contains(a.Text, "beacons 100% of the current segment's capacity")
	}
	if !warned || !shown {
		t.Errorf("advice: warning %v, figures %v: %+v", warned, shown, doc.Advice)
	}
}
