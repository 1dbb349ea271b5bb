package aggregator

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestLoadIPHashKey: the key is created once, private, and read back the same; a damaged
// file is refused rather than replaced.
func TestLoadIPHashKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	k1, err := LoadIPHashKey(dir)
	if err != nil || len(k1) != 32 {
		t.Fatalf("first load: %x, %v", k1, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "ip-hash.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	if k2, err := LoadIPHashKey(dir); err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second load: %x, %v; want %x", k2, err, k1)
	}
	if err := os.WriteFile(filepath.Join(dir, "ip-hash.key"), []byte("abcd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIPHashKey(dir); err == nil {
		t.Fatal("a short key was accepted")
	}
}
