package token

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"adnet/models"
)

// MinKeyBytes is the minimum length of a signing key. HMAC-SHA256 keys shorter than the hash
// output weaken it; 32 random bytes is the usual floor.
const MinKeyBytes = 32

// maxKeyBytes bounds a key line so that a corrupt file cannot make us hash megabytes.
const maxKeyBytes = 1024

// redacted is what every fmt verb prints for key material.
const redacted = "[redacted]"

// Keys is the signing key set: the current key signs, the current and the optional previous
// key verify, so that keys can be rotated without invalidating tokens issued just before.
//
// Key material is reachable only from a closure (the pool's constructor) and from HMAC states
// inside a sync.Pool, neither of which fmt can print: fmt walks unexported struct fields by
// reflection without calling their Format methods, and re-prints a pointer with %v from depth 0
// when the verb does not suit it, so plain fields would leak. Printed directly, Keys prints
// "[redacted]".
type Keys struct {
	set *keySet
}

// keySet holds the key ids (ids[0] is the current key) and a pool of HMAC states.
type keySet struct {
	ids  []byte
	pool sync.Pool // of *macState
}

// macState is one goroutine's scratch: an HMAC per key (crypto/hmac keeps the keyed inner and
// outer hash states, so Reset costs no compression) and buffers for the message and the sum.
// Pooling it keeps signing and verifying free of allocations.
type macState struct {
	hs  [maxKeys]hash.Hash
	buf [macBufLen]byte
	sum [sha256.Size]byte
}

const (
	maxKeys   = 2
	macBufLen = maxViewerRaw // the longest message: a viewer cookie (tokens are shorter)
)

// mac returns HMAC-SHA256 of msg under key i. msg must not alias st.sum.
func (st *macState) mac(i int, msg []byte) []byte {
	h := st.hs[i]
	h.Reset()
	h.Write(msg)
	return h.Sum(st.sum[:0])
}

func (ks *keySet) get() *macState   { return ks.pool.Get().(*macState) }
func (ks *keySet) put(st *macState) { ks.pool.Put(st) }

// NewKeys returns a key set from raw keys, current first, then optionally the previous one.
// Each key must be at least MinKeyBytes long. The keys are copied.
func NewKeys(current []byte, previous ...[]byte) (*Keys, error) {
	if len(previous) > maxKeys-1 {
		return nil, models.Errorf(models.EINVALID, "at most two signing keys (current and previous)")
	}
	var raw [][]byte
	set := &keySet{}
	for i, k := range append([][]byte{current}, previous...) {
		if len(k) < MinKeyBytes || len(k) > maxKeyBytes {
			return nil, models.Errorf(models.EINVALID, "signing key %d: must be %d to %d bytes", i+1, MinKeyBytes, maxKeyBytes)
		}
		raw = append(raw, bytes.Clone(k))
		set.ids = append(set.ids, keyID(k))
	}
	set.pool.New = func() any {
		st := &macState{}
		for i, k := range raw {
			st.hs[i] = hmac.New(sha256.New, k)
		}
		return st
	}
	return &Keys{set: set}, nil
}

// keyID derives a one-byte id from the key itself, not from its position, so that a token
// signed with today's current key still names the right key after it becomes the previous one.
// Two keys may share an id (1 in 256); verification then simply tries both.
func keyID(k []byte) byte {
	id := sha256.Sum256(append([]byte("adnet key id\x00"), k...))
	return id[0]
}

// Len returns the number of keys in the set: 1, or 2 during a rotation.
func (k *Keys) Len() int { return len(k.set.ids) }

// String implements fmt.Stringer without revealing key material.
func (k Keys) String() string { return redacted }

// GoString implements fmt.GoStringer without revealing key material.
func (k Keys) GoString() string { return redacted }

// Format implements fmt.Formatter so that every verb (%x and %q included) prints "[redacted]".
func (k Keys) Format(f fmt.State, verb rune) { io.WriteString(f, redacted) }

