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
	if r.HumanEvents != 6 || r.HumanFlagged != 1 || r.InvalidEvents != 7 || r.InvalidFlagged != 6 || r.InvalidByRules != 5 {
		t.Fatalf("totals: %+v", r)
	}
	want := map[string][3]int64{ // flagged, expected, correct
		"bot_ua": {1, 1, 1}, AnomalyRule: {1, 2, 1}, "bad_token": {1, 1, 1}, "duplicate_click": {2, 2, 2},
		"fast_click": {1, 0, 0}, "duplicate_conversion": {1, 1, 1},
	}
	if len(r.Rules) != len(want) {
		t.Fatalf("rules: %+v", r.Rules)
	}
	for _, s := range r.Rules {
		if w := want[s.Rule]; [3]int64{s.Flagged, s.Expected, s.TP} != w {
			t.Errorf("%s: %+v, want %v", s.Rule, s, w)
		}
	}
	var b strings.Builder
	r.Print(&b)
	for _, s := range []string{"human events: 6, flagged 1 (16.67%", "invalid events: 7, flagged 6 (85.71%", "fast_click"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, b.String())
		}
	}

	// An event the statistics lost, and one they have but nobody sent, are problems, and
	// the lost one is not flagged.
	obs.Counts[Bucket{1, imp}] = map[models.Reason]int64{valid: 2}
	obs.Clicks[id(9)] = []models.Reason{valid}
	r = Score(l, obs)
	if len(r.Problems) != 2 || !strings.Contains(r.Problems[0], "click") || !strings.Contains(r.Problems[1], "zone 1 impressions: sent 3, recorded 2") {
		t.Fatalf("problems: %q", r.Problems)
	}
	if r.HumanFlagged != 1 {
		t.Fatalf("a lost event counted as flagged: %d", r.HumanFlagged)
	}
}
