package mysql_test

import (
	"slices"
	"testing"
	"time"
	_ "time/tzdata" // America/New_York without relying on the machine's zoneinfo

	"adnet/models"
	"adnet/models/mysql"
)

func ids[T any](list []T, id func(*T) int64) []int64 {
	out := []int64{}
	for i := range list {
		out = append(out, id(&list[i]))
	}
	slices.Sort(out)
	return out
}

func sorted(v ...int64) []int64 {
	slices.Sort(v)
	return v
}

func TestLoadInventory(t *testing.T) {
	t.Parallel()
	s, db, _ := newStore(t)
	ctx := t.Context()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	// 03:30 UTC on 10 March is 23:30 on 9 March in New York (EDT, UTC-4).
	now := time.Date(2025, 3, 10, 3, 30, 0, 0, time.UTC)

	advA := mustAdvertiser(t, s, "Active", models.StatusActive)
	advP := mustAdvertiser(t, s, "Paused", models.StatusPaused)
	mustAdvertiser(t, s, "Archived", models.StatusArchived)

	withStatus := func(c *models.Campaign, st models.Status) *models.Campaign { c.Status = st; return c }
	window := func(c *models.Campaign, start, end *time.Time) *models.Campaign {
		c.StartAt, c.EndAt = start, end
		return c
	}
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }

	cActive := mustCampaign(t, s, newCampaign(advA.ID, "active"))
	cPaused := mustCampaign(t, s, withStatus(newCampaign(advA.ID, "paused"), models.StatusPaused))
	mustCampaign(t, s, withStatus(newCampaign(advA.ID, "archived"), models.StatusArchived))
	mustCampaign(t, s, window(newCampaign(advA.ID, "expired"), at(-48*time.Hour), at(-time.Hour)))
	cFuture := mustCampaign(t, s, window(newCampaign(advA.ID, "future"), at(time.Hour), nil))
	mustCampaign(t, s, window(newCampaign(advA.ID, "ends now"), nil, at(0)))
	cWindow := mustCampaign(t, s, window(newCampaign(advA.ID, "in window"), at(-time.Hour), at(time.Hour)))
	cStartsNow := mustCampaign(t, s, window(newCampaign(advA.ID, "starts now"), at(0), nil))
	cOrphan := mustCampaign(t, s, newCampaign(advP.ID, "of paused advertiser"))

	crActive := mustCreative(t, s, newCreative(cActive.ID, "a1"))
	crActive2 := mustCreative(t, s, newCreative(cActive.ID, "a2"))
	pausedCr := newCreative(cActive.ID, "a3")
	pausedCr.Status = models.StatusPaused
	mustCreative(t, s, pausedCr)
	mustCreative(t, s, newCreative(cPaused.ID, "p1"))
	mustCreative(t, s, newCreative(cOrphan.ID, "o1"))
	crWindow := mustCreative(t, s, newCreative(cWindow.ID, "w1"))

	pubA := mustPublisher(t, s, "Active pub", models.StatusActive)
	pubP := mustPublisher(t, s, "Paused pub", models.StatusPaused)
	sA := mustSite(t, s, pubA.ID, "a.example", models.StatusActive)
	sP := mustSite(t, s, pubA.ID, "paused.example", models.StatusPaused)
	sO := mustSite(t, s, pubP.ID, "orphan.example", models.StatusActive)
	zA := mustZone(t, s, sA.ID, "za", models.StatusActive)
	zA2 := mustZone(t, s, sA.ID, "za2", models.StatusActive)
	zPaused := mustZone(t, s, sA.ID, "zp", models.StatusPaused)
	zOfPausedSite := mustZone(t, s, sP.ID, "zs", models.StatusActive)
	zOfPausedPub := mustZone(t, s, sO.ID, "zo", models.StatusActive)

	mustLink(t, s, zA.ID, cActive.ID)
	mustLink(t, s, zA.ID, cWindow.ID)
	mustLink(t, s, zA2.ID, cStartsNow.ID)
	mustLink(t, s, zA.ID, cPaused.ID)
	mustLink(t, s, zA.ID, cOrphan.ID)
	mustLink(t, s, zPaused.ID, cActive.ID)
	mustLink(t, s, zOfPausedSite.ID, cActive.ID)
	mustLink(t, s, zOfPausedPub.ID, cActive.ID)

	// campaign_daily is keyed by day in the network time zone; rows as the aggregator writes them.
	type daily struct {
		campaign, creative int64
		day                string
		imps, clicks, conv int64
		spend              int64
	}
	for _, r := range []daily{
		{cActive.ID, crActive.ID, "2025-03-01", 1000, 10, 1, 2_500_000},
		{cActive.ID, crActive.ID, "2025-03-09", 100, 3, 0, 250_000},
		{cActive.ID, crActive2.ID, "2025-03-09", 50, 1, 1, 125_000},
		{cActive.ID, crActive.ID, "2025-03-10", 7, 0, 0, 17_500},
		{cWindow.ID, crWindow.ID, "2025-03-01", 40, 2, 0, 100_000},
		{cPaused.ID, crActive.ID, "2025-03-09", 999, 9, 9, 9_999},
	} {
		if _, err := mysql.SQLX(db).ExecContext(ctx,
			`INSERT INTO campaign_daily (day, campaign_id, creative_id, impressions, clicks, conversions, spend_micros)
			 VALUES (?, ?, ?, ?, ?, ?, ?)`,
			r.day, r.campaign, r.creative, r.imps, r.clicks, r.conv, r.spend); err != nil {
			t.Fatal(err)
		}
	}

	inv, err := s.LoadInventory(ctx, now, ny)
	if err != nil {
		t.Fatal(err)
	}
	if !inv.LoadedAt.Equal(now) {
		t.Errorf("LoadedAt %v, want %v", inv.LoadedAt, now)
	}
	same(t, "advertisers", ids(inv.Advertisers, func(a *models.Advertiser) int64 { return a.ID }), sorted(advA.ID))
	same(t, "campaigns", ids(inv.Campaigns, func(c *models.Campaign) int64 { return c.ID }),
		sorted(cActive.ID, cWindow.ID, cStartsNow.ID))
	same(t, "creatives", ids(inv.Creatives, func(c *models.Creative) int64 { return c.ID }),
		sorted(crActive.ID, crActive2.ID, crWindow.ID))
	same(t, "publishers", ids(inv.Publishers, func(p *models.Publisher) int64 { return p.ID }), sorted(pubA.ID))
	same(t, "sites", ids(inv.Sites, func(s *models.Site) int64 { return s.ID }), sorted(sA.ID))
	same(t, "zones", ids(inv.Zones, func(z *models.Zone) int64 { return z.ID }), sorted(zA.ID, zA2.ID))
	same(t, "links", inv.Links, []models.ZoneCampaign{
		link(zA.ID, cActive.ID, 1), link(zA.ID, cWindow.ID, 1), link(zA2.ID, cStartsNow.ID, 1)})
	// Loaded rows are complete, not just ids.
	for _, c := range inv.Campaigns {
		if c.ID == cWindow.ID {
			same(t, "campaign in inventory", c, *cWindow)
		}
	}

	lifetimeActive := models.Counts{Impressions: 1157, Clicks: 14, Conversions: 2, SpendMicros: 2_892_500}
	lifetimeWindow := models.Counts{Impressions: 40, Clicks: 2, SpendMicros: 100_000}
	same(t, "totals at 23:30 New York (today is 9 March)", inv.Totals, []models.CampaignTotals{
		{CampaignID: cActive.ID, Today: models.Counts{Impressions: 150, Clicks: 4, Conversions: 1, SpendMicros: 375_000}, Lifetime: lifetimeActive},
		{CampaignID: cWindow.ID, Lifetime: lifetimeWindow},
	})

	// One hour later it is past midnight in New York: today is 10 March.
	inv, err = s.LoadInventory(ctx, now.Add(time.Hour), ny)
	if err != nil {
		t.Fatal(err)
	}
	// The in-window campaign ended meanwhile (end_at = now+1h is not > now+1h), so it has no
	// totals either; the future one started (start_at = now+1h).
	same(t, "campaigns an hour later", ids(inv.Campaigns, func(c *models.Campaign) int64 { return c.ID }),
		sorted(cActive.ID, cFuture.ID, cStartsNow.ID))
	same(t, "totals at 00:30 New York (today is 10 March)", inv.Totals, []models.CampaignTotals{
		{CampaignID: cActive.ID, Today: models.Counts{Impressions: 7, SpendMicros: 17_500}, Lifetime: lifetimeActive},
	})

	// The same instant in a network running on UTC is already 10 March.
	inv, err = s.LoadInventory(ctx, now, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Totals) == 0 || inv.Totals[0].CampaignID != cActive.ID || inv.Totals[0].Today.Impressions != 7 {
		t.Fatalf("UTC totals: %+v", inv.Totals)
	}

	// Pausing the advertiser takes all its campaigns, creatives, links and totals out.
	advA.Status = models.StatusPaused
	if err := s.UpdateAdvertiser(ctx, advA); err != nil {
		t.Fatal(err)
	}
	inv, err = s.LoadInventory(ctx, now, ny)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Advertisers)+len(inv.Campaigns)+len(inv.Creatives)+len(inv.Links)+len(inv.Totals) != 0 {
		t.Fatalf("paused advertiser still serves: %+v", inv)
	}
	same(t, "zones stay", ids(inv.Zones, func(z *models.Zone) int64 { return z.ID }), sorted(zA.ID, zA2.ID))

	if _, err := s.LoadInventory(ctx, now, nil); err == nil {
		t.Fatal("LoadInventory with a nil time zone succeeded")
	}
}

