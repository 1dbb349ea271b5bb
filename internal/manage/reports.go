package manage

import (
	"context"
	"fmt"
	"html"
	"net/url"
	"sort"
	"strings"
	"time"

	"adnet/models"
)

// Report answers a report query for the actor: an advertiser user only ever gets its own
// campaigns' rows and a publisher user its own zones', whatever the query asked for; an admin
// may filter freely.
func (s *Service) Report(ctx context.Context, a *models.Actor, q models.ReportQuery) (*models.Report, error) {
	switch a.Role {
	case models.RoleAdmin:
	case models.RoleAdvertiser:
		if q.PublisherID != 0 {
			return nil, forbidden("filter reports by publisher")
		}
		q.AdvertiserID = a.AdvertiserID
	case models.RolePublisher:
		if q.AdvertiserID != 0 {
			return nil, forbidden("filter reports by advertiser")
		}
		q.PublisherID = a.PublisherID
	default:
		return nil, forbidden("read reports")
	}
	if q.Location == nil {
		q.Location = s.opt.Location
	}
	rep, err := s.opt.Store.Report(ctx, q)
	if err != nil {
		return nil, err
	}
	for i := range rep.Rows {
		ownMoneyOnly(a.Role, &rep.Rows[i].ReportMetrics)
	}
	ownMoneyOnly(a.Role, &rep.Totals)
	return rep, nil
}

// ownMoneyOnly keeps the money of the other side of the network out of an account's report:
// an advertiser sees what it spent, not what the publishers earned from it (the network's
// margin); a publisher sees what it earned, not what the advertisers paid, and its eCPM and
// eCPC are of its earnings.
func ownMoneyOnly(role models.Role, m *models.ReportMetrics) {
	switch role {
	case models.RoleAdvertiser:
		m.PublisherRevenueMicros = 0
		m.Adjustment.PublisherRevenueMicros, m.Restated.PublisherRevenueMicros = 0, 0
	case models.RolePublisher:
		m.SpendMicros = m.PublisherRevenueMicros
		m.Derive() // eCPM and eCPC of the earnings
		m.SpendMicros = 0
		m.Adjustment.SpendMicros, m.Restated.SpendMicros = 0, 0
	}
}

// Delivery is a campaign's delivery today (network time zone) against its limits, and over
// its life against its lifetime limits.
type Delivery struct {
	CampaignID int64                `json:"campaign_id"`
	Today      models.ReportMetrics `json:"today"`
	Lifetime   models.ReportMetrics `json:"lifetime"`
	Daily      models.Limits        `json:"daily_limits"`
	Limits     models.Limits        `json:"lifetime_limits"`
	// BudgetLeftMicros is what is left of the tighter of the daily and lifetime spend
	// budgets (-1: no budget).
	BudgetLeftMicros int64 `json:"budget_left_micros"`
	// Pacing compares today's spend with the part of the daily budget the elapsed part of the
	// day should have spent: "on_track", "behind", "ahead", or "" without a daily budget.
	Pacing string `json:"pacing"`
}

// Delivery returns a campaign's delivery, for its owner or an admin.
func (s *Service) Delivery(ctx context.Context, a *models.Actor, campaignID int64) (*Delivery, error) {
	c, err := s.ownCampaign(ctx, s.opt.Store, a, campaignID)
	if err != nil {
		return nil, err
	}
	now := s.opt.Now().In(s.opt.Location)
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, s.opt.Location)
	tomorrow := midnight.AddDate(0, 0, 1)
	d := &Delivery{CampaignID: c.ID, Daily: c.Daily, Limits: c.Lifetime, BudgetLeftMicros: -1}
	totals := func(from time.Time) (models.ReportMetrics, error) {
		rep, err := s.opt.Store.Report(ctx, models.ReportQuery{From: from, To: tomorrow, GroupBy: []string{models.GroupCampaign},
			AdvertiserID: c.AdvertiserID, Location: s.opt.Location})
		if err != nil {
			return models.ReportMetrics{}, err
		}
		for _, r := range rep.Rows {
			if r.CampaignID == c.ID {
				return r.ReportMetrics, nil
			}
		}
		return models.ReportMetrics{InvalidByReason: map[string]int64{}}, nil
	}
	if d.Today, err = totals(midnight); err != nil {
		return nil, err
	}
	ownMoneyOnly(a.Role, &d.Today)
	start := c.CreatedAt.In(s.opt.Location)
	start = time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, s.opt.Location)
	if min := tomorrow.Add(-models.MaxReportSpan + 24*time.Hour); start.Before(min) {
		start = min
	}
	if d.Lifetime, err = totals(start); err != nil {
		return nil, err
	}
	ownMoneyOnly(a.Role, &d.Lifetime)
	if b := c.Daily.SpendMicros; b > 0 {
		d.BudgetLeftMicros = max(b-d.Today.SpendMicros, 0)
		expected := float64(b) * now.Sub(midnight).Seconds() / tomorrow.Sub(midnight).Seconds()
		switch spent := float64(d.Today.SpendMicros); {
		case spent < 0.8*expected:
			d.Pacing = "behind"
		case spent > 1.2*expected && spent > 0:
			d.Pacing = "ahead"
		default:
			d.Pacing = "on_track"
		}
	}
	if b := c.Lifetime.SpendMicros; b > 0 {
		left := max(b-d.Lifetime.SpendMicros, 0)
		if d.BudgetLeftMicros < 0 || left < d.BudgetLeftMicros {
			d.BudgetLeftMicros = left
		}
	}
	return d, nil
}

// TagCode is the code a publisher pastes into its pages for a zone.
type TagCode struct {
	ZoneID int64  `json:"zone_id"`
	Script string `json:"script"` // <script async src=…/serve/js?zone=…>: renders in place, several per page
	IFrame string `json:"iframe"` // <iframe src=…/serve/frame?zone=…>: isolated from the page
}

// ZoneTag returns the tag code of a zone the actor may see; baseURL is the ad server's
// public URL, keyValues optional targeting pairs added to the tag's query.
func (s *Service) ZoneTag(ctx context.Context, a *models.Actor, zoneID int64, baseURL string, keyValues map[string]string) (*TagCode, error) {
	z, err := s.GetZone(ctx, a, zoneID)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	for k, v := range keyValues {
		if k = strings.TrimSpace(k); k != "" && k != "zone" {
			q.Set(k, v)
		}
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	extra := ""
	for _, k := range keys {
		extra += "&" + url.QueryEscape(k) + "=" + url.QueryEscape(q.Get(k))
	}
	base := strings.TrimRight(baseURL, "/")
	js := fmt.Sprintf("%s/serve/js?zone=%d%s", base, z.ID, extra)
	frame := fmt.Sprintf("%s/serve/frame?zone=%d%s", base, z.ID, extra)
	return &TagCode{ZoneID: z.ID,
		Script: fmt.Sprintf(`<script async src="%s"></script>`, html.EscapeString(js)),
		IFrame: fmt.Sprintf(`<iframe src="%s" width="%d" height="%d" frameborder="0" scrolling="no" style="border:0" title="advertisement"></iframe>`,
			html.EscapeString(frame), z.Width, z.Height),
	}, nil
}
