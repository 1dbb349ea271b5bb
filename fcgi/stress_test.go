package fcgi

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"net"
	"sync"
	"testing"
	"time"
)

// TestStressMixed drives many connections at once with a random mix of what a peer may
// do (plain and pipelined-interleaved requests, bodies, aborts, management records,
// connections dropped mid-request, garbage), then drains. Nothing may wedge, and the
// counters must add up exactly: every request that reached the wrapper has one status,
// nothing is left running, every connection is closed.
func TestStressMixed(t *testing.T) { forEngines(t, testStressMixed) }

func testStressMixed(t *testing.T) {
	ts := startServer(t, Options{MaxChildren: 4, Queue: 4, QueueTimeout: 20 * time.Millisecond})
	const clients = 12
	deadline := time.Now().Add(time.Second)
	if testing.Short() {
		deadline = time.Now().Add(200 * time.Millisecond)
	}
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rnd := rand.New(rand.NewSource(seed))
			for time.Now().Before(deadline) {
				stressConn(t, ts, rnd)
			}
		}(int64(i))
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown after the stress: %v", err)
	}
	<-ts.served
	ts.served <- nil
	eventually(t, "every connection closed", func() bool { return ts.Stats().ConnsOpen == 0 })
	st := ts.Stats()
	sc := st.Status
	if answered := sc.S1xx + sc.S2xx + sc.S3xx + sc.S4xx + sc.S5xx + sc.Other; answered != st.Accepted {
		t.Fatalf("accepted %d, answered %d: %+v", st.Accepted, answered, st)
	}
	if st.InFlight != 0 || st.Queued != 0 || ts.active.Load() != 0 || ts.writing.Load() != 0 {
		t.Fatalf("left running: %+v, active %d, writing %d", st, ts.active.Load(), ts.writing.Load())
	}
	if st.Accepted == 0 {
		t.Fatal("no request served")
	}
}

// stressConn runs one connection's worth of random behaviour.
func stressConn(t *testing.T, ts *testServer, rnd *rand.Rand) {
	conn, err := net.Dial("unix", ts.path)
	if err != nil {
		t.Errorf("dial: %v", err)
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	go func() { // read and drop whatever comes; the assertions are the counters
		buf := make([]byte, 4096)
		for {
			if _, err := conn.Read(buf); err != nil {
				return
			}
		}
	}()
	paths := []string{"/fast", "/body", "/large?n=70000", "/panic", "/stream-no", "/wait-ctx-no", "/status/404"}
	for n := rnd.Intn(5) + 1; n > 0; n-- {
		var b bytes.Buffer
		id := uint16(rnd.Intn(3) + 1)
		p := getParams(paths[rnd.Intn(len(paths))])
		switch rnd.Intn(8) {
		case 0: // interleaved pair
			appendRequest(&b, id, flagKeepConn, p, nil)
			appendRequest(&b, id+10, flagKeepConn, postParams("/body", 3), []byte("abc"))
		case 1: // abort right away
			writeRecord(&b, recBeginRequest, id, beginRequest(roleResponder, flagKeepConn))
			writeRecord(&b, recParams, id, encodePairs(p))
			writeRecord(&b, recAbortRequest, id, nil)
		case 2: // management
			writeRecord(&b, recGetValues, 0, appendPair(nil, "FCGI_MAX_REQS", ""))
			writeRecord(&b, 77, 0, nil)
		case 3: // cut in the middle
			appendRequest(&b, id, flagKeepConn, postParams("/body", 100), bytes.Repeat([]byte("x"), 100))
			b.Truncate(rnd.Intn(b.Len()))
			conn.Write(b.Bytes())
			return
		case 4: // garbage
			b.WriteString(fmt.Sprintf("garbage %d", rnd.Int()))
			conn.Write(b.Bytes())
			return
		case 5: // no keep-conn
			appendRequest(&b, id, 0, p, nil)
		default:
			appendRequest(&b, id, flagKeepConn, p, nil)
		}
		if _, err := conn.Write(b.Bytes()); err != nil {
			return
		}
		time.Sleep(time.Duration(rnd.Intn(2000)) * time.Microsecond)
	}
}
