package mysql_test

import (
	"testing"
	"time"

	"adnet/models"
)

func TestAdvertiserCRUD(t *testing.T) {
	t.Parallel()
	s, _, clk := newStore(t)
	ctx := t.Context()

	a := &models.Advertiser{Name: "Acme", Status: models.StatusActive, PostbackSecret: "s3cret"}
	if err := s.CreateAdvertiser(ctx, a); err != nil {
		t.Fatal(err)
	}
	if a.ID == 0 || !a.CreatedAt.Equal(clk.t.Truncate(time.Microsecond)) || a.CreatedAt.Location() != time.UTC {
		t.Fatalf("after create: id %d created_at %v", a.ID, a.CreatedAt)
	}
	got, err := s.GetAdvertiser(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "get after create", got, a)

	clk.t = clk.t.Add(time.Hour)
	a.Name, a.Status, a.PostbackSecret = "Acme Corp", models.StatusPaused, "rotated"
	a.CreatedAt = time.Time{} // not stored: Update reloads it
	if err := s.UpdateAdvertiser(ctx, a); err != nil {
		t.Fatal(err)
	}
	if !a.UpdatedAt.Equal(clk.t.Truncate(time.Microsecond)) || !a.CreatedAt.Equal(got.CreatedAt) {
		t.Fatalf("after update: created_at %v updated_at %v", a.CreatedAt, a.UpdatedAt)
	}
	got, err = s.GetAdvertiser(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "get after update", got, a)

	b := mustAdvertiser(t, s, "Beta", models.StatusActive)
	all, err := s.ListAdvertisers(ctx, models.AdvertiserFilter{})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "list all", all, []models.Advertiser{*a, *b})
	own, err := s.ListAdvertisers(ctx, models.AdvertiserFilter{ID: &b.ID})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "list owner", own, []models.Advertiser{*b})
	paused, err := s.ListAdvertisers(ctx, models.AdvertiserFilter{Status: models.StatusPaused})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "list paused", paused, []models.Advertiser{*a})
	page, err := s.ListAdvertisers(ctx, models.AdvertiserFilter{Page: models.Page{Offset: 1, Limit: 1}})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "list page 2", page, []models.Advertiser{*b})
	none, err := s.ListAdvertisers(ctx, models.AdvertiserFilter{ID: ptr(int64(0))})
	if err != nil || none == nil || len(none) != 0 {
		t.Fatalf("list for owner 0 = %v, %v; want an empty list", none, err)
	}

	wantErr(t, s.CreateAdvertiser(ctx, &models.Advertiser{Name: "Beta", Status: models.StatusActive}),
		models.ECONFLICT, "an advertiser with this name already exists")
	b.Name = "Acme Corp"
	wantErr(t, s.UpdateAdvertiser(ctx, b), models.ECONFLICT, "an advertiser with this name already exists")
	wantErr(t, s.CreateAdvertiser(ctx, &models.Advertiser{Name: " ", Status: models.StatusActive}),
		models.EINVALID, "advertiser name")
	wantErr(t, s.CreateAdvertiser(ctx, &models.Advertiser{Name: "X", Status: "deleted"}),
		models.EINVALID, "advertiser status")
	_, err = s.GetAdvertiser(ctx, 424242)
	wantErr(t, err, models.ENOTFOUND, "advertiser 424242 not found")
	wantErr(t, s.UpdateAdvertiser(ctx, &models.Advertiser{ID: 424242, Name: "Z", Status: models.StatusActive}),
		models.ENOTFOUND, "advertiser 424242 not found")
}

