package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"adnet/internal/fraud"
	"adnet/models"
	"adnet/models/mysql"
)

// runBlocklist manages the IP lists the fraud filters use: `adnet blocklist import FILE`
// replaces the blocklist (or, with --list datacenter, the data-center ranges) with the file's
// entries, one IP, CIDR or first-last range per line, IPv4 or IPv6, # comments. Every bad line
// is reported and nothing is imported; workers pick the new list up within a minute.
func runBlocklist(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("blocklist", stderr)
	list := fs.String("list", models.IPListBlocked, "which list: blocked or datacenter")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 || fs.Arg(0) != "import" {
		return fmt.Errorf("usage: adnet blocklist [--list blocked|datacenter] import FILE")
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	f, err := os.Open(fs.Arg(1))
	if err != nil {
		return err
	}
	defer f.Close()
	set, errs := fraud.ParseIPSet(f)
	if len(errs) > 0 {
		return fmt.Errorf("%s: nothing imported:\n%w", fs.Arg(1), errors.Join(errs...))
	}
	ranges := set.IPRanges()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	start := time.Now()
	if err := mysql.NewStore(db).ReplaceIPList(ctx, *list, ranges); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "adnet blocklist: %s list replaced with %d merged ranges in %.1fs; workers reload it within a minute\n",
		*list, len(ranges), time.Since(start).Seconds())
	return nil
}
