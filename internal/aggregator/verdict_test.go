package aggregator

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"adnet/models"
)

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

func newTestVerdicts(t *testing.T, maxClicks int) *verdicts {
	t.Helper()
	v, err := newVerdicts(verdictOptions{Window: 10 * time.Minute, MaxClicksPerIP: maxClicks, MinClickDelay: time.Second, EventsPerSec: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func impID(n int) models.ImpressionID {
	return models.ImpressionID{byte(n), byte(n >> 8), byte(n >> 16), 0xAA}
}

func ip(s string) [16]byte { return netip.MustParseAddr(s).As16() }

func beacon(id models.ImpressionID, at time.Time) *models.Event {
	return &models.Event{Type: models.EventImpression, ImpressionID: id, Time: at, ServedAt: at.Add(-time.Second)}
}

// click is a click at `at` on an impression served 10 s earlier, from addr.
func click(id models.ImpressionID, at time.Time, addr string, viewer uint64) *models.Event {
	return &models.Event{Type: models.EventClick, ImpressionID: id, Time: at, ServedAt: at.Add(-10 * time.Second), IP: ip(addr), ViewerID: viewer}
}

func wantReason(t *testing.T, what string, got, want models.Reason) {
	t.Helper()
	if got != want {
		t.Errorf("%s: %s, want %s", what, got, want)
	}
}

// TestDuplicateClickWindowEdges: a second click less than the window after the first is a
// duplicate, up to the last nanosecond; once the filter has certainly forgotten the first
// (window plus one slot), the impression may be clicked validly again.
func TestDuplicateClickWindowEdges(t *testing.T) {
	v := newTestVerdicts(t, 1000)
	id := impID(1)
	v.judge(beacon(id, t0))
	wantReason(t, "first click", v.judge(click(id, t0, "192.0.2.1", 0)), models.ReasonValid)
	wantReason(t, "click a window minus 1ns later", v.judge(click(id, t0.Add(10*time.Minute-1), "192.0.2.2", 0)), models.ReasonDuplicateClick)
	// That duplicate was recorded too: a chain of clicks each within the window of the
	// previous one stays duplicate.
	wantReason(t, "click 19 minutes later (9 after the previous)", v.judge(click(id, t0.Add(19*time.Minute), "192.0.2.3", 0)), models.ReasonDuplicateClick)
	// Forgotten at most window·(1+1/segments) after the last occurrence.
	late := t0.Add(19*time.Minute + 11*time.Minute + time.Second)
	v.judge(beacon(id, late.Add(-time.Second))) // the beacon filter forgot it too
	wantReason(t, "click after the window", v.judge(click(id, late, "192.0.2.4", 0)), models.ReasonValid)
	// Another impression is independent.
	other := impID(2)
	v.judge(beacon(other, late))
	wantReason(t, "click on another impression", v.judge(click(other, late.Add(time.Second), "192.0.2.5", 0)), models.ReasonValid)
}

// TestClickFloodGroupsIPv6By64: more than max clicks per IPv6 /64 (or IPv4 address, mapped
// or not) or per viewer within the window are floods; other /64s and other viewers are not.
func TestClickFloodGroupsIPv6By64(t *testing.T) {
	v := newTestVerdicts(t, 3)
	n := 0
	next := func(addr string, viewer uint64) models.Reason {
		n++
		id := impID(n)
		at := t0.Add(time.Duration(n) * time.Second)
		v.judge(beacon(id, at.Add(-500*time.Millisecond)))
		return v.judge(click(id, at, addr, viewer))
	}
	for _, addr := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2:abcd::9"} {
		wantReason(t, "click within the limit from the /64", next(addr, 0), models.ReasonValid)
	}
	wantReason(t, "4th click from the same /64", next("2001:db8:1:2::77", 0), models.ReasonClickFlood)
	wantReason(t, "a neighbouring /64", next("2001:db8:1:3::1", 0), models.ReasonValid)

	for range 3 {
		wantReason(t, "IPv4 within the limit", next("198.51.100.7", 0), models.ReasonValid)
	}
	wantReason(t, "4th click from the IPv4 address, IPv4-mapped", next("::ffff:198.51.100.7", 0), models.ReasonClickFlood)
	wantReason(t, "the next IPv4 address", next("198.51.100.8", 0), models.ReasonValid)

	// Per viewer cookie, across addresses.
	for i := range 3 {
		wantReason(t, "viewer within the limit", next("203.0.113."+string(rune('1'+i)), 42), models.ReasonValid)
	}
	wantReason(t, "4th click of the viewer from a fresh address", next("203.0.113.200", 42), models.ReasonClickFlood)
	// Unknown addresses and viewer 0 are not one group.
	for range 5 {
		wantReason(t, "unknown address, no viewer", next("::", 0), models.ReasonValid)
	}

	// A carrier-NAT address: people with cookies of their own click from it far beyond the
	// per-address limit, up to the shared limit (10×); a cookie-less click there is a flood.
	for i := range 30 {
		wantReason(t, "a person behind the NAT", next("192.0.2.200", uint64(1000+i)), models.ReasonValid)
	}
	wantReason(t, "a cookie-less click from the NAT address", next("192.0.2.200", 0), models.ReasonClickFlood)
	// The clicks so far count: 30 + 1; the shared limit is 3 × 10.
	wantReason(t, "beyond the shared limit, cookie or not", next("192.0.2.200", 5000), models.ReasonClickFlood)
}

// TestFastClickBoundary: a click sooner than min_click_delay after the serve is fast; at
// exactly the delay it is not.
func TestFastClickBoundary(t *testing.T) {
	v := newTestVerdicts(t, 1000)
	for i, c := range []struct {
		after time.Duration
		want  models.Reason
	}{
		{999 * time.Millisecond, models.ReasonFastClick},
		{time.Second - 1, models.ReasonFastClick},
		{time.Second, models.ReasonValid},
		{1500 * time.Millisecond, models.ReasonValid},
	} {
		id := impID(100 + i)
		served := t0.Add(time.Duration(i) * time.Minute)
		v.judge(beacon(id, served))
		ev := click(id, served.Add(c.after), "192.0.2.1", 0)
		ev.ServedAt = served
		wantReason(t, "click "+c.after.String()+" after serve", v.judge(ev), c.want)
	}
}

// TestImpressionVerdicts: duplicate beacons, beacons the worker rejected, and clicks without
// any beacon.
func TestImpressionVerdicts(t *testing.T) {
	v := newTestVerdicts(t, 1000)
	a, b, c := impID(1), impID(2), impID(3)
	wantReason(t, "first beacon", v.judge(beacon(a, t0)), models.ReasonValid)
	wantReason(t, "same beacon again", v.judge(beacon(a, t0.Add(time.Second))), models.ReasonDuplicateImpression)

	pre := beacon(b, t0)
	pre.Reason = models.ReasonPrefetch
	wantReason(t, "prerendered beacon keeps the worker's verdict", v.judge(pre), models.ReasonPrefetch)
	wantReason(t, "the real beacon after a prerender", v.judge(beacon(b, t0.Add(time.Second))), models.ReasonValid)

	wantReason(t, "click on a never-beaconed impression", v.judge(click(c, t0.Add(time.Minute), "192.0.2.9", 0)), models.ReasonNoImpression)
	bot := beacon(impID(4), t0)
	bot.Reason = models.ReasonBotUA
	v.judge(bot)
	wantReason(t, "click on an impression beaconed by a bot", v.judge(click(impID(4), t0.Add(time.Minute), "192.0.2.10", 0)), models.ReasonValid)
}

// TestWorkerVerdictsKept: an event with the worker's verdict keeps it and leaves the click
// state alone, so the real click afterwards counts.
func TestWorkerVerdictsKept(t *testing.T) {
	v := newTestVerdicts(t, 1000)
	id := impID(9)
	v.judge(beacon(id, t0))
	pre := click(id, t0.Add(5*time.Second), "192.0.2.1", 0)
	pre.Reason = models.ReasonPrefetch
	wantReason(t, "prefetched click", v.judge(pre), models.ReasonPrefetch)
	wantReason(t, "real click", v.judge(click(id, t0.Add(6*time.Second), "192.0.2.1", 0)), models.ReasonValid)
	conv := &models.Event{Type: models.EventConversion, ImpressionID: id, Time: t0.Add(time.Hour), Reason: models.ReasonExpiredToken}
	wantReason(t, "conversion", v.judge(conv), models.ReasonExpiredToken)
}

// TestClickVerdictPriority: with several rules firing, duplicate beats flood beats fast beats
// no_impression.
func TestClickVerdictPriority(t *testing.T) {
	v := newTestVerdicts(t, 1)
	id := impID(5)
	// No beacon, fast, and (second click) duplicate and flood at once.
	first := click(id, t0, "192.0.2.1", 0)
	first.ServedAt = t0.Add(-100 * time.Millisecond)
	wantReason(t, "fast and without impression", v.judge(first), models.ReasonFastClick)
	second := click(id, t0.Add(time.Second), "192.0.2.1", 0)
	second.ServedAt = second.Time
	wantReason(t, "duplicate, flood and fast", v.judge(second), models.ReasonDuplicateClick)
	third := click(impID(6), t0.Add(2*time.Second), "192.0.2.1", 0)
	third.ServedAt = third.Time
	wantReason(t, "flood and fast", v.judge(third), models.ReasonClickFlood)
}

func TestCostAndRevenue(t *testing.T) {
	for _, c := range []struct {
		p    models.PricingModel
		rate int64
		typ  models.EventType
		want int64
	}{
		{models.PricingCPM, 1_234_567, models.EventImpression, 1_234_567}, // 1234.567 µ, exactly
		{models.PricingCPM, 1_234_567, models.EventClick, 0},
		{models.PricingCPC, 300_000, models.EventClick, 300_000_000},
		{models.PricingCPC, 300_000, models.EventImpression, 0},
		{models.PricingCPA, 5_000_000, models.EventConversion, 5_000_000_000},
		{models.PricingCPA, -1, models.EventConversion, 0},
		{"", 5_000_000, models.EventConversion, 0},
	} {
		if got := costNanos(c.p, c.rate, c.typ); got != c.want {
			t.Errorf("cost %s %d %s = %d, want %d", c.p, c.rate, c.typ, got, c.want)
		}
	}
	if got := revenueNanos(1_234_567, 7000); got != 864_196 {
		t.Errorf("revenue = %d, want 864196 (rounded down)", got)
	}
	if got := revenueNanos(1<<62, 10000); got != 1<<62 {
		t.Errorf("revenue of a huge cost at 100%% = %d", got)
	}
	// 1000 CPM impressions at 1234.567 µ cost exactly 1234567 µ: nothing lost to rounding.
	var sum int64
	for range 1000 {
		sum += costNanos(models.PricingCPM, 1_234_567, models.EventImpression)
	}
	if sum/1000 != 1_234_567 {
		t.Errorf("1000 CPM impressions cost %d µ, want 1234567", sum/1000)
	}
}

func TestCountryCode(t *testing.T) {
	for in, want := range map[[2]byte]string{{'F', 'R'}: "FR", {'d', 'e'}: "DE", {}: "", {'1', '2'}: "", {'A', 0}: ""} {
		if got := countryCode(in); got != want {
			t.Errorf("countryCode(%q) = %q, want %q", in[:], got, want)
		}
	}
}

// TestFraudStateMemoryBound: the aggregator's fraud state at its default design load (25,000
// events/s, a 10-minute window) stays under 64 MB, whatever the traffic.
func TestFraudStateMemoryBound(t *testing.T) {
	v, err := newVerdicts(verdictOptions{Window: DefaultClickWindow, MaxClicksPerIP: DefaultMaxClicksPerIP,
		MinClickDelay: time.Second, EventsPerSec: DefaultEventsPerSecond})
	if err != nil {
		t.Fatal(err)
	}
	mb := float64(v.MemoryBytes()) / (1 << 20)
	t.Logf("fraud state: %.1f MiB (impressions %.1f + beacons %.1f + clicks %.1f + tainted %.1f + per-IP %.1f + per-viewer %.1f)", mb,
		float64(v.impValid.MemoryBytes())/(1<<20), float64(v.beacons.MemoryBytes())/(1<<20), float64(v.clicked.MemoryBytes())/(1<<20),
		float64(v.tainted.MemoryBytes())/(1<<20), float64(v.perIP.MemoryBytes())/(1<<20), float64(v.perViewer.MemoryBytes())/(1<<20))
	if mb >= 64 {
		t.Errorf("fraud state %.1f MiB, want under 64", mb)
	}
}

// TestClickInheritsBeaconVerdict: a click on an impression whose beacon was automation,
// referrer_mismatch or token_mismatch is invalid for the same reason (the automated browser's
// click, the spoofed iframe's click); a prefetched or bot beacon passes nothing on, and other
// impressions are untouched.
func TestClickInheritsBeaconVerdict(t *testing.T) {
	v := newTestVerdicts(t, 1000)
	cases := []struct {
		beacon, want models.Reason
	}{
		{models.ReasonAutomation, models.ReasonAutomation},
		{models.ReasonReferrerMismatch, models.ReasonReferrerMismatch},
		{models.ReasonTokenMismatch, models.ReasonTokenMismatch},
		{models.ReasonPrefetch, models.ReasonValid},
		{models.ReasonValid, models.ReasonValid},
	}
	for i, c := range cases {
		id := impID(100 + i)
		b := beacon(id, t0)
		b.Reason = c.beacon
		v.judge(b)
		wantReason(t, "click after a "+c.beacon.String()+" beacon", v.judge(click(id, t0.Add(5*time.Second), "192.0.2.1", uint64(i+1))), c.want)
	}
	// No inherited reason among many clean impressions after the tainted ones. The click
	// filter's own false positives (duplicate_click, within its 0.1% bound; its hash seed is
	// random) are another rule's, and counted.
	dups := 0
	for n := 0; n < 5000; n++ {
		id := impID(1000 + n)
		v.judge(beacon(id, t0.Add(time.Minute)))
		switch r := v.judge(click(id, t0.Add(time.Minute+5*time.Second), "198.51.100.1", uint64(10000+n))); r {
		case models.ReasonValid, models.ReasonClickFlood:
		case models.ReasonDuplicateClick:
			dups++
		default:
			t.Fatalf("clean click %d judged %s", n, r)
		}
	}
	if dups > 5 {
		t.Errorf("%d of 5000 clean clicks judged duplicate_click, more than the click filter's 0.1%% bound", dups)
	}
}

// TestTaintKeysOfSequentialIDs: impression ids are a process prefix and a counter; the
// tainted keys of consecutive ids never meet another id's, whatever the reasons.
func TestTaintKeysOfSequentialIDs(t *testing.T) {
	v := newTestVerdicts(t, 1<<30)
	seq := func(n int) models.ImpressionID {
		id := models.ImpressionID{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4}
		binary.BigEndian.PutUint64(id[8:], uint64(n))
		return id
	}
	for n := 1; n <= 4096; n += 2 { // every odd id's beacon is tainted, every even one clean
		b := beacon(seq(n), t0)
		b.Reason = inheritedReasons[n%len(inheritedReasons)]
		v.judge(b)
	}
	for n := 2; n <= 4096; n += 2 {
		v.judge(beacon(seq(n), t0))
		if r := v.judge(click(seq(n), t0.Add(5*time.Second), "192.0.2.9", uint64(n))); r != models.ReasonValid {
			t.Fatalf("click on clean impression %d judged %s", n, r)
		}
	}
}
