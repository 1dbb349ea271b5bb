package mysql_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"adnet/models"
	"adnet/models/mysql"
	"adnet/models/mysql/mysqltest"
)

// tables returns the tables of the database, sorted.
func tables(t *testing.T, db *mysql.DB) []string {
	t.Helper()
	var names []string
	err := mysql.SQLX(db).SelectContext(context.Background(), &names,
		`SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()`)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// wantTables are the tables of the current schema, besides goose's version table.
var wantTables = []string{
	"adjustments", "advertisers", "api_tokens", "audit_log", "campaign_daily", "campaigns", "clicks", "conversions", "creatives",
	"eventlog_offsets", "fraud_flags", "ip_lists", "login_failures", "publishers", "sessions", "sites", "stats_daily",
	"stats_hourly", "stats_invalid_daily", "stats_invalid_hourly", "stats_invalid_zone_daily", "stats_zone_daily",
	"users", "zone_campaigns", "zones",
}

func TestMigrateUpDownUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mysqltest.MustOpenEmptyDB(t)
	if got := tables(t, db); len(got) != 0 {
		t.Fatalf("fresh database has tables %v", got)
	}

	up := func() {
		t.Helper()
		if err := mysql.Migrate(ctx, db); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		got := tables(t, db)
		want := append(slices.Clone(wantTables), "goose_db_version")
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("tables after up:\n got %v\nwant %v", got, want)
		}
		if err := mysql.CheckSchema(ctx, db); err != nil {
			t.Fatalf("CheckSchema after up: %v", err)
		}
	}
	up()
	// A second Migrate has nothing to do and must not fail.
	up()

	current, target, err := mysql.SchemaVersion(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if current != target || target < 1 {
		t.Fatalf("after up: version %d, target %d", current, target)
	}
	for v := current; v > 0; v-- {
		if err := mysql.MigrateDown(ctx, db); err != nil {
			t.Fatalf("MigrateDown from %d: %v", v, err)
		}
	}
	if got := tables(t, db); !slices.Equal(got, []string{"goose_db_version"}) {
		t.Fatalf("tables after down: %v", got)
	}
	up()
}

func TestCheckSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mysqltest.MustOpenEmptyDB(t)

	_, target, err := mysql.SchemaVersion(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	err = mysql.CheckSchema(ctx, db)
	want := fmt.Sprintf("database schema is at version 0 but this adnet needs %d: run `adnet migrate`", target)
	if models.ErrorCode(err) != models.EUNAVAILABLE || models.ErrorMessage(err) != want {
		t.Fatalf("CheckSchema on an empty database = %v, want EUNAVAILABLE %q", err, want)
	}

	if err := mysql.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := mysql.CheckSchema(ctx, db); err != nil {
		t.Fatalf("CheckSchema after Migrate: %v", err)
	}

	// One version behind: what a worker of a new release sees before `adnet migrate` ran.
	if err := mysql.MigrateDown(ctx, db); err != nil {
		t.Fatal(err)
	}
	err = mysql.CheckSchema(ctx, db)
	want = fmt.Sprintf("database schema is at version %d but this adnet needs %d: run `adnet migrate`", target-1, target)
	if models.ErrorCode(err) != models.EUNAVAILABLE || models.ErrorMessage(err) != want {
		t.Fatalf("CheckSchema one version behind = %v, want EUNAVAILABLE %q", err, want)
	}

	// Ahead: a rolled-back binary against a newer schema.
	if err := mysql.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, err := mysql.SQLX(db).ExecContext(ctx,
		`INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, 1)`, target+1); err != nil {
		t.Fatal(err)
	}
	err = mysql.CheckSchema(ctx, db)
	want = fmt.Sprintf("database schema is at version %d, newer than the %d this adnet knows: upgrade adnet", target+1, target)
	if models.ErrorCode(err) != models.EUNAVAILABLE || models.ErrorMessage(err) != want {
		t.Fatalf("CheckSchema ahead = %v, want EUNAVAILABLE %q", err, want)
	}
}
