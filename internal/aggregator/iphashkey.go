package aggregator

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// LoadIPHashKey returns the key for Options.IPHashKey, which hashes client addresses in click
// and conversion rows. It is created once (32 random bytes, hex, mode 0600) as
// <dataDir>/ip-hash.key and must survive restarts: the same address must hash the same way in
// every audit. A file that is not a hex key of at least 16 bytes is an error, never replaced:
// a new key would silently break every comparison with older rows.
func LoadIPHashKey(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, "ip-hash.key")
	if b, err := os.ReadFile(path); err == nil {
		key, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(key) < 16 {
			return nil, fmt.Errorf("%s: not a hex key of at least 16 bytes; remove it to create a new one", path)
		}
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
