package evalmix

import (
	"strings"
	"testing"

	"adnet/models"
)

func id(b byte) models.ImpressionID { return models.ImpressionID{b} }

func TestScore(t *testing.T) {
	imp, click, conv := models.EventImpression, models.EventClick, models.EventConversion
	l := &Ledger{Events: []Event{
		{Category: Human, Type: imp, ZoneID: 1, ImpressionID: id(1), Seq: 1},
		{Category: Human, Type: imp, ZoneID: 1, ImpressionID: id(2), Seq: 2},
		{Category: Human, Type: imp, ZoneID: 1, ImpressionID: id(3), Seq: 3},
		{Category: Human, Type: click, ZoneID: 1, ImpressionID: id(1), Seq: 10},
		{Category: Human, Type: click, ZoneID: 1, ImpressionID: id(2), Seq: 11},
		{Category: Human, Type: conv, ZoneID: 1, ImpressionID: id(1), Seq: 20},
		{Category: ConvReplay, Type: conv, ZoneID: 1, ImpressionID: id(1), Seq: 21, Expect: models.ReasonDuplicateConversion},
		{Category: Bot, Type: imp, ZoneID: 2, ImpressionID: id(4), Seq: 4, Expect: models.ReasonBotUA},
		{Category: Farm, Type: imp, ZoneID: 3, ImpressionID: id(5), Seq: 5, ByAnomaly: true},
		{Category: Forged, Type: click, Seq: 6, Expect: models.ReasonBadToken},
		{Category: Replay, Type: click, ZoneID: 4, ImpressionID: id(6), Seq: 12, ByAnomaly: true},
		{Category: Replay, Type: click, ZoneID: 4, ImpressionID: id(6), Seq: 13, Expect: models.ReasonDuplicateClick},
		{Category: Replay, Type: click, ZoneID: 4, ImpressionID: id(6), Seq: 14, Expect: models.ReasonDuplicateClick},
	}}
	valid, bot := models.ReasonValid, models.ReasonBotUA
	obs := &Observed{
		Counts: map[Bucket]map[models.Reason]int64{
			{1, imp}:   {valid: 3},
			{2, imp}:   {bot: 1},
			{3, imp}:   {valid: 1},
			{0, click}: {models.ReasonBadToken: 1},
		},
		Clicks: map[models.ImpressionID][]models.Reason{
			id(1): {valid},
			id(2): {models.ReasonFastClick}, // a person wrongly flagged
			id(6): {valid, models.ReasonDuplicateClick, models.ReasonDuplicateClick},
		},
		Conversions:  map[models.ImpressionID][]models.Reason{id(1): {valid, models.ReasonDuplicateConversion}},
		FlaggedZones: map[int64][]string{3: {"ctr"}}, // the replay zone 4 was not flagged
	}
	r := Score(l, obs)
	if len(r.Problems) != 0 {
		t.Fatalf("problems: %v", r.Problems)
	}
	// Not billed: the bot's impression, the forged click, the two duplicate clicks and the
	// duplicate conversion (5 of 7 invalid events); the farm's impression and the replay's
	// first click were billed (the farm's zone was flagged: that does not un-bill it).
	if r.HumanEvents != 6 || r.HumanInvalid != 1 || r.InvalidEvents != 7 || r.InvalidNotBilled != 5 || r.InvalidBilledInFlaggedZone != 1 {
		t.Fatalf("totals: %+v", r)
	}
	want := map[string][5]int64{ // flagged, of invalid, expected, not billed, exact
		"bot_ua": {1, 1, 1, 1, 1}, AnomalyRule: {0, 0, 2, 0, 0}, "bad_token": {1, 1, 1, 1, 1},
		"duplicate_click": {2, 2, 2, 2, 2}, "fast_click": {1, 0, 0, 0, 0}, "duplicate_conversion": {1, 1, 1, 1, 1},
	}
	if len(r.Reasons) != len(want) {
		t.Fatalf("reasons: %+v", r.Reasons)
	}
	for _, s := range r.Reasons {
		if w := want[s.Rule]; [5]int64{s.Flagged, s.FlaggedInvalid, s.Expected, s.NotBilled, s.Exact} != w {
			t.Errorf("%s: %+v, want %v", s.Rule, s, w)
		}
	}
	if r.Pass() || r.PassInvalid() || r.PassHuman() {
		t.Errorf("71%% of invalid events not billed and 17%% of people's invalid pass: %v %v", r.PassInvalid(), r.PassHuman())
	}
	var b strings.Builder
	r.Print(&b)
	for _, s := range []string{"invalid events not billed: 5 of 7 = 71.43% (target ≥ 99.00%): FAIL; billed although their zone was flagged: 1",
		"human events invalid:      1 of 6 = 16.67% (target ≤ 0.10%): FAIL", "of which givt:             5 of 5 = 100.00%", "of which sivt:             0 of 2 = 0.00%", "fast_click", "FP 16.67%", "recall 66.67%"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, b.String())
		}
	}

	// A reason that catches an invalid event expected under another reason is precise all
	// the same: the event is not billed.
	obs.Clicks[id(6)] = []models.Reason{models.ReasonTokenMismatch, models.ReasonDuplicateClick, models.ReasonDuplicateClick}
	r = Score(l, obs)
	for _, s := range r.Reasons {
		if s.Rule == "token_mismatch" && (s.Flagged != 1 || s.FlaggedInvalid != 1 || s.Precision() != 1) {
			t.Errorf("token_mismatch: %+v", s)
		}
	}
	if r.InvalidNotBilled != 6 {
		t.Errorf("not billed: %d, want 6", r.InvalidNotBilled)
	}

	// Everything caught and no person flagged: PASS.
	pass := &Ledger{Events: []Event{
		{Category: Human, Type: click, ZoneID: 1, ImpressionID: id(1), Seq: 1},
		{Category: Bot, Type: click, ZoneID: 1, ImpressionID: id(2), Seq: 2, Expect: models.ReasonBotUA},
	}}
	r = Score(pass, &Observed{Clicks: map[models.ImpressionID][]models.Reason{id(1): {valid}, id(2): {bot}}})
	if !r.Pass() {
		t.Errorf("a perfect run does not pass: %+v", r)
	}
	obs.Clicks[id(6)] = []models.Reason{valid, models.ReasonDuplicateClick, models.ReasonDuplicateClick}

	// An event the statistics lost, and one they have but nobody sent, are problems, and
	// the lost one counts as billed.
	obs.Counts[Bucket{1, imp}] = map[models.Reason]int64{valid: 2}
	obs.Clicks[id(9)] = []models.Reason{valid}
	r = Score(l, obs)
	if len(r.Problems) != 2 || !strings.Contains(r.Problems[0], "click") || !strings.Contains(r.Problems[1], "zone 1 impressions: sent 3, recorded 2") {
		t.Fatalf("problems: %q", r.Problems)
	}
	if r.HumanInvalid != 1 {
		t.Fatalf("a lost event counted as not billed: %d", r.HumanInvalid)
	}
	if r.Pass() {
		t.Fatal("a run with accounting problems passes")
	}
}

