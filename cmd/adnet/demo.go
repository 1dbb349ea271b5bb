package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"adnet/internal/demo"
	"adnet/internal/manage"
	"adnet/models"
	"adnet/models/mysql"
)

// runDemo seeds the demo network into an empty database (a database with advertisers is left
// alone, so `make run` can run it every time) and writes the publisher demo page into
// nginx.demo_dir when that is set.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("demo", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	db, err := openCurrentDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	store := mysql.NewStore(db)
	n, err := demo.SeedIfEmpty(ctx, store, cfg.Tracking.BaseURL)
	if err != nil {
		return err
	}
	if n != nil {
		fmt.Fprintf(stdout, "adnet demo: seeded %d advertisers, %d campaigns, %d creatives, %d publishers, %d sites, %d zones\n",
			len(n.Advertisers), len(n.Campaigns), len(n.Creatives), len(n.Publishers), len(n.Sites), len(n.Zones))
	} else {
		fmt.Fprintf(stdout, "adnet demo: the database already has advertisers; not seeding\n")
	}
	svc := manage.NewService(manage.Options{Store: manageStore{Store: store}, Location: cfg.Location()})
	logins, err := demo.SeedUsers(ctx, svc, filepath.Join(cfg.DataDir, "demo-logins.txt"))
	if err != nil {
		return err
	}
	if logins != "" {
		fmt.Fprintf(stdout, "adnet demo: console sign-ins (%s):\n%s", filepath.Join(cfg.DataDir, "demo-logins.txt"), logins)
	}
	if cfg.Nginx.DemoDir == "" {
		return nil
	}
	zones, err := store.ListZones(ctx, models.ZoneFilter{Status: models.StatusActive})
	if err != nil {
		return err
	}
	if err := demo.WritePage(cfg.Nginx.DemoDir, cfg.Tracking.BaseURL, zones); err != nil {
		return fmt.Errorf("nginx.demo_dir: %w", err)
	}
	fmt.Fprintf(stdout, "adnet demo: publisher page at %s/demo/\n", cfg.Tracking.BaseURL)
	return nil
}
