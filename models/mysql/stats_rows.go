package mysql

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"adnet/models"
)

// idChunk bounds the IN lists of the per-impression lookups.
const idChunk = 500

// inList returns "?,?,…" for n values.
func inList(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

// perImpression runs query (which has one IN (%s) list) over ids in chunks and calls scan for
// every result row.
func perImpression(ctx context.Context, q sqlx.QueryerContext, query string, ids []models.ImpressionID, scan func(*sqlx.Rows) error) error {
	for start := 0; start < len(ids); start += idChunk {
		end := min(len(ids), start+idChunk)
		args := make([]any, 0, end-start)
		for i := start; i < end; i++ {
			args = append(args, ids[i][:])
		}
		rows, err := q.QueryxContext(ctx, fmt.Sprintf(query, inList(end-start)), args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// distinctIDs returns the distinct impression ids of n items, in first-seen order.
func distinctIDs(n int, id func(i int) models.ImpressionID) []models.ImpressionID {
	seen := make(map[models.ImpressionID]bool, n)
	var ids []models.ImpressionID
	for i := 0; i < n; i++ {
		if k := id(i); !seen[k] {
			seen[k] = true
			ids = append(ids, k)
		}
	}
	return ids
}

// insertClicks stores the click rows, numbering each impression's clicks after those already
// stored (the aggregator is the only writer, so the numbers read here stay free until commit).
func insertClicks(ctx context.Context, tx *sqlx.Tx, clicks []models.ClickRow) error {
	if len(clicks) == 0 {
		return nil
	}
	ids := distinctIDs(len(clicks), func(i int) models.ImpressionID { return clicks[i].ImpressionID })
	next := make(map[models.ImpressionID]int, len(ids))
	err := perImpression(ctx, tx, `SELECT impression_id, MAX(seq) FROM clicks WHERE impression_id IN (%s) GROUP BY impression_id`,
		ids, func(rows *sqlx.Rows) error {
			var id []byte
			var seq int
			if err := rows.Scan(&id, &seq); err != nil {
				return err
			}
			next[models.ImpressionID(id)] = seq + 1
			return nil
		})
	if err != nil {
		return fmt.Errorf("clicks: %w", err)
	}
	type numbered struct {
		c   *models.ClickRow
		seq int
	}
	keep := make([]numbered, 0, len(clicks))
	for i := range clicks {
		c := &clicks[i]
		seq := next[c.ImpressionID]
		if seq >= MaxClickRowsPerImpression && c.Reason != models.ReasonValid {
			// Counted in the statistics, not stored: see MaxClickRowsPerImpression. A valid click
			// is always stored (there is at most one per impression id): it is what makes every
			// later click of the impression a duplicate (ConversionFacts).
			continue
		}
		next[c.ImpressionID] = seq + 1
		keep = append(keep, numbered{c, seq})
	}
	head := `INSERT INTO clicks (impression_id, seq, time, served_at, zone_id, campaign_id, creative_id,
		ip_hash, ua_hash, viewer_id, country, valid, reason) VALUES `
	err = insertChunks(ctx, tx, head, "", 13, len(keep), func(dst []any, i int) []any {
		c := keep[i].c
		served := c.ServedAt
		if served.IsZero() {
			served = c.Time
		}
		return append(dst, c.ImpressionID[:], keep[i].seq, dbTime(c.Time), dbTime(served), c.ZoneID, c.CampaignID,
			c.CreativeID, c.IPHash, c.UAHash, c.ViewerID, c.Country, c.Reason == models.ReasonValid, uint8(c.Reason))
	})
	if err != nil {
		return fmt.Errorf("clicks: %w", err)
	}
	return nil
}

// insertConversions stores the conversion rows, at most MaxClickRowsPerImpression per click.
func insertConversions(ctx context.Context, tx *sqlx.Tx, convs []models.ConversionRow) error {
	if len(convs) == 0 {
		return nil
	}
	ids := distinctIDs(len(convs), func(i int) models.ImpressionID { return convs[i].ImpressionID })
	have := make(map[models.ImpressionID]int, len(ids))
	err := perImpression(ctx, tx, `SELECT impression_id, COUNT(*) FROM conversions WHERE impression_id IN (%s) GROUP BY impression_id`,
		ids, func(rows *sqlx.Rows) error {
			var id []byte
			var n int
			if err := rows.Scan(&id, &n); err != nil {
				return err
			}
			have[models.ImpressionID(id)] = n
			return nil
		})
	if err != nil {
		return fmt.Errorf("conversions: %w", err)
	}
	keep := make([]*models.ConversionRow, 0, len(convs))
	for i := range convs {
		c := &convs[i]
		if have[c.ImpressionID] >= MaxClickRowsPerImpression {
			continue
		}
		have[c.ImpressionID]++
		keep = append(keep, c)
	}
	head := `INSERT INTO conversions (impression_id, time, click_time, zone_id, campaign_id, creative_id,
		advertiser_id, payout_micros, status, reason) VALUES `
	err = insertChunks(ctx, tx, head, "", 10, len(keep), func(dst []any, i int) []any {
		c := keep[i]
		var clickTime any
		if !c.ClickTime.IsZero() {
			clickTime = dbTime(c.ClickTime)
		}
		status := "approved"
		if c.Reason != models.ReasonValid {
			status = "rejected"
		}
		return append(dst, c.ImpressionID[:], dbTime(c.Time), clickTime, c.ZoneID, c.CampaignID, c.CreativeID,
			c.AdvertiserID, c.PayoutMicros, status, uint8(c.Reason))
	})
	if err != nil {
		return fmt.Errorf("conversions: %w", err)
	}
	return nil
}
