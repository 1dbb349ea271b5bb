package decision

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"adnet/models"
)

// Options configure Build.
type Options struct {
	// Location is the network time zone: days for daily limits and pacing, and day-of-week and
	// hour targeting, are taken in it. Nil means UTC.
	Location *time.Location
	// MaxFallbackDepth is how many fallback zones are followed from a zone. Zero means
	// DefaultMaxFallbackDepth.
	MaxFallbackDepth int
	// PacingStep is how far ahead of the even schedule an even-paced campaign may deliver: it
	// may serve while its delivery today stays within daily_limit × (elapsed + step) / day
	// length. Smaller steps spread more evenly but react more to bursts. Zero means
	// DefaultPacingStep.
	PacingStep time.Duration
}

// Defaults for Options.
const (
	DefaultMaxFallbackDepth = 3
	DefaultPacingStep       = 5 * time.Minute
	maxProblems             = 100
)

// tierOrder lists the tiers in the order they are tried. Read-only.
var tierOrder = [numTiers]models.Tier{models.TierOverride, models.TierContract, models.TierRemnant, models.TierHouse}

const numTiers = 4

// Snapshot is an immutable, pre-indexed view of the inventory built for fast decisions. It is
// safe for concurrent use; the Engine swaps whole snapshots instead of mutating one.
type Snapshot struct {
	loadedAt   time.Time
	loc        *time.Location
	day        int64 // day number (see dayNumber) of loadedAt: the day Totals.Today refers to
	pacingStep int64 // seconds
	zones      map[int64]*zone
	camps      []campaign
	campIdx    map[int64]int32
	creatives  []models.Creative // owned copies; decisions point into this slice
	crIdx      map[int64]int32
	secrets    map[int64]string // advertiser id → postback secret, for conversion postbacks
	problems   []string
	nProblems  int
}

// zone is a servable zone with its candidates grouped by tier, highest first.
type zone struct {
	id, siteID, publisherID int64
	domain                  string
	shareBP                 int
	width, height           int
	tiers                   [numTiers]tier
	chain                   []*zone          // fallback zones, resolved at build: bounded and acyclic
	fallback                *models.Creative // the zone's own fallback creative, or nil
}

// tier is one priority tier of a zone: campaigns with cumulative weights for weighted random
// selection by binary search.
type tier struct {
	level models.Tier
	cands []cand
	total int64
}

// cand is a campaign linked to a zone, with its creatives that fit the zone.
type cand struct {
	camp      int32 // index into Snapshot.camps
	cum       int64 // cumulative weight including this candidate (link weight × campaign weight)
	creatives []creativeRef
	crTotal   int64
}

type creativeRef struct {
	c   *models.Creative
	cum int64
}

// campaign is a campaign with everything the hot path needs flattened out of models.Campaign.
type campaign struct {
	id         int64
	model      *models.Campaign
	tier       models.Tier
	weight     int64
	pricing    models.PricingModel
	rate       int64
	start, end int64 // unix seconds, [start, end)
	life       models.Limits
	daily      models.Limits
	totLife    models.Counts
	totToday   models.Counts
	even       bool
	freqCap    int
	freqWindow time.Duration
	t          targeting
}

// Build turns a loaded inventory into a snapshot. Rows that cannot be served (a zone whose site
// is missing, a campaign with invalid targeting, a link without a fitting creative, a bad
// fallback) are left out and described in Problems rather than failing the build: one bad row
// must not stop every ad. Build returns an error only for unusable input as a whole.
//
// Size rule: a campaign's creatives fit a zone when their size equals the zone's. Only when a
// campaign has no creative of exactly the zone's size, its creatives no larger than the zone in
// both dimensions are used instead (the tag centres them). Larger creatives never serve. A
// campaign with no fitting creative is not a candidate for that zone.
func Build(inv *models.Inventory, opt Options) (*Snapshot, error) {
	if inv == nil {
		return nil, models.Errorf(models.EINVALID, "decision: no inventory")
	}
	if inv.LoadedAt.IsZero() {
		return nil, models.Errorf(models.EINVALID, "decision: inventory LoadedAt must be set (it dates the totals)")
	}
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	if opt.MaxFallbackDepth < 0 || opt.PacingStep < 0 {
		return nil, models.Errorf(models.EINVALID, "decision: max fallback depth and pacing step must not be negative")
	}
	if opt.MaxFallbackDepth == 0 {
		opt.MaxFallbackDepth = DefaultMaxFallbackDepth
	}
	if opt.PacingStep == 0 {
		opt.PacingStep = DefaultPacingStep
	}
	s := &Snapshot{
		loadedAt:   inv.LoadedAt,
		loc:        opt.Location,
		day:        dayOf(inv.LoadedAt, opt.Location).num,
		pacingStep: int64(opt.PacingStep / time.Second),
		zones:      make(map[int64]*zone, len(inv.Zones)),
		campIdx:    make(map[int64]int32, len(inv.Campaigns)),
		crIdx:      make(map[int64]int32, len(inv.Creatives)),
	}
	s.buildCampaigns(inv)
	byCampaign := s.buildCreatives(inv)
	s.buildZones(inv, byCampaign, opt.MaxFallbackDepth)
	return s, nil
}

