package console

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"adnet/models"
)

// chart is a report's time series drawn server-side as SVG: one small panel per metric
// (impressions, clicks, CTR, spend or revenue), each scaled to its own maximum, over the days
// of the range. No script draws it, so the CSP stays strict and the chart prints.
type chart struct {
	Width, Height int
	Panels        []panel
	Days          []string // the x labels (first, middle, last)
}

// panel is one metric's line: the polyline's points, its dots, and its maximum (the y label).
type panel struct {
	Title  string
	Max    string
	Points string
	Dots   []dot
}

type dot struct {
	X, Y  int
	Label string // the tooltip: day and value
}

// Chart geometry, in SVG user units (the SVG scales to the page width).
const (
	chartW    = 640
	chartH    = 110
	chartPadX = 8
	chartPadY = 10
)

// metric is one panel's measure of a day.
type metric struct {
	title string
	get   func(m *models.ReportMetrics) float64
	text  func(x float64) string
}

func pctText(x float64) string { return strconv.FormatFloat(x*100, 'f', 2, 64) + " %" }

// newChart sums rep's rows per day over [from, to) and draws impressions, clicks, CTR and
// money. money names the money metric: "Spend" (advertisers, admins) or "Revenue" (publishers).
func newChart(rep *models.Report, from, to time.Time, loc *time.Location, money string) *chart {
	return drawChart(rep, from, to, loc, []metric{
		{"Impressions", func(m *models.ReportMetrics) float64 { return float64(m.Impressions) }, intText},
		{"Clicks", func(m *models.ReportMetrics) float64 { return float64(m.Clicks) }, intText},
		{"CTR", func(m *models.ReportMetrics) float64 { return m.CTR }, pctText},
		{money, func(m *models.ReportMetrics) float64 {
			if money == "Revenue" {
				return float64(m.PublisherRevenueMicros)
			}
			return float64(m.SpendMicros)
		}, func(x float64) string { return formatMicros(int64(x)) }},
	})
}

// invalidChart draws the invalid share of each day's impressions and clicks: all reasons,
// then each reason that occurs in the range.
func invalidChart(rep *models.Report, from, to time.Time, loc *time.Location) *chart {
	share := func(reason string) func(m *models.ReportMetrics) float64 {
		return func(m *models.ReportMetrics) float64 {
			all := m.Impressions + m.Clicks + m.InvalidImpressions + m.InvalidClicks
			if all == 0 {
				return 0
			}
			if reason == "" {
				return float64(m.InvalidImpressions+m.InvalidClicks) / float64(all)
			}
			return float64(m.InvalidByReason[reason]) / float64(all)
		}
	}
	ms := []metric{{"All invalid", share(""), pctText}}
	for i := 1; i < models.NumReasons; i++ {
		r := models.Reason(i).String()
		if rep.Totals.InvalidByReason[r] > 0 {
			ms = append(ms, metric{r, share(r), pctText})
		}
	}
	return drawChart(rep, from, to, loc, ms)
}

// drawChart sums rep's rows per day over [from, to) and draws one panel per metric.
func drawChart(rep *models.Report, from, to time.Time, loc *time.Location, metrics []metric) *chart {
	var days []time.Time
	for d := from.In(loc); d.Before(to); d = time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, loc) {
		days = append(days, d)
		if len(days) > 400 {
			break
		}
	}
	byDay := make([]models.ReportMetrics, len(days))
	idx := map[string]int{}
	for i, d := range days {
		idx[d.Format(time.DateOnly)] = i
	}
	for _, row := range rep.Rows {
		if i, ok := idx[row.Period.In(loc).Format(time.DateOnly)]; ok {
			byDay[i].Add(&row.ReportMetrics)
		}
	}
	for i := range byDay {
		byDay[i].Derive()
	}
	ch := &chart{Width: chartW, Height: chartH}
	for _, m := range metrics {
		p := panel{Title: m.title}
		maxV := 0.0
		for i := range byDay {
			maxV = max(maxV, m.get(&byDay[i]))
		}
		p.Max = m.text(maxV)
		var pts []string
		for i := range byDay {
			v := m.get(&byDay[i])
			x := chartPadX
			if len(days) > 1 {
				x += i * (chartW - 2*chartPadX) / (len(days) - 1)
			}
			y := chartH - chartPadY
			if maxV > 0 {
				y -= int(v / maxV * float64(chartH-2*chartPadY))
			}
			pts = append(pts, fmt.Sprintf("%d,%d", x, y))
			p.Dots = append(p.Dots, dot{X: x, Y: y, Label: days[i].Format(time.DateOnly) + ": " + m.text(v)})
		}
		p.Points = strings.Join(pts, " ")
		ch.Panels = append(ch.Panels, p)
	}
	if n := len(days); n > 0 {
		ch.Days = []string{days[0].Format("Jan 2"), days[n/2].Format("Jan 2"), days[n-1].Format("Jan 2")}
	}
	return ch
}

func intText(x float64) string { return strconv.FormatInt(int64(x), 10) }
