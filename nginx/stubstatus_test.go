package nginx

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// realFixture is stub_status as served by nginx 1.22.1 (Debian bookworm), captured with
// two idle keepalive connections open and one request pipelined after eleven others on one
// connection, so every number differs from its neighbours' meaning.
const realFixture = "testdata/stub_status_nginx-1.22.1.txt"

func TestParseStubStatusRealFixture(t *testing.T) {
	b, err := os.ReadFile(realFixture)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseStubStatus(b)
	if err != nil {
		t.Fatalf("ParseStubStatus(%q): %v", b, err)
	}
	want := StubStatus{Active: 3, Accepts: 9, Handled: 9, Requests: 20, Reading: 0, Writing: 1, Waiting: 2}
	if got != want {
		t.Fatalf("ParseStubStatus(fixture) = %+v, want %+v", got, want)
	}
	// String reproduces nginx's bytes exactly, trailing spaces included.
	if got.String() != string(b) {
		t.Fatalf("String() = %q, want nginx's %q", got.String(), b)
	}
}

func TestParseStubStatus(t *testing.T) {
	notes := StubStatus{Active: 291, Accepts: 16630948, Handled: 16630948, Requests: 31070465, Reading: 6, Writing: 179, Waiting: 106}
	const canonical = "Active connections: 291 \nserver accepts handled requests\n 16630948 16630948 31070465 \nReading: 6 Writing: 179 Waiting: 106 \n"
	for _, tc := range []struct {
		name string
		in   string
		want StubStatus
	}{
		{"canonical", canonical, notes},
		{"CRLF", strings.ReplaceAll(canonical, "\n", "\r\n"), notes},
		{"no trailing spaces", "Active connections: 291\nserver accepts handled requests\n16630948 16630948 31070465\nReading: 6 Writing: 179 Waiting: 106\n", notes},
		{"extra spaces and tabs", "  Active   connections:\t291  \n\tserver accepts  handled requests \n   16630948\t16630948  31070465   \n Reading:  6  Writing: 179\tWaiting: 106\t\n", notes},
		{"trailing blank lines", canonical + "\n\r\n  \n", notes},
		{"trailing spaces after last newline", canonical + "  ", notes},
		{"zeros", "Active connections: 0 \nserver accepts handled requests\n 0 0 0 \nReading: 0 Writing: 0 Waiting: 0 \n", StubStatus{}},
		{"max uint64", "Active connections: 18446744073709551615 \nserver accepts handled requests\n 18446744073709551615 1 2 \nReading: 3 Writing: 4 Waiting: 5 \n",
			StubStatus{Active: 1<<64 - 1, Accepts: 1<<64 - 1, Handled: 1, Requests: 2, Reading: 3, Writing: 4, Waiting: 5}},
		{"leading zeros", "Active connections: 007 \nserver accepts handled requests\n 01 02 03 \nReading: 0 Writing: 07 Waiting: 0 \n",
			StubStatus{Active: 7, Accepts: 1, Handled: 2, Requests: 3, Writing: 7}},
	} {
		got, err := ParseStubStatus([]byte(tc.in))
		if err != nil {
			t.Errorf("%s: ParseStubStatus(%q): %v", tc.name, tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s: ParseStubStatus = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestParseStubStatusErrors(t *testing.T) {
	const l1, l2 = "Active connections: 1 \n", "server accepts handled requests\n"
	const l3, l4 = " 2 2 3 \n", "Reading: 0 Writing: 1 Waiting: 0 \n"
	for _, tc := range []struct {
		name, in, wantMsg string
	}{
		{"empty", "", "empty page"},
		{"only newlines", "\n\n\n\n", "line 1"},
		{"missing last line", l1 + l2 + l3, "got 3 of 4 lines"},
		{"missing first line", l2 + l3 + l4, "line 1: want \"Active connections"},
		{"missing counters line", l1 + l2 + l4, "line 3: want three numbers"},
		{"truncated inside a number", l1 + l2 + l3 + "Reading: 0 Writing: 1 Waiting: 1", "line 4: truncated"},
		{"truncated mid-page", l1 + "server acc", "line 2: truncated"},
		{"non-numeric active", "Active connections: x \n" + l2 + l3 + l4, "active connections: \"x\" is not a number"},
		{"negative", l1 + l2 + " -2 2 3 \n" + l4, "accepts: \"-2\" is not a number"},
		{"plus sign", l1 + l2 + " 2 +2 3 \n" + l4, "handled: \"+2\" is not a number"},
		{"hex", l1 + l2 + " 2 2 0x3 \n" + l4, "requests: \"0x3\" is not a number"},
		{"decimal point", l1 + l2 + l3 + "Reading: 0.5 Writing: 1 Waiting: 0 \n", "reading: \"0.5\" is not a number"},
		{"uint64 overflow", l1 + l2 + " 18446744073709551616 2 3 \n" + l4, "accepts: \"18446744073709551616\" does not fit in 64 bits"},
		{"huge overflow", l1 + l2 + l3 + "Reading: 0 Writing: 1 Waiting: 99999999999999999999999999 \n", "waiting: \"99999999999999999999999999\" does not fit"},
		{"four counters", l1 + l2 + " 2 2 3 4 \n" + l4, "line 3: want three numbers"},
		{"two counters", l1 + l2 + " 2 2 \n" + l4, "line 3: want three numbers"},
		{"wrong header", l1 + "server accepts handled\n" + l3 + l4, "line 2: want \"server accepts handled requests\""},
		{"swapped gauges", l1 + l2 + l3 + "Writing: 0 Reading: 1 Waiting: 0 \n", "line 4: want \"Reading: N"},
		{"missing gauge", l1 + l2 + l3 + "Reading: 0 Writing: 1 \n", "line 4: want \"Reading: N"},
		{"extra field on first line", "Active connections: 1 2 \n" + l2 + l3 + l4, "line 1"},
		{"extra line", l1 + l2 + l3 + l4 + "Dropped: 1\n", "line 5: unexpected extra line"},
		{"extra unterminated line", l1 + l2 + l3 + l4 + "x", "line 5: unexpected extra line"},
		{"HTML error page", "<html>\n<head><title>403 Forbidden</title></head>\n<body>\n</body>\n</html>\n", "line 1"},
		{"blank line inside", l1 + "\n" + l2 + l3 + l4, "line 2"},
	} {
		_, err := ParseStubStatus([]byte(tc.in))
		if err == nil {
			t.Errorf("%s: ParseStubStatus(%q) = nil error", tc.name, tc.in)
			continue
		}
		if !errors.Is(err, ErrMalformedStubStatus) {
			t.Errorf("%s: error %v does not wrap ErrMalformedStubStatus", tc.name, err)
		}
		if !strings.Contains(err.Error(), tc.wantMsg) {
			t.Errorf("%s: error %q does not contain %q", tc.name, err, tc.wantMsg)
		}
	}
}

func TestParseStubStatusDoesNotAllocate(t *testing.T) {
	b, err := os.ReadFile(realFixture)
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseStubStatus(b) }); n != 0 {
		t.Errorf("ParseStubStatus allocates %.0f times per call, want 0", n)
	}
}

func TestDropped(t *testing.T) {
	for _, tc := range []struct {
		s    StubStatus
		want uint64
	}{
		{StubStatus{Accepts: 10, Handled: 10}, 0},
		{StubStatus{Accepts: 10, Handled: 7}, 3},
		// The counters are read one after the other, so a snapshot may show more handled
		// than accepted; that is not 2^64 dropped connections.
		{StubStatus{Accepts: 10, Handled: 11}, 0},
	} {
		if got := tc.s.Dropped(); got != tc.want {
			t.Errorf("%+v.Dropped() = %d, want %d", tc.s, got, tc.want)
		}
	}
}

func TestDelta(t *testing.T) {
	prev := StubStatus{Accepts: 100, Handled: 98, Requests: 1000, Active: 5}
	cur := StubStatus{Accepts: 150, Handled: 143, Requests: 1400, Active: 9}
	r := Delta(prev, cur, 2*time.Second)
	want := Rates{Interval: 2 * time.Second, Requests: 400, Accepts: 50, Dropped: 5, RequestsPerSec: 200, ConnectionsPerSec: 25}
	if r != want {
		t.Errorf("Delta = %+v, want %+v", r, want)
	}

	// A restart between the readings: counters went down, cur is the count since then.
	restarted := StubStatus{Accepts: 4, Handled: 3, Requests: 10}
	r = Delta(cur, restarted, time.Second)
	want = Rates{Interval: time.Second, Requests: 10, Accepts: 4, Dropped: 1, RequestsPerSec: 10, ConnectionsPerSec: 4, Reset: true}
	if r != want {
		t.Errorf("Delta over a restart = %+v, want %+v", r, want)
	}
	// Any one counter going down is a restart, even when the others grew past the old values.
	if r := Delta(cur, StubStatus{Accepts: 200, Handled: 200, Requests: 900}, time.Second); !r.Reset || r.Requests != 900 || r.Accepts != 200 {
		t.Errorf("Delta with only Requests lower = %+v, want Reset with cur's counts", r)
	}

	// No change, zero or negative interval: no division by zero.
	if r := Delta(cur, cur, 0); r.Reset || r.Requests != 0 || r.RequestsPerSec != 0 || r.ConnectionsPerSec != 0 {
		t.Errorf("Delta(cur, cur, 0) = %+v", r)
	}
	if r := Delta(prev, cur, -time.Second); r.Requests != 400 || r.RequestsPerSec != 0 {
		t.Errorf("Delta with negative interval = %+v", r)
	}
	// Handled moving more than Accepts within the interval (non-atomic reads) drops nothing.
	if r := Delta(StubStatus{Accepts: 10, Handled: 8}, StubStatus{Accepts: 12, Handled: 12}, time.Second); r.Dropped != 0 {
		t.Errorf("Dropped = %d, want 0", r.Dropped)
	}
}

func FuzzParseStubStatus(f *testing.F) {
	if b, err := os.ReadFile(realFixture); err == nil {
		f.Add(b)
	}
	f.Add([]byte("Active connections: 291 \nserver accepts handled requests\n 16630948 16630948 31070465 \nReading: 6 Writing: 179 Waiting: 106 \n"))
	f.Add([]byte("Active connections: 1\r\nserver accepts handled requests\r\n 1 1 1\r\nReading: 0 Writing: 1 Waiting: 0\r\n\r\n"))
	f.Add([]byte("Active connections: 18446744073709551616 \n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseStubStatus(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedStubStatus) {
				t.Fatalf("error %v does not wrap ErrMalformedStubStatus", err)
			}
			if s != (StubStatus{}) {
				t.Fatalf("error %v with a non-zero result %+v", err, s)
			}
			return
		}
		// Whatever parsed must be a page nginx could have served: its canonical rendering
		// parses back to the same values.
		again, err := ParseStubStatus([]byte(s.String()))
		if err != nil || again != s {
			t.Fatalf("round trip of %+v (from %q): %+v, %v", s, b, again, err)
		}
		if strings.Count(string(b), "\n") < 4 {
			t.Fatalf("parsed %q with fewer than 4 newlines as %+v", b, s)
		}
	})
}

func BenchmarkParseStubStatus(b *testing.B) {
	page, err := os.ReadFile(realFixture)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		if _, err := ParseStubStatus(page); err != nil {
			b.Fatal(err)
		}
	}
}
