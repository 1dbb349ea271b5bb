package eventlog

import (
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"testing"
	"time"

	"adnet/models"
)

// randomEvent returns an event with every field set to a random non-zero value.
func randomEvent(rng *rand.Rand) models.Event {
	ev := models.Event{
		Type:         models.EventType(1 + rng.IntN(4)),
		Reason:       models.Reason(1 + rng.IntN(models.NumReasons-1)),
		Time:         time.Unix(0, rng.Int64N(1<<62)+1),
		ServedAt:     time.Unix(0, rng.Int64N(1<<62)+1),
		ZoneID:       rng.Int64() | 1,
		CampaignID:   -(rng.Int64() | 1),
		CreativeID:   rng.Int64() | 1,
		PriceMicros:  rng.Int64() | 1,
		Country:      [2]byte{'A' + byte(rng.IntN(26)), 'A' + byte(rng.IntN(26))},
		ViewerID:     rng.Uint64() | 1,
		UAHash:       rng.Uint64() | 1,
		PayoutMicros: rng.Int64() | 1,
		Pricing:      []models.PricingModel{models.PricingCPM, models.PricingCPC, models.PricingCPA}[rng.IntN(3)],
		ShareBP:      1 + rng.IntN(10000),
	}
	for i := range ev.ImpressionID {
		ev.ImpressionID[i] = byte(rng.IntN(255) + 1)
	}
	for i := range ev.IP {
		ev.IP[i] = byte(rng.IntN(255) + 1)
	}
	return ev
}

// normalised returns ev as decoding returns it: times in UTC without a monotonic reading,
// so that whole events can be compared with ==.
func normalised(ev models.Event) models.Event {
	if !ev.Time.IsZero() {
		ev.Time = ev.Time.Round(0).UTC()
	}
	if !ev.ServedAt.IsZero() {
		ev.ServedAt = ev.ServedAt.Round(0).UTC()
	}
	return ev
}

func roundTrip(t *testing.T, ev models.Event) models.Event {
	t.Helper()
	var b [RecordSize]byte
	encodeRecord(b[:], &ev)
	n, st := checkRecord(b[:])
	if st != recordOK || n != RecordSize {
		t.Fatalf("checkRecord = %d, %v; want %d, ok", n, st, RecordSize)
	}
	var got models.Event
	decodeRecord(b[:], &got)
	return got
}

func TestRecordRoundTripEveryField(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 1000; i++ {
		ev := randomEvent(rng)
		if got, want := roundTrip(t, ev), normalised(ev); got != want {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
		}
	}
	// Each field on its own, so that two fields sharing bytes cannot hide behind random data.
	full := randomEvent(rng)
	setters := map[string]func(*models.Event){
		"Type":         func(e *models.Event) { e.Type = full.Type },
		"Reason":       func(e *models.Event) { e.Reason = full.Reason },
		"Time":         func(e *models.Event) { e.Time = full.Time },
		"ImpressionID": func(e *models.Event) { e.ImpressionID = full.ImpressionID },
		"ServedAt":     func(e *models.Event) { e.ServedAt = full.ServedAt },
		"ZoneID":       func(e *models.Event) { e.ZoneID = full.ZoneID },
		"CampaignID":   func(e *models.Event) { e.CampaignID = full.CampaignID },
		"CreativeID":   func(e *models.Event) { e.CreativeID = full.CreativeID },
		"PriceMicros":  func(e *models.Event) { e.PriceMicros = full.PriceMicros },
		"Country":      func(e *models.Event) { e.Country = full.Country },
		"IP":           func(e *models.Event) { e.IP = full.IP },
		"ViewerID":     func(e *models.Event) { e.ViewerID = full.ViewerID },
		"UAHash":       func(e *models.Event) { e.UAHash = full.UAHash },
		"PayoutMicros": func(e *models.Event) { e.PayoutMicros = full.PayoutMicros },
	}
	for name, set := range setters {
		var ev models.Event
		set(&ev)
		if ev == (models.Event{}) {
			t.Fatalf("%s: setter left the event zero", name)
		}
		if got, want := roundTrip(t, ev), normalised(ev); got != want {
			t.Errorf("%s alone:\n got %+v\nwant %+v", name, got, want)
		}
	}
	// The zero event, zero times included, comes back as the zero event.
	if got := roundTrip(t, models.Event{}); got != (models.Event{}) {
		t.Errorf("zero event came back as %+v", got)
	}
	// Times keep nanosecond precision and negative (pre-1970) values.
	ev := models.Event{Time: time.Date(1969, 7, 20, 20, 17, 40, 123456789, time.UTC)}
	if got := roundTrip(t, ev); !got.Time.Equal(ev.Time) {
		t.Errorf("pre-epoch time came back as %v", got.Time)
	}
}

