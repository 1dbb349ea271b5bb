package eventlog

import (
	"encoding/binary"
	"hash/crc32"
	"time"

	"adnet/models"
)

// Record format, version 2. All integers are little-endian; times are Unix nanoseconds
// (int64), with 0 standing for the zero time.Time. A record is RecordSize bytes:
//
//	offset size  field
//	     0    1  magic 0xEA
//	     1    1  format version (2; 1 is still read)
//	     2    2  record length in bytes, header included (uint16; 120 for version 2, 116 for 1)
//	     4    4  CRC32-C (Castagnoli) over bytes [0,4) and [8,length)
//	     8    1  Type (models.EventType)
//	     9    1  Reason (models.Reason)
//	    10    2  Country (ISO 3166-1 alpha-2, zero if unknown)
//	    12    8  Time
//	    20    8  ServedAt
//	    28   16  ImpressionID
//	    44    8  ZoneID
//	    52    8  CampaignID
//	    60    8  CreativeID
//	    68    8  PriceMicros
//	    76   16  IP (IPv4 as IPv4-mapped IPv6)
//	    92    8  ViewerID
//	   100    8  UAHash
//	   108    8  PayoutMicros
//	   116       end of a version-1 record
//	   116    1  Pricing (models.PricingCode; 0: not recorded)
//	   117    1  reserved, 0
//	   118    2  ShareBP (uint16, basis points)
//	   120       end
//
// Version 2 appends the terms the ad was sold on (models.Event.Pricing and ShareBP). Version-1
// records, written before it, are still read: their terms are not recorded (Pricing "").
// The CRC covers the magic, version and length too, so a record is accepted only when its
// whole header agrees with its body; that is what lets the reader resynchronise after
// corruption by scanning for the next offset where a header and CRC check out. A later
// version may append fields (a longer length); a reader that finds a record whose CRC
// verifies but whose version it does not know stops with an error instead of skipping
// billable events.
const (
	// RecordSize is the encoded size of one record as written (version 2).
	RecordSize = 120

	recordSizeV1    = 116
	recordMagic     = 0xEA
	recordVersion   = 2
	recordVersionV1 = 1
	headerSize      = 8

	// maxRecordLen bounds the length a header of a future version may claim. It keeps a
	// corrupt length from making the reader wait for megabytes before rejecting it.
	maxRecordLen = 4096
)

// castagnoli is the CRC32-C table; read-only after package initialisation (hardware
// accelerated on amd64 and arm64).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recordCRC returns the checksum of record rec (whose length field says len(rec)).
func recordCRC(rec []byte) uint32 {
	c := crc32.Update(0, castagnoli, rec[0:4])
	return crc32.Update(c, castagnoli, rec[headerSize:])
}

// encodeRecord writes ev into b, which must be RecordSize bytes long. It does not allocate.
func encodeRecord(b []byte, ev *models.Event) {
	_ = b[RecordSize-1] // one bounds check for the whole function
	b[0] = recordMagic
	b[1] = recordVersion
	binary.LittleEndian.PutUint16(b[2:4], RecordSize)
	b[8] = byte(ev.Type)
	b[9] = byte(ev.Reason)
	b[10], b[11] = ev.Country[0], ev.Country[1]
	binary.LittleEndian.PutUint64(b[12:20], uint64(unixNanos(ev.Time)))
	binary.LittleEndian.PutUint64(b[20:28], uint64(unixNanos(ev.ServedAt)))
	copy(b[28:44], ev.ImpressionID[:])
	binary.LittleEndian.PutUint64(b[44:52], uint64(ev.ZoneID))
	binary.LittleEndian.PutUint64(b[52:60], uint64(ev.CampaignID))
	binary.LittleEndian.PutUint64(b[60:68], uint64(ev.CreativeID))
	binary.LittleEndian.PutUint64(b[68:76], uint64(ev.PriceMicros))
	copy(b[76:92], ev.IP[:])
	binary.LittleEndian.PutUint64(b[92:100], ev.ViewerID)
	binary.LittleEndian.PutUint64(b[100:108], ev.UAHash)
	binary.LittleEndian.PutUint64(b[108:116], uint64(ev.PayoutMicros))
	b[116] = ev.Pricing.PricingCode()
	b[117] = 0
	binary.LittleEndian.PutUint16(b[118:120], uint16(min(max(ev.ShareBP, 0), 10000)))
	binary.LittleEndian.PutUint32(b[4:8], recordCRC(b[:RecordSize]))
}

