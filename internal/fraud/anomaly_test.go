package fraud

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// binomial draws the number of successes of n trials of probability p.
func binomial(rng *rand.Rand, n int64, p float64) int64 {
	var k int64
	for i := int64(0); i < n; i++ {
		if rng.Float64() < p {
			k++
		}
	}
	return k
}

// history builds a zone's own baseline from hours hourly samples: imps(h) impressions of which
// a share ctr(h) is clicked and a share inv of all events is invalid.
func history(rng *rand.Rand, hours int, imps func(h int) int64, ctr func(h int) float64, inv float64) *BaselineAcc {
	var a BaselineAcc
	for h := 0; h < hours; h++ {
		n := imps(h)
		c := Counts{Impressions: n, Clicks: binomial(rng, n, ctr(h))}
		c.InvalidImpressions = binomial(rng, n, inv)
		a.AddHour(c, AnomalyOptions{})
	}
	return &a
}

func constant[T any](v T) func(int) T { return func(int) T { return v } }

func TestAssessTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	week := 7 * 24
	stable := history(rng, week, constant[int64](400), constant(0.02), 0.02)
	// Day and night audiences: 3% CTR by day, 1% by night, twelve hours each.
	diurnal := history(rng, week, constant[int64](400), func(h int) float64 {
		if h%24 < 12 {
			return 0.03
		}
		return 0.01
	}, 0.02)
	neverClicked := history(rng, week, constant[int64](100), constant(0.0), 0.0)
	lastWeekOnly := history(rng, 6, constant[int64](400), constant(0.02), 0.02) // six hours: too little history
	var none BaselineAcc

	var peers []Baseline
	for i := 0; i < 6; i++ {
		peers = append(peers, history(rng, week, constant[int64](300), constant(0.015+0.002*float64(i)), 0.02).Baseline(MetricCTR, AnomalyOptions{}))
	}
	peerCTR := PeerBaseline(peers, AnomalyOptions{})
	if peerCTR.Source != BaselinePeers || math.Abs(peerCTR.Rate-0.02) > 0.002 || peerCTR.Hours != 6 {
		t.Fatalf("peer baseline: %+v", peerCTR)
	}
	if few := PeerBaseline(peers[:4], AnomalyOptions{}); few.Source != "" {
		t.Fatalf("4 peers must not make a baseline (MinPeers 5): %+v", few)
	}

	tests := []struct {
		name    string
		metric  string
		recent  Counts
		own     *BaselineAcc
		peers   Baseline
		flag    bool
		source  string
		whyLike string
	}{
		{"stable zone at its usual CTR", MetricCTR, Counts{Impressions: 1000, Clicks: 22}, stable, Baseline{}, false, BaselineOwn, "z "},
		{"stable zone at the top of its usual range", MetricCTR, Counts{Impressions: 1000, Clicks: 30}, stable, Baseline{}, false, BaselineOwn, "z "},
		{"CTR jumps 5x", MetricCTR, Counts{Impressions: 1000, Clicks: 100}, stable, Baseline{}, true, BaselineOwn, ""},
		{"CTR doubles on a large volume", MetricCTR, Counts{Impressions: 20000, Clicks: 800}, stable, Baseline{}, true, BaselineOwn, ""},
		{"CTR falls to zero", MetricCTR, Counts{Impressions: 5000, Clicks: 0}, stable, Baseline{}, false, BaselineOwn, "z "},
		{"20 impressions all clicked", MetricCTR, Counts{Impressions: 20, Clicks: 20}, stable, Baseline{}, false, BaselineOwn, "volume 20 below"},
		{"499 impressions all clicked", MetricCTR, Counts{Impressions: 499, Clicks: 499}, stable, Baseline{}, false, BaselineOwn, "volume 499 below"},
		{"invalid share jumps to 30%", MetricInvalidRate, Counts{Impressions: 700, InvalidImpressions: 300}, stable, Baseline{}, true, BaselineOwn, ""},
		{"invalid share at its usual 2%", MetricInvalidRate, Counts{Impressions: 980, InvalidImpressions: 20}, stable, Baseline{}, false, BaselineOwn, "z "},
		{"day-time peak of a diurnal zone", MetricCTR, Counts{Impressions: 2000, Clicks: 70}, diurnal, Baseline{}, false, BaselineOwn, "z "},
		{"diurnal zone at 5x", MetricCTR, Counts{Impressions: 2000, Clicks: 200}, diurnal, Baseline{}, true, BaselineOwn, ""},
		{"first click ever of a never-clicked zone", MetricCTR, Counts{Impressions: 1000, Clicks: 1}, neverClicked, Baseline{}, false, BaselineOwn, "z "},
		{"a never-clicked zone, clicked below MinDelta", MetricCTR, Counts{Impressions: 100000, Clicks: 150}, neverClicked, Baseline{}, false, BaselineOwn, "by less than"},
		{"never-clicked zone now clicked 5%", MetricCTR, Counts{Impressions: 1000, Clicks: 50}, neverClicked, Baseline{}, true, BaselineOwn, ""},
		{"new zone, no peers", MetricCTR, Counts{Impressions: 5000, Clicks: 2500}, &none, Baseline{}, false, "", "no baseline"},
		{"new zone, six hours of history, no peers", MetricCTR, Counts{Impressions: 5000, Clicks: 2500}, lastWeekOnly, Baseline{}, false, "", "no baseline: 6 hours"},
		{"new zone like its peers", MetricCTR, Counts{Impressions: 1000, Clicks: 24}, &none, peerCTR, false, BaselinePeers, "z "},
		{"new zone at 10x its peers", MetricCTR, Counts{Impressions: 1000, Clicks: 200}, &none, peerCTR, true, BaselinePeers, ""},
		{"new zone at 10x its peers, tiny", MetricCTR, Counts{Impressions: 50, Clicks: 10}, &none, peerCTR, false, BaselinePeers, "volume 50"},
		{"own baseline wins over peers", MetricCTR, Counts{Impressions: 1000, Clicks: 22}, stable, Baseline{Source: BaselinePeers, Rate: 0.001, Volume: 1e6, Hours: 9}, false, BaselineOwn, "z "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := Assess(tc.metric, tc.recent, tc.own.Baseline(tc.metric, AnomalyOptions{}), tc.peers, AnomalyOptions{})
			if a.Flag != tc.flag || a.Baseline.Source != tc.source || !strings.Contains(a.Why, tc.whyLike) {
				t.Fatalf("got flag %v, source %q, why %q (z %.2f, value %.4f vs %.4f, var %.3g); want flag %v, source %q, why like %q",
					a.Flag, a.Baseline.Source, a.Why, a.Z, a.Value, a.Baseline.Rate, a.Baseline.Var, tc.flag, tc.source, tc.whyLike)
			}
			if math.IsNaN(a.Z) || math.IsInf(a.Z, 0) {
				t.Fatalf("z = %v", a.Z)
			}
			t.Logf("z %.2f value %.4f baseline %.4f (%s, var %.3g) %s", a.Z, a.Value, a.Baseline.Rate, a.Baseline.Source, a.Baseline.Var, a.Why)
		})
	}
}

