package evalmix

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"adnet/models"
)

// Bucket is a zone and event type, the grain at which the statistics keep verdicts of events
// without a row of their own (impressions; clicks and conversions of forged tokens).
type Bucket struct {
	ZoneID int64
	Type   models.EventType
}

// Observed are the verdicts the system recorded, as read back from the database.
type Observed struct {
	// Counts by final reason (ReasonValid for billable events) per bucket, for the buckets
	// of events that have no row: every zone's impressions, zone 0's clicks.
	Counts map[Bucket]map[models.Reason]int64
	// Verdicts of the clicks and of the conversions, per impression id, in the order the
	// events happened.
	Clicks      map[models.ImpressionID][]models.Reason
	Conversions map[models.ImpressionID][]models.Reason
	// FlaggedZones are the zones the anomaly monitor flagged, with the flagged metrics.
	FlaggedZones map[int64][]string
}

// AnomalyRule is the name under which Score reports events caught only by their zone's
// anomaly flag.
const AnomalyRule = "zone anomaly"

// RuleStats are one rule's figures: Flagged events it flagged, Expected events it should
// have flagged, TP both.
type RuleStats struct {
	Rule                  string
	Flagged, Expected, TP int64
}

// Precision is TP/Flagged (1 when it flagged nothing).
func (r RuleStats) Precision() float64 { return ratio(r.TP, r.Flagged) }

// Recall is TP/Expected (1 when nothing was expected).
func (r RuleStats) Recall() float64 { return ratio(r.TP, r.Expected) }

// CategoryStats are one category's figures: its events, those flagged by their own verdict,
// and those flagged in all (by their verdict or their zone's anomaly flag).
type CategoryStats struct {
	Category                 Category
	Events, ByRules, Flagged int64
	ByType                   map[models.EventType]int64
	Verdicts                 map[string]int64 // what its events were flagged as ("valid": not flagged)
}

// Report is the outcome of an evaluation.
type Report struct {
	Rules      []RuleStats
	Categories []CategoryStats
	// Human events and how many were flagged (by any rule or their zone's anomaly flag).
	HumanEvents, HumanFlagged int64
	// Invalid-labelled events, how many their own verdicts flagged, and how many were
	// flagged in all.
	InvalidEvents, InvalidByRules, InvalidFlagged int64
	// Problems are events sent but not recorded, or recorded but not sent: the statistics
	// must account for every answered request exactly once.
	Problems []string
}

// HumanFlagRate is the share of human events flagged.
func (r *Report) HumanFlagRate() float64 {
	return 1 - ratio(r.HumanEvents-r.HumanFlagged, r.HumanEvents)
}

// InvalidRecall is the share of invalid-labelled events flagged.
func (r *Report) InvalidRecall() float64 { return ratio(r.InvalidFlagged, r.InvalidEvents) }

func ratio(a, b int64) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

