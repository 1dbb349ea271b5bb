// Package testport hands out loopback TCP ports to tests that must name a port before a
// server binds it: MariaDB, nats-server and nginx started as processes of their own, a
// master told to listen on tcp://127.0.0.1:P.
//
// Probing with a listener on port 0 and closing it, the usual way, leaves the port in the
// kernel's ephemeral range, where every outgoing connection of every test running beside
// (the load generators, the database clients) takes its local port: under `make test` one
// of them can take the port before the server binds it, and the test fails for nothing.
// The ports given here are drawn at random below that range (Linux's
// net.ipv4.ip_local_port_range), never twice in one test binary, and checked free.
package testport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	given = map[int]bool{}
)

// lowest is the lowest port handed out: clear of the well-known and registered services a
// machine may run.
const lowest = 20000

// Free returns a loopback port that is free now and that no other test of this binary got.
func Free(tb testing.TB) int {
	tb.Helper()
	return Range(tb, 1)
}

// Range returns the first of n consecutive loopback ports that are free now and that no
// other test of this binary got.
func Range(tb testing.TB, n int) int {
	tb.Helper()
	lo, hi := span()
	mu.Lock()
	defer mu.Unlock()
	for range 1000 {
		p := lo + rand.IntN(hi-lo-n+1)
		if taken(p, n) {
			continue
		}
		for i := range n {
			given[p+i] = true
		}
		return p
	}
	tb.Fatalf("testport: no %d free consecutive ports in %d-%d", n, lo, hi-1)
	return 0
}

// taken reports whether a port of p..p+n-1 was given already or cannot be bound now.
func taken(p, n int) bool {
	for i := range n {
		if given[p+i] {
			return true
		}
	}
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+i))
		if err != nil {
			return true
		}
		l.Close()
	}
	return false
}

// span returns the ports [lo, hi) to draw from: below the ephemeral range, or above it when
// it starts too low to leave room.
func span() (lo, hi int) {
	elo, ehi := 32768, 60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			a, errA := strconv.Atoi(f[0])
			z, errZ := strconv.Atoi(f[1])
			if errA == nil && errZ == nil && a <= z {
				elo, ehi = a, z
			}
		}
	}
	if elo-lowest >= 2000 {
		return lowest, elo
	}
	if 65536-(ehi+1) >= 2000 {
		return ehi + 1, 65536
	}
	// No room outside the ephemeral range: draw from all of it and rely on the check.
	return 1024, 65536
}

// Addr returns "127.0.0.1:P" for a port given by Free.
func Addr(tb testing.TB) string {
	tb.Helper()
	return fmt.Sprintf("127.0.0.1:%d", Free(tb))
}
