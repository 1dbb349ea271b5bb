package decision

import (
	"strings"
	"testing"
	"time"

	"adnet/models"
)

func TestBuildErrors(t *testing.T) {
	if _, err := Build(nil, Options{}); models.ErrorCode(err) != models.EINVALID {
		t.Errorf("nil inventory: %v", err)
	}
	inv := newInv()
	inv.LoadedAt = time.Time{}
	if _, err := Build(inv, Options{}); models.ErrorCode(err) != models.EINVALID {
		t.Errorf("zero LoadedAt: %v", err)
	}
	if _, err := Build(newInv(), Options{MaxFallbackDepth: -1}); err == nil {
		t.Error("negative depth accepted")
	}
}

func TestSizeFit(t *testing.T) {
	inv := newInv()
	addZone(inv, 1, 300, 250)
	// Campaign 1: an exact creative (10) plus a smaller and a larger one; only the exact serves.
	addCampaign(inv, 1, models.TierRemnant, 1, 1)
	addCreative(inv, 11, 1, 250, 250, 5)
	addCreative(inv, 12, 1, 728, 90, 5)
	// Campaign 2 (higher tier, so it is tried first): no exact size; the smaller ones serve.
	inv.Campaigns = append(inv.Campaigns, models.Campaign{ID: 2, AdvertiserID: 1, Name: "c", Status: models.StatusActive,
		Tier: models.TierContract, Weight: 1, Pricing: models.PricingCPM, Pacing: models.PacingASAP})
	addCreative(inv, 21, 2, 250, 250, 1)
	addCreative(inv, 22, 2, 300, 100, 1)
	addCreative(inv, 23, 2, 336, 280, 1)
	inv.Links = append(inv.Links, models.ZoneCampaign{ZoneID: 1, CampaignID: 2, Weight: 1})
	// Campaign 3 (override): nothing fits, so it is not a candidate.
	inv.Campaigns = append(inv.Campaigns, models.Campaign{ID: 3, AdvertiserID: 1, Name: "c", Status: models.StatusActive,
		Tier: models.TierOverride, Weight: 1, Pricing: models.PricingCPM, Pacing: models.PacingASAP})
	addCreative(inv, 31, 3, 728, 90, 1)
	inv.Links = append(inv.Links, models.ZoneCampaign{ZoneID: 1, CampaignID: 3, Weight: 1})

	s := mustBuild(t, inv, Options{})
	e := NewEngine(s)
	rng := newRNG(5)
	seen := map[int64]int{}
	for range 400 {
		d, ok := e.Decide(req(1), rng)
		if !ok {
			t.Fatal("nothing served")
		}
		seen[d.Creative.ID]++
	}
	if seen[21] == 0 || seen[22] == 0 || len(seen) != 2 {
		t.Fatalf("creatives served: %v, want only 21 and 22 (smaller, no exact match)", seen)
	}
	probs, _ := s.Problems()
	if !strings.Contains(strings.Join(probs, "\n"), "campaign 3 has no creative that fits") {
		t.Fatalf("problems: %v", probs)
	}
	// Without campaign 2, campaign 1 serves its exact-size creative only.
	inv.Links = inv.Links[:1]
	e.Swap(mustBuild(t, inv, Options{}))
	for range 200 {
		if d, _ := e.Decide(req(1), rng); d.Creative.ID != 10 {
			t.Fatalf("creative %d served, want the exact-size 10", d.Creative.ID)
		}
	}
}

// chainInv builds zones 1..n (300×250), zone i falling back to next[i] when set.
func chainInv(n int, next map[int64]int64) *models.Inventory {
	inv := newInv()
	for i := 1; i <= n; i++ {
		z := addZone(inv, int64(i), 300, 250)
		if f, ok := next[int64(i)]; ok {
			z.FallbackZoneID = ptr(f)
		}
	}
	return inv
}

