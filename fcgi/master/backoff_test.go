package master

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestCrashLoopBackoffDoubles(t *testing.T) {
	opt, hook, out := baseOptions(t, 1, "crash")
	opt.RestartBackoff = 50 * time.Millisecond
	opt.MaxRestartBackoff = 400 * time.Millisecond
	opt.StableAfter = time.Minute // every death here is part of the loop
	h := start(t, opt, hook, out)
	waitFor(t, "six restarts", func() bool { return h.info(0).Restarts >= 6 })
	last := h.info(0)
	h.stop()

	died := h.entries("master: process died; restarting")
	started := h.entries("master: process started")
	want := []time.Duration{50, 100, 200, 400, 400, 400}
	if len(died) < len(want) || len(started) < len(want)+1 {
		t.Fatalf("logged %d deaths, %d starts", len(died), len(started))
	}
	for i, w := range want {
		delay := died[i].Data["restart_in"].(time.Duration)
		if delay != w*time.Millisecond {
			t.Errorf("restart %d: delay %s, want %s", i+1, delay, w*time.Millisecond)
		}
		if died[i].Data["status"] != "exit status 3" {
			t.Errorf("death %d: status %v", i+1, died[i].Data["status"])
		}
		// The next start may come later on a busy machine, never sooner.
		if gap := started[i+1].Time.Sub(died[i].Time); gap < delay {
			t.Errorf("restart %d came %s after the death, before its %s delay", i+1, gap, delay)
		}
	}
	if last.LastExit != "exit status 3" || last.RestartDelay != 400*time.Millisecond {
		t.Errorf("process info after crash loop: %+v", last)
	}
}

func TestBackoffResetsAfterStableRun(t *testing.T) {
	opt, hook, out := baseOptions(t, 1, "crash-then-serve")
	opt.WorkerCommand = testCommand("crash-then-serve",
		"ADNET_TEST_CRASHES=3", "ADNET_TEST_COUNTER="+filepath.Join(t.TempDir(), "runs"))
	opt.RestartBackoff = 50 * time.Millisecond
	opt.StableAfter = 2 * time.Second
	h := start(t, opt, hook, out)
	ps := h.waitReady(1)
	if ps[0].Restarts != 3 || ps[0].RestartDelay != 200*time.Millisecond {
		t.Fatalf("after three crashes: %+v", ps[0])
	}
	waitFor(t, "worker running stably", func() bool { return time.Since(ps[0].Started) > opt.StableAfter })
	if err := syscall.Kill(ps[0].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "restart after stable run", func() bool {
		p := h.info(0)
		return p.Restarts == 4 && p.PID != 0
	})
	if d := h.info(0).RestartDelay; d != opt.RestartBackoff {
		t.Errorf("delay after a stable run = %s, want the initial %s", d, opt.RestartBackoff)
	}
}

func TestRestartedExtra(t *testing.T) {
	opt, hook, out := baseOptions(t, 1, "worker")
	opt.Extra = []ProcessSpec{extraSpec("aggregator")}
	h := start(t, opt, hook, out)
	h.waitReady(1)
	agg := h.info(1)
	if err := syscall.Kill(agg.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "aggregator restarted", func() bool {
		p := h.info(1)
		return p.PID != 0 && p.PID != agg.PID && p.Restarts == 1
	})
	// Reload restarts the extra (stop, then start) and can drop it.
	before := h.info(1)
	if err := h.m.Reload(opt); err != nil {
		t.Fatal(err)
	}
	after := h.info(1)
	if after.PID == 0 || after.PID == before.PID || !reaped(before.PID) {
		t.Errorf("extra after reload: before %+v after %+v", before, after)
	}
	opt.Extra = nil
	if err := h.m.Reload(opt); err != nil {
		t.Fatal(err)
	}
	if ps := h.m.Processes(); len(ps) != 1 || !reaped(after.PID) {
		t.Errorf("extra not removed: %+v", ps)
	}
}
