// Package token signs and verifies adnet's tracking tokens (the impression beacon and click
// URLs) and the first-party viewer cookie used for frequency capping.
//
// A tracking token binds everything a tracking event bills for — kind, impression id, zone,
// campaign, creative, price and issue time — so that an event whose token does not verify is
// never counted, and an old one is counted as expired (still redirected, never billed). Tokens
// are a compact binary record (varints), followed by an HMAC-SHA256 truncated to 128 bits,
// encoded as unpadded base64url. Version 4 (tag nibble 3, signed since issue 13's
// token_mismatch and automation rules):
//
//	tag(1) keyid(1) impression-id(16) zone campaign creative price issued-ms pricing share
//	network ua-family integration (uvarints) mac(16)
//
// It carries the issue time in milliseconds (fast_click measures milliseconds), the terms the
// ad was sold on (the pricing model's models.PricingCode and the publisher's revenue share in
// basis points), so that an event bills on the terms in force at the serve, and the serve's
// binding: a fingerprint of the client network and the User-Agent family the ad was served to
// (fraud.NetworkOf, fraud.UAFamily: the worker compares them on the beacon and the click,
// token_mismatch) and the integration that asked for it (script tag, iframe tag or JSON: a
// tag's beacon always carries the tag's signals). Older versions still verify, so that the
// tokens in flight during an upgrade keep counting for their TTL: version 3 (tag nibble 2;
// the same without the binding: Network, UAFamily and Integration are zero, and the checks
// that need them are skipped) and version 1 (tag nibble 1; also without pricing and share,
// issued in whole seconds: Pricing is "").
//
// The tag byte carries the format version and the kind, so an impression token cannot be
// replayed as a click and a token cannot be replayed as a viewer cookie. The key id is derived
// from the key itself, so that after a rotation the previous key is still found.
//
// Signing and verifying allocate nothing: the HMAC is computed with
// pooled crypto/hmac states (keyed once per key), and base64 is decoded by hand, strictly
// (non-zero trailing bits are rejected, so every single-bit change of a token is caught).
package token

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"adnet/models"
)

// Kind says which tracking event a token authorises: it is bound into the signature.
type Kind uint8

// Token kinds. The values are part of the token format: never renumber.
const (
	KindImpression Kind = 1 // the impression beacon URL
	KindClick      Kind = 2 // the click redirect URL
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindImpression:
		return "impression"
	case KindClick:
		return "click"
	}
	return "unknown"
}

const (
	tokenVersion   = 3  // signed: the format called version 4 above (the viewer cookie is 2)
	tokenVersionV3 = 2  // still verified: version 3, without the serve's binding
	tokenVersionV1 = 1  // still verified
	macLen         = 16 // truncated HMAC-SHA256: 128 bits (NIST SP 800-107 allows ≥ 64)
	fieldsV1       = 5  // uvarints of a version-1 token
	fieldsV3       = 7  // uvarints of a version-3 token
	fieldsV4       = 10 // uvarints of a version-4 token
	// maxTokenBody is tag + key id + impression id + ten uvarints of at most 10 bytes.
	maxTokenBody = 2 + 16 + fieldsV4*binary.MaxVarintLen64
	maxTokenRaw  = maxTokenBody + macLen
	minTokenRaw  = 2 + 16 + fieldsV1 + macLen
	// MaxTokenLen is the longest encoded token; longer inputs are rejected before decoding.
	MaxTokenLen = (maxTokenRaw*8 + 5) / 6
)

// Verification errors. Both are *models.Error with code EINVALID; use Reason to map them to the
// invalid-traffic reason recorded with the event.
var (
	ErrBadToken     = &models.Error{Code: models.EINVALID, Message: "invalid tracking token"}
	ErrExpiredToken = &models.Error{Code: models.EINVALID, Message: "expired tracking token"}
)

// Reason maps a Verify error to the event's invalid-traffic reason: ReasonValid for nil,
// ReasonExpiredToken for ErrExpiredToken, ReasonBadToken for anything else.
func Reason(err error) models.Reason {
	switch {
	case err == nil:
		return models.ReasonValid
	case errors.Is(err, ErrExpiredToken):
		return models.ReasonExpiredToken
	}
	return models.ReasonBadToken
}

