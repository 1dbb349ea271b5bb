package mysql

import (
	"context"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"adnet/models"
)

// closedTotalsTTL bounds how stale the cached sums of closed days can get. In normal operation
// they never change once the day before yesterday is over; they do when an aggregator replays
// an old event log after an outage, and then the replayed counts reach the caps within this time.
const closedTotalsTTL = 5 * time.Minute

// closedTotals are the campaign_daily sums of every campaign over the days before `before`
// (yesterday in the network time zone), as read by one load. Summing a campaign's whole history
// on every inventory load would cost a scan of campaign_daily every few seconds in every worker
// (about 0.1 s of server time for 1000 campaigns × 90 days × 3 creatives); the closed days are
// summed once per closedTotalsTTL instead and only yesterday and today are read on every load.
type closedTotals struct {
	before   string
	loadedAt time.Time
	sums     map[int64]models.Counts // never modified once published
}

// totalsCache holds the latest closedTotals of a Store.
type totalsCache struct {
	mu  sync.Mutex
	cur *closedTotals
}

// get returns the cached sums if they cover exactly the days before `before` and are recent
// relative to now, else nil.
func (c *totalsCache) get(before string, now time.Time) *closedTotals {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.cur
	if t == nil || t.before != before || now.Before(t.loadedAt) || now.Sub(t.loadedAt) >= closedTotalsTTL {
		return nil
	}
	return t
}

func (c *totalsCache) put(t *closedTotals) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur = t
}

// countsRow is one campaign's sums over some days of campaign_daily.
type countsRow struct {
	CampaignID int64 `db:"campaign_id"`
	models.Counts
}

// liveRow is one campaign's sums over yesterday and today, with today's apart.
type liveRow struct {
	CampaignID       int64 `db:"campaign_id"`
	TodayImpressions int64 `db:"today_impressions"`
	TodayClicks      int64 `db:"today_clicks"`
	TodayConversions int64 `db:"today_conversions"`
	TodaySpendMicros int64 `db:"today_spend_micros"`
	models.Counts
}

// campaignTotals returns the totals of the given campaigns, in their order, reading within tx.
// fresh is non-nil when the closed days were summed by this call: the caller caches it once
// the transaction has committed.
func (s *Store) campaignTotals(ctx context.Context, tx *sqlx.Tx, campaigns []models.Campaign, now time.Time, loc *time.Location) (totals []models.CampaignTotals, fresh *closedTotals, err error) {
	local := now.In(loc)
	today := local.Format(time.DateOnly)
	yesterday := time.Date(local.Year(), local.Month(), local.Day()-1, 12, 0, 0, 0, loc).Format(time.DateOnly)

	closed := s.closed.get(yesterday, now)
	if closed == nil {
		var rows []countsRow
		if err := sqlx.SelectContext(ctx, tx, &rows,
			`SELECT campaign_id, SUM(impressions) AS impressions, SUM(clicks) AS clicks,
				SUM(conversions) AS conversions, SUM(spend_micros) AS spend_micros
			 FROM campaign_daily WHERE day < ? GROUP BY campaign_id`, yesterday); err != nil {
			return nil, nil, err
		}
		closed = &closedTotals{before: yesterday, loadedAt: now, sums: make(map[int64]models.Counts, len(rows))}
		for _, r := range rows {
			closed.sums[r.CampaignID] = r.Counts
		}
		fresh = closed
	}

	// Yesterday onwards (a later day only exists if the clocks disagree; it counts too).
	var rows []liveRow
	if err := sqlx.SelectContext(ctx, tx, &rows,
		`SELECT campaign_id,
			SUM(IF(day = ?, impressions, 0))  AS today_impressions,
			SUM(IF(day = ?, clicks, 0))       AS today_clicks,
			SUM(IF(day = ?, conversions, 0))  AS today_conversions,
			SUM(IF(day = ?, spend_micros, 0)) AS today_spend_micros,
			SUM(impressions) AS impressions, SUM(clicks) AS clicks,
			SUM(conversions) AS conversions, SUM(spend_micros) AS spend_micros
		 FROM campaign_daily WHERE day >= ? GROUP BY campaign_id`,
		today, today, today, today, yesterday); err != nil {
		return nil, nil, err
	}
	live := make(map[int64]*liveRow, len(rows))
	for i := range rows {
		live[rows[i].CampaignID] = &rows[i]
	}

	totals = []models.CampaignTotals{}
	for i := range campaigns {
		id := campaigns[i].ID
		past, inPast := closed.sums[id]
		recent, inRecent := live[id]
		if !inPast && !inRecent {
			continue
		}
		t := models.CampaignTotals{CampaignID: id, Lifetime: past}
		if inRecent {
			t.Today = models.Counts{Impressions: recent.TodayImpressions, Clicks: recent.TodayClicks,
				Conversions: recent.TodayConversions, SpendMicros: recent.TodaySpendMicros}
			t.Lifetime = t.Lifetime.Add(recent.Counts)
		}
		totals = append(totals, t)
	}
	return totals, fresh, nil
}
