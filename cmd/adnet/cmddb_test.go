package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"adnet/models/mysql"
	"adnet/models/mysql/mysqltest"
)

// commandDB gives a command test a fresh migrated database and a config file naming it
// (top is prepended as top-level settings). The connection is closed when the test ends.
func commandDB(t *testing.T, top string) (conf string, db *mysql.DB) {
	t.Helper()
	dsn := mysqltest.MustCreateDatabase(t)
	conf = filepath.Join(t.TempDir(), "adnet.toml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("%s\n[mysql]\ndsn = %q\n", top, dsn)), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := mysql.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return conf, db
}
