package main

import (
	"testing"
	"time"
)

// TestShortChaos runs every chaos scenario of `make chaos` (chaos_harness_test.go) for
// seconds instead of minutes, in `make test`.
func TestShortChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("needs MariaDB, nginx and root (a tmpfs for the event log)")
	}
	runChaos(t, &chaosScale{
		conc: 16, baseline: time.Second, after: 500 * time.Millisecond,
		workerKills: 2, killEvery: 1500 * time.Millisecond,
		aggKills: 1, aggEvery: 1500 * time.Millisecond,
		dbDown: 3 * time.Second, dbMinShare: 0.3,
		hups: 2, hupEvery: 2 * time.Second,
		idleConns: 1000, overload: 3 * time.Second, fastShedShare: 0.75,
		diskFull: 2 * time.Second,
		restarts: 1, restartGap: time.Second,
	})
}
