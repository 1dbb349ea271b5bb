package token

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"adnet/models"
)

// testKey returns a deterministic 32-byte key distinct per seed (tests need reproducible keys;
// production keys come from crypto/rand via GenerateKeyFile).
func testKey(seed byte) []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = seed*31 + byte(i)*7 + 1
	}
	return k
}

func writeFile(t *testing.T, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode is filtered by the umask; set it exactly.
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadKeysFormats(t *testing.T) {
	k1, k2 := testKey(1), testKey(2)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		content := "# comment\n\n  " + enc.EncodeToString(k1) + "  \n# previous:\n" + enc.EncodeToString(k2) + "\n"
		p := writeFile(t, "keys", content, 0o600)
		keys, err := LoadKeys(p)
		if err != nil {
			t.Fatalf("LoadKeys: %v", err)
		}
		if keys.Len() != 2 {
			t.Fatalf("Len = %d, want 2", keys.Len())
		}
		// The loaded keys must be the written ones, in order: the file signs what a signer
		// holding only k1 verifies, and verifies what a signer holding only k2 signs.
		assertSameKeys(t, keys, k1, k2)
	}
}

func TestLoadKeysRejectsBadContent(t *testing.T) {
	short := base64.StdEncoding.EncodeToString(make([]byte, 31))
	good := base64.StdEncoding.EncodeToString(testKey(1))
	secretish := "c2VjcmV0IHNlY3JldCBzZWNyZXQgc2VjcmV0IHNlY3JldA!!"
	for name, content := range map[string]string{
		"empty":       "",
		"only-com":    "# nothing\n",
		"short":       short + "\n",
		"not-base64":  secretish + "\n",
		"three-keys":  good + "\n" + good + "\n" + good + "\n",
		"short-prev":  good + "\n" + short + "\n",
		"binary-junk": "\x00\x01\x02\n",
	} {
		t.Run(name, func(t *testing.T) {
			p := writeFile(t, "keys", content, 0o600)
			_, err := LoadKeys(p)
			if err == nil {
				t.Fatal("LoadKeys accepted bad content")
			}
			if models.ErrorCode(err) != models.EINVALID {
				t.Errorf("code = %s, want invalid", models.ErrorCode(err))
			}
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not name the file", err)
			}
			if strings.Contains(err.Error(), secretish) || strings.Contains(err.Error(), good) {
				t.Errorf("error %q echoes key material", err)
			}
		})
	}
}

func TestLoadKeysPermissions(t *testing.T) {
	content := base64.StdEncoding.EncodeToString(testKey(1)) + "\n"
	for _, tc := range []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o600, true}, {0o400, true}, {0o700, true},
		{0o644, false}, {0o640, false}, {0o604, false}, {0o660, false}, {0o602, false},
	} {
		p := writeFile(t, "keys", content, tc.mode)
		_, err := LoadKeys(p)
		if tc.ok && err != nil {
			t.Errorf("mode %04o: %v", tc.mode, err)
		}
		if !tc.ok {
			if err == nil {
				t.Errorf("mode %04o accepted", tc.mode)
				continue
			}
			if fix := "chmod 600 " + p; !strings.Contains(err.Error(), fix) {
				t.Errorf("mode %04o: error %q does not give the fix %q", tc.mode, err, fix)
			}
		}
	}
}

func TestLoadKeysOwner(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("changing a file's owner needs root")
	}
	p := writeFile(t, "keys", base64.StdEncoding.EncodeToString(testKey(1))+"\n", 0o600)
	if err := os.Chown(p, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := LoadKeys(p)
	if err == nil {
		t.Fatal("key file owned by another user accepted")
	}
	if !strings.Contains(err.Error(), "chown") || !strings.Contains(err.Error(), p) {
		t.Errorf("error %q does not name the file and the fix", err)
	}
}