// Claims are the facts a tracking token vouches for.
type Claims struct {
	Kind         Kind
	ImpressionID models.ImpressionID
	ZoneID       int64
	CampaignID   int64
	CreativeID   int64
	PriceMicros  int64 // the campaign's rate at decision time, as in models.Event
	// IssuedMs is the decision time in unix milliseconds, set by the caller before Sign
	// (a version-1 token's whole seconds × 1000).
	IssuedMs int64
	// Pricing and ShareBP are the terms at decision time, as in models.Event; Pricing is "" in
	// a version-1 token (not signed) and for an unpriced ad (a fallback creative).
	Pricing models.PricingModel
	ShareBP int
	// Network and UAFamily bind the token to the client the ad was served to: the
	// fraud.NetworkOf fingerprint of its /24 (IPv6 /48) and its fraud.UAFamily. Zero means
	// unknown (a version-1 or -3 token, or a serve without an address or User-Agent): the
	// token_mismatch check is then skipped.
	Network  uint32
	UAFamily uint8
	// Integration is what asked for the ad (IntegrationUnknown in older tokens).
	Integration Integration
	KeyID       byte // id of the key that signed it; set by Sign and Verify
}

// Integration is the way an ad was requested, signed into its tokens: the script and iframe
// tags' beacons always carry the tag's automation signals and page origin, so that a beacon
// of a tag-served ad without them was not fired by the tag.
type Integration uint8

// Integrations. The values are part of the token format: never renumber.
const (
	IntegrationUnknown Integration = 0 // a version-1 or -3 token
	IntegrationScript  Integration = 1 // /serve/js, the script tag
	IntegrationFrame   Integration = 2 // /serve/frame, the iframe tag
	IntegrationJSON    Integration = 3 // /serve/json: apps and servers render and fire the beacon themselves
	maxIntegration                 = IntegrationJSON
)

// Tag reports whether the ad was served to adnet's own script or iframe tag.
func (i Integration) Tag() bool { return i == IntegrationScript || i == IntegrationFrame }

// Options configure a Signer.
type Options struct {
	// TTL is how long after issue a tracking token still counts. A token is valid while
	// now − issue time ≤ TTL, both taken in whole seconds: exactly TTL old is still valid,
	// one second more is expired. Zero means DefaultTTL.
	TTL time.Duration
	// MaxSkew is how far in the future an issue time may lie (clock differences between
	// servers sharing the keys) before the token is treated as bad. Zero means DefaultMaxSkew.
	MaxSkew time.Duration
}

// Defaults for Options.
const (
	DefaultTTL     = 24 * time.Hour
	DefaultMaxSkew = 5 * time.Minute
)

// Signer signs and verifies tracking tokens and viewer cookies. It is safe for concurrent use.
type Signer struct {
	keys *Keys
	ttl  int64 // seconds
	skew int64 // seconds
}

// NewSigner returns a Signer using keys: the current key signs, every key verifies.
func NewSigner(keys *Keys, opt Options) (*Signer, error) {
	if keys == nil || keys.set == nil || len(keys.set.ids) == 0 {
		return nil, models.Errorf(models.EINVALID, "token signer: no keys")
	}
	if opt.TTL < 0 || opt.MaxSkew < 0 {
		return nil, models.Errorf(models.EINVALID, "token signer: ttl and max skew must not be negative")
	}
	if opt.TTL == 0 {
		opt.TTL = DefaultTTL
	}
	if opt.MaxSkew == 0 {
		opt.MaxSkew = DefaultMaxSkew
	}
	if opt.TTL < time.Second {
		return nil, models.Errorf(models.EINVALID, "token signer: ttl must be at least 1s")
	}
	return &Signer{keys: keys, ttl: int64(opt.TTL / time.Second), skew: int64(opt.MaxSkew / time.Second)}, nil
}