// decodeRecord fills ev from a version-1 or version-2 record already accepted by checkRecord.
func decodeRecord(b []byte, ev *models.Event) {
	_ = b[recordSizeV1-1]
	ev.Type = models.EventType(b[8])
	ev.Reason = models.Reason(b[9])
	ev.Country = [2]byte{b[10], b[11]}
	ev.Time = fromUnixNanos(int64(binary.LittleEndian.Uint64(b[12:20])))
	ev.ServedAt = fromUnixNanos(int64(binary.LittleEndian.Uint64(b[20:28])))
	copy(ev.ImpressionID[:], b[28:44])
	ev.ZoneID = int64(binary.LittleEndian.Uint64(b[44:52]))
	ev.CampaignID = int64(binary.LittleEndian.Uint64(b[52:60]))
	ev.CreativeID = int64(binary.LittleEndian.Uint64(b[60:68]))
	ev.PriceMicros = int64(binary.LittleEndian.Uint64(b[68:76]))
	copy(ev.IP[:], b[76:92])
	ev.ViewerID = binary.LittleEndian.Uint64(b[92:100])
	ev.UAHash = binary.LittleEndian.Uint64(b[100:108])
	ev.PayoutMicros = int64(binary.LittleEndian.Uint64(b[108:116]))
	ev.Pricing, ev.ShareBP = "", 0
	if b[1] == recordVersion {
		_ = b[RecordSize-1]
		if p, ok := models.PricingFromCode(uint64(b[116])); ok {
			ev.Pricing = p
			ev.ShareBP = int(binary.LittleEndian.Uint16(b[118:120]))
		}
	}
}

// unixNanos maps the zero time to 0 (time.Time{}.UnixNano is undefined); no real event
// happens at the Unix epoch, so the mapping is unambiguous in practice.
func unixNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromUnixNanos is the inverse of unixNanos; times come back in UTC.
func fromUnixNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// recordStatus is checkRecord's verdict on the bytes at one offset.
type recordStatus uint8

const (
	recordOK          recordStatus = iota // a complete record of a version this build reads
	recordShort                           // a plausible header, but not all its bytes are there (yet)
	recordBad                             // not a record start: bad magic, version, length or CRC
	recordUnsupported                     // a record with a valid CRC but an unknown version
)

// checkRecord decides what the bytes at the start of b are; n is the record length for
// recordOK and recordUnsupported.
func checkRecord(b []byte) (n int, st recordStatus) {
	if len(b) < 4 {
		if len(b) > 0 && b[0] != recordMagic || len(b) > 1 && b[1] == 0 {
			return 0, recordBad
		}
		return 0, recordShort
	}
	if b[0] != recordMagic || b[1] == 0 {
		return 0, recordBad
	}
	n = int(binary.LittleEndian.Uint16(b[2:4]))
	if b[1] == recordVersion && n != RecordSize || b[1] == recordVersionV1 && n != recordSizeV1 ||
		n < headerSize || n > maxRecordLen {
		return 0, recordBad
	}
	if len(b) < n {
		return 0, recordShort
	}
	if binary.LittleEndian.Uint32(b[4:8]) != recordCRC(b[:n]) {
		return 0, recordBad
	}
	if b[1] != recordVersion && b[1] != recordVersionV1 {
		return n, recordUnsupported
	}
	return n, recordOK
}

// EncodeRecord writes ev into b (RecordSize bytes) in the log's record format: the byte form
// of an event outside the log as well — the body of a JetStream message, so that the stream
// carries exactly what the log holds, CRC included. It does not allocate.
func EncodeRecord(b []byte, ev *models.Event) {
	encodeRecord(b, ev)
}

// DecodeRecord fills ev from b, which must be exactly one record of a version this build
// reads, with a valid CRC; anything else is an EINVALID error and leaves ev unspecified.
func DecodeRecord(b []byte, ev *models.Event) error {
	n, st := checkRecord(b)
	if st != recordOK || n != len(b) {
		return models.Errorf(models.EINVALID, "Not an event record (%d bytes).", len(b))
	}
	decodeRecord(b, ev)
	return nil
}
