package fcgi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// flushAt is the response size buffered before the native engine writes to the peer.
// Like net/http/fcgi's 64 KB response buffer (but pooled rather than allocated per
// response), so that a response up to this size goes out in one write together with its
// END_REQUEST, after the handler has returned.
const flushAt = 64 << 10

// maxPooledBuf: response buffers that grew beyond this are not kept, so that one huge
// response does not pin its buffer for ever.
const maxPooledBuf = 2 * flushAt

// errAborted is returned by writes of a request the web server aborted: its output is
// dropped, since its request id may already belong to another request.
var errAborted = errors.New("fcgi: request aborted by the web server")

// nresp is the native engine's http.ResponseWriter. Output is built as complete FastCGI
// STDOUT records in buf: buf[rec:rec+8] is the header of the record being filled, written
// once the record is closed. Pooled with its header map.
type nresp struct {
	q      *nreq
	header http.Header
	buf    []byte
	rec    int
	code   int
	err    error // the first write error; later writes return it at once

	wroteHeader bool // WriteHeader with a final status (or Write) was called
	wroteCGI    bool // the CGI header block is in buf
}

var respPool = sync.Pool{New: func() any {
	return &nresp{header: make(http.Header, 8), buf: make([]byte, 0, 4096)}
}}

// newResp takes a response writer for q from the pool.
func newResp(q *nreq) *nresp {
	w := respPool.Get().(*nresp)
	w.q = q
	w.buf = append(w.buf[:0], zeros[:]...) // the open record's header, filled when closed
	w.rec = 0
	return w
}

// free returns w to the pool. The handler has returned: under net/http's rules it no
// longer uses its ResponseWriter or header map.
func (w *nresp) free() {
	clear(w.header)
	w.q, w.code, w.err = nil, 0, nil
	w.wroteHeader, w.wroteCGI = false, false
	if cap(w.buf) > maxPooledBuf {
		w.buf = make([]byte, 0, 4096)
	}
	respPool.Put(w)
}

// Header returns the response header map.
func (w *nresp) Header() http.Header { return w.header }

// WriteHeader sets the status as net/http/fcgi does (a 304 loses its Content-Type,
// Content-Length and Transfer-Encoding), except that a 1xx is ignored: CGI has no interim
// responses, and net/http/fcgi would send it as the final status.
func (w *nresp) WriteHeader(code int) {
	if w.wroteHeader || code >= 100 && code < 200 {
		return
	}
	w.wroteHeader = true
	w.code = code
	if code == http.StatusNotModified {
		delete(w.header, "Content-Type")
		delete(w.header, "Content-Length")
		delete(w.header, "Transfer-Encoding")
	}
}

