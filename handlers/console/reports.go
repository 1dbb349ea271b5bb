package console

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"adnet/handlers"
	"adnet/internal/manage"
	"adnet/models"
)

// reportData is the reports page: the query as a form, the chart, and the breakdown table.
type reportData struct {
	Chart   *chart
	Header  []string
	Rows    [][]string
	Totals  []string
	CSV     string // the CSV download's URL
	Groups  []string
	Revenue bool
}

// reportColumns are the metric columns of the console's table (the CSV has them all); the
// money columns are the spend (advertisers, admins) or the revenue (publishers, admins), each as
// counted, as adjusted by the adjustment ledger, and restated; then the invalid share and the
// invalid events by class.
func reportColumns(a *models.Actor) []string {
	cols := []string{"Impressions", "Clicks", "CTR", "Conversions", "Adj. impressions", "Adj. clicks", "Adj. conversions"}
	if a.Role != models.RolePublisher {
		cols = append(cols, "Spend", "Spend adj.", "Spend restated")
	}
	if a.Role != models.RoleAdvertiser {
		cols = append(cols, "Revenue", "Revenue adj.", "Revenue restated")
	}
	return append(cols, "Invalid", "GIVT", "SIVT", "Restated SIVT")
}

func metricCells(a *models.Actor, m *models.ReportMetrics) []string {
	cells := []string{fmt.Sprint(m.Impressions), fmt.Sprint(m.Clicks), fmt.Sprintf("%.2f %%", m.CTR*100), fmt.Sprint(m.Conversions),
		fmt.Sprint(m.Adjustment.Impressions), fmt.Sprint(m.Adjustment.Clicks), fmt.Sprint(m.Adjustment.Conversions)}
	if a.Role != models.RolePublisher {
		cells = append(cells, formatMicros(m.SpendMicros), formatMicros(m.Adjustment.SpendMicros), formatMicros(m.Restated.SpendMicros))
	}
	if a.Role != models.RoleAdvertiser {
		cells = append(cells, formatMicros(m.PublisherRevenueMicros), formatMicros(m.Adjustment.PublisherRevenueMicros),
			formatMicros(m.Restated.PublisherRevenueMicros))
	}
	givt, sivt := models.ClassGIVT.String(), models.ClassSIVT.String()
	return append(cells, fmt.Sprintf("%.2f %%", m.InvalidRate*100), fmt.Sprint(m.InvalidByClass[givt]),
		fmt.Sprint(m.InvalidByClass[sivt]), fmt.Sprint(m.Restated.InvalidByClass[sivt]))
}

