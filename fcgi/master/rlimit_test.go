package master

import (
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRaiseNofile: the soft limit is raised as far as the hard limit allows, and a want
// above the hard limit is reported with the settings to change.
func TestRaiseNofile(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) })
	if lim.Max < 256 {
		t.Fatalf("hard open-file limit %d is too low to run the tests", lim.Max)
	}
	low := lim
	low.Cur = 128
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	got, err := RaiseNofile(200)
	if err != nil || got != 200 {
		t.Fatalf("RaiseNofile(200) = %d, %v; want 200", got, err)
	}
	if got, err := RaiseNofile(150); err != nil || got != 200 {
		t.Fatalf("RaiseNofile(150) = %d, %v; want 200 (never lowered)", got, err)
	}
	if lim.Max == unix.RLIM_INFINITY {
		return
	}
	got, err = RaiseNofile(lim.Max + 1)
	if got != lim.Max {
		t.Errorf("RaiseNofile(hard+1) = %d, want the hard limit %d", got, lim.Max)
	}
	if err == nil || !strings.Contains(err.Error(), "LimitNOFILE=") || !strings.Contains(err.Error(), "ulimit -Hn") {
		t.Errorf("RaiseNofile(hard+1) error = %v, want one naming LimitNOFILE= and ulimit -Hn", err)
	}
}
