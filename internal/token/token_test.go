package token

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"adnet/models"
)

var testNow = time.Unix(1_750_000_000, 0)

func newTestSigner(t testing.TB, ttl time.Duration, keys ...[]byte) *Signer {
	t.Helper()
	if len(keys) == 0 {
		keys = [][]byte{testKey(1)}
	}
	k, err := NewKeys(keys[0], keys[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(k, Options{TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sampleClaims(kind Kind) Claims {
	c := Claims{Kind: kind, ZoneID: 1234, CampaignID: 56789, CreativeID: 4242, PriceMicros: 2_500_000, IssuedMs: testNow.UnixMilli(),
		Network: 0xdeadbeef, UAFamily: 0x21, Integration: IntegrationScript}
	for i := range c.ImpressionID {
		c.ImpressionID[i] = byte(i*37 + 11)
	}
	return c
}

func TestSignVerifyRoundTrip(t *testing.T) {
	s := newTestSigner(t, time.Hour)
	cases := []Claims{
		sampleClaims(KindImpression),
		sampleClaims(KindClick),
		{Kind: KindClick, ZoneID: math.MaxInt64, CampaignID: 1, CreativeID: math.MaxInt64, PriceMicros: math.MaxInt64, IssuedMs: testNow.UnixMilli()},
		{Kind: KindImpression, IssuedMs: testNow.UnixMilli()}, // all-zero ids
	}
	for _, c := range cases {
		tok := s.Sign(nil, &c)
		if len(tok) > MaxTokenLen {
			t.Fatalf("token length %d > MaxTokenLen %d", len(tok), MaxTokenLen)
		}
		if strings.ContainsAny(string(tok), "=+/") {
			t.Fatalf("token %q is not unpadded base64url", tok)
		}
		got, err := s.Verify(string(tok), c.Kind, testNow)
		if err != nil {
			t.Fatalf("Verify(%q): %v", tok, err)
		}
		want := c
		want.KeyID = s.keys.set.ids[0]
		if got != want {
			t.Fatalf("round trip: got %+v, want %+v", got, want)
		}
	}
	// Sign appends: existing content of dst is kept.
	c := sampleClaims(KindClick)
	out := s.Sign([]byte("/c?t="), &c)
	if !strings.HasPrefix(string(out), "/c?t=") {
		t.Fatalf("Sign did not append: %q", out)
	}
	if _, err := s.Verify(string(out[5:]), KindClick, testNow); err != nil {
		t.Fatal(err)
	}
	t.Logf("click token: %d chars", len(out)-5)
}

func TestVerifyKindIsBound(t *testing.T) {
	s := newTestSigner(t, time.Hour)
	c := sampleClaims(KindImpression)
	tok := string(s.Sign(nil, &c))
	if _, err := s.Verify(tok, KindClick, testNow); err != ErrBadToken {
		t.Fatalf("impression token verified as click: err = %v", err)
	}
	if _, err := s.Verify(tok, Kind(0x11), testNow); err != ErrBadToken {
		t.Fatalf("unknown kind: err = %v", err)
	}
}

func TestEveryBitFlipIsBad(t *testing.T) {
	s := newTestSigner(t, time.Hour)
	for _, kind := range []Kind{KindImpression, KindClick} {
		c := sampleClaims(kind)
		tok := s.Sign(nil, &c)
		// Flips of the text as sent in the URL.
		for i := range tok {
			for bit := range 8 {
				f := []byte(string(tok))
				f[i] ^= 1 << bit
				if got, err := s.Verify(string(f), kind, testNow); err != ErrBadToken || got != (Claims{}) {
					t.Fatalf("text flip byte %d bit %d: err = %v claims = %+v", i, bit, err, got)
				}
			}
		}
		// Flips of the binary record, re-encoded properly.
		raw, err := base64.RawURLEncoding.DecodeString(string(tok))
		if err != nil {
			t.Fatal(err)
		}
		for i := range raw {
			for bit := range 8 {
				f := append([]byte(nil), raw...)
				f[i] ^= 1 << bit
				if _, err := s.Verify(base64.RawURLEncoding.EncodeToString(f), kind, testNow); err != ErrBadToken {
					t.Fatalf("raw flip byte %d bit %d: err = %v", i, bit, err)
				}
			}
		}
	}
}

func TestTruncationsExtensionsGarbage(t *testing.T) {
	s := newTestSigner(t, time.Hour)
	c := sampleClaims(KindClick)
	tok := string(s.Sign(nil, &c))
	for n := range len(tok) {
		if _, err := s.Verify(tok[:n], KindClick, testNow); err != ErrBadToken {
			t.Fatalf("truncated to %d: err = %v", n, err)
		}
		if _, err := s.Verify(tok[n+1:], KindClick, testNow); err != ErrBadToken {
			t.Fatalf("first %d chars cut: err = %v", n+1, err)
		}
	}
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ .%\x00"
	for i := range alphabet {
		for _, ext := range []string{alphabet[i : i+1], "AA", "AAA", "AAAA", "=="} {
			if _, err := s.Verify(tok+ext, KindClick, testNow); err != ErrBadToken {
				t.Fatalf("extended with %q: err = %v", ext, err)
			}
		}
	}
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	for _, g := range []string{
		"", "A", "====", "!!!!", strings.Repeat("A", MaxTokenLen), strings.Repeat("A", MaxTokenLen+1),
		strings.Repeat("_", 10000), base64.StdEncoding.EncodeToString(raw), base64.URLEncoding.EncodeToString(raw),
		base64.RawURLEncoding.EncodeToString(append(raw, 0)), base64.RawURLEncoding.EncodeToString(raw[:len(raw)-1]),
		strings.ToUpper(tok), strings.ToLower(tok),
	} {
		if g == tok {
			continue // padded encodings of a body whose length is a multiple of 3 add nothing
		}
		if _, err := s.Verify(g, KindClick, testNow); err != ErrBadToken {
			t.Fatalf("garbage %.40q: err = %v", g, err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 120)
	for range 20000 {
		n := rng.IntN(len(buf))
		for i := range n {
			buf[i] = byte(rng.Uint32())
		}
		if _, err := s.Verify(string(buf[:n]), KindClick, testNow); err != ErrBadToken {
			t.Fatalf("random bytes %q accepted", buf[:n])
		}
	}
}

// TestExpiryBoundary pins the rule: valid while now − issued ≤ TTL (whole seconds).
func TestExpiryBoundary(t *testing.T) {
	const ttl = time.Hour
	s := newTestSigner(t, ttl)
	c := sampleClaims(KindClick)
	tok := string(s.Sign(nil, &c))
	issued := time.UnixMilli(c.IssuedMs)
	for _, tc := range []struct {
		now  time.Time
		want error
	}{
		{issued, nil},
		{issued.Add(ttl - time.Second), nil},
		{issued.Add(ttl), nil},                           // exactly TTL old: valid
		{issued.Add(ttl + 999*time.Millisecond), nil},    // still TTL whole seconds old
		{issued.Add(ttl + time.Second), ErrExpiredToken}, // one second more: expired
		{issued.Add(30 * 24 * time.Hour), ErrExpiredToken},
		{issued.Add(-DefaultMaxSkew), nil}, // issued in the future within the skew
		{issued.Add(-DefaultMaxSkew - time.Second), ErrBadToken},
	} {
		got, err := s.Verify(tok, KindClick, tc.now)
		if err != tc.want {
			t.Errorf("now = issued%+v: err = %v, want %v", tc.now.Sub(issued), err, tc.want)
		}
		if err == ErrExpiredToken && (got.ZoneID != c.ZoneID || got.CreativeID != c.CreativeID || got.ImpressionID != c.ImpressionID) {
			t.Errorf("expired token: claims %+v not returned", got)
		}
		if err == ErrBadToken && got != (Claims{}) {
			t.Errorf("bad token returned claims %+v", got)
		}
	}
}

func TestRotation(t *testing.T) {
	oldKey, newKey, otherKey := testKey(1), testKey(2), testKey(3)
	before := newTestSigner(t, time.Hour, oldKey)
	c := sampleClaims(KindClick)
	tok := string(before.Sign(nil, &c))

	during := newTestSigner(t, time.Hour, newKey, oldKey)
	got, err := during.Verify(tok, KindClick, testNow)
	if err != nil {
		t.Fatalf("token signed with the previous key: %v", err)
	}
	if got.KeyID != before.keys.set.ids[0] {
		t.Fatalf("KeyID = %d, want the previous key's id", got.KeyID)
	}
	fresh := string(during.Sign(nil, &c))
	if _, err := before.Verify(fresh, KindClick, testNow); err != ErrBadToken {
		t.Fatalf("new-key token verified by a signer without the new key: %v", err)
	}
	after := newTestSigner(t, time.Hour, newKey)
	if _, err := after.Verify(tok, KindClick, testNow); err != ErrBadToken {
		t.Fatalf("previous key dropped: err = %v, want bad", err)
	}
	if _, err := after.Verify(fresh, KindClick, testNow); err != nil {
		t.Fatalf("current-key token after dropping previous: %v", err)
	}
	stranger := newTestSigner(t, time.Hour, otherKey)
	if _, err := stranger.Verify(tok, KindClick, testNow); err != ErrBadToken {
		t.Fatalf("token from an unknown key: err = %v", err)
	}
}

func TestReason(t *testing.T) {
	if r := Reason(nil); r != models.ReasonValid {
		t.Errorf("nil → %v", r)
	}
	if r := Reason(ErrExpiredToken); r != models.ReasonExpiredToken {
		t.Errorf("expired → %v", r)
	}
	if r := Reason(ErrBadToken); r != models.ReasonBadToken {
		t.Errorf("bad → %v", r)
	}
}

func TestNewSignerOptions(t *testing.T) {
	k, _ := NewKeys(testKey(1))
	if _, err := NewSigner(nil, Options{}); err == nil {
		t.Error("nil keys accepted")
	}
	if _, err := NewSigner(k, Options{TTL: -time.Second}); err == nil {
		t.Error("negative ttl accepted")
	}
	if _, err := NewSigner(k, Options{TTL: time.Millisecond}); err == nil {
		t.Error("sub-second ttl accepted")
	}
	s, err := NewSigner(k, Options{})
	if err != nil || s.TTL() != DefaultTTL {
		t.Errorf("defaults: ttl %v err %v", s.TTL(), err)
	}
	if _, err := NewKeys(make([]byte, 31)); err == nil {
		t.Error("31-byte key accepted")
	}
}

func TestSignVerifyDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	s := newTestSigner(t, time.Hour, testKey(1), testKey(2))
	c := sampleClaims(KindClick)
	buf := make([]byte, 0, MaxTokenLen)
	tok := string(s.Sign(nil, &c))
	if n := testing.AllocsPerRun(200, func() { buf = s.Sign(buf[:0], &c) }); n != 0 {
		t.Errorf("Sign: %v allocs/op", n)
	}
	if n := testing.AllocsPerRun(200, func() { _, _ = s.Verify(tok, KindClick, testNow) }); n != 0 {
		t.Errorf("Verify: %v allocs/op", n)
	}
	bad := tok[:len(tok)-1] + "A"
	if n := testing.AllocsPerRun(200, func() { _, _ = s.Verify(bad, KindClick, testNow) }); n != 0 {
		t.Errorf("Verify (bad): %v allocs/op", n)
	}
}

// FuzzVerify checks that Verify never panics and accepts only what Sign produces: any input it
// accepts must be byte-for-byte the token Sign makes from the returned claims.
func FuzzVerify(f *testing.F) {
	s := newTestSigner(f, time.Hour, testKey(1), testKey(2))
	prev := newTestSigner(f, time.Hour, testKey(2))
	for _, kind := range []Kind{KindImpression, KindClick} {
		c := sampleClaims(kind)
		f.Add(string(s.Sign(nil, &c)), uint8(kind))
		f.Add(string(prev.Sign(nil, &c)), uint8(kind))
	}
	f.Add("", uint8(1))
	f.Add("AAAA", uint8(2))
	f.Fuzz(func(t *testing.T, tok string, k uint8) {
		kind := Kind(k)
		c, err := s.Verify(tok, kind, testNow)
		if err == ErrBadToken {
			if c != (Claims{}) {
				t.Fatalf("bad token returned claims")
			}
			return
		}
		if err != nil && err != ErrExpiredToken {
			t.Fatalf("unexpected error %v", err)
		}
		signer := s
		if c.KeyID != s.keys.set.ids[0] {
			signer = prev
		}
		if again := string(signer.Sign(nil, &c)); again != tok {
			t.Fatalf("accepted %q but Sign gives %q", tok, again)
		}
	})
}

func BenchmarkSign(b *testing.B) {
	s := newTestSigner(b, time.Hour)
	c := sampleClaims(KindClick)
	buf := make([]byte, 0, MaxTokenLen)
	b.ReportAllocs()
	for b.Loop() {
		buf = s.Sign(buf[:0], &c)
	}
}

func BenchmarkVerify(b *testing.B) {
	s := newTestSigner(b, time.Hour)
	c := sampleClaims(KindClick)
	tok := string(s.Sign(nil, &c))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verify(tok, KindClick, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

// signV1 signs c in the version-1 format (issue time in whole seconds, no terms), as adnet
// did before version 3.
func signV1(s *Signer, c *Claims) string {
	set := s.keys.set
	st := set.get()
	defer set.put(st)
	b := []byte{tokenVersionV1<<4 | byte(c.Kind), set.ids[0]}
	b = append(b, c.ImpressionID[:]...)
	for _, v := range []int64{c.ZoneID, c.CampaignID, c.CreativeID, c.PriceMicros, c.IssuedMs / 1000} {
		b = binary.AppendUvarint(b, uint64(v))
	}
	b = append(b, st.mac(0, b)[:macLen]...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestTokenCarriesMillisecondsAndTerms: a token carries its issue time to the millisecond and
// the terms of the sale; version-1 tokens, signed before, still verify during the rollover,
// with their whole seconds and unknown terms, and expire on the same rule.
func TestTokenCarriesMillisecondsAndTerms(t *testing.T) {
	s := newTestSigner(t, time.Hour)
	issued := testNow.Add(987 * time.Millisecond)
	c := Claims{Kind: KindClick, ImpressionID: models.ImpressionID{9}, ZoneID: 5, CampaignID: 6, CreativeID: 7,
		PriceMicros: 1_500_000, IssuedMs: issued.UnixMilli(), Pricing: models.PricingCPA, ShareBP: 6500}
	got, err := s.Verify(string(s.Sign(nil, &c)), KindClick, issued)
	c.KeyID = got.KeyID
	if err != nil || got != c {
		t.Fatalf("version 3: %+v, %v; want %+v", got, err, c)
	}
	old := signV1(s, &c)
	got, err = s.Verify(old, KindClick, issued)
	want := c
	want.IssuedMs, want.Pricing, want.ShareBP = testNow.UnixMilli(), "", 0
	if err != nil || got != want {
		t.Fatalf("version 1: %+v, %v; want %+v", got, err, want)
	}
	if _, err := s.Verify(old, KindImpression, issued); err != ErrBadToken {
		t.Errorf("version 1 click token as an impression token: %v", err)
	}
	if _, err := s.Verify(old, KindClick, testNow.Add(time.Hour+time.Second)); err != ErrExpiredToken {
		t.Errorf("version 1 token after its TTL: %v, want expired", err)
	}
	for _, bad := range []Claims{{Kind: KindClick, ShareBP: 10001}} {
		b := bad
		if _, err := s.Verify(string(s.Sign(nil, &b)), KindClick, testNow); err != ErrBadToken {
			t.Errorf("%+v: %v, want bad token", bad, err)
		}
	}
}

// signV3 signs c in the version-3 format (terms, milliseconds, no binding), as adnet did
// before version 4.
func signV3(s *Signer, c *Claims) string {
	set := s.keys.set
	st := set.get()
	defer set.put(st)
	b := []byte{tokenVersionV3<<4 | byte(c.Kind), set.ids[0]}
	b = append(b, c.ImpressionID[:]...)
	for _, v := range []int64{c.ZoneID, c.CampaignID, c.CreativeID, c.PriceMicros, c.IssuedMs, int64(c.Pricing.PricingCode()), int64(c.ShareBP)} {
		b = binary.AppendUvarint(b, uint64(v))
	}
	b = append(b, st.mac(0, b)[:macLen]...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestTokenCarriesTheServesBinding: a version-4 token carries the serve's network
// fingerprint, User-Agent family and integration; a version-3 token (in flight during the
// upgrade) still verifies with all three zero, which tells the worker to skip the checks
// that need them; out-of-range values are not a token Sign makes.
func TestTokenCarriesTheServesBinding(t *testing.T) {
	s := newTestSigner(t, time.Hour)
	for _, integ := range []Integration{IntegrationUnknown, IntegrationScript, IntegrationFrame, IntegrationJSON} {
		c := Claims{Kind: KindImpression, ImpressionID: models.ImpressionID{7}, ZoneID: 5, CampaignID: 6, CreativeID: 7,
			IssuedMs: testNow.UnixMilli(), Pricing: models.PricingCPM, ShareBP: 7000,
			Network: math.MaxUint32, UAFamily: 0xff, Integration: integ}
		got, err := s.Verify(string(s.Sign(nil, &c)), KindImpression, testNow)
		c.KeyID = got.KeyID
		if err != nil || got != c {
			t.Fatalf("version 4: %+v, %v; want %+v", got, err, c)
		}
		if got.Integration.Tag() != (integ == IntegrationScript || integ == IntegrationFrame) {
			t.Errorf("%d.Tag() = %v", integ, got.Integration.Tag())
		}
		old := signV3(s, &c)
		got, err = s.Verify(old, KindImpression, testNow)
		want := c
		want.Network, want.UAFamily, want.Integration = 0, 0, IntegrationUnknown
		if err != nil || got != want {
			t.Fatalf("version 3: %+v, %v; want %+v", got, err, want)
		}
		if _, err := s.Verify(old, KindClick, testNow); err != ErrBadToken {
			t.Errorf("version 3 impression token as a click token: %v", err)
		}
	}
	// A version-4 body with out-of-range binding values, correctly signed, is still bad.
	for _, vals := range [][3]uint64{{math.MaxUint32 + 1, 1, 1}, {1, 256, 1}, {1, 1, uint64(maxIntegration) + 1}} {
		set := s.keys.set
		st := set.get()
		b := []byte{tokenVersion<<4 | byte(KindClick), set.ids[0]}
		b = append(b, make([]byte, 16)...)
		for _, v := range []uint64{1, 2, 3, 4, uint64(testNow.UnixMilli()), 1, 5000, vals[0], vals[1], vals[2]} {
			b = binary.AppendUvarint(b, v)
		}
		b = append(b, st.mac(0, b)[:macLen]...)
		set.put(st)
		if _, err := s.Verify(base64.RawURLEncoding.EncodeToString(b), KindClick, testNow); err != ErrBadToken {
			t.Errorf("binding %v: %v, want bad token", vals, err)
		}
	}
}
