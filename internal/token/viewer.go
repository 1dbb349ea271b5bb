package token

import (
	"encoding/base64"
	"encoding/binary"
	"time"
)

// Viewer cookie bounds. A cookie over 4 KB is dropped by browsers (RFC 6265 minimums) and
// every byte of it travels with every ad request, so the state is capped well below that:
// at most MaxViewerEntries campaigns and MaxViewerCookieLen characters, evicting the entries
// whose window started longest ago.
const (
	MaxViewerEntries   = 32
	MaxViewerCookieLen = 1024
)

const (
	viewerVersion = 2 // tag high nibble; distinct from tokenVersion so tokens are not cookies
	viewerTag     = viewerVersion << 4
	maxViewerRaw  = MaxViewerCookieLen * 3 / 4
	minViewerRaw  = 2 + 8 + 1 + 1 + macLen
)

// FreqEntry is how often a viewer saw a campaign in its current frequency window.
type FreqEntry struct {
	CampaignID int64
	Count      uint32
	Start      int64 // unix seconds: when the current window began (first impression in it)
}

// Viewer is the first-party viewer state kept in a signed cookie: a random id and a bounded
// list of frequency-capping entries. The zero value is an empty viewer with id 0 (no id). It is
// a fixed-size value so that decoding, capping and encoding allocate nothing.
type Viewer struct {
	ID uint64
	n  int
	e  [MaxViewerEntries]FreqEntry
}

// Reset empties v and gives it id, e.g. a fresh random id after DecodeViewer returned false.
func (v *Viewer) Reset(id uint64) {
	v.ID = id
	v.n = 0
}

// Entries returns the frequency entries; the slice aliases v.
func (v *Viewer) Entries() []FreqEntry { return v.e[:v.n] }

// Count returns how many impressions of the campaign the viewer saw in the window that is
// current at now, 0 when the window has passed. Windows are fixed: they begin at the first
// impression and last window; a window starting in the future (clock skew) counts as current.
func (v *Viewer) Count(campaignID int64, window time.Duration, now time.Time) int {
	t := now.Unix()
	for i := range v.e[:v.n] {
		e := &v.e[i]
		if e.CampaignID == campaignID {
			if t < e.Start+int64(window/time.Second) {
				return int(e.Count)
			}
			return 0
		}
	}
	return 0
}

// Record counts one impression of the campaign at now: it increments the entry when its window
// is current and otherwise starts a new window of count 1. When the list is full, the entry whose
// window started longest ago is evicted.
func (v *Viewer) Record(campaignID int64, window time.Duration, now time.Time) {
	t := now.Unix()
	for i := range v.e[:v.n] {
		e := &v.e[i]
		if e.CampaignID != campaignID {
			continue
		}
		if t < e.Start+int64(window/time.Second) {
			if e.Count < ^uint32(0) {
				e.Count++
			}
		} else {
			e.Count, e.Start = 1, t
		}
		return
	}
	if v.n == MaxViewerEntries {
		v.evictOldest()
	}
	v.e[v.n] = FreqEntry{CampaignID: campaignID, Count: 1, Start: t}
	v.n++
}

func (v *Viewer) evictOldest() {
	if v.n == 0 {
		return
	}
	old := 0
	for i := 1; i < v.n; i++ {
		if v.e[i].Start < v.e[old].Start {
			old = i
		}
	}
	copy(v.e[old:v.n], v.e[old+1:v.n])
	v.n--
}

// EncodeViewer appends the signed cookie value for v to dst. If the encoding would exceed
// MaxViewerCookieLen, it first evicts v's oldest entries until it fits (so v changes). It does
// not allocate when dst has room for MaxViewerCookieLen more bytes.
func (s *Signer) EncodeViewer(dst []byte, v *Viewer) []byte {
	for base64.RawURLEncoding.EncodedLen(v.rawLen()) > MaxViewerCookieLen {
		v.evictOldest()
	}
	set := s.keys.set
	st := set.get()
	b := st.buf[:0]
	b = append(b, viewerTag, set.ids[0])
	b = binary.BigEndian.AppendUint64(b, v.ID)
	base := v.base()
	b = binary.AppendUvarint(b, uint64(base))
	b = binary.AppendUvarint(b, uint64(v.n))
	for _, e := range v.e[:v.n] {
		b = binary.AppendUvarint(b, uint64(e.CampaignID))
		b = binary.AppendUvarint(b, uint64(e.Count))
		b = binary.AppendUvarint(b, uint64(e.Start-base))
	}
	b = append(b, st.mac(0, b)[:macLen]...)
	dst = appendBase64(dst, b)
	set.put(st)
	return dst
}

// base is the earliest window start: entries store their start as a small delta from it.
func (v *Viewer) base() int64 {
	if v.n == 0 {
		return 0
	}
	m := v.e[0].Start
	for _, e := range v.e[1:v.n] {
		m = min(m, e.Start)
	}
	return m
}

// rawLen is the exact length of v's binary encoding including the MAC.
func (v *Viewer) rawLen() int {
	base := v.base()
	n := 2 + 8 + uvarintLen(uint64(base)) + uvarintLen(uint64(v.n)) + macLen
	for _, e := range v.e[:v.n] {
		n += uvarintLen(uint64(e.CampaignID)) + uvarintLen(uint64(e.Count)) + uvarintLen(uint64(e.Start-base))
	}
	return n
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// DecodeViewer loads the cookie value into v. A missing, corrupt, forged or oversized cookie is
// not an error to the viewer: v is reset to an empty viewer with id 0 and DecodeViewer returns
// false, and the caller gives the viewer a fresh id. It does not allocate.
func (s *Signer) DecodeViewer(v *Viewer, cookie string) bool {
	v.Reset(0)
	if len(cookie) > MaxViewerCookieLen {
		return false
	}
	set := s.keys.set
	st := set.get()
	defer set.put(st)
	n, ok := decodeBase64(st.buf[:maxViewerRaw], cookie)
	if !ok || n < minViewerRaw {
		return false
	}
	body := st.buf[:n-macLen]
	if body[0] != viewerTag {
		return false
	}
	if _, ok := set.verify(st, body, st.buf[n-macLen:n]); !ok {
		return false
	}
	id := binary.BigEndian.Uint64(body[2:10])
	p := body[10:]
	next := func() (uint64, bool) {
		x, m := binary.Uvarint(p)
		if m <= 0 {
			return 0, false
		}
		p = p[m:]
		return x, true
	}
	base, ok1 := next()
	cnt, ok2 := next()
	if !ok1 || !ok2 || cnt > MaxViewerEntries {
		return false
	}
	var tmp Viewer
	tmp.ID = id
	for i := 0; i < int(cnt); i++ {
		c, ok1 := next()
		k, ok2 := next()
		d, ok3 := next()
		if !ok1 || !ok2 || !ok3 || k == 0 || k > uint64(^uint32(0)) {
			return false
		}
		tmp.e[i] = FreqEntry{CampaignID: int64(c), Count: uint32(k), Start: int64(base + d)}
	}
	if len(p) != 0 {
		return false
	}
	tmp.n = int(cnt)
	*v = tmp
	return true
}
