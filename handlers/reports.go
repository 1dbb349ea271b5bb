package handlers

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"adnet/models"
)

// report is GET /api/v1/reports: ParseReportQuery's parameters, answered for the actor
// (manage.Service.Report imposes its account's rows), as JSON or CSV. stats.report_allow,
// when set, further restricts the client networks; the client's address is never the
// authorization.
func (h *API) report(r *http.Request, a *models.Actor) (int, any, error) {
	if len(h.opt.ReportAllow) > 0 && !allowed(h.opt.ReportAllow, r.RemoteAddr) {
		return 0, nil, models.Errorf(models.EFORBIDDEN, "Reports are only available from the networks in stats.report_allow.")
	}
	q, format, err := ParseReportQuery(r.URL.Query(), h.opt.Manage.Location(), time.Now())
	if err != nil {
		return 0, nil, err
	}
	rep, err := h.opt.Manage.Report(r.Context(), a, q)
	if err != nil {
		return 0, nil, err
	}
	if format == "csv" {
		return http.StatusOK, rawBody{contentType: "text/csv; charset=utf-8", filename: "adnet-report.csv",
			write: func(w io.Writer) error { return WriteReportCSV(w, rep) }}, nil
	}
	return http.StatusOK, ReportJSON(rep), nil
}

// allowed reports whether the client address remote is in one of the networks.
func allowed(networks []netip.Prefix, remote string) bool {
	var a netip.Addr
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		a = ap.Addr()
	} else if a, err = netip.ParseAddr(strings.Trim(remote, "[]")); err != nil {
		return false // a Unix socket peer or garbage: not a listed network
	}
	a = a.Unmap().WithZone("")
	for _, p := range networks {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseReportQuery reads a report request from its parameters (see Reports) and returns the
// query and the format ("json" or "csv"). Errors are EINVALID with a message for the client.
func ParseReportQuery(v url.Values, loc *time.Location, now time.Time) (models.ReportQuery, string, error) {
	if loc == nil {
		loc = time.UTC
	}
	q := models.ReportQuery{Location: loc}
	local := now.In(loc)
	today := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	q.From, q.To = today.AddDate(0, 0, -6), today.AddDate(0, 0, 1)
	var err error
	if s := v.Get("from"); s != "" {
		if q.From, err = parseReportTime("from", s, loc, false); err != nil {
			return q, "", err
		}
	}
	if s := v.Get("to"); s != "" {
		if q.To, err = parseReportTime("to", s, loc, true); err != nil {
			return q, "", err
		}
	}
	for _, g := range strings.Split(v.Get("group_by"), ",") {
		if g = strings.TrimSpace(strings.ToLower(g)); g != "" {
			q.GroupBy = append(q.GroupBy, g)
		}
	}
	if q.AdvertiserID, err = positiveID(v, "advertiser"); err != nil {
		return q, "", err
	}
	if q.PublisherID, err = positiveID(v, "publisher"); err != nil {
		return q, "", err
	}
	format := strings.ToLower(v.Get("format"))
	switch format {
	case "":
		format = "json"
	case "json", "csv":
	default:
		return q, "", models.Errorf(models.EINVALID, "format = %q: must be json or csv.", format)
	}
	return q, format, nil
}

// positiveID reads the optional id parameter name: 0 when absent, EINVALID unless positive.
func positiveID(v url.Values, name string) (int64, error) {
	s := v.Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, models.Errorf(models.EINVALID, "%s = %q: must be a positive id.", name, s)
	}
	return n, nil
}

// parseReportTime parses a date (YYYY-MM-DD: its midnight, or the next midnight for an
// inclusive end) or a time (RFC 3339, or without offset in loc).
func parseReportTime(name, s string, loc *time.Location, end bool) (time.Time, error) {
	if d, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		if end {
			return time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, loc), nil
		}
		return d, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, models.Errorf(models.EINVALID,
		"%s = %q: use a date (2025-03-01) or a time (2025-03-01T14:00, network time zone, or RFC 3339).", name, s)
}

// reportRowJSON is a report row as the API shows it: its group-by keys (hour as RFC 3339 in
// the network time zone, day as YYYY-MM-DD, month as YYYY-MM, ids as numbers, country as
// text), then the metrics.
type reportRowJSON struct {
	keys []reportKeyJSON
	models.ReportMetrics
}

// reportKeyJSON is one group-by key of a row.
type reportKeyJSON struct {
	field string
	value any // string or int64
}

// MarshalJSON writes the keys, in the order of the report's groupings, then the metrics.
func (r reportRowJSON) MarshalJSON() ([]byte, error) {
	metrics, err := json.Marshal(&r.ReportMetrics)
	if err != nil {
		return nil, err
	}
	out := []byte{'{'}
	for _, k := range r.keys {
		name, _ := json.Marshal(k.field)
		val, err := json.Marshal(k.value)
		if err != nil {
			return nil, err
		}
		out = append(append(append(out, name...), ':'), val...)
		out = append(out, ',')
	}
	return append(out, metrics[1:]...), nil
}

// ReportResponse is the JSON body of a report.
type ReportResponse struct {
	From     string               `json:"from"`
	To       string               `json:"to"`
	Timezone string               `json:"timezone"`
	GroupBy  []string             `json:"group_by"`
	Rows     []reportRowJSON      `json:"rows"`
	Totals   models.ReportMetrics `json:"totals"`
}

