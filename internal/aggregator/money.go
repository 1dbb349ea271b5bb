package aggregator

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"math"
	"math/bits"

	"adnet/models"
)

// costNanos returns what one valid event of type t costs the advertiser, in nano-units
// (1 micro-unit = 1000 nano-units), under pricing model p at rateMicros (the rate signed into
// the event's token at decision time). A CPM impression costs rate/1000 micro-units, which is
// exactly rateMicros nano-units: no rounding happens here, the totals are exact and rounded
// down to micro-units only when read. CPA conversions are billed at the rate, never at the
// payout the advertiser's postback reports (which is recorded for reconciliation only): an
// advertiser cannot change its bill by what it sends.
func costNanos(p models.PricingModel, rateMicros int64, t models.EventType) int64 {
	if rateMicros <= 0 {
		return 0
	}
	switch {
	case p == models.PricingCPM && t == models.EventImpression:
		return rateMicros
	case p == models.PricingCPC && t == models.EventClick, p == models.PricingCPA && t == models.EventConversion:
		if rateMicros > math.MaxInt64/1000 {
			return math.MaxInt64
		}
		return rateMicros * 1000
	}
	return 0
}

// revenueNanos is models.PublisherRevenue applied at nano-unit precision: the publisher's share
// of one event's cost, rounded down to the nano-unit (so the network never pays out more than
// it bills, and the rounding costs the publisher less than a micro-unit per 1000 events).
// The product is computed in 128 bits.
func revenueNanos(cost int64, shareBP int) int64 {
	if cost <= 0 || shareBP <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(cost), uint64(shareBP))
	q, _ := bits.Div64(hi, lo, 10000) // hi < 10000 since shareBP ≤ 10000
	return int64(q)
}

// countryCode returns the event's country as stored: two upper-case letters, or "" for
// unknown or malformed codes (which must not fail a whole batch in strict mode).
func countryCode(c [2]byte) string {
	up := func(b byte) byte {
		if b >= 'a' && b <= 'z' {
			return b - 'a' + 'A'
		}
		return b
	}
	a, b := up(c[0]), up(c[1])
	if a < 'A' || a > 'Z' || b < 'A' || b > 'Z' {
		return ""
	}
	return string([]byte{a, b})
}

// ipHasher is a keyed hash of client addresses for the click rows: stable across restarts
// (the key is persistent), useless to anyone without the key. Not safe for concurrent use.
type ipHasher struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

func newIPHasher(key []byte) *ipHasher {
	return &ipHasher{h: hmac.New(sha256.New, key)}
}

// hash returns the first 64 bits of HMAC-SHA256(key, ip); the unknown address hashes to 0.
func (h *ipHasher) hash(ip [16]byte) uint64 {
	if ip == ([16]byte{}) {
		return 0
	}
	h.h.Reset()
	h.h.Write(ip[:])
	return binary.BigEndian.Uint64(h.h.Sum(h.sum[:0]))
}