func TestFallbackChain(t *testing.T) {
	inv := chainInv(3, map[int64]int64{1: 2, 2: 3})
	// Zone 3 belongs to another publisher's site: the decision must still credit zone 1's.
	inv.Publishers = append(inv.Publishers, models.Publisher{ID: 2, Name: "p2", Status: models.StatusActive, RevenueShareBP: 5000})
	inv.Sites = append(inv.Sites, models.Site{ID: 2, PublisherID: 2, Name: "s2", Domain: "other.example", Status: models.StatusActive})
	inv.Zones[2].SiteID = 2
	addCampaign(inv, 1, models.TierRemnant, 1, 1).Targeting = models.Targeting{Countries: []string{"FR"}}
	addCampaign(inv, 3, models.TierRemnant, 1, 3)
	addCreative(inv, 99, 3, 300, 250, 1) // fallback creative candidate
	e := mustEngine(t, inv)
	rng := newRNG(1)

	d, ok := e.Decide(req(1), rng)
	if !ok || d.Fallback != FallbackZone || d.SourceZoneID != 3 || d.CampaignID != 3 ||
		d.ZoneID != 1 || d.PublisherID != 1 || d.ShareBP != 7000 || d.PriceMicros != 2_000_000 {
		t.Fatalf("zone → zone → zone: %+v ok=%v", d, ok)
	}
	// The zone's own campaign still wins when eligible.
	r := req(1)
	r.Country = [2]byte{'F', 'R'}
	if d, _ := e.Decide(r, rng); d.CampaignID != 1 || d.Fallback != FallbackNone {
		t.Fatalf("own campaign: %+v", d)
	}
	// Nothing in the chain: the fallback creative, unpriced.
	campaignByID(inv, 3).Targeting = models.Targeting{Countries: []string{"FR"}}
	inv.Zones[0].FallbackCreativeID = ptr(int64(99))
	e.Swap(mustBuild(t, inv, Options{}))
	d, ok = e.Decide(req(1), rng)
	if !ok || d.Fallback != FallbackCreative || d.Creative.ID != 99 || d.PriceMicros != 0 || d.Tier != 0 || d.CampaignID != 3 {
		t.Fatalf("fallback creative: %+v ok=%v", d, ok)
	}
	// Nothing at all: no decision, but the zone is known.
	inv.Zones[0].FallbackCreativeID = nil
	e.Swap(mustBuild(t, inv, Options{}))
	d, ok = e.Decide(req(1), rng)
	if ok || d.ZoneID != 1 || d.SiteID != 1 || d.Creative != nil {
		t.Fatalf("nothing: %+v ok=%v", d, ok)
	}
}

func TestFallbackCycles(t *testing.T) {
	for name, next := range map[string]map[int64]int64{
		"two-zone loop":   {1: 2, 2: 1},
		"three-zone loop": {1: 2, 2: 3, 3: 1},
		"self":            {1: 1},
		"loop further on": {1: 2, 2: 3, 3: 2},
	} {
		t.Run(name, func(t *testing.T) {
			inv := chainInv(3, next)
			addCampaign(inv, 7, models.TierRemnant, 1, 1, 2, 3).Targeting = models.Targeting{Countries: []string{"FR"}}
			addCreative(inv, 98, 7, 300, 250, 1)
			inv.Zones[0].FallbackCreativeID = ptr(int64(98))
			s := mustBuild(t, inv, Options{})
			probs, _ := s.Problems()
			if !strings.Contains(strings.Join(probs, "\n"), "loops back") {
				t.Fatalf("cycle not reported: %v", probs)
			}
			for _, z := range s.zones {
				seen := map[int64]bool{z.id: true}
				for _, f := range z.chain {
					if seen[f.id] {
						t.Fatalf("zone %d: chain visits zone %d twice", z.id, f.id)
					}
					seen[f.id] = true
				}
			}
			d, ok := NewEngine(s).Decide(req(1), newRNG(1))
			if !ok || d.Fallback != FallbackCreative {
				t.Fatalf("cycle: %+v ok=%v, want the fallback creative", d, ok)
			}
		})
	}
}