func TestCampaignCRUD(t *testing.T) {
	t.Parallel()
	s, _, clk := newStore(t)
	ctx := t.Context()
	adv := mustAdvertiser(t, s, "Acme", models.StatusActive)
	other := mustAdvertiser(t, s, "Other", models.StatusActive)

	start := time.Date(2025, 3, 1, 0, 0, 0, 999999999, time.FixedZone("CET", 3600))
	end := start.Add(30 * 24 * time.Hour)
	c := &models.Campaign{
		AdvertiserID: adv.ID, Name: "Spring sale", Status: models.StatusActive,
		StartAt: &start, EndAt: &end,
		Tier: models.TierContract, Weight: 250, Pricing: models.PricingCPC, RateMicros: 350_000,
		Lifetime: models.Limits{Impressions: 1_000_000, Clicks: 5_000, Conversions: 100, SpendMicros: 9_000_000_000},
		Daily:    models.Limits{Impressions: 50_000, Clicks: 250, Conversions: 7, SpendMicros: 400_000_000},
		Pacing:   models.PacingEven, FreqCap: 3, FreqWindow: 24*time.Hour + 1500*time.Millisecond,
		ConversionWindow: 7 * 24 * time.Hour,
		Targeting: models.Targeting{
			Countries: []string{"de", "AT"}, ExcludeCountries: []string{"CH"},
			Devices: []string{"mobile"}, OSes: []string{"android", "ios"}, Browsers: []string{"chrome"},
			Days: []int{1, 2, 3, 4, 5}, Hours: []int{0, 8, 23},
			SiteDomains: []string{"News.Example"}, ExcludeDomains: []string{"bad.example"},
			URLContains: []string{"/sport/"},
			KeyValues:   map[string][]string{"section": {"sport", "news"}, "lang": {"de"}},
		},
	}
	if err := s.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	// Validate normalised the targeting; the store normalised times and durations.
	if c.Targeting.Countries[0] != "DE" || c.Targeting.SiteDomains[0] != "news.example" ||
		c.StartAt.Location() != time.UTC || c.StartAt.Nanosecond() != 999999000 || c.FreqWindow != 24*time.Hour+time.Second {
		t.Fatalf("not normalised: %+v start %v freq window %v", c.Targeting, c.StartAt, c.FreqWindow)
	}
	got, err := s.GetCampaign(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "get after create", got, c)

	// Nullable window, empty targeting, other pricing.
	open := mustCampaign(t, s, newCampaign(adv.ID, "Evergreen"))
	got, err = s.GetCampaign(ctx, open.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.StartAt != nil || got.EndAt != nil {
		t.Fatalf("open-ended campaign came back with window %v-%v", got.StartAt, got.EndAt)
	}
	same(t, "open-ended campaign", got, open)

	clk.t = clk.t.Add(time.Minute)
	c.Name, c.Status, c.EndAt, c.Tier, c.Targeting = "Spring sale 2", models.StatusPaused, nil, models.TierOverride, models.Targeting{}
	c.AdvertiserID = other.ID // ignored: a campaign never changes hands
	if err := s.UpdateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	if c.AdvertiserID != adv.ID || c.EndAt != nil || c.Tier != models.TierOverride {
		t.Fatalf("after update: %+v", c)
	}
	got, err = s.GetCampaign(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "get after update", got, c)

	otherCampaign := mustCampaign(t, s, newCampaign(other.ID, "Theirs"))
	list, err := s.ListCampaigns(ctx, models.CampaignFilter{AdvertiserID: &adv.ID})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "list owner", list, []models.Campaign{*c, *open})
	list, err = s.ListCampaigns(ctx, models.CampaignFilter{Status: models.StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "list active", list, []models.Campaign{*open, *otherCampaign})

	wantErr(t, s.CreateCampaign(ctx, newCampaign(adv.ID, "Evergreen")), models.ECONFLICT,
		"this advertiser already has a campaign with this name")
	// The same name under another advertiser is fine.
	mustCampaign(t, s, newCampaign(other.ID, "Evergreen"))
	wantErr(t, s.CreateCampaign(ctx, newCampaign(424242, "Orphan")), models.EINVALID, "advertiser_id: no such advertiser")
	bad := newCampaign(adv.ID, "Bad")
	bad.Targeting.Countries = []string{"Germany"}
	wantErr(t, s.CreateCampaign(ctx, bad), models.EINVALID, "targeting countries")
	bad = newCampaign(adv.ID, "Bad")
	bad.Pacing = models.PacingEven
	wantErr(t, s.CreateCampaign(ctx, bad), models.EINVALID, "pacing even needs a daily limit")
	_, err = s.GetCampaign(ctx, 424242)
	wantErr(t, err, models.ENOTFOUND, "campaign 424242 not found")
	missing := newCampaign(adv.ID, "Missing")
	missing.ID = 424242
	wantErr(t, s.UpdateCampaign(ctx, missing), models.ENOTFOUND, "campaign 424242 not found")
}

func TestCreativeCRUD(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := t.Context()
	adv := mustAdvertiser(t, s, "Acme", models.StatusActive)
	other := mustAdvertiser(t, s, "Other", models.StatusActive)
	camp := mustCampaign(t, s, newCampaign(adv.ID, "C1"))
	camp2 := mustCampaign(t, s, newCampaign(adv.ID, "C2"))
	theirs := mustCampaign(t, s, newCampaign(other.ID, "C3"))

	image := mustCreative(t, s, newCreative(camp.ID, "banner"))
	html := &models.Creative{CampaignID: camp.ID, Name: "rich", Status: models.StatusPaused, Kind: models.CreativeHTML,
		Width: 728, Height: 90, Weight: 5, HTML: `<a href="{{click_url}}">Buy ✓</a>`, ClickURL: "https://shop.example/"}
	mustCreative(t, s, html)
	text := &models.Creative{CampaignID: camp2.ID, Name: "text", Status: models.StatusActive, Kind: models.CreativeText,
		Width: 300, Height: 100, Weight: 1, Title: "Große Auswahl", Text: "Jetzt kaufen", ClickURL: "https://shop.example/t"}
	mustCreative(t, s, text)
	foreign := mustCreative(t, s, newCreative(theirs.ID, "foreign"))

	for _, want := range []*models.Creative{image, html, text, foreign} {
		got, err := s.GetCreative(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		same(t, "get "+want.Name, got, want)
	}

	image.Status, image.ImageURL, image.Weight = models.StatusArchived, "/static/banner.png", 9
	image.CampaignID = camp2.ID // ignored: a creative never moves
	if err := s.UpdateCreative(ctx, image); err != nil {
		t.Fatal(err)
	}
	if image.CampaignID != camp.ID || image.ImageURL != "/static/banner.png" {
		t.Fatalf("after update: %+v", image)
	}

	list, err := s.ListCreatives(ctx, models.CreativeFilter{AdvertiserID: &adv.ID})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "list owner", list, []models.Creative{*image, *html, *text})
	list, err = s.ListCreatives(ctx, models.CreativeFilter{AdvertiserID: &adv.ID, CampaignID: &theirs.ID})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "another advertiser's campaign", list, []models.Creative{})
	list, err = s.ListCreatives(ctx, models.CreativeFilter{CampaignID: &camp.ID, Status: models.StatusPaused})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "list campaign paused", list, []models.Creative{*html})

	wantErr(t, s.CreateCreative(ctx, newCreative(camp.ID, "banner")), models.ECONFLICT,
		"this campaign already has a creative with this name")
	wantErr(t, s.CreateCreative(ctx, newCreative(424242, "x")), models.EINVALID, "campaign_id: no such campaign")
	bad := newCreative(camp.ID, "bad")
	bad.ClickURL = "javascript:alert(1)"
	wantErr(t, s.CreateCreative(ctx, bad), models.EINVALID, "click_url")
	_, err = s.GetCreative(ctx, 424242)
	wantErr(t, err, models.ENOTFOUND, "creative 424242 not found")
	missing := newCreative(camp.ID, "missing")
	missing.ID = 424242
	wantErr(t, s.UpdateCreative(ctx, missing), models.ENOTFOUND, "creative 424242 not found")
}

