// Command fcgifloor is the floor of `make bench`: the least a FastCGI responder behind nginx
// can do. It reads records from nginx on a Unix socket, one loop per connection, and answers
// every request with the same fixed 200 (nginx's empty_gif body, so that both floors send the
// same bytes), keeping the connection open when nginx asks for it (FCGI_KEEP_CONN).
//
// It parses nothing it does not need (params and stdin are skipped, not decoded), has no
// net/http, no handler and no allocation per request: whatever adnet's engine and handlers
// cost beyond it is theirs. It is not a FastCGI server to build on — no limits, no management
// records beyond the minimum, one request at a time per connection (nginx never multiplexes).
//
// Usage: fcgifloor -socket PATH
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
)

// FastCGI 1.0 record types and flags used here (the spec's names).
const (
	typeBeginRequest = 1
	typeAbortRequest = 2
	typeEndRequest   = 3
	typeParams       = 4
	typeStdin        = 5
	typeStdout       = 6
	typeGetValues    = 9
	typeUnknownType  = 11

	flagKeepConn = 1
	headerLen    = 8
)

// gif is the 43-byte transparent GIF nginx's empty_gif sends.
var gif = []byte{
	'G', 'I', 'F', '8', '9', 'a', 0x01, 0x00, 0x01, 0x00, 0x80, 0x01, 0x00, 0x00, 0x00, 0x00,
	0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x01, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x4c, 0x01, 0x00, 0x3b,
}

// response builds the whole answer to request id 1 once — stdout with the CGI headers and the
// body, the empty stdout that ends the stream, and END_REQUEST — so that each request costs one
// write(2). nginx always uses request id 1; another id gets its own copy (see answer).
func response(id uint16) []byte {
	body := append([]byte(fmt.Sprintf("Status: 200 OK\r\nContent-Type: image/gif\r\nContent-Length: %d\r\n\r\n", len(gif))), gif...)
	var b []byte
	b = appendRecord(b, typeStdout, id, body)
	b = appendRecord(b, typeStdout, id, nil)
	// END_REQUEST: appStatus 0, protocolStatus FCGI_REQUEST_COMPLETE.
	b = appendRecord(b, typeEndRequest, id, make([]byte, 8))
	return b
}

// appendRecord appends one record padded to a multiple of 8 bytes, as the spec recommends.
func appendRecord(b []byte, typ byte, id uint16, content []byte) []byte {
	pad := (8 - len(content)%8) % 8
	b = append(b, 1, typ, byte(id>>8), byte(id), byte(len(content)>>8), byte(len(content)), byte(pad), 0)
	b = append(b, content...)
	return append(b, make([]byte, pad)...)
}

var answer1 = response(1)

func main() {
	socket := flag.String("socket", "", "Unix socket to listen on (replaced if it exists)")
	flag.Parse()
	if *socket == "" {
		log.Fatal("fcgifloor: -socket is required")
	}
	_ = os.Remove(*socket)
	l, err := net.Listen("unix", *socket)
	if err != nil {
		log.Fatalf("fcgifloor: %v", err)
	}
	// nginx's workers may run as another user than whoever started this.
	if err := os.Chmod(*socket, 0o666); err != nil {
		log.Fatalf("fcgifloor: %v", err)
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		l.Close() // also removes the socket file
		os.Exit(0)
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			log.Fatalf("fcgifloor: %v", err)
		}
		go serve(c)
	}
}

// serve answers the requests of one connection in order until nginx closes it, or until a
// request without FCGI_KEEP_CONN has been answered.
func serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 8192)
	var h [headerLen]byte
	keep := false
	for {
		if _, err := io.ReadFull(r, h[:]); err != nil {
			// nginx closing a kept-alive connection (a reload, an idle one beyond its
			// keepalive cache) is the normal end of it, however the close arrives.
			if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
				log.Printf("fcgifloor: read: %v", err)
			}
			return
		}
		typ, id := h[1], binary.BigEndian.Uint16(h[2:4])
		n := int(binary.BigEndian.Uint16(h[4:6])) + int(h[6])
		switch typ {
		case typeBeginRequest:
			// role (2 bytes), flags (1 byte), reserved (5 bytes).
			body, err := r.Peek(n)
			if err != nil || n < 3 {
				return
			}
			keep = body[2]&flagKeepConn != 0
		case typeStdin:
			// The empty stdin record ends the request: params have all arrived by then.
			if n == 0 {
				out := answer1
				if id != 1 {
					out = response(id)
				}
				if _, err := c.Write(out); err != nil || !keep {
					return
				}
			}
		case typeParams, typeAbortRequest:
			// Skipped: the fixed answer depends on nothing the request says.
		case typeGetValues:
			// No values advertised: an empty GET_VALUES_RESULT.
			if _, err := c.Write(appendRecord(nil, 10, 0, nil)); err != nil {
				return
			}
		default:
			// FCGI_UNKNOWN_TYPE, type in the first byte of its 8-byte body.
			if _, err := c.Write(appendRecord(nil, typeUnknownType, 0, []byte{typ, 0, 0, 0, 0, 0, 0, 0})); err != nil {
				return
			}
		}
		if _, err := r.Discard(n); err != nil {
			return
		}
	}
}
