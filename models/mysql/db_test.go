package mysql_test

import (
	"context"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"adnet/models/mysql"
	"adnet/models/mysql/mysqltest"
)

// TestOpenForcesSessionSettings opens with a DSN that asks for the opposite of every forced
// setting and checks that the session has adnet's settings anyway.
func TestOpenForcesSessionSettings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := gomysql.ParseDSN(mysqltest.MustCreateDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ParseTime = false
	if cfg.Loc, err = time.LoadLocation("Asia/Tokyo"); err != nil {
		t.Fatal(err)
	}
	cfg.Params = map[string]string{"sql_mode": "''", "time_zone": "'+05:00'"}
	db, err := mysql.Open(ctx, cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	var mode, zone string
	var at time.Time
	if err := mysql.SQLX(db).QueryRowContext(ctx,
		`SELECT @@SESSION.sql_mode, @@SESSION.time_zone, CAST('2025-01-02 03:04:05.678901' AS DATETIME(6))`).
		Scan(&mode, &zone, &at); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(mode, "STRICT_ALL_TABLES") || !strings.Contains(mode, "NO_ZERO_DATE") {
		t.Errorf("sql_mode %q is not strict", mode)
	}
	if zone != "+00:00" {
		t.Errorf("time_zone %q, want +00:00", zone)
	}
	if want := time.Date(2025, 1, 2, 3, 4, 5, 678901000, time.UTC); !at.Equal(want) || at.Location() != time.UTC {
		t.Errorf("DATETIME scanned as %v, want %v", at, want)
	}

	// Strict mode: an over-long value is an error, not a silent truncation.
	_, err = mysql.SQLX(db).ExecContext(ctx,
		`INSERT INTO eventlog_offsets (source, segment, `+"`offset`"+`, updated_at) VALUES (?, 1, 1, NOW(6))`,
		strings.Repeat("w", 65))
	if err == nil {
		t.Error("a 65-byte source was stored in a VARCHAR(64)")
	}
}

func TestOpenFailsClearly(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := mysql.Open(ctx, "root@unix(/nonexistent/mysqld.sock)/adnet"); err == nil ||
		!strings.Contains(err.Error(), "/nonexistent/mysqld.sock") {
		t.Fatalf("Open on a missing socket = %v, want an error naming the socket", err)
	}
	if _, err := mysql.Open(ctx, "not a dsn"); err == nil {
		t.Fatal("Open accepted a malformed DSN")
	}
}