// TestRecordLayout pins the documented byte layout, which other tools and future versions
// rely on.
func TestRecordLayout(t *testing.T) {
	ev := models.Event{
		Type: models.EventClick, Reason: models.ReasonBotUA, Country: [2]byte{'D', 'E'},
		Time: time.Unix(0, 0x0102030405060708), ServedAt: time.Unix(0, 0x1112131415161718),
		ZoneID: 44, CampaignID: 52, CreativeID: 60, PriceMicros: 68, ViewerID: 92, UAHash: 100,
		PayoutMicros: 108, Pricing: models.PricingCPA, ShareBP: 118,
	}
	ev.ImpressionID[0], ev.ImpressionID[15] = 0xA0, 0xAF
	ev.IP[0], ev.IP[15] = 0xB0, 0xBF
	var b [RecordSize]byte
	encodeRecord(b[:], &ev)

	le := binary.LittleEndian
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"magic", uint64(b[0]), 0xEA},
		{"version", uint64(b[1]), 2},
		{"length", uint64(le.Uint16(b[2:])), RecordSize},
		{"type", uint64(b[8]), uint64(models.EventClick)},
		{"reason", uint64(b[9]), uint64(models.ReasonBotUA)},
		{"country", uint64(b[10])<<8 | uint64(b[11]), 'D'<<8 | 'E'},
		{"time", le.Uint64(b[12:]), 0x0102030405060708},
		{"served_at", le.Uint64(b[20:]), 0x1112131415161718},
		{"impression_id", uint64(b[28])<<8 | uint64(b[43]), 0xA0AF},
		{"zone", le.Uint64(b[44:]), 44},
		{"campaign", le.Uint64(b[52:]), 52},
		{"creative", le.Uint64(b[60:]), 60},
		{"price", le.Uint64(b[68:]), 68},
		{"ip", uint64(b[76])<<8 | uint64(b[91]), 0xB0BF},
		{"viewer", le.Uint64(b[92:]), 92},
		{"ua_hash", le.Uint64(b[100:]), 100},
		{"payout", le.Uint64(b[108:]), 108},
		{"pricing", uint64(b[116]), 3},
		{"reserved", uint64(b[117]), 0},
		{"share", uint64(le.Uint16(b[118:])), 118},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %#x, want %#x", c.name, c.got, c.want)
		}
	}
	// The CRC is CRC32-C over the first four header bytes followed by the body.
	covered := append(append([]byte{}, b[0:4]...), b[8:]...)
	if got, want := le.Uint32(b[4:]), crc32.Checksum(covered, crc32.MakeTable(crc32.Castagnoli)); got != want {
		t.Errorf("crc: got %#x, want %#x", got, want)
	}
}

func TestCheckRecord(t *testing.T) {
	var good [RecordSize]byte
	ev := randomEvent(rand.New(rand.NewPCG(3, 4)))
	encodeRecord(good[:], &ev)

	for i := 0; i < RecordSize; i++ {
		if _, st := checkRecord(good[:i]); st != recordShort {
			t.Errorf("prefix of %d bytes: status %v, want short", i, st)
		}
		for _, bit := range []byte{0x01, 0x80} {
			b := good
			b[i] ^= bit
			if _, st := checkRecord(b[:]); st != recordBad {
				t.Errorf("bit %#x flipped at byte %d: status %v, want bad", bit, i, st)
			}
		}
	}

	// A future version: a longer record whose CRC verifies is reported, not skipped.
	future := make([]byte, 200)
	copy(future, good[:])
	future[1] = 3
	binary.LittleEndian.PutUint16(future[2:], 200)
	binary.LittleEndian.PutUint32(future[4:], recordCRC(future))
	if n, st := checkRecord(future); st != recordUnsupported || n != 200 {
		t.Errorf("future version: %d, %v; want 200, unsupported", n, st)
	}
	if _, st := checkRecord(future[:150]); st != recordShort {
		t.Errorf("truncated future version: %v, want short", st)
	}
	// Version 2 with another length is not a version-2 record, nor version 1 with its.
	b := good
	binary.LittleEndian.PutUint16(b[2:], RecordSize-1)
	binary.LittleEndian.PutUint32(b[4:], recordCRC(b[:RecordSize-1]))
	if _, st := checkRecord(b[:]); st != recordBad {
		t.Errorf("version 2 with length %d: %v, want bad", RecordSize-1, st)
	}
	b = good
	b[1] = 1
	binary.LittleEndian.PutUint32(b[4:], recordCRC(b[:]))
	if _, st := checkRecord(b[:]); st != recordBad {
		t.Errorf("version 1 with length %d: %v, want bad", RecordSize, st)
	}
}

// TestVersion1RecordsStillRead: the records written before version 2 (116 bytes, no terms)
// are read after the upgrade, with their terms not recorded.
func TestVersion1RecordsStillRead(t *testing.T) {
	ev := randomEvent(rand.New(rand.NewPCG(5, 6)))
	var b [RecordSize]byte
	encodeRecord(b[:], &ev)
	v1 := b[:recordSizeV1]
	v1[1] = 1
	binary.LittleEndian.PutUint16(v1[2:], recordSizeV1)
	binary.LittleEndian.PutUint32(v1[4:], recordCRC(v1))
	n, st := checkRecord(v1)
	if st != recordOK || n != recordSizeV1 {
		t.Fatalf("version 1: %d, %v; want %d, ok", n, st, recordSizeV1)
	}
	var got models.Event
	got.Pricing, got.ShareBP = models.PricingCPM, 1 // decoding must clear them
	decodeRecord(v1, &got)
	want := ev
	want.Time, want.ServedAt, got.Time, got.ServedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	want.Pricing, want.ShareBP = "", 0
	if got != want {
		t.Fatalf("version 1 decoded as\n%+v\nwant\n%+v", got, want)
	}
}

// TestEncodeDecodeRecord: the exported codec round-trips and refuses damaged or cut bytes.
func TestEncodeDecodeRecord(t *testing.T) {
	ev := models.Event{Type: models.EventClick, Time: time.Unix(1700000000, 5).UTC(), ZoneID: 7, CampaignID: 9, PriceMicros: 1234}
	var b [RecordSize]byte
	EncodeRecord(b[:], &ev)
	var got models.Event
	if err := DecodeRecord(b[:], &got); err != nil || got.ZoneID != 7 || got.CampaignID != 9 || !got.Time.Equal(ev.Time) {
		t.Fatalf("round trip: %v %+v", err, got)
	}
	if err := DecodeRecord(b[:RecordSize-1], &got); err == nil {
		t.Error("a cut record decoded")
	}
	b[50] ^= 1
	if err := DecodeRecord(b[:], &got); err == nil {
		t.Error("a damaged record decoded")
	}
}
