package aggregator

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// IPHashKeyFile is the name of the IP hash key in data_dir.
const IPHashKeyFile = "ip-hash.key"

// LoadIPHashKey returns the key for Options.IPHashKey, which hashes client addresses in click
// and conversion rows. It is created once (32 random bytes, hex, mode 0600) as
// <dataDir>/ip-hash.key and must survive restarts: the same address must hash the same way in
// every audit. A file that is not a hex key of at least 16 bytes is an error, never replaced:
// a new key would silently break every comparison with older rows.
func LoadIPHashKey(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, IPHashKeyFile)
	if key, err := readIPHashKey(path); err == nil {
		return key, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return LoadIPHashKey(dataDir) // another process created it first
	} else if err != nil {
		return nil, err
	}
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	return key, f.Close()
}

// LoadSharedIPHashKey is LoadIPHashKey for a host of a cluster, whose key is the cluster's
// (`adnet cluster-conf` writes it, and its id as stats.ip_hash_key_id): with wantID set, the
// key file must already exist and have that id (IPHashKeyID). It is never created then: a
// host that made a key of its own would hash addresses unlike the others, and every audit
// that compares click rows across leaders would silently be wrong. With wantID empty it is
// LoadIPHashKey. The errors name the file and the fix, never the key.
func LoadSharedIPHashKey(dataDir, wantID string) ([]byte, error) {
	if wantID == "" {
		return LoadIPHashKey(dataDir)
	}
	path := filepath.Join(dataDir, IPHashKeyFile)
	key, err := readIPHashKey(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s is missing and stats.ip_hash_key_id = %q is set: copy the cluster's ip-hash.key "+
			"(DIR/secrets/ip-hash.key of `adnet cluster-conf`) there, mode 0600; a key of this host's own would hash addresses unlike the other hosts", path, wantID)
	} else if err != nil {
		return nil, err
	}
	if id := IPHashKeyID(key); id != wantID {
		return nil, fmt.Errorf("%s has key id %s, but stats.ip_hash_key_id = %q (the cluster's key): this host's key differs from the cluster's; "+
			"replace it with the cluster's ip-hash.key (DIR/secrets/ip-hash.key of `adnet cluster-conf`), mode 0600", path, id, wantID)
	}
	return key, nil
}

// IPHashKeyID returns an identifier of an IP hash key that can be shown and compared across
// hosts without revealing the key: the first 8 bytes, in hex, of HMAC-SHA256 keyed with it
// over a fixed label.
func IPHashKeyID(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("adnet ip-hash.key id"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// readIPHashKey reads and checks an existing key file; a missing file is os.ErrNotExist.
func readIPHashKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	clear(b)
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("%s: not a hex key of at least 16 bytes; remove it to create a new one", path)
	}
	return key, nil
}