func (s *Snapshot) problem(format string, args ...any) {
	s.nProblems++
	if len(s.problems) < maxProblems {
		s.problems = append(s.problems, fmt.Sprintf(format, args...))
	}
}

func (s *Snapshot) buildCampaigns(inv *models.Inventory) {
	advertisers := make(map[int64]bool, len(inv.Advertisers))
	s.secrets = make(map[int64]string, len(inv.Advertisers))
	for _, a := range inv.Advertisers {
		advertisers[a.ID] = true
		s.secrets[a.ID] = a.PostbackSecret
	}
	totals := make(map[int64]models.CampaignTotals, len(inv.Totals))
	for _, t := range inv.Totals {
		totals[t.CampaignID] = t
	}
	s.camps = make([]campaign, 0, len(inv.Campaigns))
	for i := range inv.Campaigns {
		m := inv.Campaigns[i] // copy: the snapshot must not change when the inventory does
		if _, dup := s.campIdx[m.ID]; dup {
			s.problem("campaign %d: listed twice; using the first", m.ID)
			continue
		}
		if !advertisers[m.AdvertiserID] {
			s.problem("campaign %d: advertiser %d is not active; not serving", m.ID, m.AdvertiserID)
			continue
		}
		if m.Weight < 1 || tierIndex(m.Tier) < 0 || m.RateMicros < 0 {
			s.problem("campaign %d: invalid weight, tier or rate; not serving", m.ID)
			continue
		}
		t, err := compileTargeting(&m.Targeting)
		if err != nil {
			s.problem("campaign %d: %s; not serving", m.ID, models.ErrorMessage(err))
			continue
		}
		c := campaign{
			id: m.ID, model: &m, tier: m.Tier, weight: int64(m.Weight),
			pricing: m.Pricing, rate: m.RateMicros,
			start: math.MinInt64, end: math.MaxInt64,
			life: m.Lifetime, daily: m.Daily,
			totLife: totals[m.ID].Lifetime, totToday: totals[m.ID].Today,
			even:    m.Pacing == models.PacingEven && !m.Daily.IsZero(),
			freqCap: m.FreqCap, freqWindow: m.FreqWindow, t: t,
		}
		if m.StartAt != nil {
			c.start = m.StartAt.Unix()
		}
		if m.EndAt != nil {
			c.end = m.EndAt.Unix()
		}
		if c.freqCap > 0 && c.freqWindow < time.Second {
			c.freqCap = 0 // a window under a second cannot be tracked in the cookie
		}
		s.campIdx[m.ID] = int32(len(s.camps))
		s.camps = append(s.camps, c)
	}
}

// buildCreatives copies the creatives of served campaigns and groups them by campaign.
func (s *Snapshot) buildCreatives(inv *models.Inventory) map[int64][]int32 {
	s.creatives = make([]models.Creative, 0, len(inv.Creatives))
	byCampaign := make(map[int64][]int32)
	for _, c := range inv.Creatives {
		if _, dup := s.crIdx[c.ID]; dup {
			continue
		}
		if c.Weight < 1 || c.Width < 1 || c.Height < 1 {
			s.problem("creative %d: invalid weight or size; not serving", c.ID)
			continue
		}
		i := int32(len(s.creatives))
		s.crIdx[c.ID] = i
		s.creatives = append(s.creatives, c)
		if _, ok := s.campIdx[c.CampaignID]; ok {
			byCampaign[c.CampaignID] = append(byCampaign[c.CampaignID], i)
		}
	}
	return byCampaign
}