// ReportJSON returns the JSON form of rep (for the API and `adnet report --format json`).
func ReportJSON(rep *models.Report) *ReportResponse {
	loc := reportLocation(rep)
	out := &ReportResponse{From: rep.From.In(loc).Format(time.RFC3339), To: rep.To.In(loc).Format(time.RFC3339),
		Timezone: rep.Timezone, GroupBy: rep.GroupBy, Rows: make([]reportRowJSON, len(rep.Rows)), Totals: rep.Totals}
	for i := range rep.Rows {
		r := &rep.Rows[i]
		j := reportRowJSON{ReportMetrics: r.ReportMetrics, keys: make([]reportKeyJSON, len(rep.GroupBy))}
		for n, g := range rep.GroupBy {
			d := models.MustReportDimension(g)
			j.keys[n] = reportKeyJSON{field: d.Field, value: d.Format(&r.ReportKey, loc)}
			if d.IsID() {
				j.keys[n].value = d.ID(&r.ReportKey)
			}
		}
		out.Rows[i] = j
	}
	return out
}

// reportLocation is the time zone rep's periods are shown in.
func reportLocation(rep *models.Report) *time.Location {
	if l, err := time.LoadLocation(rep.Timezone); err == nil {
		return l
	}
	return time.UTC
}

// reportMetricColumns are the CSV metric columns, in the JSON field names.
var reportMetricColumns = []string{"requests", "served", "impressions", "clicks", "conversions",
	"invalid_impressions", "invalid_clicks", "invalid_conversions", "spend_micros", "publisher_revenue_micros",
	"ctr", "conversion_rate", "ecpm_micros", "ecpc_micros", "invalid_rate"}

// ReportHeader returns the CSV (and table) header of rep: its group-by keys, the metrics, one
// invalid_<reason> column per reason code (all of them, so that the columns do not depend on
// the data), one invalid_<class> per class (givt, sivt), then the adjustment ledger's figures
// (adjustment_*) and the restated ones (restated_*: original + adjustment).
func ReportHeader(rep *models.Report) []string {
	var h []string
	for _, g := range rep.GroupBy {
		h = append(h, models.MustReportDimension(g).Field)
	}
	h = append(h, reportMetricColumns...)
	for r := 1; r < models.NumReasons; r++ {
		h = append(h, "invalid_"+models.Reason(r).String())
	}
	for _, c := range models.IVTClasses {
		h = append(h, "invalid_"+c.String())
	}
	for _, pre := range []string{"adjustment_", "restated_"} {
		for _, col := range reportFigureColumns {
			h = append(h, pre+col)
		}
	}
	return h
}

// reportFigureColumns are the CSV columns of the adjustment and of the restated figures, each
// prefixed with adjustment_ or restated_.
var reportFigureColumns = []string{"impressions", "clicks", "conversions", "invalid_impressions", "invalid_clicks",
	"invalid_conversions", "invalid_givt", "invalid_sivt", "spend_micros", "publisher_revenue_micros"}

// figureCells are f's cells under reportFigureColumns.
func figureCells(f *models.ReportFigures) []string {
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	return []string{i(f.Impressions), i(f.Clicks), i(f.Conversions), i(f.InvalidImpressions), i(f.InvalidClicks),
		i(f.InvalidConversions), i(f.InvalidByClass[models.ClassGIVT.String()]), i(f.InvalidByClass[models.ClassSIVT.String()]),
		i(f.SpendMicros), i(f.PublisherRevenueMicros)}
}

// ReportRecords returns the rows of rep as text cells under ReportHeader, then the totals (when
// there are group-by keys: the first key cell says "total", the others are empty).
func ReportRecords(rep *models.Report) [][]string {
	loc := reportLocation(rep)
	metrics := func(m *models.ReportMetrics) []string {
		i := strconv.FormatInt
		f := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
		rec := []string{i(m.Requests, 10), i(m.Served, 10), i(m.Impressions, 10), i(m.Clicks, 10), i(m.Conversions, 10),
			i(m.InvalidImpressions, 10), i(m.InvalidClicks, 10), i(m.InvalidConversions, 10), i(m.SpendMicros, 10),
			i(m.PublisherRevenueMicros, 10), f(m.CTR), f(m.ConversionRate), i(m.ECPMMicros, 10), i(m.ECPCMicros, 10), f(m.InvalidRate)}
		for r := 1; r < models.NumReasons; r++ {
			rec = append(rec, i(m.InvalidByReason[models.Reason(r).String()], 10))
		}
		for _, c := range models.IVTClasses {
			rec = append(rec, i(m.InvalidByClass[c.String()], 10))
		}
		rec = append(rec, figureCells(&m.Adjustment)...)
		return append(rec, figureCells(&m.Restated)...)
	}
	out := make([][]string, 0, len(rep.Rows)+1)
	for i := range rep.Rows {
		var rec []string
		for _, g := range rep.GroupBy {
			rec = append(rec, models.MustReportDimension(g).Format(&rep.Rows[i].ReportKey, loc))
		}
		out = append(out, append(rec, metrics(&rep.Rows[i].ReportMetrics)...))
	}
	if len(rep.GroupBy) > 0 {
		rec := make([]string, len(rep.GroupBy))
		rec[0] = "total"
		out = append(out, append(rec, metrics(&rep.Totals)...))
	}
	return out
}

// WriteReportCSV writes rep as CSV: ReportHeader, then ReportRecords.
func WriteReportCSV(w io.Writer, rep *models.Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(ReportHeader(rep)); err != nil {
		return err
	}
	if err := cw.WriteAll(ReportRecords(rep)); err != nil {
		return err
	}
	return cw.Error()
}
