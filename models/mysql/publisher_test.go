package mysql_test

import (
	"testing"
	"time"

	"adnet/models"
)

func TestPublisherCRUD(t *testing.T) {
	t.Parallel()
	s, _, clk := newStore(t)
	ctx := t.Context()

	p := mustPublisher(t, s, "News Corp", models.StatusActive)
	got, err := s.GetPublisher(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "get after create", got, p)

	clk.t = clk.t.Add(time.Second)
	p.RevenueShareBP, p.Status = 6500, models.StatusPaused
	if err := s.UpdatePublisher(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetPublisher(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "get after update", got, p)
	if got.RevenueShareBP != 6500 || !got.UpdatedAt.After(got.CreatedAt) {
		t.Fatalf("update not stored: %+v", got)
	}

	q := mustPublisher(t, s, "Blog Inc", models.StatusActive)
	list, err := s.ListPublishers(ctx, models.PublisherFilter{ID: &q.ID})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "list owner", list, []models.Publisher{*q})
	list, err = s.ListPublishers(ctx, models.PublisherFilter{})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "list all", list, []models.Publisher{*p, *q})

	wantErr(t, s.CreatePublisher(ctx, &models.Publisher{Name: "Blog Inc", Status: models.StatusActive, RevenueShareBP: 1}),
		models.ECONFLICT, "a publisher with this name already exists")
	wantErr(t, s.CreatePublisher(ctx, &models.Publisher{Name: "Greedy", Status: models.StatusActive, RevenueShareBP: 10001}),
		models.EINVALID, "revenue_share_bp")
	_, err = s.GetPublisher(ctx, 424242)
	wantErr(t, err, models.ENOTFOUND, "publisher 424242 not found")
	wantErr(t, s.UpdatePublisher(ctx, &models.Publisher{ID: 424242, Name: "Z", Status: models.StatusActive}),
		models.ENOTFOUND, "publisher 424242 not found")
}

func TestSiteCRUD(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := t.Context()
	pub := mustPublisher(t, s, "News Corp", models.StatusActive)
	other := mustPublisher(t, s, "Blog Inc", models.StatusActive)

	st := &models.Site{PublisherID: pub.ID, Name: "Daily News", Domain: " News.Example ", Status: models.StatusActive}
	if err := s.CreateSite(ctx, st); err != nil {
		t.Fatal(err)
	}
	if st.Domain != "news.example" {
		t.Fatalf("domain not normalised: %q", st.Domain)
	}
	got, err := s.GetSite(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "get after create", got, st)

	st.Name, st.Domain, st.Status = "The Daily News", "daily.news.example", models.StatusPaused
	st.PublisherID = other.ID // ignored: a site never changes hands
	if err := s.UpdateSite(ctx, st); err != nil {
		t.Fatal(err)
	}
	if st.PublisherID != pub.ID {
		t.Fatalf("site moved to publisher %d", st.PublisherID)
	}
	got, err = s.GetSite(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "get after update", got, st)

	blog := mustSite(t, s, other.ID, "blog.example", models.StatusActive)
	list, err := s.ListSites(ctx, models.SiteFilter{PublisherID: &other.ID})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "list owner", list, []models.Site{*blog})
	list, err = s.ListSites(ctx, models.SiteFilter{Status: models.StatusPaused})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "list paused", list, []models.Site{*st})

	wantErr(t, s.CreateSite(ctx, &models.Site{PublisherID: pub.ID, Name: "Copy", Domain: "BLOG.example", Status: models.StatusActive}),
		models.ECONFLICT, "a site with this domain already exists")
	wantErr(t, s.CreateSite(ctx, &models.Site{PublisherID: 424242, Name: "Orphan", Domain: "orphan.example", Status: models.StatusActive}),
		models.EINVALID, "publisher_id: no such publisher")
	wantErr(t, s.CreateSite(ctx, &models.Site{PublisherID: pub.ID, Name: "Bad", Domain: "https://bad.example/", Status: models.StatusActive}),
		models.EINVALID, "site domain")
	_, err = s.GetSite(ctx, 424242)
	wantErr(t, err, models.ENOTFOUND, "site 424242 not found")
}

