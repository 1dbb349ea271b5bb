package console

import (
	"strings"
	"testing"
	"time"

	"adnet/models"
)

func TestChartSumsPerDayAndScales(t *testing.T) {
	loc := time.UTC
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, loc)
	to := from.AddDate(0, 0, 3)
	rep := &models.Report{Rows: []models.ReportRow{
		{ReportKey: models.ReportKey{Period: from}, ReportMetrics: models.ReportMetrics{Impressions: 10, Clicks: 1, SpendMicros: 500_000}},
		{ReportKey: models.ReportKey{Period: from.Add(5 * time.Hour)}, ReportMetrics: models.ReportMetrics{Impressions: 10}}, // same day
		{ReportKey: models.ReportKey{Period: from.AddDate(0, 0, 2)}, ReportMetrics: models.ReportMetrics{Impressions: 5}},
		{ReportKey: models.ReportKey{Period: to}, ReportMetrics: models.ReportMetrics{Impressions: 999}}, // outside the range
	}}
	ch := newChart(rep, from, to, loc, "Spend")
	if len(ch.Panels) != 4 || ch.Panels[0].Title != "Impressions" || ch.Panels[3].Title != "Spend" {
		t.Fatalf("panels: %+v", ch.Panels)
	}
	imp := ch.Panels[0]
	if imp.Max != "20" || len(imp.Dots) != 3 {
		t.Fatalf("impressions: max %s, %d dots", imp.Max, len(imp.Dots))
	}
	// Day 1 (20) at the top, day 2 (0) at the bottom, day 3 (5 of 20) a quarter up.
	if imp.Dots[0].Y != chartPadY || imp.Dots[1].Y != chartH-chartPadY || imp.Dots[2].Y != chartH-chartPadY-(chartH-2*chartPadY)/4 {
		t.Fatalf("y: %+v", imp.Dots)
	}
	if !strings.HasPrefix(imp.Dots[0].Label, "2026-12-01: 20") || ch.Panels[2].Max != "5.00 %" || ch.Panels[3].Max != "0.5" {
		t.Fatalf("labels: %q, CTR max %s, spend max %s", imp.Dots[0].Label, ch.Panels[2].Max, ch.Panels[3].Max)
	}
	if strings.Count(imp.Points, ",") != 3 {
		t.Fatalf("points %q", imp.Points)
	}
}

func TestFormHelpers(t *testing.T) {
	kv := keyValues("section=sport, lang = en\n=x&bad")
	if len(kv) != 2 || kv["section"] != "sport" || kv["lang"] != "en" {
		t.Fatalf("keyValues: %v", kv)
	}
	for m, want := range map[int64]string{0: "0.00", 1_500_000: "1.5", 2_500: "0.0025", 12_000_000: "12.00"} {
		if got := formatMicros(m); got != want {
			t.Errorf("formatMicros(%d) = %q, want %q", m, got, want)
		}
	}
}
