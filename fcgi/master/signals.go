package master

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// earlyStop receives SIGQUIT and SIGTERM in a worker process from package initialisation
// on (see StopRequested).
var earlyStop = make(chan os.Signal, 1)

func init() {
	// Only in a worker a master started (the variable is set for workers only; Inherited
	// clears it later). The Go runtime's own SIGQUIT action is to exit with a dump of every
	// goroutine, and a worker installs its handlers only after its startup (configuration,
	// database, inventory snapshot), which can take seconds: a graceful stop (a reload
	// retiring it, the master stopping) sent in that window crashed it. Catching the
	// signals here narrows the window to the runtime's own start.
	if _, ok := os.LookupEnv(EnvListenFD); ok {
		signal.Notify(earlyStop, syscall.SIGQUIT, syscall.SIGTERM)
	}
}

// StopRequested returns a channel that receives SIGQUIT or SIGTERM sent to this worker
// process at any time since it started, including before the worker installed its own
// signal handlers; a worker selects on it beside its own signal channel and drains when it
// fires. In a process not started as a worker by a master it never receives.
func StopRequested() <-chan os.Signal { return earlyStop }

// SignalHandlers are the actions HandleSignals takes. Nil functions are skipped.
type SignalHandlers struct {
	// Reload runs for SIGHUP, in a goroutine of its own, one at a time: a SIGHUP during a
	// reload queues one more (any number of them coalesce into one), so the configuration
	// last written is the one applied.
	Reload func()
	// Stop runs for SIGTERM, SIGINT and SIGQUIT as soon as the signal arrives, also while a
	// Reload runs; cancelling the context given to Run makes Master.Reload give up its
	// remaining steps.
	Stop func(os.Signal)
	// Other runs for any other signal received on the channel (for example SIGUSR1).
	Other func(os.Signal)
}

// HandleSignals dispatches the master's signals from sigs to h until ctx is done. A rolling
// reload takes as long as every worker needs to start and drain, up to ReadyTimeout plus
// StopTimeout per worker: run in the goroutine that reads the signals, it would hold a
// SIGTERM (systemctl stop) back for all that time, and systemd would SIGKILL the lot.
func HandleSignals(ctx context.Context, sigs <-chan os.Signal, h SignalHandlers) {
	reloads := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-reloads:
				if h.Reload != nil {
					h.Reload()
				}
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				select {
				case reloads <- struct{}{}:
				default: // one is already queued; it will read the newest configuration
				}
			case syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT:
				if h.Stop != nil {
					h.Stop(sig)
				}
			default:
				if h.Other != nil {
					h.Other(sig)
				}
			}
		}
	}
}
