package token

import (
	"encoding/base64"
	"math"
	"strings"
	"testing"
	"time"
)

func TestViewerRoundTrip(t *testing.T) {
	s := newTestSigner(t, time.Hour)
	var v Viewer
	v.Reset(0xDEADBEEFCAFEF00D)
	now := testNow
	v.Record(10, time.Hour, now)
	v.Record(10, time.Hour, now.Add(time.Minute))
	v.Record(77777, 24*time.Hour, now.Add(2*time.Minute))
	cookie := string(s.EncodeViewer(nil, &v))
	var got Viewer
	if !s.DecodeViewer(&got, cookie) {
		t.Fatalf("DecodeViewer(%q) failed", cookie)
	}
	if got.ID != v.ID || len(got.Entries()) != 2 {
		t.Fatalf("got id %x entries %v", got.ID, got.Entries())
	}
	for i, e := range v.Entries() {
		if got.Entries()[i] != e {
			t.Fatalf("entry %d: got %+v want %+v", i, got.Entries()[i], e)
		}
	}
	if c := got.Count(10, time.Hour, now.Add(3*time.Minute)); c != 2 {
		t.Fatalf("Count = %d, want 2", c)
	}
	t.Logf("cookie with 2 entries: %d chars", len(cookie))

	var empty Viewer
	empty.Reset(1)
	if !s.DecodeViewer(&got, string(s.EncodeViewer(nil, &empty))) || got.ID != 1 || len(got.Entries()) != 0 {
		t.Fatalf("empty viewer round trip: %+v", got)
	}
}

// TestFrequencyWindow checks N per window and that a new window starts after expiry.
func TestFrequencyWindow(t *testing.T) {
	var v Viewer
	const w = time.Hour
	start := testNow
	for i := range 3 {
		if c := v.Count(5, w, start.Add(time.Duration(i)*time.Minute)); c != i {
			t.Fatalf("before impression %d: Count = %d", i+1, c)
		}
		v.Record(5, w, start.Add(time.Duration(i)*time.Minute))
	}
	if c := v.Count(5, w, start.Add(w-time.Second)); c != 3 {
		t.Fatalf("last second of window: Count = %d, want 3", c)
	}
	if c := v.Count(5, w, start.Add(w)); c != 0 {
		t.Fatalf("window over: Count = %d, want 0", c)
	}
	if c := v.Count(6, w, start); c != 0 {
		t.Fatalf("other campaign: Count = %d", c)
	}
	v.Record(5, w, start.Add(w+time.Minute))
	if c := v.Count(5, w, start.Add(w+2*time.Minute)); c != 1 {
		t.Fatalf("new window: Count = %d, want 1", c)
	}
	if e := v.Entries()[0]; e.Start != start.Add(w+time.Minute).Unix() {
		t.Fatalf("new window start = %d", e.Start)
	}
}

func TestViewerEntryCapEvictsOldest(t *testing.T) {
	var v Viewer
	for i := range MaxViewerEntries + 5 {
		v.Record(int64(i+1), time.Hour, testNow.Add(time.Duration(i)*time.Second))
	}
	if len(v.Entries()) != MaxViewerEntries {
		t.Fatalf("%d entries, want %d", len(v.Entries()), MaxViewerEntries)
	}
	for _, e := range v.Entries() {
		if e.CampaignID <= 5 {
			t.Fatalf("oldest entry %d survived", e.CampaignID)
		}
	}
}

func TestViewerByteCap(t *testing.T) {
	s := newTestSigner(t, time.Hour)
	var v Viewer
	v.Reset(math.MaxUint64)
	// Extreme sizes that no real cookie reaches (ids that encode in 10 bytes, maximal counts,
	// starts 2^58 s apart) prove the byte cap holds for any content.
	for i := range MaxViewerEntries {
		v.Record(-1-int64(i), time.Hour, time.Unix(int64(i)<<58, 0))
		v.e[v.n-1].Count = math.MaxUint32
	}
	cookie := s.EncodeViewer(nil, &v)
	if len(cookie) > MaxViewerCookieLen {
		t.Fatalf("cookie %d chars > %d", len(cookie), MaxViewerCookieLen)
	}
	n := len(v.Entries())
	if n == MaxViewerEntries || n == 0 {
		t.Fatalf("byte cap evicted nothing or everything: %d entries", n)
	}
	// The survivors are the newest.
	for _, e := range v.Entries() {
		if e.Start < int64(MaxViewerEntries-n)<<58 {
			t.Fatalf("entry with start %d survived, older ones should go first", e.Start)
		}
	}
	var got Viewer
	if !s.DecodeViewer(&got, string(cookie)) || len(got.Entries()) != n {
		t.Fatalf("capped cookie does not decode: %d entries", len(got.Entries()))
	}
	t.Logf("worst-case cookie: %d entries in %d chars", n, len(cookie))
}

