package mysql

import (
	"time"

	"github.com/jmoiron/sqlx"
)

// SQLX exposes the pool to this package's external tests, for fixtures and EXPLAIN: production
// code outside the package has no raw SQL access.
func SQLX(db *DB) *sqlx.DB { return db.db }

// SetNow pins the clock the store stamps created_at and updated_at with.
func (s *Store) SetNow(now func() time.Time) { s.now = now }

// SetNow sets the clock of the replica routing (retry and log intervals).
func (r *Reads) SetNow(now func() time.Time) { r.now = now }
