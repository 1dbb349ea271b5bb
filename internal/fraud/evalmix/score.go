package evalmix

import (
	"cmp"
	"fmt"
	"io"
	"maps"
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
	// Restated counts, per bucket, the valid events the adjustment ledger reclassified as
	// invalid when the operator confirmed the flags (a positive count).
	Restated map[Bucket]int64
}

// AnomalyRule names, in the reason table, the invalid events no per-event rule is expected to
// catch: fraud that looks valid event by event and shows only in its zone's figures (the
// anomaly monitor's flag). Such an event is not billed when its stored verdict is invalid or
// when the adjustment ledger restated it after the operator confirmed the flag: a flag alone
// does not un-bill anything; the report shows how many were billed in a flagged zone.
const AnomalyRule = "(zone anomaly only)"

// RestatedRule names, in the reason table, the valid verdicts the adjustment ledger
// reclassified as invalid (SIVT) when the operator confirmed a flag. The ledger keeps counts
// per statistics bucket, so they are matched to a bucket's valid events in the order the
// events were sent (a flag's period runs from before the anomaly to the confirmation).
const RestatedRule = "restated (confirmed flag)"

// Targets of the evaluation (issue 13): at least 99% of the invalid events not billed, at
// most 0.1% of the people's events invalid.
const (
	TargetInvalidNotBilled = 0.99
	TargetHumanInvalid     = 0.001
)

// ReasonStats are one reason's figures. Flagged events got it as their stored verdict, of
// which FlaggedInvalid are labelled invalid (precision: the verdict was right not to bill
// them, whatever reason they were expected to get). Expected events are labelled with it,
// of which NotBilled got any invalid verdict (recall) and Exact got this one.
type ReasonStats struct {
	Rule                       string
	Class                      models.IVTClass
	Flagged, FlaggedInvalid    int64
	Expected, NotBilled, Exact int64
}

// Precision is FlaggedInvalid/Flagged (1 when it flagged nothing).
func (r ReasonStats) Precision() float64 { return ratio(r.FlaggedInvalid, r.Flagged) }

// Recall is NotBilled/Expected (1 when nothing was expected).
func (r ReasonStats) Recall() float64 { return ratio(r.NotBilled, r.Expected) }

// ActorStats are one category's figures: its events, those not billed (an invalid stored
// verdict), and those billed although their zone was flagged.
type ActorStats struct {
	Category            Category
	Valid               bool            // people: NotBilled are false positives
	Class               models.IVTClass // the class of its invalid events' expected reasons (SIVT if any is)
	Events, NotBilled   int64
	BilledInFlaggedZone int64
	ByType              map[models.EventType]int64
	Verdicts            map[string]int64 // stored verdicts of its events ("valid": billed)
}

// Rate is NotBilled/Events: recall for invalid actors, the false-positive rate for people.
func (a ActorStats) Rate() float64 {
	if a.Events == 0 {
		return 0
	}
	return float64(a.NotBilled) / float64(a.Events)
}

// Report is the outcome of an evaluation.
type Report struct {
	Reasons []ReasonStats
	Actors  []ActorStats
	// People's events and how many were not billed (an invalid stored verdict).
	HumanEvents, HumanInvalid int64
	// Invalid-labelled events, how many were not billed, and how many of the billed ones
	// were in a zone the anomaly monitor flagged (caught, but billed all the same).
	InvalidEvents, InvalidNotBilled, InvalidBilledInFlaggedZone int64
	// The invalid events and those not billed by the MRC class of their expected reason
	// (events only an anomaly can reveal are SIVT), indexed by models.IVTClass.
	ClassEvents, ClassNotBilled [3]int64
	// Problems are events sent but not recorded, or recorded but not sent: the statistics
	// must account for every answered request exactly once.
	Problems []string
}

// HumanInvalidRate is the share of people's events not billed.
func (r *Report) HumanInvalidRate() float64 {
	if r.HumanEvents == 0 {
		return 0
	}
	return float64(r.HumanInvalid) / float64(r.HumanEvents)
}

// InvalidNotBilledRate is the share of invalid-labelled events not billed.
func (r *Report) InvalidNotBilledRate() float64 { return ratio(r.InvalidNotBilled, r.InvalidEvents) }

// PassInvalid, PassHuman: whether each target is met.
func (r *Report) PassInvalid() bool { return r.InvalidNotBilledRate() >= TargetInvalidNotBilled }
func (r *Report) PassHuman() bool   { return r.HumanInvalidRate() <= TargetHumanInvalid }