func TestFallbackDepthAndSize(t *testing.T) {
	inv := chainInv(5, map[int64]int64{1: 2, 2: 3, 3: 4, 4: 5})
	addCampaign(inv, 5, models.TierRemnant, 1, 5)
	s := mustBuild(t, inv, Options{MaxFallbackDepth: 2})
	e := NewEngine(s)
	if _, ok := e.Decide(req(1), newRNG(1)); ok {
		t.Fatal("zone 5 reached from zone 1 beyond the depth of 2")
	}
	if d, ok := e.Decide(req(3), newRNG(1)); !ok || d.SourceZoneID != 5 {
		t.Fatalf("zone 3 → 4 → 5 within depth: %+v %v", d, ok)
	}
	if probs, _ := s.Problems(); !strings.Contains(strings.Join(probs, "\n"), "longer than 2") {
		t.Fatalf("depth cut not reported: %v", probs)
	}
	// A fallback zone of another size cuts the chain.
	inv = chainInv(2, map[int64]int64{1: 2})
	inv.Zones[1].Width, inv.Zones[1].Height = 728, 90
	addCampaign(inv, 2, models.TierRemnant, 1, 2)
	addCreative(inv, 21, 2, 728, 90, 1)
	// Fallback creatives larger than the zone are ignored too.
	addCreative(inv, 22, 2, 970, 250, 1)
	inv.Zones[0].FallbackCreativeID = ptr(int64(22))
	s = mustBuild(t, inv, Options{})
	if d, ok := NewEngine(s).Decide(req(1), newRNG(1)); ok {
		t.Fatalf("served across sizes: %+v", d)
	}
	all, n := s.Problems()
	joined := strings.Join(all, "\n")
	if n < 2 || !strings.Contains(joined, "chain cut") || !strings.Contains(joined, "larger than the zone") {
		t.Fatalf("problems: %v", all)
	}
}

func TestShares(t *testing.T) {
	inv := newInv()
	addZone(inv, 1, 300, 250)
	addCampaign(inv, 1, models.TierRemnant, 1, 1)
	addCampaign(inv, 2, models.TierRemnant, 3, 1)
	addCampaign(inv, 3, models.TierOverride, 2, 1)
	inv.Links[1].Weight = 2 // campaign 2: 3 × 2 = 6
	s := mustBuild(t, inv, Options{})
	got, ok := s.Shares(1)
	want := []Share{
		{CampaignID: 3, Tier: models.TierOverride, Weight: 2, TierBP: 10000},
		{CampaignID: 1, Tier: models.TierRemnant, Weight: 1, TierBP: 1428},
		{CampaignID: 2, Tier: models.TierRemnant, Weight: 6, TierBP: 8571},
	}
	if !ok || len(got) != len(want) {
		t.Fatalf("Shares = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("share %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, ok := s.Shares(2); ok {
		t.Error("Shares of an unknown zone")
	}
}

func TestSnapshotIsIndependentOfInventory(t *testing.T) {
	inv := newInv()
	addZone(inv, 1, 300, 250)
	addCampaign(inv, 1, models.TierRemnant, 1, 1)
	s := mustBuild(t, inv, Options{})
	inv.Creatives[0].ClickURL = "https://evil.example/"
	inv.Campaigns[0].RateMicros = 1
	cr, ok := s.Creative(10)
	if !ok || cr.ClickURL != "https://shop.example/" {
		t.Fatalf("snapshot creative changed with the inventory: %+v", cr)
	}
	if c, _ := s.Campaign(1); c.RateMicros != 2_000_000 {
		t.Fatal("snapshot campaign changed with the inventory")
	}
	if _, ok := s.Creative(11); ok {
		t.Fatal("unknown creative found")
	}
}

func TestInactiveParentsAndDuplicates(t *testing.T) {
	inv := newInv()
	addZone(inv, 1, 300, 250)
	addCampaign(inv, 1, models.TierRemnant, 1, 1).AdvertiserID = 2 // advertiser not in the inventory
	addZone(inv, 2, 300, 250).SiteID = 9                           // site not in the inventory
	addCampaign(inv, 3, models.TierRemnant, 1, 2)
	inv.Links = append(inv.Links, models.ZoneCampaign{ZoneID: 1, CampaignID: 3, Weight: 1}, models.ZoneCampaign{ZoneID: 1, CampaignID: 3, Weight: 5})
	s := mustBuild(t, inv, Options{})
	if s.NumZones() != 1 {
		t.Fatalf("%d zones, want 1 (zone 2's site is missing)", s.NumZones())
	}
	got, _ := s.Shares(1)
	if len(got) != 1 || got[0].CampaignID != 3 || got[0].Weight != 1 {
		t.Fatalf("shares %+v: want campaign 3 once with the first link's weight", got)
	}
	_, n := s.Problems()
	if n != 3 {
		all, _ := s.Problems()
		t.Fatalf("%d problems, want 3: %v", n, all)
	}
}
