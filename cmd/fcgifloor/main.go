// Command fcgifloor is the floor of the nginx → FastCGI topology for `make bench`: the
// least a FastCGI responder can do per request. It reads records with a buffered reader,
// ignores the params and the body, and answers every request with the 43-byte GIF of a
// tracking pixel, header block, end of stream and END_REQUEST in one write. No
// http.Request, no handler, no counters: adnet's endpoints are reported as a ratio to it
// (and to nginx's own empty_gif), so that results compare across noisy machines.
//
//	fcgifloor /path/to/floor.sock
package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
)

// FastCGI record types used here (FastCGI 1.0 specification).
const (
	typeBeginRequest = 1
	typeEndRequest   = 3
	typeStdin        = 5
	typeStdout       = 6
	flagKeepConn     = 1
)

var gif = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: fcgifloor SOCKET")
		os.Exit(2)
	}
	os.Remove(os.Args[1])
	ln, err := net.Listen("unix", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "fcgifloor:", err)
		os.Exit(1)
	}
	os.Chmod(os.Args[1], 0o666) // nginx's workers may run as another user
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "fcgifloor:", err)
			os.Exit(1)
		}
		go serve(c)
	}
}

// response builds the records answering request id.
func response(id uint16) []byte {
	body := append([]byte("Status: 200 OK\r\nContent-Type: image/gif\r\nCache-Control: no-store\r\n\r\n"), gif...)
	var b []byte
	rec := func(typ byte, content []byte) {
		b = append(b, 1, typ, byte(id>>8), byte(id), byte(len(content)>>8), byte(len(content)), 0, 0)
		b = append(b, content...)
	}
	rec(typeStdout, body)
	rec(typeStdout, nil)
	rec(typeEndRequest, []byte{0, 0, 0, 0, 0, 0, 0, 0})
	return b
}

func serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 4096)
	answers := map[uint16][]byte{}
	keep := true
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		typ, id := hdr[1], binary.BigEndian.Uint16(hdr[2:])
		clen, plen := int(binary.BigEndian.Uint16(hdr[4:])), int(hdr[6])
		if typ == typeBeginRequest && clen >= 3 {
			b, err := br.Peek(3)
			if err != nil {
				return
			}
			keep = b[2]&flagKeepConn != 0
		}
		if _, err := br.Discard(clen + plen); err != nil {
			return
		}
		if typ == typeStdin && clen == 0 {
			a, ok := answers[id]
			if !ok {
				a = response(id)
				answers[id] = a
			}
			if _, err := c.Write(a); err != nil || !keep {
				return
			}
		}
	}
}
