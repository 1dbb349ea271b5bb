// Package evalmix generates a labelled mix of ad traffic and sends it through adnet's real
// public endpoints (/serve/{js,frame,json}, /track/{imp,click,conv}): people browsing with
// real browsers at human pace, crawlers, a click farm on a few addresses, token replays,
// forged and expired tokens, prefetches, a domain-spoofing tag, blocklisted and data-center
// addresses, click bots, conversion replays, and a publisher inflating its own CTR from
// devices that each stay below every per-event limit. Every billable event it sends (an
// impression beacon, a click, a conversion) is recorded in a Ledger with its category and the
// verdict the invalid-traffic rules should reach; Score compares the ledger with the verdicts
// the system recorded and reports per-rule precision and recall.
//
// Sources are told apart the way the servers see them, by address: each actor binds its
// connections to its own loopback address (127.0.0.0/8 is all local on Linux), since
// X-Forwarded-For is rightly not trusted from clients. The address plan is fixed (see the
// Prefix constants), so a test can put the blocklisted and data-center ranges in place.
//
// The run is deterministic given Seed, apart from the ad decisions (the server's own
// randomness) and timing. People click seconds after the ad rendered: clicks are sent in a
// later phase with the tokens served earlier, never sooner than Options.MinHumanDelay after
// their serve, so the mix runs in about a minute rather than at human wall-clock pace.
package evalmix

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"adnet/models"
)

// Category is the kind of actor an event comes from.
type Category string

// Categories. Only people (Human, HumanNAT, HumanChromium) are valid traffic; DoubleClick (a
// person's second click on one ad) is invalid but not fraud.
const (
	Human         Category = "human"
	HumanNAT      Category = "human_cgnat"    // people behind a carrier-grade NAT: hundreds per address
	HumanChromium Category = "human_chromium" // people's page views in a real Chromium (cmd/adnet drives it)
	DoubleClick   Category = "double_click"
	Bot           Category = "bot"
	Farm          Category = "click_farm"
	Inflate       Category = "ctr_inflation"
	Replay        Category = "token_replay"
	Forged        Category = "forged_token"
	Expired       Category = "expired_token"
	Prefetch      Category = "prefetch"
	Spoof         Category = "domain_spoof"
	Blocked       Category = "blocklisted_ip"
	Datacenter    Category = "datacenter_ip"
	FastClick     Category = "fast_click_bot"
	NoImpression  Category = "no_impression_bot"
	ConvReplay    Category = "conversion_replay"
	ConvNoClick   Category = "conversion_no_click"
	LateReplay    Category = "late_replay"    // a person's impression and click replayed after fraud.click_window
	Mismatch      Category = "token_mismatch" // clicks from another network or browser than their serve
	FrameSpoof    Category = "iframe_spoof"   // the iframe tag embedded on a foreign site
	Automation    Category = "automation_chromium"
	// AutomationFrame only names the zone the automated Chromium loads with the iframe tag;
	// its events are Automation's.
	AutomationFrame Category = "automation_chromium_frame"
)

// Valid reports whether the category is people's traffic, which should all be billed.
func (c Category) Valid() bool { return c == Human || c == HumanNAT || c == HumanChromium }

// AttackZoneCategories are the categories that need a zone of their own (Options.AttackZones):
// the fraudulent publisher's zones, one per attack, so that the zone-level anomaly flags and
// the per-zone impression counts can be attributed. Categories not listed run on other
// categories' zones (double clicks and conversions on the people's, no-impression bots on
// the fast-click bots').
func AttackZoneCategories() []Category {
	return []Category{Bot, Farm, Inflate, Replay, Forged, Expired, Prefetch, Spoof, Blocked, Datacenter, FastClick,
		LateReplay, Mismatch, FrameSpoof, Automation, AutomationFrame}
}

// Loopback address plan: each actor class has its own /16.
const (
	HumanPrefix      = "127.10.0.0/16"
	NATPrefix        = "127.11.0.0/16" // carrier-grade NAT gateways: one address, hundreds of people
	ChromiumPrefix   = "127.12.0.0/16" // the Chromium page views (people's and automated)
	FarmPrefix       = "127.20.0.0/16"
	InflatePrefix    = "127.21.0.0/16"
	ReplayPrefix     = "127.30.0.0/16" // the replaying attackers; their replays come from 127.31.0.0/16
	ForgedPrefix     = "127.40.0.0/16"
	ExpiredPrefix    = "127.41.0.0/16"
	PrefetchPrefix   = "127.50.0.0/16"
	SpoofPrefix      = "127.51.0.0/16"
	BlockedPrefix    = "127.60.0.0/16" // must be in the IP blocklist
	DatacenterPrefix = "127.61.0.0/16" // must be in the data-center list
	BotPrefix        = "127.70.0.0/16"
	ClickBotPrefix   = "127.71.0.0/16"
	LateReplayPrefix = "127.34.0.0/16"
	MismatchPrefix   = "127.35.0.0/16" // the serves; injected clicks come from 127.36.0.0/16
	AdvertiserPrefix = "127.90.0.0/16" // advertisers' servers sending conversion postbacks
)

