package decision

import (
	"math/rand/v2"
	"testing"
	"time"

	"adnet/models"
)

// testNow is a Wednesday, 12:00 UTC.
var testNow = time.Date(2025, 6, 11, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// newInv returns an inventory with one advertiser (1), one publisher (1, 70 % share) and one
// site (1, news.example); tests add zones, campaigns, creatives and links.
func newInv() *models.Inventory {
	return &models.Inventory{
		LoadedAt:    testNow,
		Advertisers: []models.Advertiser{{ID: 1, Name: "adv", Status: models.StatusActive}},
		Publishers:  []models.Publisher{{ID: 1, Name: "pub", Status: models.StatusActive, RevenueShareBP: 7000}},
		Sites:       []models.Site{{ID: 1, PublisherID: 1, Name: "site", Domain: "news.example", Status: models.StatusActive}},
	}
}

func addZone(inv *models.Inventory, id int64, w, h int) *models.Zone {
	inv.Zones = append(inv.Zones, models.Zone{ID: id, SiteID: 1, Name: "z", Width: w, Height: h, Status: models.StatusActive})
	return &inv.Zones[len(inv.Zones)-1]
}

// addCampaign adds an ASAP CPM campaign (rate 2.000000 per mille) with one 300×250 creative
// (id = campaign id × 10) linked to each given zone with weight 1.
func addCampaign(inv *models.Inventory, id int64, tier models.Tier, weight int, zones ...int64) *models.Campaign {
	inv.Campaigns = append(inv.Campaigns, models.Campaign{
		ID: id, AdvertiserID: 1, Name: "c", Status: models.StatusActive, Tier: tier, Weight: weight,
		Pricing: models.PricingCPM, RateMicros: 2_000_000, Pacing: models.PacingASAP,
	})
	addCreative(inv, id*10, id, 300, 250, 1)
	for _, z := range zones {
		inv.Links = append(inv.Links, models.ZoneCampaign{ZoneID: z, CampaignID: id, Weight: 1})
	}
	return &inv.Campaigns[len(inv.Campaigns)-1]
}

func addCreative(inv *models.Inventory, id, campaign int64, w, h, weight int) {
	inv.Creatives = append(inv.Creatives, models.Creative{
		ID: id, CampaignID: campaign, Name: "cr", Status: models.StatusActive, Kind: models.CreativeImage,
		Width: w, Height: h, Weight: weight, ImageURL: "https://cdn.example/a.png", ClickURL: "https://shop.example/",
	})
}

func campaignByID(inv *models.Inventory, id int64) *models.Campaign {
	for i := range inv.Campaigns {
		if inv.Campaigns[i].ID == id {
			return &inv.Campaigns[i]
		}
	}
	panic("no campaign")
}

func mustBuild(t testing.TB, inv *models.Inventory, opt Options) *Snapshot {
	t.Helper()
	s, err := Build(inv, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustEngine(t testing.TB, inv *models.Inventory) *Engine {
	t.Helper()
	return NewEngine(mustBuild(t, inv, Options{}))
}

func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15)) }

func req(zone int64) *Request {
	return &Request{ZoneID: zone, Time: testNow, Country: [2]byte{'D', 'E'}, UA: NewUA("desktop", "windows", "chrome"), PageURL: "https://news.example/sport/article"}
}
