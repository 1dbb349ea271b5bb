package mysql

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"

	"adnet/models"
)

// migrationFiles holds the schema migrations, compiled into the binary so that `adnet migrate`
// needs no files on the server and the binary always knows which schema version it needs.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrateLockTimeout bounds how long Migrate waits for another process migrating the same
// database (two masters started at once during a deploy).
const migrateLockTimeout = 5 * time.Minute

// newProvider returns a goose provider over the embedded migrations. The Provider API keeps all
// of goose's state in the returned value: no global dialect, logger or registry is touched.
func newProvider(db *DB) (*goose.Provider, error) {
	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectMySQL, db.db.DB, fsys,
		goose.WithDisableGlobalRegistry(true),
		goose.WithLogger(goose.NopLogger()),
	)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// Migrate brings the schema up to the version this binary was built with. It is safe to run
// concurrently from several processes: they serialise on a named lock of the database.
func Migrate(ctx context.Context, db *DB) error {
	p, err := newProvider(db)
	if err != nil {
		return err
	}
	unlock, err := lockMigrations(ctx, db)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate database %s: %w", db.Name(), err)
	}
	return nil
}

// MigrateDown rolls the schema back by one version. It exists for tests of the down migrations
// and for operators undoing a failed deploy.
func MigrateDown(ctx context.Context, db *DB) error {
	p, err := newProvider(db)
	if err != nil {
		return err
	}
	unlock, err := lockMigrations(ctx, db)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := p.Down(ctx); err != nil {
		return fmt.Errorf("migrate database %s down: %w", db.Name(), err)
	}
	return nil
}

// SchemaVersion returns the version the database is at and the version this binary needs.
// current is 0 for an empty database.
func SchemaVersion(ctx context.Context, db *DB) (current, target int64, err error) {
	p, err := newProvider(db)
	if err != nil {
		return 0, 0, err
	}
	current, target, err = p.GetVersions(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("read schema version of %s: %w", db.Name(), err)
	}
	return current, target, nil
}

// CheckSchema fails with EUNAVAILABLE unless the database is at exactly the schema version
// this binary needs. Workers call it at start-up: serving against an old schema would fail
// query by query, against a newer one (a rolled-back binary) it could write wrong data.
func CheckSchema(ctx context.Context, db *DB) error {
	current, target, err := SchemaVersion(ctx, db)
	if err != nil {
		return err
	}
	switch {
	case current < target:
		return models.Errorf(models.EUNAVAILABLE,
			"database schema is at version %d but this adnet needs %d: run `adnet migrate`", current, target)
	case current > target:
		return models.Errorf(models.EUNAVAILABLE,
			"database schema is at version %d, newer than the %d this adnet knows: upgrade adnet", current, target)
	}
	return nil
}

// lockMigrations takes a MariaDB named lock for the current database on a connection of its
// own, and returns the function that releases it. Named locks belong to the session, so the
// lock is also released if the process dies.
func lockMigrations(ctx context.Context, db *DB) (func(), error) {
	conn, err := db.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	var got sql.NullInt64
	err = conn.QueryRowContext(ctx,
		`SELECT GET_LOCK(CONCAT('adnet.migrate.', DATABASE()), ?)`, int(migrateLockTimeout.Seconds())).Scan(&got)
	if err == nil && (!got.Valid || got.Int64 != 1) {
		err = errors.New("timed out waiting for another migration to finish")
	}
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	return func() {
		// Released with a fresh context: the caller's may be cancelled by now.
		_, _ = conn.ExecContext(context.Background(), `SELECT RELEASE_LOCK(CONCAT('adnet.migrate.', DATABASE()))`)
		_ = conn.Close()
	}, nil
}