// reports is GET /admin/reports: from, to, group_by (handlers.ParseReportQuery), answered
// through manage.Report for the actor (its own rows only); format=csv downloads the table.
func (c *Console) reports(w http.ResponseWriter, r *http.Request, s *session) {
	loc := c.opt.Manage.Location()
	qv := r.URL.Query()
	v := url.Values{"from": {qv.Get("from")}, "to": {qv.Get("to")}, "group_by": {qv.Get("group_by")}}
	q, format, err := handlers.ParseReportQuery(qv, loc, c.opt.Now())
	if err != nil {
		c.renderReport(w, r, s, http.StatusBadRequest, v, nil, err)
		return
	}
	if v.Get("from") == "" {
		v.Set("from", q.From.Format(time.DateOnly))
		v.Set("to", q.To.AddDate(0, 0, -1).Format(time.DateOnly))
	}
	rep, err := c.opt.Manage.Report(ctx(r), s.actor, q)
	if err != nil {
		if models.ErrorCode(err) == models.EINVALID {
			c.renderReport(w, r, s, http.StatusBadRequest, v, nil, err)
			return
		}
		c.fail(w, r, s, err)
		return
	}
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="adnet-report.csv"`)
		_ = handlers.WriteReportCSV(w, rep)
		return
	}
	d := reportTable(rep, s.actor, loc)
	// The chart is by day over the same range, whatever the table's grouping.
	dq := q
	dq.GroupBy = []string{models.GroupDay}
	if daily, err := c.opt.Manage.Report(ctx(r), s.actor, dq); err == nil {
		money := "Spend"
		if d.Revenue {
			money = "Revenue"
		}
		d.Chart = newChart(daily, q.From, q.To, loc, money)
	}
	cq := r.URL.Query()
	cq.Set("format", "csv")
	d.CSV = "/admin/reports?" + cq.Encode()
	c.renderReport(w, r, s, http.StatusOK, v, d, nil)
}

func (c *Console) renderReport(w http.ResponseWriter, r *http.Request, s *session, status int, v url.Values, d *reportData, err error) {
	if d == nil {
		d = &reportData{Groups: models.ReportGroupings()}
	}
	vw := &view{Title: "Reports", Nav: "reports", Form: newForm(v, err), D: d}
	if err != nil {
		vw.Error = models.ErrorMessage(err)
	}
	c.render(w, r, s, status, "reports", vw)
}

// dashboardData is the start page: today's and the last two weeks' totals, a chart, and what
// needs the user's attention (admins: the approval queue and open fraud flags).
type dashboardData struct {
	Today, Week      models.ReportMetrics
	Chart            *chart
	PendingCampaigns int
	PendingCreatives int
	OpenFlags        int
	Campaigns        []models.Campaign
	Zones            []models.Zone
	Revenue          bool
}

func (c *Console) dashboard(w http.ResponseWriter, r *http.Request, s *session) {
	a := s.actor
	loc := c.opt.Manage.Location()
	now := c.opt.Now().In(loc)
	tomorrow := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, loc)
	from := tomorrow.AddDate(0, 0, -14)
	d := dashboardData{Revenue: a.Role == models.RolePublisher}
	rep, err := c.opt.Manage.Report(ctx(r), a, models.ReportQuery{From: from, To: tomorrow, GroupBy: []string{models.GroupDay}})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d.Week = rep.Totals
	for _, row := range rep.Rows {
		if !row.Period.Before(tomorrow.AddDate(0, 0, -1)) {
			d.Today = row.ReportMetrics
		}
	}
	money := "Spend"
	if d.Revenue {
		money = "Revenue"
	}
	d.Chart = newChart(rep, from, tomorrow, loc, money)
	switch a.Role {
	case models.RoleAdmin:
		pc, _ := c.opt.Manage.ListCampaigns(ctx(r), a, models.CampaignFilter{Approval: models.ApprovalPending, Page: models.Page{Limit: 1000}})
		pr, _ := c.opt.Manage.ListCreatives(ctx(r), a, models.CreativeFilter{Approval: models.ApprovalPending, Page: models.Page{Limit: 1000}})
		fl, _ := c.opt.Manage.ListFraudFlags(ctx(r), a, models.FraudFlagFilter{Status: models.FlagOpen, Page: models.Page{Limit: 1000}})
		d.PendingCampaigns, d.PendingCreatives, d.OpenFlags = len(pc), len(pr), len(fl)
	case models.RoleAdvertiser:
		d.Campaigns, _ = c.opt.Manage.ListCampaigns(ctx(r), a, models.CampaignFilter{Page: models.Page{Limit: 10}})
	case models.RolePublisher:
		d.Zones, _ = c.opt.Manage.ListZones(ctx(r), a, models.ZoneFilter{Page: models.Page{Limit: 10}})
	}
	c.render(w, r, s, 0, "dashboard", &view{Title: "Dashboard", Nav: "dashboard", Notice: notice(r), D: d})
}

// fraudData is the fraud review page (admin): open flags, the invalid share by reason per
// day, and the blocklist.
type fraudData struct {
	Chart     *chart
	Flags     []models.FraudFlag
	Confirmed []models.FraudFlag // recently confirmed: their restatement can be topped up
	Reasons   []string
	Days      []fraudDay
}

type fraudDay struct {
	Day    string
	Total  int64
	Shares []string // per reason, percent of all impressions and clicks of the day
}

func (c *Console) fraud(w http.ResponseWriter, r *http.Request, s *session) {
	c.renderFraud(w, r, s, http.StatusOK, nil, nil)
}

func (c *Console) renderFraud(w http.ResponseWriter, r *http.Request, s *session, status int, v url.Values, formErr error) {
	a := s.actor
	if !a.IsAdmin() {
		c.fail(w, r, s, models.Errorf(models.ENOTFOUND, "There is no such page."))
		return
	}
	var d fraudData
	var err error
	if d.Flags, err = c.opt.Manage.ListFraudFlags(ctx(r), a, models.FraudFlagFilter{Status: models.FlagOpen, Page: models.Page{Limit: 200}}); err != nil {
		c.fail(w, r, s, err)
		return
	}
	if d.Confirmed, err = c.opt.Manage.ListFraudFlags(ctx(r), a, models.FraudFlagFilter{Status: models.FlagConfirmed, Page: models.Page{Limit: 20}}); err != nil {
		c.fail(w, r, s, err)
		return
	}
	loc := c.opt.Manage.Location()
	now := c.opt.Now().In(loc)
	tomorrow := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, loc)
	rep, err := c.opt.Manage.Report(ctx(r), a, models.ReportQuery{From: tomorrow.AddDate(0, 0, -14), To: tomorrow, GroupBy: []string{models.GroupDay}})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	for i := 1; i < models.NumReasons; i++ {
		d.Reasons = append(d.Reasons, models.Reason(i).String())
	}
	d.Chart = invalidChart(rep, tomorrow.AddDate(0, 0, -14), tomorrow, loc)
	for _, row := range rep.Rows {
		all := row.Impressions + row.Clicks + row.InvalidImpressions + row.InvalidClicks
		fd := fraudDay{Day: row.Period.In(loc).Format(time.DateOnly), Total: all}
		for _, reason := range d.Reasons {
			share := "—"
			if n := row.InvalidByReason[reason]; n > 0 && all > 0 {
				share = fmt.Sprintf("%.2f %%", float64(n)*100/float64(all))
			}
			fd.Shares = append(fd.Shares, share)
		}
		d.Days = append(d.Days, fd)
	}
	if v == nil {
		text, err := c.opt.Manage.Blocklist(ctx(r), a)
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		v = url.Values{"blocklist": {text}}
	}
	vw := &view{Title: "Fraud review", Nav: "fraud", Notice: notice(r), Form: newForm(v, formErr), D: d}
	if formErr != nil {
		vw.Error = models.ErrorMessage(formErr)
	}
	c.render(w, r, s, status, "fraud", vw)
}

func (c *Console) reviewFlag(w http.ResponseWriter, r *http.Request, s *session) {
	id, err := pathID(r, "id")
	decision := r.PostFormValue("decision")
	var rv *manage.FlagReview
	var rs *models.Restatement
	if err == nil {
		switch decision {
		case "restate":
			rs, err = c.opt.Manage.RestateFraudFlag(ctx(r), s.actor, id)
		case "unconfirm":
			rv, err = c.opt.Manage.WithdrawFraudConfirmation(ctx(r), s.actor, id)
		default:
			rv, err = c.opt.Manage.ReviewFraudFlag(ctx(r), s.actor, id, decision == "confirm")
		}
	}
	if err != nil {
		c.fail(w, r, s, hideForbidden(err))
		return
	}
	key := "flag-dismissed"
	switch {
	case decision == "restate" && rs.Entries == 0:
		key = "flag-restated-nothing"
	case decision == "restate":
		key = "flag-restated"
	case decision == "confirm":
		key = "flag-confirmed"
	case decision == "unconfirm":
		key = "flag-unconfirmed"
	case rv.ZoneResumed:
		key = "flag-dismissed-resumed"
	}
	redirect(w, r, "/admin/fraud", key)
}

func (c *Console) saveBlocklist(w http.ResponseWriter, r *http.Request, s *session) {
	_, err := c.opt.Manage.ReplaceBlocklist(ctx(r), s.actor, r.PostFormValue("blocklist"))
	if err != nil {
		if models.ErrorCode(err) == models.EINVALID {
			c.renderFraud(w, r, s, http.StatusBadRequest, r.PostForm, err)
			return
		}
		c.fail(w, r, s, hideForbidden(err))
		return
	}
	redirect(w, r, "/admin/fraud", "blocklist-saved")
}

// reportTable is the report's table as the page shows it: its group-by keys and the metrics
// the actor's role sees, at most 500 rows (the CSV has every row), and the totals.
func reportTable(rep *models.Report, actor *models.Actor, loc *time.Location) *reportData {
	d := &reportData{Groups: models.ReportGroupings(), Revenue: actor.Role == models.RolePublisher}
	for _, g := range rep.GroupBy {
		d.Header = append(d.Header, models.MustReportDimension(g).Field)
	}
	d.Header = append(d.Header, reportColumns(actor)...)
	for i := range rep.Rows {
		var row []string
		for _, g := range rep.GroupBy {
			row = append(row, models.MustReportDimension(g).Format(&rep.Rows[i].ReportKey, loc))
		}
		d.Rows = append(d.Rows, append(row, metricCells(actor, &rep.Rows[i].ReportMetrics)...))
		if len(d.Rows) == 500 {
			break
		}
	}
	d.Totals = append(make([]string, len(rep.GroupBy)), metricCells(actor, &rep.Totals)...)
	if len(rep.GroupBy) > 0 {
		d.Totals[0] = "total"
	}
	return d
}
