package decision

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"adnet/internal/token"
	"adnet/models"
)

// benchEngine builds a realistic network: 1000 zones on 50 sites of 5 publishers, 200
// campaigns (5 override with narrow targeting, 40 paced contract campaigns, some frequency
// capped, 140 remnant with assorted targeting, 15 house), 3 creatives each in IAB sizes, and
// about 25 campaign links per zone; plus 256 varied requests.
func benchEngine(tb testing.TB) (*Engine, []Request) {
	tb.Helper()
	inv, reqs := benchInventory()
	return NewEngine(mustBuild(tb, inv, Options{})), reqs
}

func benchInventory() (*models.Inventory, []Request) {
	rng := newRNG(42)
	inv := &models.Inventory{LoadedAt: testNow}
	inv.Advertisers = []models.Advertiser{{ID: 1, Name: "a", Status: models.StatusActive}}
	for p := int64(1); p <= 5; p++ {
		inv.Publishers = append(inv.Publishers, models.Publisher{ID: p, Name: "p", Status: models.StatusActive, RevenueShareBP: 6000 + int(p)*500})
	}
	for s := int64(1); s <= 50; s++ {
		inv.Sites = append(inv.Sites, models.Site{ID: s, PublisherID: 1 + s%5, Name: "s", Domain: fmt.Sprintf("site%d.example", s), Status: models.StatusActive})
	}
	sizes := models.IABSizes[:5] // the common sizes, so that most links find a fitting creative
	for z := int64(1); z <= 1000; z++ {
		sz := sizes[z%int64(len(sizes))]
		zone := models.Zone{ID: z, SiteID: 1 + z%50, Name: "z", Width: sz.Width, Height: sz.Height, Status: models.StatusActive}
		if z%10 == 0 {
			zone.FallbackZoneID = ptr(z - 5) // same size (5 sizes cycle)
		}
		inv.Zones = append(inv.Zones, zone)
	}
	countries := []string{"DE", "US", "FR", "GB", "NL", "IT", "ES", "PL"}
	for c := int64(1); c <= 200; c++ {
		m := models.Campaign{ID: c, AdvertiserID: 1, Name: "c", Status: models.StatusActive, Weight: 1 + rng.IntN(100),
			Pricing: models.PricingCPM, RateMicros: 500_000 + rng.Int64N(3_000_000), Pacing: models.PacingASAP,
			Lifetime: models.Limits{Impressions: 1 << 40}}
		switch {
		case c <= 5:
			m.Tier = models.TierOverride
			m.Targeting = models.Targeting{Countries: []string{"JP"}, Devices: []string{"tablet"}}
		case c <= 45:
			m.Tier, m.Pacing = models.TierContract, models.PacingEven
			m.Daily = models.Limits{Impressions: 1 << 30, SpendMicros: 1 << 50}
			if c%3 == 0 {
				m.FreqCap, m.FreqWindow = 5, 24*time.Hour
			}
			m.Targeting.Countries = []string{countries[c%8], countries[(c+3)%8]}
		case c <= 185:
			m.Tier = models.TierRemnant
			switch c % 5 {
			case 0:
				m.Targeting.Browsers = []string{"chrome", "firefox"}
			case 1:
				m.Targeting.ExcludeCountries = []string{"US"}
			case 2:
				m.Targeting.Hours = []int{8, 9, 10, 11, 12, 13, 14, 15, 16, 17}
			case 3:
				m.Targeting.URLContains = []string{"/sport/"}
			}
		default:
			m.Tier = models.TierHouse
		}
		inv.Campaigns = append(inv.Campaigns, m)
		inv.Totals = append(inv.Totals, models.CampaignTotals{CampaignID: c, Today: models.Counts{Impressions: rng.Int64N(1000)}})
		for k := range 3 {
			sz := sizes[(int(c)+k)%len(sizes)]
			addCreative(inv, c*10+int64(k), c, sz.Width, sz.Height, 1+rng.IntN(5))
		}
	}
	for z := int64(1); z <= 1000; z++ {
		for range 25 {
			inv.Links = append(inv.Links, models.ZoneCampaign{ZoneID: z, CampaignID: 1 + rng.Int64N(200), Weight: 1 + rng.IntN(10)})
		}
	}
	uas := []UA{NewUA("desktop", "windows", "chrome"), NewUA("mobile", "android", "chrome"), NewUA("mobile", "ios", "safari"), NewUA("desktop", "macos", "firefox")}
	reqs := make([]Request, 256)
	for i := range reqs {
		r := &reqs[i]
		r.ZoneID = 1 + rng.Int64N(1000)
		r.Time = testNow
		copy(r.Country[:], countries[rng.IntN(len(countries))])
		r.UA = uas[rng.IntN(len(uas))]
		r.PageURL = "https://site.example/news/article-123"
		if i%4 == 0 {
			r.PageURL = "https://site.example/sport/match-9"
		}
		r.KeyValues = []KV{{"section", "news"}}
	}
	return inv, reqs
}

// BenchmarkDecide measures one decision on a realistic snapshot (see benchEngine), with a
// viewer cookie state of 8 entries.
func BenchmarkDecide(b *testing.B) {
	e, reqs := benchEngine(b)
	var v token.Viewer
	v.Reset(1)
	for i := range 8 {
		v.Record(int64(3*i+3), 24*time.Hour, testNow)
	}
	for i := range reqs {
		reqs[i].Viewer = &v
	}
	rng := newRNG(1)
	filled := 0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := e.Decide(&reqs[i&255], rng); ok {
			filled++
		}
		i++
	}
	b.ReportMetric(float64(filled)/float64(i), "fill")
}

// BenchmarkDecideParallel shows the cost of shared atomic counters under concurrency.
func BenchmarkDecideParallel(b *testing.B) {
	e, reqs := benchEngine(b)
	b.ReportAllocs()
	var seed atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		rng := newRNG(seed.Add(1))
		i := 0
		for pb.Next() {
			e.Decide(&reqs[i&255], rng)
			i++
		}
	})
}

// BenchmarkBuild measures building the realistic snapshot (done on every inventory refresh).
func BenchmarkBuild(b *testing.B) {
	inv, _ := benchInventory()
	b.ReportAllocs()
	for b.Loop() {
		mustBuild(b, inv, Options{})
	}
}
