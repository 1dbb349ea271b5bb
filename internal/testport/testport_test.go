package testport

import (
	"net"
	"strconv"
	"testing"
)

// TestRangeBelowEphemeral: ports come from outside the ephemeral range, are never handed out
// twice, and are free to bind, n consecutive ones included.
func TestRangeBelowEphemeral(t *testing.T) {
	lo, hi := span()
	seen := map[int]bool{}
	for range 200 {
		p := Range(t, 3)
		for i := range 3 {
			if p+i < lo || p+i >= hi {
				t.Fatalf("port %d outside %d-%d", p+i, lo, hi-1)
			}
			if seen[p+i] {
				t.Fatalf("port %d handed out twice", p+i)
			}
			seen[p+i] = true
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+i))
			if err != nil {
				t.Fatalf("port %d: %v", p+i, err)
			}
			l.Close()
		}
	}
	if lo >= 32768 && hi <= 61000 {
		t.Errorf("drawing from %d-%d, inside the default ephemeral range", lo, hi-1)
	}
	// A port in use (bound here, not handed out) counts as taken.
	for p := lo; p < hi; p++ {
		if seen[p] {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		mu.Lock()
		busy := taken(p, 1)
		mu.Unlock()
		l.Close()
		if !busy {
			t.Errorf("port %d in use is not taken", p)
		}
		return
	}
	t.Fatal("no port to bind in the range")
}
