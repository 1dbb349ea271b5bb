package mysqltest_test

import (
	"context"
	"database/sql"
	"testing"

	_ "github.com/go-sql-driver/mysql" // the "mysql" driver for the probe connection

	"adnet/models/mysql"
	"adnet/models/mysql/mysqltest"
)

func TestMain(m *testing.M) { mysqltest.Main(m) }

// TestMustOpenDB checks that each call gets its own database, migrated or not as asked, and
// that the databases are gone once the test that asked for them has ended.
func TestMustOpenDB(t *testing.T) {
	ctx := context.Background()
	var names []string
	t.Run("open", func(t *testing.T) {
		a, b := mysqltest.MustOpenDB(t), mysqltest.MustOpenDB(t)
		if a.Name() == b.Name() {
			t.Fatalf("two calls share database %s", a.Name())
		}
		for _, db := range []*mysql.DB{a, b} {
			if err := mysql.CheckSchema(ctx, db); err != nil {
				t.Fatalf("database %s: %v", db.Name(), err)
			}
		}
		empty := mysqltest.MustOpenEmptyDB(t)
		if err := mysql.CheckSchema(ctx, empty); err == nil {
			t.Fatal("MustOpenEmptyDB returned a migrated database")
		}
		names = []string{a.Name(), b.Name(), empty.Name()}
	})

	if len(names) != 3 {
		t.FailNow()
	}
	// A database of this (still running) test to look at the server from.
	probe, err := sql.Open("mysql", mysqltest.MustCreateDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	var n int
	if err := probe.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name IN (?, ?, ?)`,
		names[0], names[1], names[2]).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d of the databases %v still exist after their test ended", n, names)
	}
	var self string
	if err := probe.QueryRowContext(ctx, `SELECT DATABASE()`).Scan(&self); err != nil || self == "" {
		t.Fatalf("probe database %q: %v", self, err)
	}
}