func TestLoadKeysNotRegular(t *testing.T) {
	d := t.TempDir()
	if err := os.Chmod(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeys(d); err == nil {
		t.Fatal("directory accepted as key file")
	}
	if _, err := LoadKeys(filepath.Join(d, "missing")); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestGenerateKeyFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "keys")
	if err := GenerateKeyFile(p); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o, want 0600", fi.Mode().Perm())
	}
	k, err := LoadKeys(p)
	if err != nil {
		t.Fatal(err)
	}
	if k.Len() != 1 {
		t.Fatalf("Len = %d", k.Len())
	}
	before, _ := os.ReadFile(p)
	if err := GenerateKeyFile(p); models.ErrorCode(err) != models.ECONFLICT {
		t.Fatalf("overwrite: err = %v, want conflict", err)
	}
	after, _ := os.ReadFile(p)
	if !bytes.Equal(before, after) {
		t.Fatal("existing key file was modified")
	}
	// Two generated files must hold different keys.
	p2 := filepath.Join(t.TempDir(), "keys")
	if err := GenerateKeyFile(p2); err != nil {
		t.Fatal(err)
	}
	k2, _ := LoadKeys(p2)
	s1, _ := NewSigner(k, Options{})
	s2, _ := NewSigner(k2, Options{})
	c := Claims{Kind: KindClick, IssuedMs: time.Now().UnixMilli()}
	if _, err := s2.Verify(string(s1.Sign(nil, &c)), KindClick, time.Now()); err != ErrBadToken {
		t.Fatal("two generated key files hold the same key")
	}
}

func TestRotateKeyFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "keys")
	if err := GenerateKeyFile(p); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	signer := func() *Signer {
		k, err := LoadKeys(p)
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewSigner(k, Options{TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	c := Claims{Kind: KindClick, ZoneID: 1, CampaignID: 2, CreativeID: 3, IssuedMs: now.UnixMilli()}
	tok := string(signer().Sign(nil, &c))
	if err := RotateKeyFile(p); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("rotated file mode %04o", fi.Mode().Perm())
	}
	s := signer()
	if s.keys.Len() != 2 {
		t.Fatalf("after rotation Len = %d, want 2", s.keys.Len())
	}
	if _, err := s.Verify(tok, KindClick, now); err != nil {
		t.Fatalf("token from before rotation: %v", err)
	}
	if err := RotateKeyFile(p); err != nil {
		t.Fatal(err)
	}
	if _, err := signer().Verify(tok, KindClick, now); err != ErrBadToken {
		t.Fatalf("token two rotations old: err = %v, want bad", err)
	}
}

func TestKeysRedacted(t *testing.T) {
	raw := testKey(9)
	keys, err := NewKeys(raw, testKey(10))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(keys, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Every representation of key material that fmt could produce.
	var forbidden []string
	for _, k := range [][]byte{raw, testKey(10)} {
		forbidden = append(forbidden, hex.EncodeToString(k[:8]), base64.StdEncoding.EncodeToString(k)[:12],
			strings.Trim(fmt.Sprint(k[:6]), "[]"), string(k[:8]))
	}
	// Warm the pool so that HMAC states holding the keys exist while printing.
	c := Claims{Kind: KindClick}
	s.Sign(nil, &c)
	type holder struct {
		k  Keys
		pk *Keys
		s  Signer
		ps *Signer
	}
	h := holder{*keys, keys, *s, s}
	values := []any{*keys, keys, *s, s, h, &h, []any{keys, s}}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		for i, v := range values {
			out := fmt.Sprintf(verb, v)
			for _, f := range forbidden {
				if strings.Contains(out, f) {
					t.Fatalf("value %d with %s leaks key material: %q", i, verb, out)
				}
			}
			if i < 4 && !strings.Contains(out, "[redacted]") {
				t.Errorf("value %d with %s = %q, want [redacted]", i, verb, out)
			}
		}
	}
}

// assertSameKeys checks that keys holds exactly current and previous, in that order.
func assertSameKeys(t *testing.T, keys *Keys, current, previous []byte) {
	t.Helper()
	s, err := NewSigner(keys, Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	c := Claims{Kind: KindClick, ZoneID: 9, IssuedMs: now.UnixMilli()}
	if _, err := newTestSigner(t, time.Hour, current).Verify(string(s.Sign(nil, &c)), KindClick, now); err != nil {
		t.Fatalf("file's first key is not the current key: %v", err)
	}
	if _, err := s.Verify(string(newTestSigner(t, time.Hour, previous).Sign(nil, &c)), KindClick, now); err != nil {
		t.Fatalf("file's second key is not the previous key: %v", err)
	}
}
