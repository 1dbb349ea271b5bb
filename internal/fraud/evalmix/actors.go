package evalmix

import (
	"context"
	"fmt"
	"math/rand/v2"
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

// human is a person reading a page of one of the sites (all its zones' tags render) or using
// an app (one ad from /serve/json). Some click, a few twice; some clicks convert.
func (g *Generator) human(i int) task {
	return func(ctx context.Context, rng *rand.Rand) {
		site := g.opt.Sites[rng.IntN(len(g.opt.Sites))]
		app := rng.Float64() < humanAppShare
		ua, page, zones := pick(rng, browserUAs), fmt.Sprintf("https://%s/article/%d", site.Domain, rng.IntN(100000)), site.Zones
		if app {
			ua, page, zones = pick(rng, appUAs), "", []Zone{site.Zones[rng.IntN(len(site.Zones))]}
		}
		c := g.client(addr(HumanPrefix, i), ua, true)
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
			if !c.track(ctx, models.EventImpression, a.imp, a.claims, a.beaconReferer(), label{cat: Human}) {
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
				g.later(3, g.advertiserPostback(a, label{cat: ConvNoClick, expect: models.ReasonNoClick}, 1))
			}
		}
		if len(clicked) == 0 {
			return
		}
		double := rng.Float64() < humanDoubleClick
		g.later(2, func(ctx context.Context, rng *rand.Rand) {
			defer c.close()
			var last *ad
			for k := range clicked {
				a := &clicked[k]
				g.clickAfter(ctx, rng, a)
				if !c.track(ctx, models.EventClick, a.click, a.claims, a.beaconReferer(), label{cat: Human}) {
					continue
				}
				last = a
				if double {
					time.Sleep(250 * time.Millisecond)
					c.track(ctx, models.EventClick, a.click, a.claims, a.beaconReferer(), label{cat: DoubleClick, expect: models.ReasonDuplicateClick})
				}
				switch r := rng.Float64(); {
				case r < humanPostbackShare:
					n := 1
					if rng.Float64() < postbackReplay {
						n = 3
					}
					g.later(3, g.advertiserPostback(*a, label{cat: Human}, n))
				case r < humanPostbackShare+humanPixelShare && k == len(clicked)-1:
					// The pixel is attributed to the browser's last click: only that one can
					// convert by pixel.
					g.later(3, func(ctx context.Context, _ *rand.Rand) {
						defer c.close()
						c.pixel(ctx, last.claims, "https://shop.example/thanks", label{cat: Human})
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

// bot is a crawler, preview fetcher or script fetching a page of the shady site.
func (g *Generator) bot(i int) task {
	return func(ctx context.Context, rng *rand.Rand) {
		c := g.client(addr(BotPrefix, i), pick(rng, crawlerUAs), false)
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
			c.track(ctx, models.EventImpression, a.imp, a.claims, page, l)
		}
		if rng.Float64() < botClicks {
			g.later(2, func(ctx context.Context, rng *rand.Rand) {
				defer c.close()
				g.clickAfter(ctx, rng, &a)
				c.track(ctx, models.EventClick, a.click, a.claims, page, l)
			})
		}
	}
}

// farm is one address of a click farm: real browsers (a different one for each visit, no
// cookies kept), human-looking delays, but far more clicks than any person. The first
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
			if c.track(ctx, models.EventImpression, a.imp, a.claims, page, label{cat: Farm, byAnomaly: true}) && rng.Float64() < farmClickShare {
				clicked = append(clicked, a)
			}
		}
		g.later(2, func(ctx context.Context, rng *rand.Rand) {
			defer c.close()
			n := 0
			for k := range clicked {
				a := &clicked[k]
				g.clickAfter(ctx, rng, a)
				c.ua = pick(rng, browserUAs)
				l := label{cat: Farm, byAnomaly: true}
				if n >= g.opt.MaxClicksPerIP {
					l = label{cat: Farm, expect: models.ReasonClickFlood}
				}
				if c.track(ctx, models.EventClick, a.click, a.claims, a.page, l) {
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
			if c.track(ctx, models.EventImpression, a.imp, a.claims, page, l) && len(clicked) < limit && rng.Float64() < inflateClickShare {
				clicked = append(clicked, a)
			}
		}
		g.later(2, func(ctx context.Context, rng *rand.Rand) {
			defer c.close()
			for k := range clicked {
				g.clickAfter(ctx, rng, &clicked[k])
				c.track(ctx, models.EventClick, clicked[k].click, clicked[k].claims, clicked[k].page, l)
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
			if !ok || !c.track(ctx, models.EventImpression, a.imp, a.claims, "", label{cat: Replay, byAnomaly: true}) {
				continue
			}
			for r := 0; r < beaconReplays; r++ {
				c.track(ctx, models.EventImpression, a.imp, a.claims, "", label{cat: Replay, expect: models.ReasonDuplicateImpression})
			}
			ads = append(ads, a)
		}
		for k := range ads {
			a := ads[k]
			base := (i*replayedAds + k) * clickReplays
			g.later(2, func(ctx context.Context, rng *rand.Rand) {
				g.clickAfter(ctx, rng, &a)
				if !c.track(ctx, models.EventClick, a.click, a.claims, "", label{cat: Replay, byAnomaly: true}) {
					return
				}
				c.close()
				for r := 0; r < clickReplays; r++ {
					rc := g.client(addr("127.31.0.0/16", base+r), pick(rng, browserUAs), false)
					rc.track(ctx, models.EventClick, a.click, a.claims, "", label{cat: Replay, expect: models.ReasonDuplicateClick})
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
			c.track(ctx, models.EventImpression, randomToken(rng), Claims{}, page, l)
			c.track(ctx, models.EventClick, randomToken(rng), Claims{}, page, l)
		}
		a, ok := c.serve(ctx, "json", g.opt.AttackZones[Forged], "")
		if !ok {
			return
		}
		c.track(ctx, models.EventImpression, tamper(rng, a.imp), Claims{}, page, l)
		c.track(ctx, models.EventClick, tamper(rng, a.click), Claims{}, page, l)
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
			c.track(ctx, models.EventImpression, tok, a.claims, "", l)
		} else {
			g.failure("expired impression token: " + err.Error())
		}
		if tok, err := g.opt.Tokens.Expired(a.click, models.EventClick); err == nil {
			c.track(ctx, models.EventClick, tok, a.claims, "", l)
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
		c.track(ctx, models.EventImpression, a.imp, a.claims, page, l, "Sec-Purpose", "prefetch;prerender")
		if rng.IntN(6) == 0 {
			c.track(ctx, models.EventClick, a.click, a.claims, page, l, "Sec-Purpose", "prefetch")
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
	a, ok := c.serve(ctx, "js", zone, page)
	if !ok || !c.track(ctx, models.EventImpression, a.imp, a.claims, page, l) || rng.Float64() >= attackClickShare {
		return
	}
	g.later(2, func(ctx context.Context, rng *rand.Rand) {
		defer c.close()
		g.clickAfter(ctx, rng, &a)
		c.track(ctx, models.EventClick, a.click, a.claims, page, l)
	})
}

// fastClicker renders an ad and clicks it at once, faster than any person.
func (g *Generator) fastClicker(i int) task {
	return func(ctx context.Context, rng *rand.Rand) {
		c := g.client(addr(ClickBotPrefix, i), pick(rng, browserUAs), false)
		defer c.close()
		a, ok := c.serve(ctx, "json", g.opt.AttackZones[FastClick], "")
		if !ok {
			return
		}
		c.track(ctx, models.EventImpression, a.imp, a.claims, "", label{cat: FastClick, byAnomaly: true})
		c.track(ctx, models.EventClick, a.click, a.claims, "", label{cat: FastClick, expect: models.ReasonFastClick})
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
		g.later(2, func(ctx context.Context, rng *rand.Rand) {
			defer c.close()
			g.clickAfter(ctx, rng, &a)
			c.track(ctx, models.EventClick, a.click, a.claims, "", label{cat: NoImpression, expect: models.ReasonNoImpression})
		})
	}
}
