package fcgi

import (
	"bufio"
	"encoding/binary"
	"errors"
)

// The rest of the FastCGI 1.0 record types, protocol statuses and flags (the first ones
// are in conn.go, which the stdlib engine's connection tracking shares).
const (
	recAbortRequest    = 2
	recStdout          = 6
	recStderr          = 7
	recData            = 8
	recGetValues       = 9
	recGetValuesResult = 10
	recUnknownType     = 11

	flagKeepConn = 1

	statusRequestComplete = 0
	statusCantMpxConn     = 1
	statusOverloaded      = 2
	statusUnknownRole     = 3

	fcgiVersion = 1
	// maxContent is the largest content a record can carry (a 16-bit length).
	maxContent = 65535
)

// errProtocol ends a connection whose peer breaks the record layer (bad version, a
// BEGIN_REQUEST of the wrong size, an id begun twice): nothing after it can be trusted.
var errProtocol = errors.New("fcgi: protocol error")

// recHeader is a decoded record header.
type recHeader struct {
	typ  byte
	id   uint16
	clen int // content length
	plen int // padding length
}

// readHeader reads the next record header from br without allocating: Peek keeps the
// bytes in br's buffer, so a read interrupted by a deadline loses nothing.
func readHeader(br *bufio.Reader) (recHeader, error) {
	b, err := br.Peek(recHeaderLen)
	if err != nil {
		return recHeader{}, err
	}
	h := recHeader{
		typ:  b[1],
		id:   binary.BigEndian.Uint16(b[2:4]),
		clen: int(binary.BigEndian.Uint16(b[4:6])),
		plen: int(b[6]),
	}
	version := b[0]
	br.Discard(recHeaderLen)
	if version != fcgiVersion {
		return h, errProtocol
	}
	return h, nil
}

// nextPair decodes the first FastCGI name-value pair of p (lengths of 1 byte below 128,
// else 4 bytes with the high bit set) and returns the rest. ok is false when p is
// truncated or a length points beyond it; callers stop there, as net/http/fcgi does.
// Name and value are sub-slices of p: decoding never copies or allocates.
func nextPair[T ~string | ~[]byte](p T) (name, value, rest T, ok bool) {
	nl, n := pairLen(p)
	if n == 0 {
		return name, value, rest, false
	}
	p = p[n:]
	vl, n := pairLen(p)
	if n == 0 {
		return name, value, rest, false
	}
	p = p[n:]
	if nl > uint32(len(p)) || vl > uint32(len(p))-nl {
		return name, value, rest, false
	}
	return p[:nl], p[nl : nl+vl], p[nl+vl:], true
}

// pairLen decodes one name-value length and the bytes it took (0 if p is too short).
func pairLen[T ~string | ~[]byte](p T) (uint32, int) {
	if len(p) == 0 {
		return 0, 0
	}
	if p[0]>>7 == 0 {
		return uint32(p[0]), 1
	}
	if len(p) < 4 {
		return 0, 0
	}
	return uint32(p[0]&0x7f)<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3]), 4
}

// appendPairLen appends a name-value length in its 1- or 4-byte form.
func appendPairLen(b []byte, n int) []byte {
	if n < 128 {
		return append(b, byte(n))
	}
	return binary.BigEndian.AppendUint32(b, uint32(n)|1<<31)
}

// appendPair appends one encoded name-value pair.
func appendPair(b []byte, name, value string) []byte {
	b = appendPairLen(b, len(name))
	b = appendPairLen(b, len(value))
	b = append(b, name...)
	return append(b, value...)
}

// padding returns the padding that aligns content of length n to 8 bytes, as the
// specification recommends so that the peer can copy records efficiently.
func padding(n int) int { return -n & 7 }

// appendRecordHeader appends a record header for content of length clen followed by
// plen padding bytes.
func appendRecordHeader(b []byte, typ byte, id uint16, clen, plen int) []byte {
	return append(b, fcgiVersion, typ, byte(id>>8), byte(id), byte(clen>>8), byte(clen), byte(plen), 0)
}

// zeros is padding.
var zeros [8]byte

// appendEndRequest appends an END_REQUEST record.
func appendEndRequest(b []byte, id uint16, appStatus uint32, protoStatus byte) []byte {
	b = appendRecordHeader(b, recEndRequest, id, 8, 0)
	b = binary.BigEndian.AppendUint32(b, appStatus)
	return append(b, protoStatus, 0, 0, 0)
}

// appendUnknownType appends the UNKNOWN_TYPE answer to a management record of type typ.
func appendUnknownType(b []byte, typ byte) []byte {
	b = appendRecordHeader(b, recUnknownType, 0, 8, 0)
	return append(b, typ, 0, 0, 0, 0, 0, 0, 0)
}

// appendGetValuesResult appends the answer to FCGI_GET_VALUES: the variables asked for
// that a responder knows (FCGI_MAX_CONNS, FCGI_MAX_REQS, FCGI_MPXS_CONNS), in the order
// asked, each once. maxReqs comes from MaxChildren: more requests than that at once get
// 503, so a web server that sizes its pool from these values stays under the cap.
func appendGetValuesResult(b []byte, query []byte, maxConns, maxReqs string) []byte {
	start := len(b)
	b = appendRecordHeader(b, recGetValuesResult, 0, 0, 0)
	var seen [3]bool
	for p := query; len(p) > 0; {
		name, _, rest, ok := nextPair(p)
		if !ok {
			break
		}
		p = rest
		var i int
		var v string
		switch string(name) { // the compiler does not allocate for a switch on string(bytes)
		case "FCGI_MAX_CONNS":
			i, v = 0, maxConns
		case "FCGI_MAX_REQS":
			i, v = 1, maxReqs
		case "FCGI_MPXS_CONNS":
			i, v = 2, "0" // nginx never multiplexes; interleaved ids are served, but not invited
		default:
			continue
		}
		if seen[i] {
			continue
		}
		seen[i] = true
		b = appendPair(b, string(name), v)
	}
	clen := len(b) - start - recHeaderLen
	pad := padding(clen)
	b = append(b, zeros[:pad]...)
	binary.BigEndian.PutUint16(b[start+4:], uint16(clen))
	b[start+6] = byte(pad)
	return b
}