// The hour-to-hour variation must be what the data shows beyond sampling noise: none for a
// zone whose hours differ only by chance, the real spread for a day-and-night zone.
func TestBaselineVariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	stable := history(rng, 24*28, constant[int64](1000), constant(0.02), 0)
	b := stable.Baseline(MetricCTR, AnomalyOptions{})
	// The true between-hour variance is 0; the estimate may be a little above by chance, but
	// far below the sampling variance of one hour (0.02·0.98/1000 ≈ 2e-5).
	if b.Source != BaselineOwn || math.Abs(b.Rate-0.02) > 0.001 || b.Var > 4e-6 || b.Hours != 24*28 || b.Volume != 24*28*1000 {
		t.Fatalf("stable baseline: %+v", b)
	}
	diurnal := history(rng, 24*28, constant[int64](1000), func(h int) float64 {
		if h%2 == 0 {
			return 0.03
		}
		return 0.01
	}, 0)
	d := diurnal.Baseline(MetricCTR, AnomalyOptions{})
	// Rates of 1% and 3% in equal shares: variance 1e-4 around 2%.
	if math.Abs(d.Rate-0.02) > 0.001 || d.Var < 0.7e-4 || d.Var > 1.3e-4 {
		t.Fatalf("diurnal baseline: %+v", d)
	}
	// Hours below MinHourVolume count in the rate but not in the variation.
	var thin BaselineAcc
	for h := 0; h < 48; h++ {
		thin.AddHour(Counts{Impressions: 5, Clicks: int64(h % 2 * 5)}, AnomalyOptions{}) // 0% or 100% of 5
	}
	tb := thin.Baseline(MetricCTR, AnomalyOptions{MinVolume: 100})
	if tb.Source != BaselineOwn || tb.Rate != 0.5 || tb.Var != 0 || tb.Hours != 48 {
		t.Fatalf("thin hours: %+v", tb)
	}
}

