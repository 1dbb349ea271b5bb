package nginxtest

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"adnet/nginx"
)

func TestStartReloadRestartStop(t *testing.T) {
	in := Start(t, nginx.Params{
		WorkerSockets:   []string{filepath.Join(t.TempDir(), "none.sock")},
		RequestTimeout:  time.Second,
		WorkerProcesses: "2",
	})
	status := func() {
		t.Helper()
		resp, err := http.Get(in.URL + "/nginx_status")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("/nginx_status: %s", resp.Status)
		}
	}
	status()

	master := in.PID()
	workers, err := children(master)
	if err != nil || len(workers) != 2 {
		t.Fatalf("workers of %d: %v, %v; want 2", master, workers, err)
	}

	in.Reload()
	after, err := children(master)
	if err != nil || len(after) != 2 || !disjoint(workers, after) {
		t.Fatalf("after reload: workers %v -> %v (%v), want 2 new ones", workers, after, err)
	}
	status()

	in.Restart()
	if in.PID() == master || in.PID() == 0 {
		t.Fatalf("restart: master %d -> %d", master, in.PID())
	}
	status()

	// Stop leaves nothing running: neither the master nor any worker, old or new.
	newMaster := in.PID()
	newWorkers, _ := children(newMaster)
	in.Stop()
	in.Stop() // idempotent
	if in.PID() != 0 {
		t.Fatalf("PID after Stop = %d", in.PID())
	}
	for _, pid := range append(append([]int{master, newMaster}, after...), newWorkers...) {
		if processExists(pid) {
			t.Errorf("process %d still exists after Stop", pid)
		}
	}
	if _, err := http.Get(in.URL + "/nginx_status"); err == nil {
		t.Errorf("nginx still answers after Stop")
	}
}

func TestStartFailsOnPortInUse(t *testing.T) {
	// A caller-chosen Listen that another nginx holds is reported as a failure, not taken
	// for a successful start because the other one answers.
	first := Start(t, nginx.Params{
		WorkerSockets:  []string{filepath.Join(t.TempDir(), "none.sock")},
		RequestTimeout: time.Second,
	})
	var failed bool
	ft := &fatalRecorder{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil && r != errFatal {
				panic(r)
			}
			failed = ft.failed
		}()
		Start(ft, nginx.Params{
			Listen:         first.Params.Listen,
			WorkerSockets:  []string{filepath.Join(t.TempDir(), "none.sock")},
			RequestTimeout: time.Second,
		})
	}()
	if !failed {
		t.Fatalf("Start on a port in use did not fail")
	}
}

// fatalRecorder turns Fatalf into a recorded failure and a panic, so that a test can check
// that Start fails without failing itself.
type fatalRecorder struct {
	testing.TB
	failed bool
}

var errFatal = new(int)

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.failed = true
	panic(errFatal)
}

func (f *fatalRecorder) Helper() {}
