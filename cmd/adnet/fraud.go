package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"adnet/internal/config"
	"adnet/internal/fraud"
	"adnet/internal/fraud/review"
	"adnet/internal/manage"
	"adnet/models"
	"adnet/models/mysql"
)

const fraudUsage = `usage:
  adnet fraud flags [--status open|confirmed|dismissed|all] [--kind zone|site|publisher] [--limit N] [--format table|json]
  adnet fraud scan [--auto-pause] [--z 4] [--min-volume 500] [--recent 1h] [--baseline 168h] [--format table|json]
  adnet fraud dismiss ID    close a flag as a false alarm (resumes the zone its auto-pause paused)
  adnet fraud confirm ID    close a flag as fraud (the zone stays as it is) and restate its period's
                            billed events as invalid through the adjustment ledger
  adnet fraud unconfirm ID  withdraw a confirmation: the flag becomes dismissed and the ledger gets
                            the reverse of its restatement (appended, never deleted)
  adnet fraud restate ID    restate a confirmed flag's period again: the events counted since the
                            confirmation (late events), nothing if there are none`

// runFraud is the operator's view of the publisher-anomaly monitor: list the flags it raised,
// run one scan now, and review flags. It parses the subcommand and its flags and wires the
// store and the scanner; what is done and printed is package review.
func runFraud(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprintln(stdout, fraudUsage)
		return nil
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("%s", fraudUsage)
	}
	sub, args := args[0], args[1:]
	fs, path := flags("fraud "+sub, stderr)
	format := fs.String("format", "table", "output format: table or json")
	var run fraudSubcommand
	switch sub {
	case "flags":
		run = fraudFlags(fs)
	case "scan":
		run = fraudScan(fs)
	case "dismiss", "confirm", "restate", "unconfirm":
		run = fraudReview(sub)
	default:
		return fmt.Errorf("unknown subcommand %q\n%s", sub, fraudUsage)
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return fmt.Errorf("--format %q: must be table or json", *format)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	db, err := openCurrentDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	return run(ctx, cfg, mysql.NewStore(db), review.Output{W: stdout, JSON: *format == "json"}, pos)
}

// fraudSubcommand runs one `adnet fraud` subcommand once its flags are parsed; pos holds the
// positional arguments.
type fraudSubcommand func(ctx context.Context, cfg *config.Config, store *mysql.Store, out review.Output, pos []string) error

// fraudFlags defines the flags of `adnet fraud flags` on fs.
func fraudFlags(fs *flag.FlagSet) fraudSubcommand {
	status := fs.String("status", models.FlagOpen, "open, confirmed, dismissed or all")
	kind := fs.String("kind", "", "only flags of zones, sites or publishers")
	limit := fs.Int("limit", 100, "show at most this many flags, newest first")
	return func(ctx context.Context, _ *config.Config, store *mysql.Store, out review.Output, pos []string) error {
		if len(pos) != 0 {
			return fmt.Errorf("%s", fraudUsage)
		}
		return review.ListFlags(ctx, store, out, *status, *kind, *limit)
	}
}

// fraudScan defines the flags of `adnet fraud scan` on fs.
func fraudScan(fs *flag.FlagSet) fraudSubcommand {
	var opt fraud.AnomalyOptions
	autoPause := fs.Bool("auto-pause", false, "pause flagged zones (default: fraud.auto_pause)")
	fs.Float64Var(&opt.Z, "z", fraud.DefaultAnomalyZ, "z-score at or above which a rate is anomalous")
	fs.Int64Var(&opt.MinVolume, "min-volume", fraud.DefaultAnomalyMinVolume, "fewest recent events behind a rate for it to be judged")
	recent := fs.Duration("recent", fraud.DefaultAnomalyRecent, "the recent window judged (whole hours of statistics overlapping it)")
	baseline := fs.Duration("baseline", fraud.DefaultAnomalyBaseline, "the trailing history each entity is compared with")
	return func(ctx context.Context, cfg *config.Config, store *mysql.Store, out review.Output, pos []string) error {
		if len(pos) != 0 {
			return fmt.Errorf("%s", fraudUsage)
		}
		pause := cfg.Fraud.AutoPause
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "auto-pause" {
				pause = *autoPause
			}
		})
		log, _, err := newLogger(cfg, "fraud-scan")
		if err != nil {
			return err
		}
		sc, err := fraud.NewAnomalyScanner(fraud.ScannerOptions{Store: store, Anomaly: opt, Recent: *recent,
			Baseline: *baseline, AutoPause: pause, Logger: log})
		if err != nil {
			return err
		}
		return review.RunScan(ctx, sc, out)
	}
}

// fraudReview is `adnet fraud dismiss|confirm|unconfirm|restate ID`, which have no flags of their own.
// They go through the management layer, as the console and the API do: the review, the
// restatement and the audit entry (by "(command line)") are one transaction.
func fraudReview(sub string) fraudSubcommand {
	return func(ctx context.Context, cfg *config.Config, store *mysql.Store, out review.Output, pos []string) error {
		if len(pos) != 1 {
			return fmt.Errorf("%s", fraudUsage)
		}
		id, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil || id <= 0 {
			return fmt.Errorf("flag id %q: must be a positive integer (see adnet fraud flags)", pos[0])
		}
		svc := manage.NewService(manage.Options{Store: manageStore{Store: store}, Location: cfg.Location()})
		cli := manage.CommandLine()
		if sub == "restate" {
			return review.RestateFlag(ctx, func(ctx context.Context, id int64) (*models.Restatement, error) {
				return svc.RestateFraudFlag(ctx, cli, id)
			}, out, id)
		}
		status := models.FlagDismissed
		if sub == "confirm" {
			status = models.FlagConfirmed
		}
		return review.CloseFlag(ctx, func(ctx context.Context, id int64, confirm bool) (*models.FraudFlag, bool, *models.Restatement, error) {
			var rv *manage.FlagReview
			var err error
			if sub == "unconfirm" {
				rv, err = svc.WithdrawFraudConfirmation(ctx, cli, id)
			} else {
				rv, err = svc.ReviewFraudFlag(ctx, cli, id, confirm)
			}
			if err != nil {
				return nil, false, nil, err
			}
			return rv.Flag, rv.ZoneResumed, rv.Restatement, nil
		}, out, id, status)
	}
}

// parseInterspersed parses flags placed before, between or after the positional arguments
// (`adnet fraud dismiss 12 --config x`) and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
