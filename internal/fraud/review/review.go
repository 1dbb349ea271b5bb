// Package review is the operator's side of the publisher-anomaly monitor (`adnet fraud`):
// listing the flags the scanner raised, running one scan on demand, and closing a flag as
// confirmed fraud or a false alarm, each printed as a table for people or as JSON for
// scripts. The rules themselves (what a scan flags, what dismissing a flag undoes) stay in
// package fraud; this package decides what an operator is shown.
package review

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"adnet/internal/fraud"
	"adnet/models"
)

// Output is where results go and in which form.
type Output struct {
	W    io.Writer
	JSON bool // indented JSON instead of text for people
}

// FlagLister is what ListFlags needs from storage; *mysql.Store implements it.
type FlagLister interface {
	ListFraudFlags(ctx context.Context, filter models.FraudFlagFilter) ([]models.FraudFlag, error)
}

// Scanner runs one anomaly scan; *fraud.AnomalyScanner is one.
type Scanner interface {
	Scan(ctx context.Context, now time.Time) (*fraud.ScanResult, error)
}

// ListFlags prints at most limit flags, newest first, with the given status (a models.Flag*
// status, or "all") and entity kind ("" for every kind).
func ListFlags(ctx context.Context, st FlagLister, out Output, status, kind string, limit int) error {
	f := models.FraudFlagFilter{Status: status, EntityKind: kind, Page: models.Page{Limit: limit}}
	if f.Status == "all" {
		f.Status = ""
	}
	list, err := st.ListFraudFlags(ctx, f)
	if err != nil {
		return err
	}
	if out.JSON {
		return writeJSON(out.W, list)
	}
	if len(list) == 0 {
		fmt.Fprintf(out.W, "adnet fraud: no %s flags\n", strings.TrimSpace(status+" "+kind))
		return nil
	}
	writeFlagTable(out.W, list)
	return nil
}

// RunScan runs one scan now and prints what it judged and flagged.
func RunScan(ctx context.Context, sc Scanner, out Output) error {
	start := time.Now()
	res, err := sc.Scan(ctx, start)
	if err != nil {
		return err
	}
	if out.JSON {
		return writeJSON(out.W, res)
	}
	fmt.Fprintf(out.W, "adnet fraud scan: recent window from %s, baseline from %s; %d entity metrics judged, %d with too little recent traffic, %d without a baseline; %d flagged (%d new, %d suppressed after a review), %d zones paused, in %.1fs\n",
		res.RecentFrom.Format(time.RFC3339), res.BaselineFrom.Format(time.RFC3339), res.Assessed, res.LowVolume, res.NoBaseline,
		len(res.Flags), res.Opened, res.Suppressed, len(res.Paused), time.Since(start).Seconds())
	if len(res.Flags) > 0 {
		writeFlagTable(out.W, res.Flags)
	}
	return nil
}

// Reviewer closes open flag id as confirmed or dismissed and returns the flag, whether its
// zone was resumed, and what the confirmation restated through the adjustment ledger (nil
// for a dismissal). adnet's main wires it to the management layer's review (manage.Service),
// which writes the review, the restatement and the audit entry in one transaction.
type Reviewer func(ctx context.Context, id int64, confirm bool) (*models.FraudFlag, bool, *models.Restatement, error)

// Restater runs the restatement of confirmed flag id again (a top-up of the events of its
// period counted since), writing nothing when there are none.
type Restater func(ctx context.Context, id int64) (*models.Restatement, error)

