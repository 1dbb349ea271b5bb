package evalmix

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"adnet/models"
)

// Actor counts at Scale 1 (Scale multiplies the people and the per-event attacks). The
// attacks only a zone's anomaly can reveal (farm, inflation, replays, click bots) have fixed
// sizes: each attacked zone must carry enough recent traffic for the anomaly monitor to judge
// it (fraud.DefaultAnomalyMinVolume).
const (
	humans        = 8000
	bots          = 300
	farmAddrs     = 4
	farmViews     = 150 // per address
	inflaters     = 25
	inflaterViews = 40 // per device
	replayers     = 4
	replayedAds   = 10 // per replayer
	beaconReplays = 3  // per replayed ad
	clickReplays  = 20 // per replayed ad
	forgers       = 100
	harvesters    = 100
	prerenders    = 300
	spoofers      = 200
	listed        = 150 // per list
	clickBots     = 200 // of each kind
	natGateways   = 2   // carrier-grade NAT addresses
	natPeople     = 500 // per gateway, arriving over one click window (not scaled: the load per address and window is the point)
	lateReplayers = 40
	mismatchers   = 150
	frameSpoofers = 200
)

// Behaviour shares.
const (
	humanAppShare      = 0.2  // people in apps (/serve/json, no Referer)
	humanBounceShare   = 0.03 // people who leave before the ad renders (a serve, no beacon)
	humanDoubleClick   = 0.05 // clicking people who double-click
	humanPostbackShare = 0.25 // clicks converting, reported by the advertiser's server
	humanPixelShare    = 0.10 // clicks converting, reported by the pixel on the landing page
	postbackReplay     = 0.3  // postbacks the advertiser's integration sends three times
	noClickPostback    = 0.01 // unclicked impressions the advertiser reports a conversion for
	botRenders         = 0.7  // crawlers that run the tag's script (the beacon fires)
	botClicks          = 0.2
	farmClickShare     = 0.6
	inflateClickShare  = 0.4
	attackClickShare   = 0.3
)

// natArrivals starts the people behind the carrier NATs on goroutines of their own, each
// gateway's natPeople arriving evenly over one fraud.click_window from now: the load per
// address and window is then the same on a fast box and a slow one (in the pool, it would
// follow the pool's pace).
func (g *Generator) natArrivals(ctx context.Context) {
	sites := g.opt.NATSites
	if len(sites) == 0 {
		sites = g.opt.Sites
	}
	start := time.Now()
	for gw := 0; gw < natGateways; gw++ {
		for i := 0; i < natPeople; i++ {
			t := g.humanAt(addr(NATPrefix, gw), HumanNAT, sites)
			at := start.Add(time.Duration(i) * g.opt.ClickWindow / natPeople)
			rng := rand.New(rand.NewPCG(g.opt.Seed, 5<<40|uint64(gw*natPeople+i)))
			g.delayed.Add(1)
			go func() {
				defer g.delayed.Done()
				waitUntil(ctx, at)
				if ctx.Err() == nil {
					t(ctx, rng)
				}
			}()
		}
	}
}

// viewTasks returns the page-view actors of phase 1, shuffled so that the categories
// interleave in time as they would on a live network.
func (g *Generator) viewTasks() []task {
	var ts []task
	for i := 0; i < g.n(humans); i++ {
		ts = append(ts, g.human(i))
	}
	for i := 0; i < g.n(bots); i++ {
		ts = append(ts, g.bot(i))
	}
	for i := 0; i < farmAddrs; i++ {
		ts = append(ts, g.farm(i))
	}
	for i := 0; i < inflaters; i++ {
		ts = append(ts, g.inflater(i))
	}
	for i := 0; i < replayers; i++ {
		ts = append(ts, g.replayer(i))
	}
	for i := 0; i < g.n(forgers); i++ {
		ts = append(ts, g.forger(i))
	}
	for i := 0; i < g.n(harvesters); i++ {
		ts = append(ts, g.harvester(i))
	}
	for i := 0; i < g.n(prerenders); i++ {
		ts = append(ts, g.prerender(i))
	}
	for i := 0; i < g.n(spoofers); i++ {
		ts = append(ts, g.spoofer(i))
	}
	for i := 0; i < g.n(listed); i++ {
		ts = append(ts, g.listedVisitor(Blocked, BlockedPrefix, models.ReasonBlockedIP, i))
		ts = append(ts, g.listedVisitor(Datacenter, DatacenterPrefix, models.ReasonDatacenter, i))
	}
	for i := 0; i < clickBots; i++ {
		ts = append(ts, g.fastClicker(i), g.noImpressionClicker(i))
	}
	for i := 0; i < g.n(lateReplayers); i++ {
		ts = append(ts, g.lateReplayer(i))
	}
	for i := 0; i < g.n(mismatchers); i++ {
		ts = append(ts, g.mismatcher(i))
	}
	for i := 0; i < g.n(frameSpoofers); i++ {
		ts = append(ts, g.frameSpoofer(i))
	}
	rng := rand.New(rand.NewPCG(g.opt.Seed, 0))
	rng.Shuffle(len(ts), func(i, j int) { ts[i], ts[j] = ts[j], ts[i] })
	return ts
}