// TTL returns how long tokens stay valid (whole seconds).
func (s *Signer) TTL() time.Duration { return time.Duration(s.ttl) * time.Second }

// String implements fmt.Stringer without revealing key material.
func (s Signer) String() string { return "token.Signer" + redacted }

// GoString implements fmt.GoStringer without revealing key material.
func (s Signer) GoString() string { return s.String() }

// Format implements fmt.Formatter so that no verb reveals key material.
func (s Signer) Format(f fmt.State, verb rune) { io.WriteString(f, s.String()) }

// Sign appends the encoded token for c (signed with the current key) to dst and returns the
// extended slice. It does not allocate when dst has room for MaxTokenLen more bytes. c.Kind
// must be KindImpression or KindClick; c.KeyID is ignored (the signer sets it).
func (s *Signer) Sign(dst []byte, c *Claims) []byte {
	set := s.keys.set
	st := set.get()
	b := st.buf[:0]
	b = append(b, tokenVersion<<4|byte(c.Kind&0x0f), set.ids[0])
	b = append(b, c.ImpressionID[:]...)
	b = binary.AppendUvarint(b, uint64(c.ZoneID))
	b = binary.AppendUvarint(b, uint64(c.CampaignID))
	b = binary.AppendUvarint(b, uint64(c.CreativeID))
	b = binary.AppendUvarint(b, uint64(c.PriceMicros))
	b = binary.AppendUvarint(b, uint64(c.IssuedMs))
	b = binary.AppendUvarint(b, uint64(c.Pricing.PricingCode()))
	b = binary.AppendUvarint(b, uint64(c.ShareBP))
	b = binary.AppendUvarint(b, uint64(c.Network))
	b = binary.AppendUvarint(b, uint64(c.UAFamily))
	b = binary.AppendUvarint(b, uint64(c.Integration))
	b = append(b, st.mac(0, b)[:macLen]...)
	dst = appendBase64(dst, b)
	set.put(st)
	return dst
}

// Verify checks tok for the given kind at time now. It returns ErrBadToken when the token is
// malformed, of another kind, signed by an unknown key, altered in any way, or issued more than
// MaxSkew in the future; the returned Claims are then zero. It returns ErrExpiredToken together
// with the authentic claims when the token is older than the TTL: the caller may still redirect
// a person clicking an old ad, but must not bill it. It does not allocate.
func (s *Signer) Verify(tok string, kind Kind, now time.Time) (Claims, error) {
	if len(tok) > MaxTokenLen || (kind != KindImpression && kind != KindClick) {
		return Claims{}, ErrBadToken
	}
	set := s.keys.set
	st := set.get()
	defer set.put(st)
	n, ok := decodeBase64(st.buf[:maxTokenRaw], tok)
	if !ok || n < minTokenRaw {
		return Claims{}, ErrBadToken
	}
	body, tag := st.buf[:n-macLen], st.buf[n-macLen:n]
	fields := fieldsV4
	switch body[0] {
	case tokenVersion<<4 | byte(kind):
	case tokenVersionV3<<4 | byte(kind):
		fields = fieldsV3
	case tokenVersionV1<<4 | byte(kind):
		fields = fieldsV1
	default:
		return Claims{}, ErrBadToken
	}
	kid, ok := set.verify(st, body, tag)
	if !ok {
		return Claims{}, ErrBadToken
	}
	c := Claims{Kind: kind, KeyID: kid}
	copy(c.ImpressionID[:], body[2:18])
	p := body[18:]
	var vals [fieldsV4]uint64
	for i := range fields {
		v, m := binary.Uvarint(p)
		if m <= 0 {
			return Claims{}, ErrBadToken
		}
		vals[i], p = v, p[m:]
	}
	if len(p) != 0 {
		return Claims{}, ErrBadToken
	}
	c.ZoneID, c.CampaignID, c.CreativeID = int64(vals[0]), int64(vals[1]), int64(vals[2])
	c.PriceMicros = int64(vals[3])
	var issued int64 // unix seconds
	if fields == fieldsV1 {
		if vals[4] > math.MaxInt64/1000 {
			return Claims{}, ErrBadToken
		}
		issued = int64(vals[4])
		c.IssuedMs = issued * 1000
	} else {
		var ok bool
		if c.Pricing, ok = models.PricingFromCode(vals[5]); !ok || vals[6] > 10000 {
			return Claims{}, ErrBadToken
		}
		c.ShareBP = int(vals[6])
		c.IssuedMs = int64(vals[4])
		if fields == fieldsV4 {
			if vals[7] > math.MaxUint32 || vals[8] > math.MaxUint8 || vals[9] > uint64(maxIntegration) {
				return Claims{}, ErrBadToken
			}
			c.Network, c.UAFamily, c.Integration = uint32(vals[7]), uint8(vals[8]), Integration(vals[9])
		}
		issued = c.IssuedMs / 1000
	}
	age := now.Unix() - issued
	if age < -s.skew {
		return Claims{}, ErrBadToken
	}
	if age > s.ttl {
		return c, ErrExpiredToken
	}
	return c, nil
}

