package fcgi

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"
)

// This file is a minimal FastCGI client, written from the specification, that talks to
// the server the way nginx does: request id 1, FCGI_KEEP_CONN, one request at a time per
// connection. The tests drive the real server over real Unix sockets with it.

const ioTimeout = 30 * time.Second // a test that would hang fails instead

// fcgiConn is one client connection.
type fcgiConn struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

// fcgiResponse is a parsed FastCGI response.
type fcgiResponse struct {
	Status      int
	Header      http.Header
	Body        []byte
	Stderr      []byte
	AppStatus   uint32
	ProtoStatus byte
}

func dialFCGI(t testing.TB, path string) *fcgiConn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	t.Cleanup(func() { c.Close() })
	return &fcgiConn{t: t, conn: c, br: bufio.NewReader(c)}
}

// writeRecord writes one record; padding follows the spec's suggestion of 8-byte alignment.
func writeRecord(w io.Writer, typ byte, id uint16, content []byte) error {
	pad := -len(content) & 7
	buf := make([]byte, 8+len(content)+pad)
	buf[0] = 1
	buf[1] = typ
	binary.BigEndian.PutUint16(buf[2:], id)
	binary.BigEndian.PutUint16(buf[4:], uint16(len(content)))
	buf[6] = byte(pad)
	copy(buf[8:], content)
	_, err := w.Write(buf)
	return err
}

// encodePairs encodes FastCGI name-value pairs.
func encodePairs(params map[string]string) []byte {
	var b bytes.Buffer
	size := func(n int) {
		if n < 128 {
			b.WriteByte(byte(n))
			return
		}
		var x [4]byte
		binary.BigEndian.PutUint32(x[:], uint32(n)|1<<31)
		b.Write(x[:])
	}
	for k, v := range params {
		size(len(k))
		size(len(v))
		b.WriteString(k)
		b.WriteString(v)
	}
	return b.Bytes()
}

// beginRequest returns the content of a BEGIN_REQUEST record.
func beginRequest(role uint16, flags byte) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint16(b, role)
	b[2] = flags
	return b
}

// getParams returns the params nginx would send for a GET of uri.
func getParams(uri string) map[string]string {
	path, query, _ := strings.Cut(uri, "?")
	return map[string]string{
		"REQUEST_METHOD":  "GET",
		"REQUEST_URI":     uri,
		"SCRIPT_NAME":     path,
		"QUERY_STRING":    query,
		"SERVER_PROTOCOL": "HTTP/1.1",
		"HTTP_HOST":       "ads.example",
		"REMOTE_ADDR":     "192.0.2.1",
		"REMOTE_PORT":     "40000",
		"SERVER_NAME":     "ads.example",
		"SERVER_PORT":     "80",
	}
}

// send writes a whole request (BEGIN with KEEP_CONN, PARAMS, STDIN) without reading.
func (c *fcgiConn) send(params map[string]string, body []byte) error {
	c.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	var b bytes.Buffer
	writeRecord(&b, recBeginRequest, 1, beginRequest(roleResponder, flagKeepConn))
	p := encodePairs(params)
	for len(p) > 0 {
		n := min(len(p), 65535)
		writeRecord(&b, recParams, 1, p[:n])
		p = p[n:]
	}
	writeRecord(&b, recParams, 1, nil)
	for len(body) > 0 {
		n := min(len(body), 65535)
		writeRecord(&b, recStdin, 1, body[:n])
		body = body[n:]
	}
	writeRecord(&b, recStdin, 1, nil)
	_, err := c.conn.Write(b.Bytes())
	return err
}

// readResponse reads records until END_REQUEST and parses the CGI response.
func (c *fcgiConn) readResponse() (*fcgiResponse, error) {
	c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	var stdout, stderr bytes.Buffer
	for {
		var h [8]byte
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			return nil, fmt.Errorf("reading record header: %w", err)
		}
		if h[0] != 1 {
			return nil, fmt.Errorf("bad record version %d", h[0])
		}
		n := int(binary.BigEndian.Uint16(h[4:])) + int(h[6])
		content := make([]byte, n)
		if _, err := io.ReadFull(c.br, content); err != nil {
			return nil, fmt.Errorf("reading record content: %w", err)
		}
		content = content[:binary.BigEndian.Uint16(h[4:])]
		switch h[1] {
		case recStdout:
			stdout.Write(content)
		case recStderr:
			stderr.Write(content)
		case recEndRequest:
			if len(content) != 8 {
				return nil, fmt.Errorf("END_REQUEST content length %d", len(content))
			}
			resp := &fcgiResponse{
				Stderr:      stderr.Bytes(),
				AppStatus:   binary.BigEndian.Uint32(content),
				ProtoStatus: content[4],
			}
			if stdout.Len() == 0 {
				return resp, nil
			}
			return resp, parseCGI(stdout.Bytes(), resp)
		default:
			return nil, fmt.Errorf("unexpected record type %d", h[1])
		}
	}
}

// parseCGI parses CGI response headers ("Status: 503 Service Unavailable") and body.
func parseCGI(b []byte, resp *fcgiResponse) error {
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(b)))
	mh, err := r.ReadMIMEHeader()
	if err != nil {
		return fmt.Errorf("parsing CGI headers: %w", err)
	}
	resp.Header = http.Header(mh)
	resp.Status = http.StatusOK
	if st := mh.Get("Status"); st != "" {
		code, _, _ := strings.Cut(st, " ")
		if resp.Status, err = strconv.Atoi(code); err != nil {
			return fmt.Errorf("bad Status %q", st)
		}
	}
	resp.Body, err = io.ReadAll(r.R)
	return err
}

// get sends a GET of uri and reads the response, failing the test on protocol errors.
func (c *fcgiConn) get(uri string) *fcgiResponse {
	c.t.Helper()
	resp, err := c.tryGet(uri)
	if err != nil {
		c.t.Fatalf("GET %s: %v", uri, err)
	}
	return resp
}

// tryGet is get that returns errors, for use off the test goroutine.
func (c *fcgiConn) tryGet(uri string) (*fcgiResponse, error) {
	if err := c.send(getParams(uri), nil); err != nil {
		return nil, err
	}
	return c.readResponse()
}

// readGoodbye reads the record a draining server sends after END_REQUEST to make the web
// server drop the connection: an empty STDERR record of request 1.
func (c *fcgiConn) readGoodbye() {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	var h [8]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		c.t.Fatalf("reading the goodbye record: %v", err)
	}
	if h != [8]byte{1, recStderr, 0, 1, 0, 0, 0, 0} {
		c.t.Fatalf("goodbye record % x, want an empty STDERR record of request 1", h)
	}
}

// waitClosed reads until the server closes the connection (EOF or reset), failing the
// test if it is still open after timeout. Any bytes the server sends first are skipped.
func (c *fcgiConn) waitClosed(timeout time.Duration) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(timeout))
	_, err := io.Copy(io.Discard, c.br)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		c.t.Fatalf("connection still open after %v", timeout)
	}
}