func TestZoneCRUD(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := t.Context()
	pub := mustPublisher(t, s, "News Corp", models.StatusActive)
	other := mustPublisher(t, s, "Blog Inc", models.StatusActive)
	site := mustSite(t, s, pub.ID, "news.example", models.StatusActive)
	blog := mustSite(t, s, other.ID, "blog.example", models.StatusActive)
	adv := mustAdvertiser(t, s, "House", models.StatusActive)
	house := mustCreative(t, s, newCreative(mustCampaign(t, s, newCampaign(adv.ID, "House ads")).ID, "house"))

	top := mustZone(t, s, site.ID, "top", models.StatusActive)
	got, err := s.GetZone(ctx, top.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.FallbackZoneID != nil || got.FallbackCreativeID != nil {
		t.Fatalf("fallbacks not NULL: %+v", got)
	}
	same(t, "get after create", got, top)

	side := &models.Zone{SiteID: site.ID, Name: "side", Width: 160, Height: 600, Status: models.StatusActive,
		FallbackZoneID: &top.ID, FallbackCreativeID: &house.ID}
	if err := s.CreateZone(ctx, side); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetZone(ctx, side.ID)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "get with fallbacks", got, side)

	side.FallbackZoneID, side.Width, side.Status = nil, 120, models.StatusPaused
	side.SiteID = blog.ID // ignored: a zone never moves
	if err := s.UpdateZone(ctx, side); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetZone(ctx, side.ID)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "get after update", got, side)
	if got.SiteID != site.ID || got.FallbackZoneID != nil || *got.FallbackCreativeID != house.ID {
		t.Fatalf("after update: %+v", got)
	}

	foot := mustZone(t, s, blog.ID, "foot", models.StatusActive)
	list, err := s.ListZones(ctx, models.ZoneFilter{PublisherID: &pub.ID})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "list owner", list, []models.Zone{*top, *side})
	list, err = s.ListZones(ctx, models.ZoneFilter{PublisherID: &pub.ID, SiteID: &blog.ID})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "another publisher's site", list, []models.Zone{})
	list, err = s.ListZones(ctx, models.ZoneFilter{SiteID: &blog.ID})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "list site", list, []models.Zone{*foot})

	top.FallbackZoneID = &top.ID
	wantErr(t, s.UpdateZone(ctx, top), models.EINVALID, "cannot fall back to itself")
	wantErr(t, s.CreateZone(ctx, &models.Zone{SiteID: site.ID, Name: "top", Width: 1, Height: 1, Status: models.StatusActive}),
		models.ECONFLICT, "this site already has a zone with this name")
	wantErr(t, s.CreateZone(ctx, &models.Zone{SiteID: 424242, Name: "z", Width: 1, Height: 1, Status: models.StatusActive}),
		models.EINVALID, "site_id: no such site")
	wantErr(t, s.CreateZone(ctx, &models.Zone{SiteID: site.ID, Name: "z", Width: 1, Height: 1, Status: models.StatusActive, FallbackZoneID: ptr(int64(424242))}),
		models.EINVALID, "fallback_zone_id: no such zone")
	wantErr(t, s.CreateZone(ctx, &models.Zone{SiteID: site.ID, Name: "z", Width: 1, Height: 1, Status: models.StatusActive, FallbackCreativeID: ptr(int64(424242))}),
		models.EINVALID, "fallback_creative_id: no such creative")
	wantErr(t, s.CreateZone(ctx, &models.Zone{SiteID: site.ID, Name: "z", Width: 0, Height: 1, Status: models.StatusActive}),
		models.EINVALID, "size 0x1")
	_, err = s.GetZone(ctx, 424242)
	wantErr(t, err, models.ENOTFOUND, "zone 424242 not found")
	wantErr(t, s.UpdateZone(ctx, &models.Zone{ID: 424242, Name: "z", Width: 1, Height: 1, Status: models.StatusActive}),
		models.ENOTFOUND, "zone 424242 not found")
}

func link(zoneID, campaignID int64, weight int) models.ZoneCampaign {
	return models.ZoneCampaign{ZoneID: zoneID, CampaignID: campaignID, Weight: weight}
}

func TestZoneCampaignLinks(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := t.Context()
	pub := mustPublisher(t, s, "News Corp", models.StatusActive)
	site := mustSite(t, s, pub.ID, "news.example", models.StatusActive)
	z1 := mustZone(t, s, site.ID, "z1", models.StatusActive)
	z2 := mustZone(t, s, site.ID, "z2", models.StatusActive)
	adv := mustAdvertiser(t, s, "Acme", models.StatusActive)
	c1 := mustCampaign(t, s, newCampaign(adv.ID, "c1"))
	c2 := mustCampaign(t, s, newCampaign(adv.ID, "c2"))

	for _, l := range []models.ZoneCampaign{link(z1.ID, c1.ID, 5), link(z1.ID, c2.ID, 1), link(z2.ID, c1.ID, 2)} {
		if err := s.LinkZoneCampaign(ctx, &l); err != nil {
			t.Fatal(err)
		}
	}
	// Linking again changes the weight.
	if err := s.LinkZoneCampaign(ctx, &models.ZoneCampaign{ZoneID: z1.ID, CampaignID: c1.ID, Weight: 7}); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListZoneCampaigns(ctx, models.ZoneCampaignFilter{ZoneID: &z1.ID})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "links of z1", list, []models.ZoneCampaign{link(z1.ID, c1.ID, 7), link(z1.ID, c2.ID, 1)})
	list, err = s.ListZoneCampaigns(ctx, models.ZoneCampaignFilter{CampaignID: &c1.ID})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "links of c1", list, []models.ZoneCampaign{link(z1.ID, c1.ID, 7), link(z2.ID, c1.ID, 2)})

	if err := s.UnlinkZoneCampaign(ctx, z1.ID, c2.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.UnlinkZoneCampaign(ctx, z1.ID, c2.ID), models.ENOTFOUND, "is not linked to zone")
	list, err = s.ListZoneCampaigns(ctx, models.ZoneCampaignFilter{})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "all links", list, []models.ZoneCampaign{link(z1.ID, c1.ID, 7), link(z2.ID, c1.ID, 2)})

	wantErr(t, s.LinkZoneCampaign(ctx, &models.ZoneCampaign{ZoneID: z1.ID, CampaignID: c1.ID, Weight: 0}),
		models.EINVALID, "link weight")
	wantErr(t, s.LinkZoneCampaign(ctx, &models.ZoneCampaign{ZoneID: 424242, CampaignID: c1.ID, Weight: 1}),
		models.EINVALID, "zone_id: no such zone")
	wantErr(t, s.LinkZoneCampaign(ctx, &models.ZoneCampaign{ZoneID: z1.ID, CampaignID: 424242, Weight: 1}),
		models.EINVALID, "campaign_id: no such campaign")
}
