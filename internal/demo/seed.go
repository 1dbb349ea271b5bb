// Package demo seeds a small but complete ad network — advertisers with campaigns in every
// priority tier, creatives of the standard sizes, publishers with sites and zones — and writes
// the publisher demo page that carries those zones' tags exactly as a publisher pastes them.
// `make run` uses it so that a browser shows real ads on the first start.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"adnet/models"
)

// Store is what seeding needs from storage (models/mysql.Store implements it).
type Store interface {
	CreateAdvertiser(ctx context.Context, a *models.Advertiser) error
	CreateCampaign(ctx context.Context, c *models.Campaign) error
	CreateCreative(ctx context.Context, c *models.Creative) error
	CreatePublisher(ctx context.Context, p *models.Publisher) error
	CreateSite(ctx context.Context, s *models.Site) error
	CreateZone(ctx context.Context, z *models.Zone) error
	UpdateZone(ctx context.Context, z *models.Zone) error
	LinkZoneCampaign(ctx context.Context, l *models.ZoneCampaign) error
}

// Network is what Seed created: enough to render the demo page.
type Network struct {
	Advertisers []models.Advertiser
	Campaigns   []models.Campaign
	Creatives   []models.Creative
	Publishers  []models.Publisher
	Sites       []models.Site
	Zones       []models.Zone
}

// EmptyCheckStore is Store plus the look at existing advertisers that SeedIfEmpty needs.
type EmptyCheckStore interface {
	Store
	ListAdvertisers(ctx context.Context, filter models.AdvertiserFilter) ([]models.Advertiser, error)
}

// SeedIfEmpty seeds the demo network into a database without advertisers and returns what it
// created; a database that has any is left alone (nil, nil), so `make run` can call it on
// every start without duplicating the network or touching real data.
func SeedIfEmpty(ctx context.Context, s EmptyCheckStore, baseURL string) (*Network, error) {
	existing, err := s.ListAdvertisers(ctx, models.AdvertiserFilter{})
	if err != nil {
		return nil, err
	}
	if len(existing) > 0 {
		return nil, nil
	}
	return Seed(ctx, s, baseURL)
}