func pick(rng *rand.Rand, list []string) string { return list[rng.IntN(len(list))] }

// shadyPage is a page of the fraudulent publisher's site.
func (g *Generator) shadyPage(rng *rand.Rand) string {
	return fmt.Sprintf("https://%s/p/%d", g.opt.ShadyDomain, rng.IntN(100000))
}

// clickAfter waits until a person could have clicked a: MinHumanDelay after its serve, plus
// up to a second of their own hesitation.
func (g *Generator) clickAfter(ctx context.Context, rng *rand.Rand, a *ad) {
	waitUntil(ctx, a.servedAt.Add(g.opt.MinHumanDelay+time.Duration(rng.IntN(1000))*time.Millisecond))
}

// human is a person on an address of their own.
func (g *Generator) human(i int) task { return g.humanAt(addr(HumanPrefix, i), Human, g.opt.Sites) }

// humanAt is a person reading a page of one of the sites (all its zones' tags render) or
// using an app (one ad from /serve/json), from ip (their own, or a carrier NAT's that
// hundreds of people share: each keeps their own browser and cookies). Some click, a few
// twice; some clicks convert.
func (g *Generator) humanAt(ip netip.Addr, cat Category, sites []Site) task {
	return func(ctx context.Context, rng *rand.Rand) {
		site := sites[rng.IntN(len(sites))]
		app := rng.Float64() < humanAppShare
		ua, page, zones := pick(rng, browserUAs), fmt.Sprintf("https://%s/article/%d", site.Domain, rng.IntN(100000)), site.Zones
		if app {
			ua, page, zones = pick(rng, appUAs), "", []Zone{site.Zones[rng.IntN(len(site.Zones))]}
		}
		c := g.client(ip, ua, true)
		defer c.close()
		var clicked, unclicked []ad
		for _, z := range zones {
			ep := "js"
			switch {
			case app:
				ep = "json"
			case z.Frame:
				ep = "frame"
			}
			a, ok := c.serve(ctx, ep, z.ID, page)
			if !ok || rng.Float64() < humanBounceShare {
				continue
			}
			if !c.trackAd(ctx, models.EventImpression, &a, label{cat: cat}) {
				continue
			}
			if rng.Float64() < z.CTR {
				clicked = append(clicked, a)
			} else {
				unclicked = append(unclicked, a)
			}
		}
		for _, a := range unclicked {
			if rng.Float64() < noClickPostback {
				g.later(3, rng, g.advertiserPostback(a, label{cat: ConvNoClick, expect: models.ReasonNoClick}, 1))
			}
		}
		if len(clicked) == 0 {
			return
		}
		double := rng.Float64() < humanDoubleClick
		g.later(2, rng, func(ctx context.Context, rng *rand.Rand) {
			defer c.close()
			var last *ad
			for k := range clicked {
				a := &clicked[k]
				g.clickAfter(ctx, rng, a)
				if !c.trackAd(ctx, models.EventClick, a, label{cat: cat}) {
					continue
				}
				last = a
				if double {
					time.Sleep(250 * time.Millisecond)
					c.trackAd(ctx, models.EventClick, a, label{cat: DoubleClick, expect: models.ReasonDuplicateClick})
				}
				switch r := rng.Float64(); {
				case r < humanPostbackShare:
					n := 1
					if rng.Float64() < postbackReplay {
						n = 3
					}
					g.later(3, rng, g.advertiserPostback(*a, label{cat: cat}, n))
				case r < humanPostbackShare+humanPixelShare && k == len(clicked)-1:
					// The pixel is attributed to the browser's last click: only that one can
					// convert by pixel.
					g.later(3, rng, func(ctx context.Context, _ *rand.Rand) {
						defer c.close()
						c.pixel(ctx, last.claims, "https://shop.example/thanks", label{cat: cat})
					})
				}
			}
		})
	}
}

