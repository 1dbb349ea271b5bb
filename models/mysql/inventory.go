package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"adnet/models"
)

// LoadInventory reads everything the decision engine serves from, as of now: the active
// advertisers, publishers, sites, zones, campaigns (within their window) and creatives whose
// parents are all active, the links between serving zones and campaigns, and each serving
// campaign's committed totals for today (the calendar day of now in the network time zone
// loc, which is how campaign_daily.day is keyed) and for its lifetime. Campaigns without any
// counted event have no CampaignTotals entry.
//
// All reads run in one read-only REPEATABLE READ transaction, so the snapshot is consistent:
// a campaign paused half-way through never leaves its creatives or links behind.
func (s *Store) LoadInventory(ctx context.Context, now time.Time, loc *time.Location) (*models.Inventory, error) {
	if loc == nil {
		return nil, errors.New("load inventory: nil network time zone")
	}
	now = dbTime(now)
	inv := &models.Inventory{LoadedAt: now}
	var fresh *closedTotals // sums of closed days read by this load, cached once it commits
	err := s.inTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}, func(tx *sqlx.Tx) error {
		// Each query reads one table; children of inactive parents are dropped here rather than
		// by joins in SQL: the parents are in hand anyway, and single-table scans keep the
		// server's share of a load to a few milliseconds.
		inv.Advertisers = []models.Advertiser{}
		if err := sqlx.SelectContext(ctx, tx, &inv.Advertisers,
			`SELECT `+advertiserColumns+` FROM advertisers WHERE status = 'active' ORDER BY id`); err != nil {
			return fmt.Errorf("advertisers: %w", err)
		}
		advertisers := idSet(inv.Advertisers, func(a *models.Advertiser) int64 { return a.ID })
		campaigns, err := selectCampaigns(ctx, tx,
			`SELECT `+campaignColumns+` FROM campaigns
			 WHERE status = 'active' AND approval = 'approved' AND (start_at IS NULL OR start_at <= ?) AND (end_at IS NULL OR end_at > ?)
			 ORDER BY id`, now, now)
		if err != nil {
			return fmt.Errorf("campaigns: %w", err)
		}
		inv.Campaigns = keep(campaigns, func(c *models.Campaign) bool { return advertisers[c.AdvertiserID] })
		campaignIDs := idSet(inv.Campaigns, func(c *models.Campaign) int64 { return c.ID })
		inv.Creatives = []models.Creative{}
		if err := sqlx.SelectContext(ctx, tx, &inv.Creatives,
			`SELECT `+creativeColumns+` FROM creatives WHERE status = 'active' AND approval = 'approved' ORDER BY id`); err != nil {
			return fmt.Errorf("creatives: %w", err)
		}
		inv.Creatives = keep(inv.Creatives, func(c *models.Creative) bool { return campaignIDs[c.CampaignID] })

		inv.Publishers = []models.Publisher{}
		if err := sqlx.SelectContext(ctx, tx, &inv.Publishers,
			`SELECT `+publisherColumns+` FROM publishers WHERE status = 'active' ORDER BY id`); err != nil {
			return fmt.Errorf("publishers: %w", err)
		}
		publishers := idSet(inv.Publishers, func(p *models.Publisher) int64 { return p.ID })
		inv.Sites = []models.Site{}
		if err := sqlx.SelectContext(ctx, tx, &inv.Sites,
			`SELECT `+siteColumns+` FROM sites WHERE status = 'active' ORDER BY id`); err != nil {
			return fmt.Errorf("sites: %w", err)
		}
		inv.Sites = keep(inv.Sites, func(st *models.Site) bool { return publishers[st.PublisherID] })
		sites := idSet(inv.Sites, func(st *models.Site) int64 { return st.ID })
		inv.Zones = []models.Zone{}
		if err := sqlx.SelectContext(ctx, tx, &inv.Zones,
			`SELECT `+zoneColumns+` FROM zones WHERE status = 'active' ORDER BY id`); err != nil {
			return fmt.Errorf("zones: %w", err)
		}
		inv.Zones = keep(inv.Zones, func(z *models.Zone) bool { return sites[z.SiteID] })
		zones := idSet(inv.Zones, func(z *models.Zone) int64 { return z.ID })

		inv.Links = []models.ZoneCampaign{}
		if err := sqlx.SelectContext(ctx, tx, &inv.Links,
			`SELECT `+linkColumns+` FROM zone_campaigns ORDER BY zone_id, campaign_id`); err != nil {
			return fmt.Errorf("zone links: %w", err)
		}
		inv.Links = keep(inv.Links, func(l *models.ZoneCampaign) bool { return zones[l.ZoneID] && campaignIDs[l.CampaignID] })

		inv.Totals, fresh, err = s.campaignTotals(ctx, tx, inv.Campaigns, now, loc)
		if err != nil {
			return fmt.Errorf("campaign totals: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, mapError(err, "load inventory")
	}
	if fresh != nil {
		s.closed.put(fresh)
	}
	return inv, nil
}

// idSet returns the set of the ids of list.
func idSet[T any](list []T, id func(*T) int64) map[int64]bool {
	set := make(map[int64]bool, len(list))
	for i := range list {
		set[id(&list[i])] = true
	}
	return set
}

// keep filters list in place, keeping the elements ok accepts.
func keep[T any](list []T, ok func(*T) bool) []T {
	out := list[:0]
	for i := range list {
		if ok(&list[i]) {
			out = append(out, list[i])
		}
	}
	clear(list[len(out):]) // release what the dropped elements referenced
	return out
}