func TestDecodeViewerRejects(t *testing.T) {
	s := newTestSigner(t, time.Hour, testKey(1), testKey(2))
	var v Viewer
	v.Reset(42)
	v.Record(7, time.Hour, testNow)
	cookie := string(s.EncodeViewer(nil, &v))
	check := func(name, c string) {
		t.Helper()
		var got Viewer
		got.Reset(99)
		got.Record(1, time.Hour, testNow)
		if s.DecodeViewer(&got, c) {
			t.Fatalf("%s: accepted", name)
		}
		if got.ID != 0 || len(got.Entries()) != 0 {
			t.Fatalf("%s: viewer not reset: %+v", name, got)
		}
	}
	for i := range cookie {
		for bit := range 8 {
			f := []byte(cookie)
			f[i] ^= 1 << bit
			check("bit flip", string(f))
		}
	}
	for n := range len(cookie) {
		check("truncated", cookie[:n])
	}
	check("extended", cookie+"A")
	check("padded", cookie+"=")
	check("oversized", strings.Repeat("A", MaxViewerCookieLen+4))
	c := sampleClaims(KindClick)
	check("tracking token", string(s.Sign(nil, &c)))
	if _, err := s.Verify(cookie, KindClick, testNow); err != ErrBadToken {
		t.Fatalf("cookie accepted as a click token: %v", err)
	}
	other := newTestSigner(t, time.Hour, testKey(3))
	check("foreign key", string(other.EncodeViewer(nil, &v)))
	// Rotation: a cookie from the previous key still decodes.
	prev := newTestSigner(t, time.Hour, testKey(2))
	var got Viewer
	if !s.DecodeViewer(&got, string(prev.EncodeViewer(nil, &v))) || got.ID != 42 {
		t.Fatal("cookie signed with the previous key rejected")
	}
	raw, _ := base64.RawURLEncoding.DecodeString(cookie)
	check("std alphabet", base64.StdEncoding.EncodeToString(raw))
}

func TestViewerDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	s := newTestSigner(t, time.Hour)
	var v Viewer
	v.Reset(7)
	for i := range 10 {
		v.Record(int64(i+100), time.Hour, testNow)
	}
	buf := make([]byte, 0, MaxViewerCookieLen)
	cookie := string(s.EncodeViewer(nil, &v))
	var got Viewer
	if n := testing.AllocsPerRun(100, func() { buf = s.EncodeViewer(buf[:0], &v) }); n != 0 {
		t.Errorf("EncodeViewer: %v allocs/op", n)
	}
	if n := testing.AllocsPerRun(100, func() { s.DecodeViewer(&got, cookie) }); n != 0 {
		t.Errorf("DecodeViewer: %v allocs/op", n)
	}
}

// FuzzDecodeViewer checks that DecodeViewer never panics, leaves a reset viewer on failure, and
// accepts only what EncodeViewer produces.
func FuzzDecodeViewer(f *testing.F) {
	s := newTestSigner(f, time.Hour)
	var v Viewer
	v.Reset(12345)
	f.Add(string(s.EncodeViewer(nil, &v)))
	v.Record(3, time.Hour, testNow)
	v.Record(9, time.Minute, testNow.Add(time.Second))
	f.Add(string(s.EncodeViewer(nil, &v)))
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, cookie string) {
		var got Viewer
		if !s.DecodeViewer(&got, cookie) {
			if got.ID != 0 || len(got.Entries()) != 0 {
				t.Fatal("failed decode left state behind")
			}
			return
		}
		if len(got.Entries()) > MaxViewerEntries {
			t.Fatal("too many entries")
		}
		if again := string(s.EncodeViewer(nil, &got)); again != cookie {
			t.Fatalf("accepted %q but EncodeViewer gives %q", cookie, again)
		}
	})
}

func BenchmarkDecodeViewer(b *testing.B) {
	s := newTestSigner(b, time.Hour)
	var v Viewer
	v.Reset(7)
	for i := range 8 {
		v.Record(int64(i+100), time.Hour, testNow)
	}
	cookie := string(s.EncodeViewer(nil, &v))
	var got Viewer
	b.ReportAllocs()
	for b.Loop() {
		s.DecodeViewer(&got, cookie)
	}
}
