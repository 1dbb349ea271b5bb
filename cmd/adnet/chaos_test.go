//go:build chaos

package main

// `make chaos`: the scenarios of chaos_harness_test.go for minutes each. The table is printed
// and written to var/chaos/latest.md (ADNET_CHAOS_OUT changes the directory).

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestChaos(t *testing.T) {
	sc := &chaosScale{
		conc: 16, baseline: 10 * time.Second, after: 3 * time.Second,
		workerKills: 10, killEvery: 3 * time.Second,
		aggKills: 3, aggEvery: 10 * time.Second,
		dbDown: 60 * time.Second, dbMinShare: 0.9,
		hups: 6, hupEvery: 10 * time.Second,
		idleConns: 5500, overload: 30 * time.Second, fastShedShare: 0.99,
		diskFull: 20 * time.Second,
		restarts: 2, restartGap: 10 * time.Second,
	}
	rows := runChaos(t, sc)
	out := "../../var/chaos"
	if s := os.Getenv("ADNET_CHAOS_OUT"); s != "" {
		out = s
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	md := chaosMarkdown(rows, *sc)
	fmt.Println()
	fmt.Print(md)
	p, _ := filepath.Abs(filepath.Join(out, "latest.md"))
	if err := os.WriteFile(p, []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("\nwritten: %s\n", p)
}