func TestUALists(t *testing.T) {
	if len(botUAs) < 1000 || len(browserUAs) < 80 {
		t.Fatalf("%d bot and %d browser User-Agents", len(botUAs), len(browserUAs))
	}
	if len(droppedBrowserUAs) > 5 {
		t.Errorf("%d of the top list's entries dropped as no browser's: %q", len(droppedBrowserUAs), droppedBrowserUAs)
	}
	for _, ua := range []string{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0.0.0", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"} {
		if browserUA.MatchString(ua) {
			t.Errorf("%q taken for a browser's", ua)
		}
	}
}

// TestScoreRestated: the valid events of a bucket the ledger restated are not billed, counted
// under RestatedRule (SIVT), the earliest first; a restatement of more than the bucket's
// valid events is a problem.
func TestScoreRestated(t *testing.T) {
	imp := models.EventImpression
	l := &Ledger{Events: []Event{
		{Category: Farm, Type: imp, ZoneID: 3, ImpressionID: id(1), Seq: 1, ByAnomaly: true},
		{Category: Farm, Type: imp, ZoneID: 3, ImpressionID: id(2), Seq: 2, ByAnomaly: true},
		{Category: Farm, Type: imp, ZoneID: 3, ImpressionID: id(3), Seq: 3, ByAnomaly: true},
		{Category: Human, Type: imp, ZoneID: 1, ImpressionID: id(4), Seq: 4},
	}}
	obs := &Observed{
		Counts:       map[Bucket]map[models.Reason]int64{{3, imp}: {models.ReasonValid: 3}, {1, imp}: {models.ReasonValid: 1}},
		FlaggedZones: map[int64][]string{3: {"ctr"}},
		Restated:     map[Bucket]int64{{3, imp}: 2},
	}
	r := Score(l, obs)
	if len(r.Problems) != 0 || r.InvalidEvents != 3 || r.InvalidNotBilled != 2 || r.InvalidBilledInFlaggedZone != 1 || r.HumanInvalid != 0 {
		t.Fatalf("report: %+v", r)
	}
	var found bool
	for _, s := range r.Reasons {
		if s.Rule == RestatedRule {
			found = true
			if s.Class != models.ClassSIVT || s.Flagged != 2 || s.FlaggedInvalid != 2 {
				t.Errorf("restated: %+v", s)
			}
		}
	}
	if !found {
		t.Errorf("no %q row: %+v", RestatedRule, r.Reasons)
	}
	obs.Restated[Bucket{3, imp}] = 4
	if r := Score(l, obs); len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "1 restated beyond") {
		t.Errorf("over-restatement problems: %v", r.Problems)
	}
}