// advertiserPostback reports a conversion of a's click from the advertiser's server, n times
// (n > 1: an integration that retries; the repeats are duplicate_conversion).
func (g *Generator) advertiserPostback(a ad, l label, n int) task {
	return func(ctx context.Context, rng *rand.Rand) {
		c := g.client(addr(AdvertiserPrefix, 1), "AcmeShop-Postback/2.1", false)
		defer c.close()
		for k := 0; k < n; k++ {
			lk := l
			if k > 0 {
				lk = label{cat: ConvReplay, expect: models.ReasonDuplicateConversion}
			}
			c.postback(ctx, a.click, a.claims, lk)
		}
	}
}

// bot is a crawler, preview fetcher or script fetching a page of the shady site, with a
// User-Agent from the held-out list (testdata/bot-uas.txt, not the detector's source).
func (g *Generator) bot(i int) task {
	return func(ctx context.Context, rng *rand.Rand) {
		c := g.client(addr(BotPrefix, i), pick(rng, botUAs), false)
		defer c.close()
		ep, page := "js", g.shadyPage(rng)
		if rng.IntN(3) == 0 {
			ep = "json"
		}
		a, ok := c.serve(ctx, ep, g.opt.AttackZones[Bot], page)
		if !ok {
			return
		}
		l := label{cat: Bot, expect: models.ReasonBotUA}
		if rng.Float64() < botRenders {
			c.trackAd(ctx, models.EventImpression, &a, l)
		}
		if rng.Float64() < botClicks {
			g.later(2, rng, func(ctx context.Context, rng *rand.Rand) {
				defer c.close()
				g.clickAfter(ctx, rng, &a)
				c.trackAd(ctx, models.EventClick, &a, l)
			})
		}
	}
}

// farm is one address of a click farm: real browsers (a different one for each visit, which
// also clicks that visit's ad; no cookies kept), human-looking delays, but far more clicks than any person. The first
// MaxClicksPerIP clicks of the address in the window look like anyone's: only the zone's
// anomaly can catch them; the rest are click_flood.
func (g *Generator) farm(i int) task {
	return func(ctx context.Context, rng *rand.Rand) {
		c := g.client(addr(FarmPrefix, i+1), "", false)
		defer c.close()
		var clicked []ad
		for v := 0; v < farmViews; v++ {
			c.ua = pick(rng, browserUAs)
			page := g.shadyPage(rng)
			a, ok := c.serve(ctx, "js", g.opt.AttackZones[Farm], page)
			if !ok {
				continue
			}
			if c.trackAd(ctx, models.EventImpression, &a, label{cat: Farm, byAnomaly: true}) && rng.Float64() < farmClickShare {
				clicked = append(clicked, a)
			}
		}
		g.later(2, rng, func(ctx context.Context, rng *rand.Rand) {
			defer c.close()
			n := 0
			for k := range clicked {
				a := &clicked[k]
				g.clickAfter(ctx, rng, a)
				c.ua = a.ua
				l := label{cat: Farm, byAnomaly: true}
				if n >= g.opt.MaxClicksPerIP {
					l = label{cat: Farm, expect: models.ReasonClickFlood}
				}
				if c.trackAd(ctx, models.EventClick, a, l) {
					n++
				}
			}
		})
	}
}

// inflater is one of the devices a publisher clicks its own ads from: a real browser that
// keeps its cookies, human delays, and fewer clicks than the per-address and per-viewer
// limits. Every event is valid on its own; only the zone's CTR gives it away.
func (g *Generator) inflater(i int) task {
	return func(ctx context.Context, rng *rand.Rand) {
		c := g.client(addr(InflatePrefix, i+1), pick(rng, browserUAs), true)
		defer c.close()
		l := label{cat: Inflate, byAnomaly: true}
		var clicked []ad
		limit := max(1, g.opt.MaxClicksPerIP-4)
		for v := 0; v < inflaterViews; v++ {
			page := g.shadyPage(rng)
			a, ok := c.serve(ctx, "js", g.opt.AttackZones[Inflate], page)
			if !ok {
				continue
			}
			if c.trackAd(ctx, models.EventImpression, &a, l) && len(clicked) < limit && rng.Float64() < inflateClickShare {
				clicked = append(clicked, a)
			}
		}
		g.later(2, rng, func(ctx context.Context, rng *rand.Rand) {
			defer c.close()
			for k := range clicked {
				g.clickAfter(ctx, rng, &clicked[k])
				c.trackAd(ctx, models.EventClick, &clicked[k], l)
			}
		})
	}
}

