package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"adnet/internal/top"
)

// runTop is `adnet top`: a terminal view of nginx and every worker for a sysadmin on ssh,
// refreshed every second from the master's status socket (socket_dir/master.sock), or from
// --url (the /status page through nginx, e.g. from another host in status_allow). It exits
// on q or Ctrl-C, or after --count refreshes. The view itself is package top.
func runTop(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("top", stderr)
	url := fs.String("url", "", "status page URL, e.g. http://127.0.0.1:8080/status (default: the master's socket from --config)")
	count := fs.Int("count", 0, "exit after this many refreshes (0 = until q or Ctrl-C)")
	every := fs.Duration("interval", time.Second, "time between refreshes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *every < 100*time.Millisecond {
		return fmt.Errorf("--interval %s: must be at least 100ms", *every)
	}
	var src *top.Fetcher
	if *url != "" {
		var err error
		if src, err = top.NewURLFetcher(*url); err != nil {
			return fmt.Errorf("--url %w", err)
		}
	} else {
		cfg, err := loadConfig(*path)
		if err != nil {
			return err
		}
		src = top.NewSocketFetcher(cfg.StatusSocket())
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return top.Run(ctx, top.Options{Source: src, Out: stdout, Interval: *every, Count: *count})
}