// A stable zone is not flagged, whatever window of its normal traffic comes along, at the rate
// the threshold promises (one-sided z ≥ 4: 3e-5 per metric); the same zone with some of its
// traffic replaced by a click-happy source is always flagged. Every trial draws its own week
// of history, so that one unlucky baseline does not bias all of them.
func TestAssessStableZoneFalseAlarmRate(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	flagged, caught := 0, 0
	const trials = 400
	for i := 0; i < trials; i++ {
		own := history(rng, 7*24, func(h int) int64 { return 200 + int64(h%24)*20 }, constant(0.015), 0.03)
		bctr, binv := own.Baseline(MetricCTR, AnomalyOptions{}), own.Baseline(MetricInvalidRate, AnomalyOptions{})
		n := 500 + rng.Int64N(3000)
		c := Counts{Impressions: n, Clicks: binomial(rng, n, 0.015), InvalidImpressions: binomial(rng, n, 0.03)}
		for _, a := range []Assessment{Assess(MetricCTR, c, bctr, Baseline{}, AnomalyOptions{}), Assess(MetricInvalidRate, c, binv, Baseline{}, AnomalyOptions{})} {
			if a.Flag {
				flagged++
				t.Logf("false alarm: %+v", a)
			}
		}
		// 1500 extra impressions clicked at 20% by the publisher's own devices.
		c.Impressions += 1500
		c.Clicks += binomial(rng, 1500, 0.2)
		if Assess(MetricCTR, c, bctr, Baseline{}, AnomalyOptions{}).Flag {
			caught++
		}
	}
	t.Logf("normal windows: %d false alarms in %d assessments; inflated windows caught: %d of %d", flagged, 2*trials, caught, trials)
	// 800 assessments at 3e-5 expect 0.024 false alarms: two would be a 1-in-3000 event.
	if flagged > 1 || caught != trials {
		t.Fatalf("%d false alarms in %d assessments; %d of %d inflated windows caught", flagged, 2*trials, caught, trials)
	}
}

func TestCountsRatio(t *testing.T) {
	c := Counts{Impressions: 90, Clicks: 3, InvalidImpressions: 6, InvalidClicks: 1}
	var sum Counts
	sum.Add(c)
	sum.Add(c)
	for _, tc := range []struct {
		metric   string
		num, den int64
	}{{MetricCTR, 6, 180}, {MetricInvalidRate, 14, 200}, {"cpm", 0, 0}} {
		if num, den := sum.Ratio(tc.metric); num != tc.num || den != tc.den {
			t.Errorf("%s: %d/%d, want %d/%d", tc.metric, num, den, tc.num, tc.den)
		}
	}
	var a BaselineAcc
	if b := a.Baseline("cpm", AnomalyOptions{}); b.Source != "" {
		t.Fatalf("unknown metric has a baseline: %+v", b)
	}
}

// The z-score must mean what a normal z-score means even when a window holds a dozen
// expected clicks, where a binomial's upper tail is much heavier than the normal one: the
// share of chance windows at z ≥ 3 must be near the normal 0.135%. (The plain normal
// approximation gives about 0.35% here, which at z ≥ 4 is ten times too many false alarms.)
func TestAssessCalibratedOnSmallCounts(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	exact := Baseline{Source: BaselineOwn, Rate: 0.015, Volume: 1 << 40, Hours: 168}
	const windows = 50000
	over := 0
	for i := 0; i < windows; i++ {
		c := Counts{Impressions: 960, Clicks: binomial(rng, 960, 0.015)}
		if Assess(MetricCTR, c, exact, Baseline{}, AnomalyOptions{}).Z >= 3 {
			over++
		}
	}
	t.Logf("%d of %d chance windows at z >= 3 (normal: %.0f)", over, windows, 0.00135*windows)
	if over < 30 || over > 120 {
		t.Fatalf("%d of %d chance windows at z >= 3; a calibrated z gives about %.0f", over, windows, 0.00135*windows)
	}
}