// Score matches every event of the ledger with its recorded verdict and computes the report.
// Clicks and conversions are matched one by one (per impression id, in order); impressions,
// which the statistics keep only as counts, are matched per zone and reason: in a zone whose
// events expect a reason, that many of the zone's verdicts with the reason are theirs.
func Score(l *Ledger, obs *Observed) *Report {
	verdicts := make([]models.Reason, len(l.Events))
	missing := make([]bool, len(l.Events))
	r := &Report{}

	// One by one: clicks and conversions with an impression id.
	type key struct {
		t  models.EventType
		id models.ImpressionID
	}
	perID := map[key][]int{}
	buckets := map[Bucket][]int{}
	var zero models.ImpressionID
	for i := range l.Events {
		e := &l.Events[i]
		if e.Type != models.EventImpression && e.ImpressionID != zero {
			k := key{e.Type, e.ImpressionID}
			perID[k] = append(perID[k], i)
			continue
		}
		b := Bucket{e.ZoneID, e.Type}
		buckets[b] = append(buckets[b], i)
	}
	for k, idx := range perID {
		slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(l.Events[a].Seq, l.Events[b].Seq) })
		rec := obs.Clicks[k.id]
		if k.t == models.EventConversion {
			rec = obs.Conversions[k.id]
		}
		for j, i := range idx {
			if j < len(rec) {
				verdicts[i] = rec[j]
			} else {
				missing[i] = true
			}
		}
		if len(rec) != len(idx) {
			r.Problems = append(r.Problems, fmt.Sprintf("%s %x: sent %d, recorded %d", k.t, k.id, len(idx), len(rec)))
		}
	}
	for k, rec := range obs.Clicks {
		if _, ok := perID[key{models.EventClick, k}]; !ok {
			r.Problems = append(r.Problems, fmt.Sprintf("click %x: recorded %d, sent none", k, len(rec)))
		}
	}
	for k, rec := range obs.Conversions {
		if _, ok := perID[key{models.EventConversion, k}]; !ok {
			r.Problems = append(r.Problems, fmt.Sprintf("conversion %x: recorded %d, sent none", k, len(rec)))
		}
	}

	// By count: each event first takes a verdict equal to its expectation, if the bucket
	// recorded one; the rest take what is left.
	for b, idx := range buckets {
		left := map[models.Reason]int64{}
		var total int64
		for reason, n := range obs.Counts[b] {
			left[reason] = n
			total += n
		}
		slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(l.Events[a].Seq, l.Events[b].Seq) })
		var rest []int
		for _, i := range idx {
			if want := l.Events[i].Expect; left[want] > 0 {
				verdicts[i] = want
				left[want]--
			} else {
				rest = append(rest, i)
			}
		}
		reasons := make([]models.Reason, 0, len(left))
		for reason := range left {
			reasons = append(reasons, reason)
		}
		slices.Sort(reasons)
		for _, i := range rest {
			for len(reasons) > 0 && left[reasons[0]] == 0 {
				reasons = reasons[1:]
			}
			if len(reasons) == 0 {
				missing[i] = true
				continue
			}
			verdicts[i] = reasons[0]
			left[reasons[0]]--
		}
		if total != int64(len(idx)) {
			r.Problems = append(r.Problems, fmt.Sprintf("zone %d %ss: sent %d, recorded %d", b.ZoneID, b.Type, len(idx), total))
		}
	}
	for b, counts := range obs.Counts {
		if _, ok := buckets[b]; ok {
			continue
		}
		var n int64
		for _, c := range counts {
			n += c
		}
		if n > 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("zone %d %ss: recorded %d, sent none", b.ZoneID, b.Type, n))
		}
	}
	slices.Sort(r.Problems)

	rules := map[string]*RuleStats{}
	rule := func(name string) *RuleStats {
		s := rules[name]
		if s == nil {
			s = &RuleStats{Rule: name}
			rules[name] = s
		}
		return s
	}
	cats := map[Category]*CategoryStats{}
	for i := range l.Events {
		e := &l.Events[i]
		cs := cats[e.Category]
		if cs == nil {
			cs = &CategoryStats{Category: e.Category, ByType: map[models.EventType]int64{}, Verdicts: map[string]int64{}}
			cats[e.Category] = cs
		}
		cs.Events++
		cs.ByType[e.Type]++
		expected := ""
		switch {
		case e.Expect != models.ReasonValid:
			expected = e.Expect.String()
		case e.ByAnomaly:
			expected = AnomalyRule
		}
		flagged := ""
		switch {
		case missing[i]:
			flagged = "" // never recorded: certainly not flagged
		case verdicts[i] != models.ReasonValid:
			flagged = verdicts[i].String()
			cs.ByRules++
		case len(obs.FlaggedZones[e.ZoneID]) > 0 && e.ZoneID != 0:
			flagged = AnomalyRule
		}
		if flagged != "" {
			cs.Flagged++
			cs.Verdicts[flagged]++
			rule(flagged).Flagged++
		} else {
			cs.Verdicts["valid"]++
		}
		if expected != "" {
			rule(expected).Expected++
			if expected == flagged {
				rule(expected).TP++
			}
		}
		if e.Invalid() {
			r.InvalidEvents++
			if flagged != "" {
				r.InvalidFlagged++
			}
			if flagged != "" && flagged != AnomalyRule {
				r.InvalidByRules++
			}
		} else {
			r.HumanEvents++
			if flagged != "" {
				r.HumanFlagged++
			}
		}
	}
	for _, s := range rules {
		r.Rules = append(r.Rules, *s)
	}
	slices.SortFunc(r.Rules, func(a, b RuleStats) int { return strings.Compare(a.Rule, b.Rule) })
	for _, c := range cats {
		r.Categories = append(r.Categories, *c)
	}
	slices.SortFunc(r.Categories, func(a, b CategoryStats) int { return strings.Compare(string(a.Category), string(b.Category)) })
	return r
}

// Print writes the report as tables.
func (r *Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "rule\tflagged\texpected\tcorrect\tprecision\trecall\t")
	for _, s := range r.Rules {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t\n", s.Rule, s.Flagged, s.Expected, s.TP, pct(s.Precision()), pct(s.Recall()))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "category\timps\tclicks\tconvs\tflagged by its rules\tflagged in all\tverdicts\t")
	for _, c := range r.Categories {
		var vs []string
		for v, n := range c.Verdicts {
			vs = append(vs, fmt.Sprintf("%s %d", v, n))
		}
		slices.Sort(vs)
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t\n", c.Category, c.ByType[models.EventImpression], c.ByType[models.EventClick],
			c.ByType[models.EventConversion], pct(ratio(c.ByRules, c.Events)), pct(ratio(c.Flagged, c.Events)), strings.Join(vs, ", "))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nhuman events: %d, flagged %d (%s; target ≤ 0.1%%)\n", r.HumanEvents, r.HumanFlagged, pct(r.HumanFlagRate()))
	fmt.Fprintf(w, "invalid events: %d, flagged %d (%s; target ≥ 99%%), of which by their own verdict %d (%s), by their zone's anomaly flag only %d\n",
		r.InvalidEvents, r.InvalidFlagged, pct(r.InvalidRecall()), r.InvalidByRules, pct(ratio(r.InvalidByRules, r.InvalidEvents)),
		r.InvalidFlagged-r.InvalidByRules)
	if len(r.Problems) > 0 {
		fmt.Fprintf(w, "\n%d accounting problems:\n  %s\n", len(r.Problems), strings.Join(r.Problems, "\n  "))
	}
}

func pct(f float64) string { return fmt.Sprintf("%.2f%%", 100*f) }