func TestUsers(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := t.Context()
	adv := mustAdvertiser(t, s, "Acme", models.StatusActive)
	pub := mustPublisher(t, s, "News", models.StatusActive)

	admin := &models.User{Email: "root@adnet.example", PasswordHash: "$2a$10$hash", Role: models.RoleAdmin}
	advUser := &models.User{Email: "Ann@Acme.example", PasswordHash: "$2a$10$x", Role: models.RoleAdvertiser, AdvertiserID: &adv.ID}
	pubUser := &models.User{Email: "bob@news.example", PasswordHash: "$2a$10$y", Role: models.RolePublisher, PublisherID: &pub.ID}
	for _, u := range []*models.User{admin, advUser, pubUser} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetUserByEmail(ctx, u.Email)
		if err != nil {
			t.Fatal(err)
		}
		same(t, "get "+u.Email, got, u)
	}
	got, err := s.GetUserByEmail(ctx, "ann@acme.EXAMPLE")
	if err != nil || got.ID != advUser.ID {
		t.Fatalf("case-insensitive lookup = %+v, %v", got, err)
	}

	wantErr(t, s.CreateUser(ctx, &models.User{Email: "ANN@acme.example", PasswordHash: "h", Role: models.RoleAdmin}),
		models.ECONFLICT, "a user with this email already exists")
	wantErr(t, s.CreateUser(ctx, &models.User{Email: "x@y.example", PasswordHash: "h", Role: models.RoleAdvertiser}),
		models.EINVALID, "needs advertiser_id")
	wantErr(t, s.CreateUser(ctx, &models.User{Email: "x@y.example", PasswordHash: "h", Role: "root"}),
		models.EINVALID, "user role")
	wantErr(t, s.CreateUser(ctx, &models.User{Email: "nobody", PasswordHash: "h", Role: models.RoleAdmin}),
		models.EINVALID, "user email")
	wantErr(t, s.CreateUser(ctx, &models.User{Email: "x@y.example", PasswordHash: "h", Role: models.RolePublisher, PublisherID: ptr(int64(424242))}),
		models.EINVALID, "publisher_id: no such publisher")
	_, err = s.GetUserByEmail(ctx, "nobody@nowhere.example")
	wantErr(t, err, models.ENOTFOUND, "not found")
}
