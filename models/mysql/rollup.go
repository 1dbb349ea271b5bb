package mysql

import (
	"adnet/models"
	"context"
	"fmt"
	"time"
)

// rollupChunk bounds one DELETE: each chunk is its own short transaction, so retention never
// holds locks for long next to the aggregator's flushes, and an interrupted run simply
// continues where it stopped the next time.
const rollupChunk = 5000

// Rollup applies the retention of the statistics tables. The daily tables (stats_daily,
// stats_invalid_daily, keyed by the calendar day of each event in the network time zone) are
// written by FlushBatch in the same transaction as the hourly ones, so hourly rows past
// retention are already folded into them: rolling up is deleting them, which is idempotent and
// can be interrupted at any point without losing or double-counting anything. (Folding them
// only at expiry would leave the 90-day reports to aggregate 24 times more rows, and could only
// approximate the network's days from UTC hours in time zones with half-hour offsets.)
func (s *Store) Rollup(ctx context.Context, o models.RollupOptions) (models.RollupResult, error) {
	var res models.RollupResult
	steps := []struct {
		n      *int64
		before time.Time
		query  string
	}{
		{&res.HourlyRows, o.HourlyBefore, `DELETE FROM stats_hourly WHERE hour < ? ORDER BY hour LIMIT ?`},
		{&res.InvalidHourlyRows, o.HourlyBefore, `DELETE FROM stats_invalid_hourly WHERE hour < ? ORDER BY hour LIMIT ?`},
		{&res.Clicks, o.ClicksBefore, `DELETE FROM clicks WHERE time < ? ORDER BY time LIMIT ?`},
		{&res.Conversions, o.ClicksBefore, `DELETE FROM conversions WHERE time < ? ORDER BY time LIMIT ?`},
	}
	for _, st := range steps {
		if st.before.IsZero() {
			continue
		}
		before := dbTime(st.before)
		for {
			r, err := s.q.ExecContext(ctx, st.query, before, rollupChunk)
			if err != nil {
				return res, mapError(err, "statistics retention")
			}
			n, err := r.RowsAffected()
			if err != nil {
				return res, fmt.Errorf("statistics retention: %w", err)
			}
			*st.n += n
			if n < rollupChunk {
				break
			}
		}
	}
	return res, nil
}
