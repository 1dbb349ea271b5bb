// Command adnet is the ad network server: one binary whose subcommands are the master
// (`serve`), its FastCGI workers (`worker`), and the tools a sysadmin runs. main only parses
// flags and wires packages together; behaviour lives in the packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"adnet/internal/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// command is one subcommand: its one-line help and its entry point.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"serve":      {"run the master: start, supervise and reload the FastCGI workers", runServe},
		"worker":     {"run one FastCGI worker (normally started by the master)", runWorker},
		"migrate":    {"create or upgrade the MariaDB schema", runMigrate},
		"nginx-conf": {"print the nginx configuration rendered from the adnet config", runNginxConf},
		"keygen":     {"write a new tracking key file (mode 0600) if none exists", runKeygen},
		"demo":       {"seed a demo network (advertisers, campaigns, publishers, zones) into an empty database", runDemo},
		"version":    {"print the version", runVersion},
		"top":        {"a terminal view of nginx and every worker, refreshed every second", runTop},
		"aggregate":  {"run the statistics aggregator (normally started by the master)", runAggregate},
		"ship":       {"forward this host's event logs to the JetStream stream (normally started by the master)", runShip},
		"nats-setup": {"create or update the JetStream events stream from [nats]", runNatsSetup},
		"report":     {"print a statistics report (as GET /api/v1/reports)", runReport},
		"fraud":      {"list and review publisher-anomaly flags, or run one anomaly scan now", runFraud},
		"blocklist":  {"import the IP blocklist or the data-center ranges from a file", runBlocklist},
		"user":       {"add or list console and API users (add prints a generated password)", runUser},
		"token":      {"create an API token for a user", runToken},

		// Several hosts behind one front (clusterconf.go).
		"cluster-conf": {"write each host's adnet.toml and the front's nginx config from a cluster file", runClusterConf},
	}
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// exitUsage is returned for command-line and configuration mistakes.
const exitUsage = 2

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "adnet: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
	if err := cmd.run(ctx, args[1:], stdout, stderr); err != nil {
		var probs config.Problems
		if errors.As(err, &probs) {
			fmt.Fprintf(stderr, "adnet %s: %v\n", args[0], err)
			return exitUsage
		}
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "adnet %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "adnet %s — ad network server (nginx → FastCGI workers → MariaDB)\n\nUsage: adnet <command> [flags]\n\nCommands:\n", version)
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-11s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "  help        show this list\n\nEvery command takes --config FILE (default $ADNET_CONFIG, else ./adnet.toml, else var/adnet.toml of `make run` in a checkout); `adnet <command> -h` shows its flags.")
}

// flags returns a FlagSet with the --config flag every command shares.
func flags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("adnet "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := os.Getenv("ADNET_CONFIG")
	if def == "" {
		def = "adnet.toml"
	}
	path := fs.String("config", def, "configuration file (TOML; see adnet.example.toml)")
	return fs, path
}

// loadConfig loads the configuration. Without ./adnet.toml the default falls back to the
// development instance's var/adnet.toml in a checkout (devConfig).
func loadConfig(path string) (*config.Config, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && path == "adnet.toml" {
		if path = devConfig(); path == "" {
			return nil, fmt.Errorf("no configuration file: create adnet.toml (an empty file gives the defaults; see adnet.example.toml), pass --config FILE, or run `make run` in a checkout (var/adnet.toml)")
		}
	}
	return config.Load(path)
}

func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) error {
	fmt.Fprintf(stdout, "adnet %s\n", strings.TrimSpace(version))
	return nil
}