// LoadKeys reads a key file: one base64 key per line (standard or URL alphabet, padded or not),
// the current key first and an optional previous key second; blank lines and lines starting
// with # are ignored. The file must be owned by the current user and not readable or writable
// by anyone else (mode 0600 or stricter): a leaked key lets anyone forge billable clicks.
// Error messages name the file and the fix but never contain key material.
func LoadKeys(path string) (*Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("signing key file: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so that the checked file is the one we read.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("signing key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, models.Errorf(models.EINVALID, "signing key file %s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, models.Errorf(models.EINVALID,
			"signing key file %s has mode %04o, readable or writable by other users; run: chmod 600 %s", path, perm, path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return nil, models.Errorf(models.EINVALID,
			"signing key file %s is owned by uid %d, not by the current user (uid %d); run: chown %d %s && chmod 600 %s",
			path, st.Uid, os.Getuid(), os.Getuid(), path, path)
	}
	raw, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("signing key file: %w", err)
	}
	defer clear(raw)
	keys, err := parseKeys(raw)
	if err != nil {
		return nil, models.Errorf(models.EINVALID, "signing key file %s: %s", path, models.ErrorMessage(err))
	}
	return keys, nil
}

// parseKeys parses the key file format described at LoadKeys.
func parseKeys(raw []byte) (*Keys, error) {
	var keys [][]byte
	sc := bufio.NewScanner(bytes.NewReader(raw))
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		k, ok := decodeAnyBase64(s)
		if !ok {
			// Never echo the line: it may be a key with a typo.
			return nil, models.Errorf(models.EINVALID, "line %d: not base64", line)
		}
		if len(k) < MinKeyBytes {
			return nil, models.Errorf(models.EINVALID, "line %d: key is %d bytes, need at least %d random bytes", line, len(k), MinKeyBytes)
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, models.Errorf(models.EINVALID, "line %d: %v", line+1, err)
	}
	switch len(keys) {
	case 0:
		return nil, models.Errorf(models.EINVALID, "no key found")
	case 1:
		return NewKeys(keys[0])
	case 2:
		return NewKeys(keys[0], keys[1])
	}
	return nil, models.Errorf(models.EINVALID, "%d keys found, at most 2 (current, previous)", len(keys))
}

func decodeAnyBase64(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}

// GenerateKeyFile writes a new key file with one fresh 32-byte random key, mode 0600. It refuses
// to overwrite an existing file: replacing a key invalidates every token in circulation, which
// is what RotateKeyFile avoids.
func GenerateKeyFile(path string) error {
	key, err := randomKey()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if os.IsExist(err) {
		return models.Errorf(models.ECONFLICT, "signing key file %s already exists; not overwriting it", path)
	} else if err != nil {
		return fmt.Errorf("signing key file: %w", err)
	}
	if _, err := f.WriteString(keyFileText(key, "")); err != nil {
		f.Close()
		return fmt.Errorf("signing key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("signing key file: %w", err)
	}
	return f.Close()
}

// RotateKeyFile replaces the key file with a fresh current key and the old current key as the
// previous one, atomically (write a temporary file, then rename). Tokens signed before the
// rotation keep verifying until the next rotation drops that key; rotate at most once per
// token TTL so that no valid token loses its key.
func RotateKeyFile(path string) error {
	// Validate the file (permissions, format) before trusting its first line.
	if _, err := LoadKeys(path); err != nil {
		return err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("signing key file: %w", err)
	}
	defer clear(raw)
	cur, err := firstKeyLine(raw)
	if err != nil {
		return err
	}
	key, err := randomKey()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".adnet-keys-*")
	if err != nil {
		return fmt.Errorf("signing key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("signing key file: %w", err)
	}
	if _, err := tmp.WriteString(keyFileText(key, cur)); err != nil {
		tmp.Close()
		return fmt.Errorf("signing key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("signing key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("signing key file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("signing key file: %w", err)
	}
	return nil
}

func firstKeyLine(raw []byte) (string, error) {
	for _, l := range strings.Split(string(raw), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && l[0] != '#' {
			return l, nil
		}
	}
	return "", models.Errorf(models.EINVALID, "signing key file: no key found")
}

func randomKey() ([]byte, error) {
	key := make([]byte, MinKeyBytes)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return key, nil
}

func keyFileText(current []byte, previous string) string {
	var b strings.Builder
	b.WriteString("# adnet signing keys: first line = current key, second = previous key (rotation).\n")
	b.WriteString("# Keep this file secret (mode 0600): anyone holding it can forge billable clicks.\n")
	b.WriteString(base64.StdEncoding.EncodeToString(current))
	b.WriteByte('\n')
	if previous != "" {
		b.WriteString(previous)
		b.WriteByte('\n')
	}
	return b.String()
}

// A token must fit the MAC state's buffer.
var _ [macBufLen - maxTokenRaw]struct{}
