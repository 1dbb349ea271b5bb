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

// CloseFlag closes open flag id as status (models.FlagConfirmed or models.FlagDismissed)
// with fraud.ReviewFlag, and prints the flag and whether its zone was resumed.
func CloseFlag(ctx context.Context, st fraud.FlagReviewStore, out Output, id int64, status string) error {
	f, resumed, err := fraud.ReviewFlag(ctx, st, id, status, time.Time{})
	if err != nil {
		return err
	}
	if out.JSON {
		return writeJSON(out.W, map[string]any{"flag": f, "zone_resumed": resumed})
	}
	fmt.Fprintf(out.W, "adnet fraud: flag %d (%s %d %q, %s) %s", f.ID, f.EntityKind, f.EntityID, f.EntityName, f.Metric, f.Status)
	if resumed {
		fmt.Fprintf(out.W, "; zone %d resumed (it was paused by this flag)", f.EntityID)
	}
	fmt.Fprintln(out.W)
	return nil
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
