package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"adnet/handlers"
	"adnet/models"
	"adnet/models/mysql"
)

// runReport prints a statistics report, the same as GET /api/v1/reports, for sysadmins and
// scripts: `adnet report --from 2025-03-01 --to 2025-03-31 --group-by day,zone --format csv`.
// Days and months are those of the network time zone (timezone in the config).
func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("report", stderr)
	from := fs.String("from", "", "first day (YYYY-MM-DD) or time (YYYY-MM-DDTHH:MM, or RFC 3339); default: 6 days ago")
	to := fs.String("to", "", "last day, included (YYYY-MM-DD), or end time, excluded; default: today")
	groupBy := fs.String("group-by", "", "comma-separated: "+strings.Join(models.ReportGroupings(), ", ")+"; default: totals only")
	format := fs.String("format", "table", "table, json or csv")
	advertiser := fs.Int64("advertiser", 0, "only this advertiser's campaigns")
	publisher := fs.Int64("publisher", 0, "only this publisher's zones")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only; see adnet report -h)", fs.Arg(0))
	}
	switch *format {
	case "table", "json", "csv":
	default:
		return fmt.Errorf("--format %q: must be table, json or csv", *format)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	v := url.Values{}
	for name, val := range map[string]string{"from": *from, "to": *to, "group_by": *groupBy} {
		if val != "" {
			v.Set(name, val)
		}
	}
	if *advertiser != 0 {
		v.Set("advertiser", strconv.FormatInt(*advertiser, 10))
	}
	if *publisher != 0 {
		v.Set("publisher", strconv.FormatInt(*publisher, 10))
	}
	loc := cfg.Location()
	q, _, err := handlers.ParseReportQuery(v, loc, time.Now())
	if err != nil {
		return fmt.Errorf("%s", models.ErrorMessage(err))
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	reads := newReads(cfg, mysql.NewStore(db), nil) // the replica when configured
	defer reads.Close()
	rep, err := reads.Report(ctx, q)
	if err != nil {
		if models.ErrorCode(err) == models.EINVALID {
			return fmt.Errorf("%s", models.ErrorMessage(err))
		}
		return err
	}
	switch *format {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(handlers.ReportJSON(rep))
	case "csv":
		return handlers.WriteReportCSV(stdout, rep)
	}
	return writeReportTable(stdout, rep)
}

// writeReportTable prints rep for people: the keys, the main metrics with money in currency
// units, the invalid events by class, the adjustment ledger's changes and the restated money,
// and the invalid events by reason in one column.
func writeReportTable(w io.Writer, rep *models.Report) error {
	loc := time.UTC
	if l, err := time.LoadLocation(rep.Timezone); err == nil {
		loc = l
	}
	fmt.Fprintf(w, "adnet report %s – %s (%s)\n\n", rep.From.In(loc).Format("2006-01-02 15:04"),
		rep.To.In(loc).Format("2006-01-02 15:04"), rep.Timezone)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight)
	header := handlers.ReportHeader(rep)
	keys := header[:len(rep.GroupBy)]
	cols := append(append([]string{}, keys...), "requests", "served", "impressions", "clicks", "ctr", "conversions",
		"spend", "ecpm", "revenue", "invalid_imps", "invalid_clicks", "invalid_rate", "givt", "sivt",
		"adj_imps", "adj_clicks", "adj_convs", "adj_spend", "adj_revenue", "restated_spend", "restated_revenue", "")
	fmt.Fprintln(tw, strings.Join(cols, "\t")+"\t")
	line := func(key []string, m *models.ReportMetrics) {
		cells := append(append([]string{}, key...),
			strconv.FormatInt(m.Requests, 10), strconv.FormatInt(m.Served, 10), strconv.FormatInt(m.Impressions, 10),
			strconv.FormatInt(m.Clicks, 10), strconv.FormatFloat(100*m.CTR, 'f', 2, 64)+"%", strconv.FormatInt(m.Conversions, 10),
			units(m.SpendMicros), units(m.ECPMMicros), units(m.PublisherRevenueMicros),
			strconv.FormatInt(m.InvalidImpressions, 10), strconv.FormatInt(m.InvalidClicks, 10),
			strconv.FormatFloat(100*m.InvalidRate, 'f', 2, 64)+"%",
			strconv.FormatInt(m.InvalidByClass[models.ClassGIVT.String()], 10), strconv.FormatInt(m.InvalidByClass[models.ClassSIVT.String()], 10),
			strconv.FormatInt(m.Adjustment.Impressions, 10), strconv.FormatInt(m.Adjustment.Clicks, 10),
			strconv.FormatInt(m.Adjustment.Conversions, 10), units(m.Adjustment.SpendMicros), units(m.Adjustment.PublisherRevenueMicros),
			units(m.Restated.SpendMicros), units(m.Restated.PublisherRevenueMicros), reasons(m.InvalidByReason))
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	records := handlers.ReportRecords(rep)
	for i := range rep.Rows {
		line(records[i][:len(rep.GroupBy)], &rep.Rows[i].ReportMetrics)
	}
	totalKey := make([]string, len(rep.GroupBy))
	if len(totalKey) > 0 {
		totalKey[0] = "total"
	}
	line(totalKey, &rep.Totals)
	return tw.Flush()
}

// units formats micro-units as currency units with six decimals, exactly.
func units(micros int64) string {
	sign := ""
	if micros < 0 {
		sign, micros = "-", -micros
	}
	return fmt.Sprintf("%s%d.%06d", sign, micros/1_000_000, micros%1_000_000)
}

// reasons formats the invalid counts by reason as "bot_ua=3 duplicate_click=1", in reason order.
func reasons(m map[string]int64) string {
	var parts []string
	for r := 1; r < models.NumReasons; r++ {
		if n := m[models.Reason(r).String()]; n > 0 {
			parts = append(parts, models.Reason(r).String()+"="+strconv.FormatInt(n, 10))
		}
	}
	return strings.Join(parts, " ")
}