// CloseFlag closes open flag id as status (models.FlagConfirmed or models.FlagDismissed)
// with rv, and prints the flag, whether its zone was resumed and what was restated.
func CloseFlag(ctx context.Context, rv Reviewer, out Output, id int64, status string) error {
	f, resumed, rs, err := rv(ctx, id, status == models.FlagConfirmed)
	if err != nil {
		return err
	}
	if out.JSON {
		return writeJSON(out.W, map[string]any{"flag": f, "zone_resumed": resumed, "restatement": rs})
	}
	fmt.Fprintf(out.W, "adnet fraud: flag %d (%s %d %q, %s) %s", f.ID, f.EntityKind, f.EntityID, f.EntityName, f.Metric, f.Status)
	if resumed {
		fmt.Fprintf(out.W, "; zone %d resumed (it was paused by this flag)", f.EntityID)
	}
	fmt.Fprintln(out.W)
	if rs != nil {
		writeRestatement(out.W, rs)
	}
	return nil
}

// RestateFlag tops up the restatement of confirmed flag id with rs and prints what it wrote.
func RestateFlag(ctx context.Context, rs Restater, out Output, id int64) error {
	r, err := rs(ctx, id)
	if err != nil {
		return err
	}
	if out.JSON {
		return writeJSON(out.W, r)
	}
	writeRestatement(out.W, r)
	return nil
}

// writeRestatement prints a restatement run for people, money in currency units.
func writeRestatement(w io.Writer, r *models.Restatement) {
	period := r.Period.From.UTC().Format("2006-01-02 15:04") + " – " + r.Period.To.UTC().Format("2006-01-02 15:04") + " UTC"
	if r.Kind == models.AdjustReverse {
		if r.Entries == 0 {
			fmt.Fprintf(w, "adnet fraud: flag %d: nothing to reverse (its restatement had no entries)\n", r.FlagID)
			return
		}
		fmt.Fprintf(w, "adnet fraud: flag %d: restatement reversed (run %d, %d ledger entries): impressions %+d, clicks %+d, conversions %+d, spend %s, publisher revenue %s\n",
			r.FlagID, r.Run, r.Entries, r.Impressions, r.Clicks, r.Conversions, units(r.SpendMicros), units(r.PublisherRevenueMicros))
		return
	}
	if r.Entries == 0 {
		fmt.Fprintf(w, "adnet fraud: flag %d: nothing to restate in %s (the ledger already restates every billed event of the period)\n", r.FlagID, period)
		return
	}
	fmt.Fprintf(w, "adnet fraud: flag %d restated %s (run %d, %d ledger entries): impressions %+d, clicks %+d, conversions %+d, spend %s, publisher revenue %s\n",
		r.FlagID, period, r.Run, r.Entries, r.Impressions, r.Clicks, r.Conversions, units(r.SpendMicros), units(r.PublisherRevenueMicros))
}

// units formats micro-units as currency units with six decimals, exactly.
func units(micros int64) string {
	sign := ""
	if micros < 0 {
		sign, micros = "-", -micros
	}
	return fmt.Sprintf("%s%d.%06d", sign, micros/1_000_000, micros%1_000_000)
}

// writeJSON writes v indented, for people reading scripts' input too.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeFlagTable prints flags for people: rates as percentages, times in UTC.
func writeFlagTable(w io.Writer, list []models.FraudFlag) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tENTITY\tNAME\tMETRIC\tVALUE\tBASELINE\tZ\tVOLUME\tSTATUS\tSINCE\tLAST SEEN\tSCANS\tPAUSED")
	for _, f := range list {
		paused := "-"
		if f.PausedAt != nil {
			paused = f.PausedAt.UTC().Format("2006-01-02 15:04")
		}
		src := ""
		if f.BaselineSource == models.BaselinePeers {
			src = " (peers)"
		}
		fmt.Fprintf(tw, "%d\t%s %d\t%s\t%s\t%.2f%%\t%.2f%%%s\t%.1f\t%d\t%s\t%s\t%s\t%d\t%s\n",
			f.ID, f.EntityKind, f.EntityID, f.EntityName, f.Metric, 100*f.Value, 100*f.Baseline, src, f.Z, f.Volume, f.Status,
			f.CreatedAt.UTC().Format("2006-01-02 15:04"), f.LastSeenAt.UTC().Format("2006-01-02 15:04"), f.Scans, paused)
	}
	tw.Flush()
}