func (s *Snapshot) buildZones(inv *models.Inventory, byCampaign map[int64][]int32, maxDepth int) {
	pubs := make(map[int64]*models.Publisher, len(inv.Publishers))
	for i := range inv.Publishers {
		pubs[inv.Publishers[i].ID] = &inv.Publishers[i]
	}
	sites := make(map[int64]*models.Site, len(inv.Sites))
	for i := range inv.Sites {
		sites[inv.Sites[i].ID] = &inv.Sites[i]
	}
	links := make(map[int64][]models.ZoneCampaign)
	for _, l := range inv.Links {
		links[l.ZoneID] = append(links[l.ZoneID], l)
	}
	zoneRows := make(map[int64]*models.Zone, len(inv.Zones))
	for i := range inv.Zones {
		m := &inv.Zones[i]
		if _, dup := s.zones[m.ID]; dup {
			s.problem("zone %d: listed twice; using the first", m.ID)
			continue
		}
		site := sites[m.SiteID]
		var pub *models.Publisher
		if site != nil {
			pub = pubs[site.PublisherID]
		}
		if site == nil || pub == nil {
			s.problem("zone %d: site or publisher not active; not serving", m.ID)
			continue
		}
		if m.Width < 1 || m.Height < 1 {
			s.problem("zone %d: invalid size; not serving", m.ID)
			continue
		}
		z := &zone{
			id: m.ID, siteID: site.ID, publisherID: pub.ID, domain: site.Domain,
			shareBP: pub.RevenueShareBP, width: m.Width, height: m.Height,
		}
		s.buildTiers(z, links[m.ID], byCampaign)
		if m.FallbackCreativeID != nil {
			if i, ok := s.crIdx[*m.FallbackCreativeID]; !ok {
				s.problem("zone %d: fallback creative %d is not active", m.ID, *m.FallbackCreativeID)
			} else if c := &s.creatives[i]; c.Width > z.width || c.Height > z.height {
				s.problem("zone %d: fallback creative %d (%dx%d) is larger than the zone (%dx%d); ignored",
					m.ID, c.ID, c.Width, c.Height, z.width, z.height)
			} else {
				z.fallback = c
			}
		}
		s.zones[m.ID] = z
		zoneRows[m.ID] = m
	}
	for id, z := range s.zones {
		s.buildChain(z, zoneRows[id], zoneRows, maxDepth)
	}
}

// buildTiers groups the zone's linked campaigns by tier with cumulative weights, keeping only
// campaigns with creatives that fit the zone. Candidates are ordered by campaign id so that the
// same inventory always builds the same snapshot.
func (s *Snapshot) buildTiers(z *zone, links []models.ZoneCampaign, byCampaign map[int64][]int32) {
	slices.SortFunc(links, func(a, b models.ZoneCampaign) int { return cmp.Compare(a.CampaignID, b.CampaignID) })
	for i, l := range links {
		if i > 0 && links[i-1].CampaignID == l.CampaignID {
			s.problem("zone %d: campaign %d linked twice; using the first link", z.id, l.CampaignID)
			continue
		}
		ci, ok := s.campIdx[l.CampaignID]
		if !ok {
			continue // campaign not active: a normal state, not a problem
		}
		if l.Weight < 1 {
			s.problem("zone %d: link to campaign %d has weight %d; not serving", z.id, l.CampaignID, l.Weight)
			continue
		}
		c := &s.camps[ci]
		crs, total := s.fitting(byCampaign[c.id], z.width, z.height)
		if len(crs) == 0 {
			s.problem("zone %d (%dx%d): campaign %d has no creative that fits", z.id, z.width, z.height, c.id)
			continue
		}
		t := &z.tiers[tierIndex(c.tier)]
		t.level = c.tier
		t.total += int64(l.Weight) * c.weight
		t.cands = append(t.cands, cand{camp: ci, cum: t.total, creatives: crs, crTotal: total})
	}
	for i := range z.tiers {
		z.tiers[i].level = tierOrder[i]
	}
}