// replayer loads ads like an app, fires each beacon several times, clicks once and then
// replays the click URL from many addresses (a botnet sharing harvested URLs).
func (g *Generator) replayer(i int) task {
	return func(ctx context.Context, rng *rand.Rand) {
		c := g.client(addr(ReplayPrefix, i+1), pick(rng, browserUAs), false)
		defer c.close()
		var ads []ad
		for v := 0; v < replayedAds; v++ {
			a, ok := c.serve(ctx, "json", g.opt.AttackZones[Replay], "")
			if !ok || !c.trackAd(ctx, models.EventImpression, &a, label{cat: Replay, byAnomaly: true}) {
				continue
			}
			for r := 0; r < beaconReplays; r++ {
				c.trackAd(ctx, models.EventImpression, &a, label{cat: Replay, expect: models.ReasonDuplicateImpression})
			}
			ads = append(ads, a)
		}
		for k := range ads {
			a := ads[k]
			base := (i*replayedAds + k) * clickReplays
			g.later(2, rng, func(ctx context.Context, rng *rand.Rand) {
				g.clickAfter(ctx, rng, &a)
				if !c.trackAd(ctx, models.EventClick, &a, label{cat: Replay, byAnomaly: true}) {
					return
				}
				c.close()
				for r := 0; r < clickReplays; r++ {
					rc := g.client(addr("127.31.0.0/16", base+r), pick(rng, browserUAs), false)
					rc.trackAd(ctx, models.EventClick, &a, label{cat: Replay, expect: models.ReasonDuplicateClick})
					rc.close()
				}
			})
		}
	}
}

// forger sends beacons and clicks with made-up tokens and with real tokens it altered.
func (g *Generator) forger(i int) task {
	return func(ctx context.Context, rng *rand.Rand) {
		c := g.client(addr(ForgedPrefix, i), pick(rng, browserUAs), false)
		defer c.close()
		l := label{cat: Forged, expect: models.ReasonBadToken}
		page := g.shadyPage(rng)
		for k := 0; k < 3; k++ {
			c.track(ctx, models.EventImpression, randomToken(rng), Claims{}, page, "", l)
			c.track(ctx, models.EventClick, randomToken(rng), Claims{}, page, "", l)
		}
		a, ok := c.serve(ctx, "json", g.opt.AttackZones[Forged], "")
		if !ok {
			return
		}
		c.track(ctx, models.EventImpression, tamper(rng, a.imp), Claims{}, page, "", l)
		c.track(ctx, models.EventClick, tamper(rng, a.click), Claims{}, page, "", l)
	}
}