// Zone is a zone people browse, with the CTR they click it at (its normal CTR).
type Zone struct {
	ID    int64
	CTR   float64
	Frame bool // the publisher embeds it with the iframe tag rather than the script tag
}

// Site is a publisher site people browse: a page carrying all its zones' tags.
type Site struct {
	Domain string
	Zones  []Zone
}

// Claims are what the generator needs to know about a token it was served.
type Claims struct {
	ImpressionID models.ImpressionID
	ZoneID       int64
	CampaignID   int64
}

// Tokens gives the generator what only the holder of the tracking key can know: the claims
// of a token it was served (a script or iframe tag carries them only signed), and an
// authentic copy of a token issued long enough ago to be expired (harvested click URLs
// replayed days later). The test builds it from the network's key file.
type Tokens interface {
	Claims(tok string, t models.EventType) (Claims, error)
	Expired(tok string, t models.EventType) (string, error)
}

// Options configure a Generator.
type Options struct {
	BaseURL string // the ad server as people reach it (nginx)
	Seed    uint64
	Sites   []Site // where people browse
	// NATSites are where the people behind carrier NATs browse (Sites if empty): sites of
	// their own, so that the statistics' per-zone counts of impressions tell their verdicts
	// from other people's.
	NATSites    []Site
	ShadyDomain string             // the fraudulent publisher's site, which carries AttackZones
	AttackZones map[Category]int64 // a zone of that site for each of AttackZoneCategories
	Tokens      Tokens
	// PostbackSecret returns the secret of the advertiser of a campaign, for conversion
	// postbacks ("" if unknown: no postback is sent).
	PostbackSecret func(campaignID int64) string
	// MaxClicksPerIP is fraud.max_clicks_per_ip: it tells which click-farm clicks a per-address
	// rule can see at all (the first ones of each address cannot), and caps the inflating
	// publisher's devices below it.
	MaxClicksPerIP int
	// MinHumanDelay is the shortest time between a serve and a person's click on it; it must
	// exceed fraud.min_click_delay by the token's one-second granularity (default 2.5s).
	MinHumanDelay time.Duration
	// ClickWindow is fraud.click_window: the late replays are sent this long (and the
	// duplicate filters' slack) after their originals.
	ClickWindow time.Duration
	Scale       float64 // multiplies the people and the per-event attacks; 1 (the default) sends about 30,000 requests
	Concurrency int     // requests in flight (default 32)
	Log         io.Writer
}

// Event is one billable event the generator sent and the server answered (so recorded).
type Event struct {
	Category Category
	Type     models.EventType // impression, click or conversion
	// Expect is the reason the rules should give it (ReasonValid for people). ByAnomaly marks
	// fraud that is valid event by event and can only be caught by its zone's anomaly flag.
	Expect       models.Reason
	ByAnomaly    bool
	ZoneID       int64 // from the token; 0 for forged tokens
	ImpressionID models.ImpressionID
	Seq          int64 // send order
}

// Invalid reports whether the event should not be billed.
func (e *Event) Invalid() bool { return !e.Category.Valid() }

// Ledger is everything the generator sent.
type Ledger struct {
	Seed   uint64
	Events []Event
	// Answered requests by kind, which the statistics must account for exactly once each:
	// "serve", "impression", "click", "conversion".
	Answered map[string]int64
	Unfilled int64            // serve requests that returned no ad
	Failures map[string]int64 // unexpected answers and transport errors, by request kind and status
	Elapsed  time.Duration
}

// Generator sends the mix. Use it once.
type Generator struct {
	opt Options
	seq atomic.Int64

	mu     sync.Mutex
	ledger Ledger
	convs  []task // phase 3
	late   []task // phase 4: replays after the window
	lateAt time.Time

	ctx     context.Context
	delayed sync.WaitGroup // phase 2: actors waiting to click at a person's pace
	sem     chan struct{}  // requests in flight
}

// task is one actor's sequence of requests; it runs on a pool goroutine.
type task func(ctx context.Context, rng *rand.Rand)

// New checks opt and returns a Generator.
func New(opt Options) (*Generator, error) {
	if opt.BaseURL == "" || opt.Tokens == nil || opt.PostbackSecret == nil || len(opt.Sites) == 0 || opt.ShadyDomain == "" {
		return nil, fmt.Errorf("evalmix: BaseURL, Tokens, PostbackSecret, Sites and ShadyDomain are required")
	}
	for _, c := range AttackZoneCategories() {
		if opt.AttackZones[c] == 0 {
			return nil, fmt.Errorf("evalmix: no attack zone for %s", c)
		}
	}
	if opt.ClickWindow <= 0 {
		return nil, fmt.Errorf("evalmix: ClickWindow (fraud.click_window) is required")
	}
	if opt.MaxClicksPerIP <= 0 {
		return nil, fmt.Errorf("evalmix: MaxClicksPerIP (fraud.max_clicks_per_ip) is required")
	}
	if opt.MinHumanDelay <= 0 {
		opt.MinHumanDelay = 2500 * time.Millisecond
	}
	if opt.Scale <= 0 {
		opt.Scale = 1
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = 32
	}
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	g := &Generator{opt: opt, sem: make(chan struct{}, 2*opt.Concurrency), ctx: context.Background()}
	g.ledger = Ledger{Seed: opt.Seed, Answered: map[string]int64{}, Failures: map[string]int64{}}
	return g, nil
}