// Seed creates the demo network. baseURL is the ad server's public URL: creatives' images
// live under its /static/creatives/ and their landing pages under /demo/. It is not
// idempotent; callers seed only an empty database.
func Seed(ctx context.Context, s Store, baseURL string) (*Network, error) {
	n := &Network{}
	adv := func(name string) (*models.Advertiser, error) {
		secret := make([]byte, 16)
		if _, err := rand.Read(secret); err != nil {
			return nil, err
		}
		a := &models.Advertiser{Name: name, Status: models.StatusActive, PostbackSecret: hex.EncodeToString(secret)}
		if err := s.CreateAdvertiser(ctx, a); err != nil {
			return nil, fmt.Errorf("demo advertiser %s: %w", name, err)
		}
		n.Advertisers = append(n.Advertisers, *a)
		return a, nil
	}
	acme, err := adv("Acme Shoes")
	if err != nil {
		return nil, err
	}
	globex, err := adv("Globex Travel")
	if err != nil {
		return nil, err
	}
	network, err := adv("adnet house ads")
	if err != nil {
		return nil, err
	}

	landing := func(who string) string { return baseURL + "/demo/landing.html?advertiser=" + who }
	camp := func(a *models.Advertiser, name string, tier models.Tier, pricing models.PricingModel, rate int64, mod func(*models.Campaign)) (*models.Campaign, error) {
		c := &models.Campaign{AdvertiserID: a.ID, Name: name, Status: models.StatusActive, Tier: tier, Weight: 10,
			Pricing: pricing, RateMicros: rate, Pacing: models.PacingASAP, ConversionWindow: 7 * 24 * time.Hour}
		if mod != nil {
			mod(c)
		}
		if err := s.CreateCampaign(ctx, c); err != nil {
			return nil, fmt.Errorf("demo campaign %s: %w", name, err)
		}
		n.Campaigns = append(n.Campaigns, *c)
		return c, nil
	}
	// Contract: a booked volume, spread evenly over the day.
	acmeContract, err := camp(acme, "Acme spring contract", models.TierContract, models.PricingCPM, 2_500_000, func(c *models.Campaign) {
		c.Daily = models.Limits{Impressions: 200000}
		c.Pacing = models.PacingEven
	})
	if err != nil {
		return nil, err
	}
	// Remnant, paid per click, capped per viewer.
	acmeRemnant, err := camp(acme, "Acme clearance (CPC)", models.TierRemnant, models.PricingCPC, 150_000, func(c *models.Campaign) {
		c.FreqCap, c.FreqWindow = 20, time.Hour
	})
	if err != nil {
		return nil, err
	}
	globexRemnant, err := camp(globex, "Globex flights (CPM)", models.TierRemnant, models.PricingCPM, 1_200_000, func(c *models.Campaign) {
		c.Weight = 20
	})
	if err != nil {
		return nil, err
	}
	// Override: a sponsorship of one site with a small daily budget in conversions (CPA).
	globexOverride, err := camp(globex, "Globex sponsorship (CPA)", models.TierOverride, models.PricingCPA, 4_000_000, func(c *models.Campaign) {
		c.Daily = models.Limits{Impressions: 5000}
		c.Targeting.SiteDomains = []string{"travel.example"}
	})
	if err != nil {
		return nil, err
	}
	house, err := camp(network, "House: advertise with us", models.TierHouse, models.PricingCPM, 0, nil)
	if err != nil {
		return nil, err
	}

	creative := func(c *models.Campaign, name string, kind models.CreativeKind, w, h int, mod func(*models.Creative)) (*models.Creative, error) {
		cr := &models.Creative{CampaignID: c.ID, Name: name, Status: models.StatusActive, Kind: kind, Width: w, Height: h, Weight: 1,
			ClickURL: landing(map[int64]string{acme.ID: "acme", globex.ID: "globex", network.ID: "adnet"}[c.AdvertiserID])}
		if kind == models.CreativeImage {
			cr.ImageURL = fmt.Sprintf("%s/static/creatives/%s.svg", baseURL, name)
		}
		if mod != nil {
			mod(cr)
		}
		if err := s.CreateCreative(ctx, cr); err != nil {
			return nil, fmt.Errorf("demo creative %s: %w", name, err)
		}
		n.Creatives = append(n.Creatives, *cr)
		return cr, nil
	}
	type cspec struct {
		c    *models.Campaign
		name string
		kind models.CreativeKind
		w, h int
		mod  func(*models.Creative)
	}
	var fallback *models.Creative
	for _, sp := range []cspec{
		{acmeContract, "acme-300x250", models.CreativeImage, 300, 250, nil},
		{acmeContract, "acme-728x90", models.CreativeImage, 728, 90, nil},
		{acmeRemnant, "acme-sale-300x250", models.CreativeImage, 300, 250, nil},
		{acmeRemnant, "acme-160x600", models.CreativeImage, 160, 600, nil},
		{acmeRemnant, "acme-text-728x90", models.CreativeText, 728, 90, func(cr *models.Creative) {
			cr.Title, cr.Text = "Acme Shoes clearance", "Last sizes at half price — free returns."
		}},
		{globexRemnant, "globex-300x250", models.CreativeImage, 300, 250, nil},
		{globexRemnant, "globex-728x90", models.CreativeImage, 728, 90, nil},
		{globexRemnant, "globex-320x50", models.CreativeImage, 320, 50, nil},
		{globexOverride, "globex-html-300x250", models.CreativeHTML, 300, 250, func(cr *models.Creative) {
			cr.HTML = `<a href="{click_url}" target="_blank" rel="noopener" style="display:flex;align-items:center;justify-content:center;` +
				`text-align:center;width:{width}px;height:{height}px;background:#0f766e;color:#fff;font:bold 22px sans-serif;text-decoration:none">` +
				`Globex sponsors travel.example ✈</a>`
		}},
		{house, "house-300x250", models.CreativeImage, 300, 250, nil},
		{house, "house-728x90", models.CreativeImage, 728, 90, nil},
		{house, "house-160x600", models.CreativeImage, 160, 600, nil},
	} {
		cr, err := creative(sp.c, sp.name, sp.kind, sp.w, sp.h, sp.mod)
		if err != nil {
			return nil, err
		}
		if sp.name == "house-300x250" {
			fallback = cr
		}
	}

	pub := func(name string, share int) (*models.Publisher, error) {
		p := &models.Publisher{Name: name, Status: models.StatusActive, RevenueShareBP: share}
		if err := s.CreatePublisher(ctx, p); err != nil {
			return nil, fmt.Errorf("demo publisher %s: %w", name, err)
		}
		n.Publishers = append(n.Publishers, *p)
		return p, nil
	}
	daily, err := pub("Daily Planet Media", 7000)
	if err != nil {
		return nil, err
	}
	wander, err := pub("Wanderlust Blogs", 6000)
	if err != nil {
		return nil, err
	}
	site := func(p *models.Publisher, name, domain string) (*models.Site, error) {
		st := &models.Site{PublisherID: p.ID, Name: name, Domain: domain, Status: models.StatusActive}
		if err := s.CreateSite(ctx, st); err != nil {
			return nil, fmt.Errorf("demo site %s: %w", domain, err)
		}
		n.Sites = append(n.Sites, *st)
		return st, nil
	}
	news, err := site(daily, "Daily Planet news", "news.example")
	if err != nil {
		return nil, err
	}
	sport, err := site(daily, "Daily Planet sport", "sport.example")
	if err != nil {
		return nil, err
	}
	travel, err := site(wander, "Wanderlust travel", "travel.example")
	if err != nil {
		return nil, err
	}
	zone := func(st *models.Site, name string, w, h int, campaigns ...*models.Campaign) (*models.Zone, error) {
		z := &models.Zone{SiteID: st.ID, Name: name, Width: w, Height: h, Status: models.StatusActive}
		if w == 300 && h == 250 {
			z.FallbackCreativeID = &fallback.ID
		}
		if err := s.CreateZone(ctx, z); err != nil {
			return nil, fmt.Errorf("demo zone %s: %w", name, err)
		}
		for _, c := range campaigns {
			if err := s.LinkZoneCampaign(ctx, &models.ZoneCampaign{ZoneID: z.ID, CampaignID: c.ID, Weight: 1}); err != nil {
				return nil, fmt.Errorf("demo link zone %s: %w", name, err)
			}
		}
		n.Zones = append(n.Zones, *z)
		return z, nil
	}
	all := []*models.Campaign{acmeContract, acmeRemnant, globexRemnant, house}
	if _, err := zone(news, "news: medium rectangle", 300, 250, all...); err != nil {
		return nil, err
	}
	if _, err := zone(news, "news: leaderboard", 728, 90, all...); err != nil {
		return nil, err
	}
	if _, err := zone(sport, "sport: skyscraper", 160, 600, acmeRemnant, house); err != nil {
		return nil, err
	}
	if _, err := zone(travel, "travel: medium rectangle", 300, 250, globexOverride, globexRemnant, acmeRemnant, house); err != nil {
		return nil, err
	}
	if _, err := zone(travel, "travel: mobile banner", 320, 50, globexRemnant); err != nil {
		return nil, err
	}
	return n, nil
}
