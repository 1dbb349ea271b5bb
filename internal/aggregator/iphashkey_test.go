package aggregator

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
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

// TestLoadSharedIPHashKey: with the cluster's key id set, a host's key must already be the
// cluster's: a missing file is an error and is not created, another key is refused, naming
// both ids and never the key; the cluster's key loads.
func TestLoadSharedIPHashKey(t *testing.T) {
	cluster := filepath.Join(t.TempDir(), "secrets")
	want, err := LoadIPHashKey(cluster)
	if err != nil {
		t.Fatal(err)
	}
	id := IPHashKeyID(want)
	if len(id) != 16 || id != IPHashKeyID(append([]byte(nil), want...)) {
		t.Fatalf("IPHashKeyID = %q", id)
	}

	host := filepath.Join(t.TempDir(), "data")
	if _, err := LoadSharedIPHashKey(host, id); err == nil || !strings.Contains(err.Error(), "is missing") {
		t.Fatalf("missing key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(host, IPHashKeyFile)); !os.IsNotExist(err) {
		t.Fatalf("a key was created for a cluster host: %v", err)
	}

	own, err := LoadIPHashKey(host) // the host started once without the cluster's key
	if err != nil {
		t.Fatal(err)
	}
	_, err = LoadSharedIPHashKey(host, id)
	if err == nil || !strings.Contains(err.Error(), IPHashKeyID(own)) || !strings.Contains(err.Error(), id) {
		t.Fatalf("another key: %v", err)
	}
	if strings.Contains(err.Error(), hex.EncodeToString(own)) || strings.Contains(err.Error(), hex.EncodeToString(want)) {
		t.Fatalf("the error shows a key: %v", err)
	}

	b, _ := os.ReadFile(filepath.Join(cluster, IPHashKeyFile))
	if err := os.WriteFile(filepath.Join(host, IPHashKeyFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadSharedIPHashKey(host, id); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the cluster's key: %v", err)
	}
	if got, err := LoadSharedIPHashKey(host, ""); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("no id: %v", err)
	}
}