// TestLoadInventoryTotalsFollowWrites checks how totals follow the aggregator's writes:
// yesterday and today at once, older days (cached) within closedTotalsTTL (5 minutes).
func TestLoadInventoryTotalsFollowWrites(t *testing.T) {
	t.Parallel()
	s, db, _ := newStore(t)
	ctx := t.Context()
	adv := mustAdvertiser(t, s, "Acme", models.StatusActive)
	c := mustCampaign(t, s, newCampaign(adv.ID, "c"))
	cr := mustCreative(t, s, newCreative(c.ID, "cr"))
	now := time.Date(2025, 5, 10, 12, 0, 0, 0, time.UTC)

	add := func(day string, imps int64) {
		t.Helper()
		if _, err := mysql.SQLX(db).ExecContext(ctx,
			`INSERT INTO campaign_daily (day, campaign_id, creative_id, impressions, clicks, conversions, spend_micros)
			 VALUES (?, ?, ?, ?, 0, 0, ?)
			 ON DUPLICATE KEY UPDATE impressions = impressions + VALUES(impressions),
				spend_micros = spend_micros + VALUES(spend_micros)`,
			day, c.ID, cr.ID, imps, imps*2500); err != nil {
			t.Fatal(err)
		}
	}
	check := func(st *mysql.Store, at time.Time, today, lifetime int64) {
		t.Helper()
		inv, err := st.LoadInventory(ctx, at, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		want := []models.CampaignTotals{{CampaignID: c.ID,
			Today:    models.Counts{Impressions: today, SpendMicros: today * 2500},
			Lifetime: models.Counts{Impressions: lifetime, SpendMicros: lifetime * 2500}}}
		same(t, "totals at "+at.String(), inv.Totals, want)
	}

	add("2025-05-01", 100)
	add("2025-05-09", 10)
	add("2025-05-10", 1)
	check(s, now, 1, 111)

	// Yesterday and today are read on every load.
	add("2025-05-10", 5)
	add("2025-05-09", 20)
	check(s, now.Add(time.Second), 6, 136)

	// A late write into an older day (an aggregator replaying an old log) shows after at most
	// five minutes, or at once in a store without cached sums.
	add("2025-05-01", 1000)
	check(s, now.Add(2*time.Second), 6, 136)
	check(mysql.NewStore(db), now.Add(2*time.Second), 6, 1136)
	check(s, now.Add(5*time.Minute+2*time.Second), 6, 1136)

	// The next day: yesterday's counts move into the cached sums, today starts at zero.
	check(s, now.Add(24*time.Hour), 0, 1136)
	add("2025-05-11", 3)
	check(s, now.Add(24*time.Hour+time.Second), 3, 1139)
}