// n scales an actor count.
func (g *Generator) n(base int) int { return max(1, int(float64(base)*g.opt.Scale+0.5)) }

// Run sends the whole mix and returns the ledger. Phase 1 is the page views (serves and
// impression beacons); the clicks of phase 2 are sent by goroutines of their own, each when
// its person would click (seconds after the serve, as people do, so within the duplicate
// filters' window); phase 3 is the conversions; phase 4, once fraud.click_window (and the
// filters' slack) has passed since the last original, the late replays.
func (g *Generator) Run(ctx context.Context) (*Ledger, error) {
	start := time.Now()
	g.ctx = ctx
	views := g.viewTasks()
	fmt.Fprintf(g.opt.Log, "evalmix: seed %d: phase 1, %d page-view actors, and %d people behind %d carrier NATs arriving over %v\n",
		g.opt.Seed, len(views), natGateways*natPeople, natGateways, g.opt.ClickWindow)
	g.natArrivals(ctx)
	g.runPool(ctx, views, 1)
	fmt.Fprintf(g.opt.Log, "evalmix: phase 2, waiting for the clicks (%.1fs)\n", time.Since(start).Seconds())
	g.delayed.Wait()
	g.mu.Lock()
	convs := g.convs
	g.mu.Unlock()
	fmt.Fprintf(g.opt.Log, "evalmix: phase 3, %d conversion actors (%.1fs)\n", len(convs), time.Since(start).Seconds())
	g.runPool(ctx, convs, 3)
	g.mu.Lock()
	late, lateAt := g.late, g.lateAt
	g.mu.Unlock()
	fmt.Fprintf(g.opt.Log, "evalmix: phase 4, %d replays after the window, from %.1fs (%.1fs)\n", len(late),
		lateAt.Sub(start).Seconds(), time.Since(start).Seconds())
	waitUntil(ctx, lateAt)
	g.runPool(ctx, late, 4)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ledger.Elapsed = time.Since(start)
	if err := ctx.Err(); err != nil {
		return &g.ledger, err
	}
	return &g.ledger, nil
}

// runPool runs tasks on Concurrency goroutines. Each task gets its own random source derived
// from the seed, the phase and its index, so what an actor does does not depend on scheduling.
func (g *Generator) runPool(ctx context.Context, tasks []task, phase uint64) {
	ch := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < g.opt.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				if ctx.Err() != nil {
					continue
				}
				tasks[i](ctx, rand.New(rand.NewPCG(g.opt.Seed, phase<<40|uint64(i))))
			}
		}()
	}
	for i := range tasks {
		ch <- i
	}
	close(ch)
	wg.Wait()
}

// later schedules t: phase 2 runs it at once on a goroutine of its own (it waits for its
// person's moment itself), phase 3 queues it for the conversions. Its random source is drawn
// from the caller's, so that the run stays deterministic given the seed.
func (g *Generator) later(phase int, rng *rand.Rand, t task) {
	child := rand.New(rand.NewPCG(g.opt.Seed, rng.Uint64()))
	if phase == 2 {
		g.delayed.Add(1)
		go func() {
			defer g.delayed.Done()
			if g.ctx.Err() == nil {
				t(g.ctx, child)
			}
		}()
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.convs = append(g.convs, func(ctx context.Context, _ *rand.Rand) { t(ctx, child) })
}

// afterWindow queues a replay for phase 4, which starts when the window (and the duplicate
// filters' slack: they forget at most Window/10 later, plus the token's one-second
// granularity) has passed since the original sent at orig.
func (g *Generator) afterWindow(orig time.Time, t task) {
	at := orig.Add(g.opt.ClickWindow + g.opt.ClickWindow/10 + 3*time.Second)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.late = append(g.late, t)
	if at.After(g.lateAt) {
		g.lateAt = at
	}
}

// record adds an answered billable event to the ledger.
func (g *Generator) record(e Event) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ledger.Events = append(g.ledger.Events, e)
}

// answered counts an answered request of a kind.
func (g *Generator) answered(kind string) {
	g.mu.Lock()
	g.ledger.Answered[kind]++
	g.mu.Unlock()
}

func (g *Generator) failure(what string) {
	g.mu.Lock()
	g.ledger.Failures[what]++
	g.mu.Unlock()
}

func (g *Generator) unfilled() {
	g.mu.Lock()
	g.ledger.Unfilled++
	g.mu.Unlock()
}

// BaseURL is the ad server's URL as people reach it (Options.BaseURL).
func (g *Generator) BaseURL() string { return g.opt.BaseURL }

// Addr returns the i-th address of one of the loopback /16 prefixes of the address plan.
func Addr(prefix string, i int) netip.Addr { return addr(prefix, i) }
