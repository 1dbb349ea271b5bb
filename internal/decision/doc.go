// Package decision is adnet's ad decision engine: given a zone and what is known about the
// request, it picks the campaign and creative to serve. It knows nothing of HTTP or SQL: the
// handler builds a Request, and a loader turns models.Inventory into a Snapshot with Build.
//
// # Selection
//
// Tiers are tried from override down to house; the first tier with an eligible campaign wins.
// Within a tier a campaign is drawn with probability proportional to link weight × campaign
// weight among the eligible ones; then a creative is drawn by weight among the campaign's
// creatives that fit the zone (size rule at Build). A campaign is eligible when it is in flight
// (start ≤ now < end), every targeting rule passes, its limits and budgets are not exhausted,
// even pacing allows it, and the viewer has not reached its frequency cap. When no tier of the
// zone has an eligible campaign, the zones of its fallback chain are tried the same way (same
// size only, at most Options.MaxFallbackDepth zones, cycles cut at Build), then the zone's
// fallback creative, then nothing.
//
// Targeting rules are data (bit sets, sorted lists), evaluated as predicates, never code.
// Day-of-week and hour rules use the network time zone (Options.Location). Site-domain rules
// match the requested zone's site domain — the publisher's declared, trusted domain, not the
// spoofable Referer — including subdomains: "news.example" matches "m.news.example". URL rules
// are ASCII-case-insensitive substring matches on Request.PageURL. Key-value rules require, for
// every key of the rule, a tag pair with that key and one of the listed values.
//
// # Frequency capping
//
// A campaign with FreqCap N and FreqWindow W serves at most N times per viewer in a fixed window
// of W starting at the viewer's first impression of it. The state lives in the viewer's signed
// first-party cookie (token.Viewer); Decide reads it and returns Decision.FreqWindow so that the
// handler records the impression (Decision.RecordFrequency) and re-sets the cookie. When the
// request carries no viewer state or capping is disabled for privacy (no cookie, GPC, DNT, the
// no-viewer-id option), capping is simply not applied: capped campaigns serve as to a new viewer.
//
// # Caps, budgets and their worst-case overshoot
//
// Limits are checked against the snapshot's totals (what the statistics pipeline had counted
// when the inventory was read) plus what this worker served since it installed the snapshot.
// Every served decision counts as an impression (conservative: not every serve renders), and a
// CPM campaign's spend is priced per serve; clicks and conversions reported with RecordClick and
// RecordConversion count the same way. Within one worker, a serve is a reservation on atomic
// counters (count, then check, undo on failure), so one worker alone never exceeds a limit,
// whatever its concurrency. Workers do not see each other's local counts, and a swap restarts
// local counts from zero with newer totals. The overshoot therefore comes only from serves no
// one's view contains yet. With
//
//	W  workers (processes, each with its own Engine),
//	r  the highest rate at which one worker serves the campaign (per second),
//	R  the snapshot refresh interval (a worker's snapshot is at most R old),
//	F  the statistics delay: a snapshot read at time L contains every event before L − F,
//
// a worker deciding at time t, with its snapshot read at L (t − L < R), misses its own serves in
// [L − F, L) — at most r·F — and the other workers' serves in [L − F, t] — at most
// (W − 1)·r·(R + F). It serves only while its view is under the limit, so the true delivery
// after its last serve is at most
//
//	limit + (W − 1)·r·(R + F) + r·F  =  limit + r·((W − 1)·R + W·F)
//
// per limited measure (impressions; for CPM spend multiply by rate/1000; for clicks and
// conversions use their rate r_c at the worker that records them). With one worker and no
// statistics delay the limit is exact. TestOvershootWithinBound simulates W engines sharing
// totals refreshed every R with delay F and checks this bound. Daily limits restart at midnight
// in the network time zone; the bound holds per day.
//
// # Pacing
//
// An even-paced campaign may deliver, on each limited daily measure, up to
// ceil(daily_limit × (elapsed + Options.PacingStep) / day_length) by the current time of day,
// never more than the limit: delivery follows a straight line over the day, at most one step
// ahead, and a campaign that fell behind (no traffic, paused) catches up as soon as it can.
// ASAP campaigns serve whenever eligible until a limit is reached.
package decision
