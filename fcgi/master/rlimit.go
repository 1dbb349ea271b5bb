package master

import (
	"fmt"
	"syscall"
)

// RaiseNofile raises the soft RLIMIT_NOFILE of this process (inherited by every worker it
// starts afterwards) to want, or as far as the hard limit allows, and returns the soft
// limit now in force. It never lowers a limit. When the hard limit is below want the error
// says what to change: an unprivileged process cannot raise its hard limit, and running
// out of descriptors makes accept(2) fail with EMFILE, which nginx reports as 502s.
func RaiseNofile(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit(RLIMIT_NOFILE): %w", err)
	}
	if lim.Cur >= want {
		return lim.Cur, nil
	}
	target := min(want, lim.Max)
	if target > lim.Cur {
		next := lim
		next.Cur = target
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err != nil {
			return lim.Cur, fmt.Errorf("setrlimit(RLIMIT_NOFILE, %d): %w", target, err)
		}
		lim = next
	}
	if lim.Cur < want {
		return lim.Cur, fmt.Errorf("open files limited to %d (hard limit), %d wanted: raise it with LimitNOFILE=%d in the systemd unit, or `ulimit -Hn %d` (as root) before starting from a shell",
			lim.Cur, want, want, want)
	}
	return lim.Cur, nil
}
