package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"adnet/models/mysql"
)

// runMigrate brings the database schema up to the version this binary needs.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("migrate", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := mysql.Migrate(ctx, db); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "adnet migrate: schema is up to date")
	return nil
}
