package mysql

import (
	"adnet/models"
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
)

// offsetRow is one row of eventlog_offsets.
type offsetRow struct {
	Source    string       `db:"source"`
	Segment   uint64       `db:"segment"`
	Offset    int64        `db:"offset"`
	EventTime sql.NullTime `db:"event_time"`
	// The stream's release mark (models.ReleaseMark); zero for a worker's log.
	ReadThrough uint64 `db:"read_through"`
	ReleasedNs  int64  `db:"released_ns"`
	ReleasedSeq uint64 `db:"released_seq"`
}

// offsetColumns is the column list of offsetRow.
const offsetColumns = "source, segment, `offset`, event_time, read_through, released_ns, released_seq"

// mark returns the row's release mark.
func (r *offsetRow) mark() models.ReleaseMark {
	m := models.ReleaseMark{ReadThrough: r.ReadThrough, Seq: r.ReleasedSeq}
	if r.ReleasedNs != 0 {
		m.Time = time.Unix(0, r.ReleasedNs).UTC()
	}
	return m
}

// markNanos is m.Time in Unix nanoseconds, 0 for the zero time.
func markNanos(m models.ReleaseMark) int64 {
	if m.Time.IsZero() {
		return 0
	}
	return m.Time.UnixNano()
}

// LoadOffsets returns the committed position of every event-log source, by source name.
func (s *Store) LoadOffsets(ctx context.Context) (map[string]models.Offset, error) {
	var rows []offsetRow
	if err := sqlx.SelectContext(ctx, s.q, &rows,
		"SELECT "+offsetColumns+" FROM eventlog_offsets"); err != nil {
		return nil, mapError(err, "load event log offsets")
	}
	m := make(map[string]models.Offset, len(rows))
	for _, r := range rows {
		o := models.Offset{Source: r.Source, Segment: r.Segment, Offset: r.Offset, Mark: r.mark()}
		if r.EventTime.Valid {
			o.EventTime = r.EventTime.Time.UTC()
		}
		m[r.Source] = o
	}
	return m, nil
}

// DeleteOffset forgets a source. The aggregator calls it only after the source's directory is
// out of its sight (renamed away): a source that is still read and has no offset would be read
// again from its beginning and counted twice. Deleting an absent source is not an error.
func (s *Store) DeleteOffset(ctx context.Context, source string) error {
	if _, err := s.q.ExecContext(ctx, `DELETE FROM eventlog_offsets WHERE source = ?`, source); err != nil {
		return mapError(err, "delete event log offset")
	}
	return nil
}

// upsertOffsets records the batch's new positions, inside the batch's transaction.
func upsertOffsets(ctx context.Context, tx *sqlx.Tx, offs []models.Offset, now time.Time) error {
	if len(offs) == 0 {
		return nil
	}
	head := "INSERT INTO eventlog_offsets (" + offsetColumns + ", updated_at) VALUES "
	tail := " ON DUPLICATE KEY UPDATE segment = VALUES(segment), `offset` = VALUES(`offset`), " +
		"event_time = VALUES(event_time), read_through = VALUES(read_through), released_ns = VALUES(released_ns), " +
		"released_seq = VALUES(released_seq), updated_at = VALUES(updated_at)"
	return insertChunks(ctx, tx, head, tail, 8, len(offs), func(dst []any, i int) []any {
		o := offs[i]
		var et any
		if !o.EventTime.IsZero() {
			et = dbTime(o.EventTime)
		}
		return append(dst, o.Source, o.Segment, o.Offset, et, o.Mark.ReadThrough, markNanos(o.Mark), o.Mark.Seq, now)
	})
}

// checkOffsets locks the rows of want and fails with ECONFLICT unless each holds want's
// position (a missing row counts as the zero position), inside the batch's transaction: the
// compare-and-set that keeps a deposed aggregator from committing after its successor read
// the offsets.
func checkOffsets(ctx context.Context, tx *sqlx.Tx, want []models.Offset) error {
	for _, w := range want {
		var row offsetRow
		err := sqlx.GetContext(ctx, tx, &row,
			"SELECT "+offsetColumns+" FROM eventlog_offsets WHERE source = ? FOR UPDATE", w.Source)
		if errors.Is(err, sql.ErrNoRows) {
			row = offsetRow{Source: w.Source}
		} else if err != nil {
			return err
		}
		if row.Segment != w.Segment || row.Offset != w.Offset || !row.mark().Time.Equal(w.Mark.Time) ||
			row.ReadThrough != w.Mark.ReadThrough || row.ReleasedSeq != w.Mark.Seq {
			return models.Errorf(models.ECONFLICT, "offset of %s is %d:%d (read through %d), not %d:%d (read through %d): another aggregator committed meanwhile",
				w.Source, row.Segment, row.Offset, row.ReadThrough, w.Segment, w.Offset, w.Mark.ReadThrough)
		}
	}
	return nil
}
