package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// request is what nginx sends for one request: BEGIN_REQUEST (responder role, flags), a PARAMS
// record and the empty one that ends them, then the empty STDIN.
func request(id uint16, flags byte) []byte {
	var b []byte
	b = appendRecord(b, typeBeginRequest, id, []byte{0, 1, flags, 0, 0, 0, 0, 0})
	b = appendRecord(b, typeParams, id, []byte{11, 3, 'R', 'E', 'Q', 'U', 'E', 'S', 'T', '_', 'U', 'R', 'I', '/', 'x', 'y'})
	b = appendRecord(b, typeParams, id, nil)
	return appendRecord(b, typeStdin, id, nil)
}

// readAnswer reads records up to END_REQUEST and returns the stdout stream.
func readAnswer(t *testing.T, r *bufio.Reader) []byte {
	t.Helper()
	var stdout []byte
	for {
		var h [headerLen]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			t.Fatalf("reading an answer: %v", err)
		}
		n := int(binary.BigEndian.Uint16(h[4:6]))
		body := make([]byte, n+int(h[6]))
		if _, err := io.ReadFull(r, body); err != nil {
			t.Fatal(err)
		}
		switch h[1] {
		case typeStdout:
			stdout = append(stdout, body[:n]...)
		case typeEndRequest:
			return stdout
		default:
			t.Fatalf("unexpected record type %d", h[1])
		}
	}
}

// The floor answers two requests on one kept connection, then closes the connection after a
// request without FCGI_KEEP_CONN, as nginx expects.
func TestServeKeepConn(t *testing.T) {
	client, server := net.Pipe()
	done := make(chan struct{})
	go func() { serve(server); close(done) }()
	_ = client.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(client)
	for i, flags := range []byte{flagKeepConn, flagKeepConn, 0} {
		go func() { _, _ = client.Write(request(1, flags)) }()
		out := readAnswer(t, r)
		if !bytes.HasPrefix(out, []byte("Status: 200 OK\r\n")) || !bytes.HasSuffix(out, gif) {
			t.Fatalf("answer %d: %q", i+1, out)
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection stayed open after a request without FCGI_KEEP_CONN")
	}
}
