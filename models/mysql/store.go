package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"adnet/models"
)

// Store reads and writes adnet's entities. It is safe for concurrent use, except a Store
// bound to a transaction (the one WithTx passes to its function), which belongs to that
// function.
type Store struct {
	db *DB
	// q runs the queries: the pool, or the transaction of a Store made by WithTx.
	q  sqlx.ExtContext
	tx *sqlx.Tx // non-nil in a Store made by WithTx
	// now returns the current time; it is a field so that tests can pin timestamps.
	now func() time.Time
	// closed caches the campaign totals of closed days for LoadInventory.
	closed totalsCache
}

// NewStore returns a Store over db.
func NewStore(db *DB) *Store {
	return &Store{db: db, q: db.db, now: time.Now}
}

// WithTx runs fn with a Store whose every read and write is part of one transaction,
// committed when fn returns nil and rolled back otherwise: what a use case that changes
// several rows (an entity and its audit entry) needs to change all or nothing. Inside, WithTx
// joins the transaction already open.
func (s *Store) WithTx(ctx context.Context, fn func(tx *Store) error) error {
	if s.tx != nil {
		return fn(s)
	}
	return s.inTx(ctx, nil, func(tx *sqlx.Tx) error {
		return fn(&Store{db: s.db, q: tx, tx: tx, now: s.now})
	})
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.db.Ping(ctx)
}

// timestamp returns the current time as it will be stored: UTC, microseconds (DATETIME(6)),
// so that the value a caller sees after Create equals the one a later Get returns.
func (s *Store) timestamp() time.Time {
	return dbTime(s.now())
}

// dbTime normalises t to what a DATETIME(6) column stores.
func dbTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// dbTimePtr normalises an optional time; nil stays nil.
func dbTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := dbTime(*t)
	return &v
}

// nullTime converts an optional time to a query argument.
func nullTime(t *time.Time) sql.NullTime {
	if t == nil {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: *t, Valid: true}
}

// timePtr converts a nullable column back to an optional time.
func timePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time.UTC()
	return &v
}

// inTx runs fn in a transaction, committing if it returns nil and rolling back otherwise.
// In a Store made by WithTx it runs fn in that transaction (opts are then ignored).
func (s *Store) inTx(ctx context.Context, opts *sql.TxOptions, fn func(tx *sqlx.Tx) error) error {
	if s.tx != nil {
		return fn(s.tx) // already in a transaction (WithTx): join it
	}
	tx, err := s.db.db.BeginTxx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// updated checks the outcome of an UPDATE or DELETE of one row by key: the connection reports
// matched rows (clientFoundRows), so zero means the row does not exist.
func updated(res sql.Result, err error, kind string, id any) error {
	if err != nil {
		return mapError(err, "update "+kind)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("update %s: %w", kind, err)
	}
	if n == 0 {
		return models.Errorf(models.ENOTFOUND, "%s %v not found", kind, id)
	}
	return nil
}

// List limits: lists are bounded so that one request cannot load a whole table into memory.
const (
	defaultListLimit = 1000
	maxListLimit     = 10000
)

// pageClause returns the LIMIT/OFFSET clause and its arguments.
func pageClause(p models.Page) (string, []any) {
	limit := p.Limit
	if limit <= 0 {
		limit = defaultListLimit
	}
	limit = min(limit, maxListLimit)
	return " LIMIT ? OFFSET ?", []any{limit, max(p.Offset, 0)}
}

// where accumulates the conditions and arguments of a list query. Conditions are fixed SQL
// fragments written in this package; values only ever travel as arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}