// randomToken is a token-shaped string of base64url characters that no key signed.
func randomToken(rng *rand.Rand) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := make([]byte, 48+rng.IntN(24))
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// tamper changes one character in the middle of an authentic token (say, to move a click
// to a dearer campaign).
func tamper(rng *rand.Rand, tok string) string {
	b := []byte(tok)
	i := len(b)/4 + rng.IntN(len(b)/2)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// harvester replays an authentic beacon and click URL days after they were issued.
func (g *Generator) harvester(i int) task {
	return func(ctx context.Context, rng *rand.Rand) {
		c := g.client(addr(ExpiredPrefix, i), pick(rng, browserUAs), false)
		defer c.close()
		a, ok := c.serve(ctx, "json", g.opt.AttackZones[Expired], "")
		if !ok {
			return
		}
		l := label{cat: Expired, expect: models.ReasonExpiredToken}
		if tok, err := g.opt.Tokens.Expired(a.imp, models.EventImpression); err == nil {
			c.track(ctx, models.EventImpression, tok, a.claims, "", "", l)
		} else {
			g.failure("expired impression token: " + err.Error())
		}
		if tok, err := g.opt.Tokens.Expired(a.click, models.EventClick); err == nil {
			c.track(ctx, models.EventClick, tok, a.claims, "", "", l)
		} else {
			g.failure("expired click token: " + err.Error())
		}
	}
}

// prerender is Chrome prerendering a page of the site (speculation rules): the tag's script
// runs and its beacon fires, but nobody sees the page; a few also prefetch an ad's link.
func (g *Generator) prerender(i int) task {
	return func(ctx context.Context, rng *rand.Rand) {
		c := g.client(addr(PrefetchPrefix, i), browserUAs[rng.IntN(8)], true)
		defer c.close()
		page := g.shadyPage(rng)
		a, ok := c.serve(ctx, "js", g.opt.AttackZones[Prefetch], page, "Sec-Purpose", "prefetch;prerender")
		if !ok {
			return
		}
		l := label{cat: Prefetch, expect: models.ReasonPrefetch}
		c.trackAd(ctx, models.EventImpression, &a, l, "Sec-Purpose", "prefetch;prerender")
		if rng.IntN(6) == 0 {
			c.trackAd(ctx, models.EventClick, &a, l, "Sec-Purpose", "prefetch")
		}
	}
}

// spoofer is a visitor of another site that carries the shady publisher's tag (domain
// spoofing: the zone is sold as shady.example but shown on someone else's pages).
func (g *Generator) spoofer(i int) task {
	return func(ctx context.Context, rng *rand.Rand) {
		c := g.client(addr(SpoofPrefix, i), pick(rng, browserUAs), true)
		defer c.close()
		page := fmt.Sprintf("https://www.stolen-news.example/story/%d", rng.IntN(100000))
		g.visitAndClick(ctx, rng, c, g.opt.AttackZones[Spoof], page, label{cat: Spoof, expect: models.ReasonReferrerMismatch})
	}
}

// listedVisitor is a browser on a blocklisted or data-center address.
func (g *Generator) listedVisitor(cat Category, prefix string, reason models.Reason, i int) task {
	return func(ctx context.Context, rng *rand.Rand) {
		c := g.client(addr(prefix, i), pick(rng, browserUAs), true)
		defer c.close()
		g.visitAndClick(ctx, rng, c, g.opt.AttackZones[cat], g.shadyPage(rng), label{cat: cat, expect: reason})
	}
}

// visitAndClick loads zone on page, fires its beacon and sometimes clicks after a human delay.
func (g *Generator) visitAndClick(ctx context.Context, rng *rand.Rand, c *client, zone int64, page string, l label) {
	g.visitAndClickWith(ctx, rng, c, "js", zone, page, l)
}

// visitAndClickWith is visitAndClick with the script (js) or iframe (frame) tag.
func (g *Generator) visitAndClickWith(ctx context.Context, rng *rand.Rand, c *client, endpoint string, zone int64, page string, l label) {
	a, ok := c.serve(ctx, endpoint, zone, page)
	if !ok || !c.trackAd(ctx, models.EventImpression, &a, l) || rng.Float64() >= attackClickShare {
		return
	}
	g.later(2, rng, func(ctx context.Context, rng *rand.Rand) {
		defer c.close()
		g.clickAfter(ctx, rng, &a)
		c.trackAd(ctx, models.EventClick, &a, l)
	})
}

// fastClicker renders an ad and clicks it 50 to 400 ms after it was served: quick for a
// person, but not the 0 ms of a naive script.
func (g *Generator) fastClicker(i int) task {
	return func(ctx context.Context, rng *rand.Rand) {
		c := g.client(addr(ClickBotPrefix, i), pick(rng, browserUAs), false)
		defer c.close()
		a, ok := c.serve(ctx, "json", g.opt.AttackZones[FastClick], "")
		if !ok {
			return
		}
		c.trackAd(ctx, models.EventImpression, &a, label{cat: FastClick, byAnomaly: true})
		waitUntil(ctx, a.servedAt.Add(time.Duration(50+rng.IntN(351))*time.Millisecond))
		c.trackAd(ctx, models.EventClick, &a, label{cat: FastClick, expect: models.ReasonFastClick})
	}
}

// noImpressionClicker fetches ads without rendering them and clicks them later.
func (g *Generator) noImpressionClicker(i int) task {
	return func(ctx context.Context, rng *rand.Rand) {
		c := g.client(addr(ClickBotPrefix, 10000+i), pick(rng, browserUAs), false)
		a, ok := c.serve(ctx, "json", g.opt.AttackZones[FastClick], "")
		c.close()
		if !ok {
			return
		}
		g.later(2, rng, func(ctx context.Context, rng *rand.Rand) {
			defer c.close()
			g.clickAfter(ctx, rng, &a)
			c.trackAd(ctx, models.EventClick, &a, label{cat: NoImpression, expect: models.ReasonNoImpression})
		})
	}
}

// lateReplayer is a person who sees an ad and clicks it (both billable), and whose beacon and
// click URLs are replayed, from the same address and browser, once fraud.click_window has
// passed: the duplicate filters have forgotten them, the tokens have not expired. Neither
// replay may be billed (issue 13: at most once per impression id for the token's life).
func (g *Generator) lateReplayer(i int) task {
	return func(ctx context.Context, rng *rand.Rand) {
		c := g.client(addr(LateReplayPrefix, i), pick(rng, browserUAs), true)
		page := g.shadyPage(rng)
		a, ok := c.serve(ctx, "js", g.opt.AttackZones[LateReplay], page)
		if !ok || !c.trackAd(ctx, models.EventImpression, &a, label{cat: Human}) {
			c.close()
			return
		}
		g.later(2, rng, func(ctx context.Context, rng *rand.Rand) {
			defer c.close()
			g.clickAfter(ctx, rng, &a)
			if !c.trackAd(ctx, models.EventClick, &a, label{cat: Human}) {
				return
			}
			g.afterWindow(time.Now(), func(ctx context.Context, _ *rand.Rand) {
				defer c.close()
				c.trackAd(ctx, models.EventImpression, &a, label{cat: LateReplay, expect: models.ReasonExpiredToken})
				c.trackAd(ctx, models.EventClick, &a, label{cat: LateReplay, expect: models.ReasonDuplicateClick})
			})
		})
	}
}

// mismatcher is a person's page view whose click comes from elsewhere: half from another
// network (another /24: a token harvested and clicked by a bot elsewhere), half from the same
// address but another browser family (click injection by an app or extension). The view is
// the person's and billable; the click is token_mismatch.
func (g *Generator) mismatcher(i int) task {
	return func(ctx context.Context, rng *rand.Rand) {
		ua := pick(rng, browserUAs)
		c := g.client(addr(MismatchPrefix, i), ua, true)
		page := g.shadyPage(rng)
		a, ok := c.serve(ctx, "js", g.opt.AttackZones[Mismatch], page)
		if !ok || !c.trackAd(ctx, models.EventImpression, &a, label{cat: Human}) {
			c.close()
			return
		}
		otherNet := i%2 == 0
		g.later(2, rng, func(ctx context.Context, rng *rand.Rand) {
			c.close()
			g.clickAfter(ctx, rng, &a)
			var k *client
			if otherNet {
				k = g.client(addr("127.36.0.0/16", i), ua, false)
			} else {
				k = g.client(addr(MismatchPrefix, i), otherFamily(rng, ua), false)
			}
			defer k.close()
			k.trackAd(ctx, models.EventClick, &a, label{cat: Mismatch, expect: models.ReasonTokenMismatch})
		})
	}
}

// otherFamily picks a browser User-Agent of another family than ua (Firefox for anything
// else, Chrome for Firefox).
func otherFamily(rng *rand.Rand, ua string) string {
	want, avoid := "Firefox/", ""
	if strings.Contains(ua, "Firefox/") {
		want, avoid = "Chrome/", "Edg"
	}
	var list []string
	for _, b := range browserUAs {
		if strings.Contains(b, want) && (avoid == "" || !strings.Contains(b, avoid)) {
			list = append(list, b)
		}
	}
	if len(list) == 0 {
		if want == "Firefox/" {
			return "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0"
		}
		return "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/153.0.0.0 Safari/537.36"
	}
	return pick(rng, list)
}

// frameSpoofer is a visitor of a foreign site that embeds the shady publisher's iframe tag
// (domain spoofing with the iframe tag: the frame's own beacons carry the ad server as their
// Referer, so only the embedding page the tag reports can give the site away).
func (g *Generator) frameSpoofer(i int) task {
	return func(ctx context.Context, rng *rand.Rand) {
		c := g.client(addr("127.52.0.0/16", i), pick(rng, browserUAs), true)
		defer c.close()
		page := fmt.Sprintf("https://www.stolen-gossip.example/story/%d", rng.IntN(100000))
		g.visitAndClickWith(ctx, rng, c, "frame", g.opt.AttackZones[FrameSpoof], page,
			label{cat: FrameSpoof, expect: models.ReasonReferrerMismatch})
	}
}