// Pass reports whether every target is met and every event was accounted for.
func (r *Report) Pass() bool { return r.PassInvalid() && r.PassHuman() && len(r.Problems) == 0 }

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

	// Restatements: a bucket's restated count un-bills that many of its valid events.
	restated := make([]bool, len(l.Events))
	if len(obs.Restated) > 0 {
		left := maps.Clone(obs.Restated)
		order := make([]int, len(l.Events))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return cmp.Compare(l.Events[a].Seq, l.Events[b].Seq) })
		for _, i := range order {
			b := Bucket{l.Events[i].ZoneID, l.Events[i].Type}
			if !missing[i] && verdicts[i] == models.ReasonValid && left[b] > 0 {
				restated[i] = true
				left[b]--
			}
		}
		for b, n := range left {
			if n > 0 {
				r.Problems = append(r.Problems, fmt.Sprintf("zone %d %ss: %d restated beyond the valid events sent", b.ZoneID, b.Type, n))
			}
		}
		slices.Sort(r.Problems)
	}

	reasons := map[string]*ReasonStats{}
	reason := func(name string, class models.IVTClass) *ReasonStats {
		s := reasons[name]
		if s == nil {
			s = &ReasonStats{Rule: name, Class: class}
			reasons[name] = s
		}
		return s
	}
	actors := map[Category]*ActorStats{}
	for i := range l.Events {
		e := &l.Events[i]
		a := actors[e.Category]
		if a == nil {
			a = &ActorStats{Category: e.Category, Valid: !e.Invalid(), ByType: map[models.EventType]int64{}, Verdicts: map[string]int64{}}
			actors[e.Category] = a
		}
		a.Events++
		a.ByType[e.Type]++
		// A lost event (never recorded) was certainly not flagged: it counts as billed, the
		// worst case for recall; it is also a problem of its own.
		notBilled := !missing[i] && verdicts[i] != models.ReasonValid || restated[i]
		inFlagged := e.ZoneID != 0 && len(obs.FlaggedZones[e.ZoneID]) > 0
		if notBilled {
			name, class := verdicts[i].String(), verdicts[i].Class()
			if restated[i] {
				name, class = RestatedRule, models.ClassSIVT
			}
			a.NotBilled++
			a.Verdicts[name]++
			s := reason(name, class)
			s.Flagged++
			if e.Invalid() {
				s.FlaggedInvalid++
			}
		} else {
			a.Verdicts["valid"]++
			if inFlagged && e.Invalid() {
				a.BilledInFlaggedZone++
			}
		}
		if e.Invalid() {
			class := models.ClassSIVT
			name := AnomalyRule
			if e.Expect != models.ReasonValid {
				class, name = e.Expect.Class(), e.Expect.String()
			}
			if class > a.Class {
				a.Class = class
			}
			s := reason(name, class)
			s.Expected++
			if notBilled {
				s.NotBilled++
				if verdicts[i] == e.Expect {
					s.Exact++
				}
			}
			r.InvalidEvents++
			r.ClassEvents[class]++
			if notBilled {
				r.ClassNotBilled[class]++
			}
			if notBilled {
				r.InvalidNotBilled++
			} else if inFlagged {
				r.InvalidBilledInFlaggedZone++
			}
		} else {
			r.HumanEvents++
			if notBilled {
				r.HumanInvalid++
			}
		}
	}
	for _, s := range reasons {
		r.Reasons = append(r.Reasons, *s)
	}
	slices.SortFunc(r.Reasons, func(a, b ReasonStats) int {
		return cmp.Or(cmp.Compare(a.Class, b.Class), strings.Compare(a.Rule, b.Rule))
	})
	for _, a := range actors {
		r.Actors = append(r.Actors, *a)
	}
	slices.SortFunc(r.Actors, func(a, b ActorStats) int {
		return cmp.Or(-cmp.Compare(boolInt(a.Valid), boolInt(b.Valid)), cmp.Compare(a.Class, b.Class),
			strings.Compare(string(a.Category), string(b.Category)))
	})
	return r
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Print writes the report: the reasons (precision and recall), the actors (recall, or the
// false-positive rate of people), and the totals against the targets with PASS or FAIL.
func (r *Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "reason\tclass\tflagged\tof invalid events\tprecision\texpected\tnot billed\trecall\tthis reason\t")
	for _, s := range r.Reasons {
		prec := "-"
		if s.Flagged > 0 {
			prec = pct(s.Precision())
		}
		rec := "-"
		if s.Expected > 0 {
			rec = pct(s.Recall())
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%d\t%d\t%s\t%d\t\n", s.Rule, s.Class, s.Flagged, s.FlaggedInvalid, prec,
			s.Expected, s.NotBilled, rec, s.Exact)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "actor\tlabel\timps\tclicks\tconvs\tnot billed\trecall / FP\tbilled in flagged zone\tverdicts\t")
	for _, a := range r.Actors {
		label := "invalid " + a.Class.String()
		what := "recall " + pct(a.Rate())
		if a.Valid {
			label, what = "valid", "FP "+pct(a.Rate())
		}
		var vs []string
		for v, n := range a.Verdicts {
			vs = append(vs, fmt.Sprintf("%s %d", v, n))
		}
		slices.Sort(vs)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%d\t%s\t\n", a.Category, label, a.ByType[models.EventImpression],
			a.ByType[models.EventClick], a.ByType[models.EventConversion], a.NotBilled, what, a.BilledInFlaggedZone, strings.Join(vs, ", "))
	}
	tw.Flush()
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "FAIL"
	}
	fmt.Fprintf(w, "\ninvalid events not billed: %d of %d = %s (target ≥ %s): %s; billed although their zone was flagged: %d\n",
		r.InvalidNotBilled, r.InvalidEvents, pct(r.InvalidNotBilledRate()), pct(TargetInvalidNotBilled), verdict(r.PassInvalid()),
		r.InvalidBilledInFlaggedZone)
	for _, c := range []models.IVTClass{models.ClassGIVT, models.ClassSIVT} {
		fmt.Fprintf(w, "  of which %s:             %d of %d = %s\n", c, r.ClassNotBilled[c], r.ClassEvents[c], pct(ratio(r.ClassNotBilled[c], r.ClassEvents[c])))
	}
	fmt.Fprintf(w, "human events invalid:      %d of %d = %s (target ≤ %s): %s\n",
		r.HumanInvalid, r.HumanEvents, pct(r.HumanInvalidRate()), pct(TargetHumanInvalid), verdict(r.PassHuman()))
	if len(r.Problems) > 0 {
		fmt.Fprintf(w, "\n%d accounting problems:\n  %s\n", len(r.Problems), strings.Join(r.Problems, "\n  "))
	}
}

func pct(f float64) string { return fmt.Sprintf("%.2f%%", 100*f) }