// fitting returns the creatives that fit a w×h zone under the size rule (see Build), with
// cumulative weights.
func (s *Snapshot) fitting(idx []int32, w, h int) ([]creativeRef, int64) {
	var out []creativeRef
	var total int64
	for _, exact := range []bool{true, false} {
		for _, i := range idx {
			c := &s.creatives[i]
			if exact && (c.Width != w || c.Height != h) || !exact && (c.Width > w || c.Height > h) {
				continue
			}
			total += int64(c.Weight)
			out = append(out, creativeRef{c: c, cum: total})
		}
		if len(out) > 0 {
			return out, total
		}
	}
	return nil, 0
}

// buildChain resolves a zone's fallback chain: at most maxDepth zones, no zone twice (cycles are
// cut where they close), and only zones of the same size, since their creatives were chosen to
// fit that size.
func (s *Snapshot) buildChain(z *zone, m *models.Zone, all map[int64]*models.Zone, maxDepth int) {
	next := m.FallbackZoneID
	seen := []int64{z.id}
	for next != nil {
		if len(z.chain) == maxDepth {
			s.problem("zone %d: fallback chain longer than %d zones; cut", z.id, maxDepth)
			return
		}
		fz, ok := s.zones[*next]
		if !ok {
			s.problem("zone %d: fallback zone %d is not active", z.id, *next)
			return
		}
		if slices.Contains(seen, fz.id) {
			s.problem("zone %d: fallback chain loops back to zone %d; cut", z.id, fz.id)
			return
		}
		if fz.width != z.width || fz.height != z.height {
			s.problem("zone %d (%dx%d): fallback zone %d is %dx%d; chain cut", z.id, z.width, z.height, fz.id, fz.width, fz.height)
			return
		}
		z.chain = append(z.chain, fz)
		seen = append(seen, fz.id)
		next = all[fz.id].FallbackZoneID
	}
}

func tierIndex(t models.Tier) int {
	for i, o := range tierOrder {
		if o == t {
			return i
		}
	}
	return -1
}

// LoadedAt returns when the inventory and its totals were read.
func (s *Snapshot) LoadedAt() time.Time { return s.loadedAt }

// Location returns the network time zone.
func (s *Snapshot) Location() *time.Location { return s.loc }

// Problems describes rows left out of the snapshot (at most 100) and how many there were in all.
func (s *Snapshot) Problems() ([]string, int) { return s.problems, s.nProblems }

// NumZones returns the number of servable zones.
func (s *Snapshot) NumZones() int { return len(s.zones) }

// Creative returns the active creative with the given id (the click handler looks up the
// landing URL here, never in the database).
func (s *Snapshot) Creative(id int64) (*models.Creative, bool) {
	i, ok := s.crIdx[id]
	if !ok {
		return nil, false
	}
	return &s.creatives[i], true
}

// PostbackSecret returns the advertiser's secret for server-to-server conversion postbacks,
// or "" for an unknown advertiser (which then cannot post back).
func (s *Snapshot) PostbackSecret(advertiserID int64) string { return s.secrets[advertiserID] }

// SiteDomain returns the domain of the site a zone belongs to, for referrer checks.
func (s *Snapshot) SiteDomain(zoneID int64) (string, bool) {
	z, ok := s.zones[zoneID]
	if !ok {
		return "", false
	}
	return z.domain, true
}

// Campaign returns the servable campaign with the given id.
func (s *Snapshot) Campaign(id int64) (*models.Campaign, bool) {
	i, ok := s.campIdx[id]
	if !ok {
		return nil, false
	}
	return s.camps[i].model, true
}

// Share is a campaign's configured share of a zone within its tier, for showing users the
// effective probabilities (which tier-and-weight setups make hard to guess).
type Share struct {
	CampaignID int64
	Tier       models.Tier
	Weight     int64 // link weight × campaign weight
	// TierBP is the probability, in basis points, that the campaign is chosen when its tier is
	// reached and every campaign of the tier is eligible. Higher tiers take precedence, so a
	// remnant campaign only gets this share of what override and contract campaigns leave.
	TierBP int64
}

// Shares returns the shares of every campaign linked to the zone, highest tier first.
func (s *Snapshot) Shares(zoneID int64) ([]Share, bool) {
	z, ok := s.zones[zoneID]
	if !ok {
		return nil, false
	}
	var out []Share
	for _, t := range z.tiers {
		var prev int64
		for _, c := range t.cands {
			w := c.cum - prev
			prev = c.cum
			out = append(out, Share{CampaignID: s.camps[c.camp].id, Tier: t.level, Weight: w, TierBP: w * 10000 / t.total})
		}
	}
	return out, true
}