// verify checks tag against body under every key whose id matches the body's key id byte
// (body[1]), comparing in constant time. It returns the id of the key that verified.
func (ks *keySet) verify(st *macState, body, tag []byte) (byte, bool) {
	kid := body[1]
	for i, id := range ks.ids {
		if id != kid {
			continue
		}
		if subtle.ConstantTimeCompare(st.mac(i, body)[:macLen], tag) == 1 {
			return kid, true
		}
	}
	return 0, false
}

// appendBase64 appends unpadded base64url of src to dst.
func appendBase64(dst, src []byte) []byte {
	n := base64.RawURLEncoding.EncodedLen(len(src))
	dst = slices.Grow(dst, n)
	l := len(dst)
	dst = dst[:l+n]
	base64.RawURLEncoding.Encode(dst[l:], src)
	return dst
}

// decodeBase64 decodes unpadded base64url s into dst strictly: only the URL alphabet, no
// padding, and the unused low bits of the last character must be zero (otherwise two
// different strings would decode to the same bytes and a flipped bit could go unnoticed).
// It returns the number of bytes written; dst must hold len(s)*3/4 bytes.
func decodeBase64(dst []byte, s string) (int, bool) {
	if len(s)%4 == 1 || len(s)*3/4 > len(dst) {
		return 0, false
	}
	n := 0
	i := 0
	for ; i+4 <= len(s); i += 4 {
		a, ok1 := b64val(s[i])
		b, ok2 := b64val(s[i+1])
		c, ok3 := b64val(s[i+2])
		d, ok4 := b64val(s[i+3])
		if !(ok1 && ok2 && ok3 && ok4) {
			return 0, false
		}
		v := uint32(a)<<18 | uint32(b)<<12 | uint32(c)<<6 | uint32(d)
		dst[n], dst[n+1], dst[n+2] = byte(v>>16), byte(v>>8), byte(v)
		n += 3
	}
	switch len(s) - i {
	case 2:
		a, ok1 := b64val(s[i])
		b, ok2 := b64val(s[i+1])
		if !(ok1 && ok2) || b&0x0f != 0 {
			return 0, false
		}
		dst[n] = a<<2 | b>>4
		n++
	case 3:
		a, ok1 := b64val(s[i])
		b, ok2 := b64val(s[i+1])
		c, ok3 := b64val(s[i+2])
		if !(ok1 && ok2 && ok3) || c&0x03 != 0 {
			return 0, false
		}
		dst[n], dst[n+1] = a<<2|b>>4, b<<4|c>>2
		n += 2
	}
	return n, true
}

// b64val returns the 6-bit value of a base64url character.
func b64val(c byte) (byte, bool) {
	switch {
	case c >= 'A' && c <= 'Z':
		return c - 'A', true
	case c >= 'a' && c <= 'z':
		return c - 'a' + 26, true
	case c >= '0' && c <= '9':
		return c - '0' + 52, true
	case c == '-':
		return 62, true
	case c == '_':
		return 63, true
	}
	return 0, false
}