// Write appends body bytes, sending the header block first; a body that fills flushAt is
// written to the peer in complete records.
func (w *nresp) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.wroteCGI {
		w.writeCGIHeader(p)
	}
	n := len(p)
	for len(p) > 0 {
		room := maxContent - (len(w.buf) - w.rec - recHeaderLen)
		if room == 0 {
			w.closeRecord()
			continue
		}
		k := min(room, len(p), flushAt)
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) >= flushAt {
			if err := w.flush(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// WriteString is Write for strings, so that io.WriteString does not copy s into a new
// slice.
func (w *nresp) WriteString(s string) (int, error) {
	// Write only reads p (it copies into buf, and sniffs the type from it), so viewing s
	// as bytes is safe.
	return w.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// Flush sends what is buffered, as net/http/fcgi's Flush: before the first Write it only
// fixes the status (the header block goes out with the first body bytes, for sniffing).
func (w *nresp) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.wroteCGI && w.err == nil {
		w.flush()
	}
}

// writeCGIHeader appends the CGI header block: Status, the header map, Date and a sniffed
// Content-Type when the handler set none (as net/http/fcgi does). Values have CR and LF
// turned into spaces and are trimmed, as http.Header.Write does; a key that could break
// the block is dropped.
func (w *nresp) writeCGIHeader(p []byte) {
	w.wroteCGI = true
	b := append(w.buf, "Status: "...)
	b = strconv.AppendInt(b, int64(w.code), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(w.code)...)
	b = append(b, "\r\n"...)
	if _, ok := w.header["Content-Type"]; !ok && w.code != http.StatusNotModified {
		b = append(b, "Content-Type: "...)
		b = append(b, http.DetectContentType(p)...)
		b = append(b, "\r\n"...)
	}
	if _, ok := w.header["Date"]; !ok {
		b = append(b, "Date: "...)
		b = append(b, httpDate()...)
		b = append(b, "\r\n"...)
	}
	for k, vv := range w.header {
		if k == "" || strings.ContainsAny(k, "\r\n:") {
			continue
		}
		for _, v := range vv {
			b = append(b, k...)
			b = append(b, ": "...)
			b = appendHeaderValue(b, v)
			b = append(b, "\r\n"...)
		}
	}
	w.buf = append(b, "\r\n"...)
	// The header block of a huge header map may exceed one record: split it.
	for len(w.buf)-w.rec-recHeaderLen > maxContent {
		w.splitRecord()
	}
}

// appendHeaderValue appends v with CR and LF as spaces and surrounding blanks trimmed.
func appendHeaderValue(b []byte, v string) []byte {
	v = strings.Trim(v, " \t")
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		b = append(b, c)
	}
	return b
}

// splitRecord cuts an over-long open record at maxContent, moving the rest into a new one.
func (w *nresp) splitRecord() {
	end := w.rec + recHeaderLen + maxContent
	rest := append([]byte(nil), w.buf[end:]...)
	w.buf = w.buf[:end]
	w.closeRecord()
	w.buf = append(w.buf, rest...)
}

// closeRecord completes the open record (header and padding) if it has content, and
// opens the next one.
func (w *nresp) closeRecord() {
	clen := len(w.buf) - w.rec - recHeaderLen
	if clen == 0 {
		return
	}
	pad := padding(clen)
	w.buf = append(w.buf, zeros[:pad]...)
	appendRecordHeader(w.buf[w.rec:w.rec], recStdout, w.q.id, clen, pad)
	w.rec = len(w.buf)
	w.buf = append(w.buf, zeros[:]...)
}

// flush writes the complete records to the peer and keeps the open (empty) one.
func (w *nresp) flush() error {
	w.closeRecord()
	err := w.q.c.write(w.q, w.buf[:w.rec])
	w.buf = w.buf[:recHeaderLen]
	w.rec = 0
	if err != nil {
		w.err = err
	}
	return err
}

// finish completes the response the way net/http/fcgi does after the handler returns (an
// empty 200 if nothing was written), terminates the STDOUT stream, appends END_REQUEST,
// and writes everything left in one write.
func (w *nresp) finish() error {
	if w.err != nil {
		return w.err
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.wroteCGI {
		w.writeCGIHeader(nil)
	}
	w.closeRecord()
	// The open record, empty, is the end of the STDOUT stream.
	appendRecordHeader(w.buf[w.rec:w.rec], recStdout, w.q.id, 0, 0)
	w.buf = appendEndRequest(w.buf, w.q.id, 0, statusRequestComplete)
	if w.q.keep && w.q.c.s.draining.Load() {
		// Draining: nginx is to drop this connection after reading the response, rather
		// than reuse it (see appendGoodbye).
		w.buf = appendGoodbye(w.buf, w.q.id)
		w.q.c.s.c.drainGoodbyes.Add(1)
	}
	err := w.q.c.write(w.q, w.buf)
	w.buf = w.buf[:0]
	w.rec = 0
	if err != nil {
		w.err = err
	}
	return err
}

// dateCache holds the Date header value for one second.
type dateCache struct {
	sec int64
	val string
}

var curDate atomic.Pointer[dateCache]

// httpDate returns the current time in http.TimeFormat, formatted once per second.
func httpDate() string {
	now := time.Now()
	if d := curDate.Load(); d != nil && d.sec == now.Unix() {
		return d.val
	}
	d := &dateCache{sec: now.Unix(), val: now.UTC().Format(http.TimeFormat)}
	curDate.Store(d)
	return d.val
}
