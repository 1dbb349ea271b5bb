// Package mysql is adnet's MariaDB storage: the schema (goose migrations embedded in the
// binary), the connection pool, and the Store that reads and writes the domain of package
// models. All of adnet's SQL lives in this package; every query is parameterised and names
// its columns, so that a schema change is a compile-and-grep exercise, not a runtime surprise.
package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

// sqlMode is forced on every connection: strict mode turns silent truncation and zero dates
// into errors, which is what keeps micro-unit money and counters exact.
const sqlMode = "'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ZERO_DATE,NO_ZERO_IN_DATE,NO_ENGINE_SUBSTITUTION'"

// Pool settings. Every worker process holds its own pool, so the total is workers × maxOpen;
// ten keeps a dozen workers well under MariaDB's default max_connections of 151. Connections
// are recycled after a while so that a failover or a server restart is picked up.
const (
	maxOpenConns    = 10
	maxIdleConns    = 5
	connMaxLifetime = 30 * time.Minute
	connMaxIdleTime = 5 * time.Minute
	dialTimeout     = 5 * time.Second
)

// DB is a pool of connections to adnet's MariaDB database.
type DB struct {
	db  *sqlx.DB
	cfg *gomysql.Config
}

// Open connects to the database named by dsn (go-sql-driver format, e.g.
// "root@unix(/run/adnet/mysqld.sock)/adnet") and checks that it answers. Whatever the DSN says,
// connections parse DATETIME into time.Time in UTC, run with time_zone '+00:00' (so that NOW()
// and the stored times agree) and in strict sql_mode, and report matched rather than changed
// rows (so that an UPDATE that changes nothing still proves the row exists).
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse mysql dsn: %w", err)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.ClientFoundRows = true
	cfg.MultiStatements = false
	if cfg.Timeout == 0 {
		cfg.Timeout = dialTimeout
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	cfg.Params["sql_mode"] = sqlMode
	connector, err := gomysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql connector: %w", err)
	}
	db := sqlx.NewDb(sql.OpenDB(connector), "mysql")
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxIdleConns)
	db.SetConnMaxLifetime(connMaxLifetime)
	db.SetConnMaxIdleTime(connMaxIdleTime)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connect to mariadb %s(%s)/%s: %w", cfg.Net, cfg.Addr, cfg.DBName, err)
	}
	return &DB{db: db, cfg: cfg}, nil
}

// Close closes the pool, waiting for queries in progress.
func (db *DB) Close() error {
	return db.db.Close()
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping mariadb: %w", err)
	}
	return nil
}

// Name returns the name of the database the pool is connected to.
func (db *DB) Name() string {
	return db.cfg.DBName
}
