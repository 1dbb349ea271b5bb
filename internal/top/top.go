// Package top is `adnet top`: a terminal view of nginx and every worker for a sysadmin on
// ssh, redrawn from the master's status document (monitor.StatusDoc) at a fixed interval. It
// is plain ANSI: no curses, and no colours or cursor movement when the output is not a
// terminal, so it can also be piped or logged.
package top

import (
	"bytes"
	"context"
	"io"
	"time"
)

// Options configures Run.
type Options struct {
	Source   *Fetcher      // where the status document is read
	Out      io.Writer     // the screen; a terminal gets the alternate screen and colours
	Interval time.Duration // between refreshes
	Count    int           // stop after this many refreshes; 0 = until q or ctx ends
}

// Run shows a frame every Interval until ctx ends, q (or Ctrl-C in cbreak mode) is pressed,
// or Count frames were shown. A status that cannot be read is shown as a frame saying why,
// and the next refresh tries again: top outlives a master restart. It returns only the error
// of writing a frame.
func Run(ctx context.Context, opt Options) error {
	term := openTerminal(opt.Out)
	defer term.restore()
	quit := term.keys(ctx)

	var frame bytes.Buffer
	for n := 1; ; n++ {
		fctx, cancel := context.WithTimeout(ctx, min(opt.Interval*2, 5*time.Second))
		doc, ferr := opt.Source.Fetch(fctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		frame.Reset()
		render(&frame, doc, ferr, view{width: term.width(), color: term.isTTY(), source: opt.Source.Name(), now: time.Now()})
		if _, err := term.frame(frame.Bytes()); err != nil {
			return err
		}
		if opt.Count > 0 && n >= opt.Count {
			return nil
		}
		t := time.NewTimer(opt.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-quit:
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}
