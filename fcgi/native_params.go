package fcgi

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/url"
	"strconv"
)

// maxParams bounds the number of params of one request. nginx sends a few dozen (its
// fastcgi_params plus one per request header, and its header buffers hold at most a few
// hundred headers); a request with more is answered 400.
const maxParams = 1000

// span is a [off, end) byte range of a request's params buffer; set tells a param that was
// sent empty from one that was not sent.
type span struct {
	off, end int32
	set      bool
}

// hdrSpan locates one HTTP_* param: its name (prefix included) and its value in the
// params buffer, and its canonical header key in the same buffer once built.
type hdrSpan struct {
	name, value, key span
}

// paramIndex is the result of one pass over a request's params: where each param that
// net/http/cgi.RequestFromMap maps onto the request is, so that the request is built
// without a map. A param sent twice keeps its last value, as in net/http/fcgi's map.
type paramIndex struct {
	method, proto, host, clen, ctype, uri, script, pathInfo, query, https, raddr, rport span
	hdr                                                                                 []hdrSpan
}

// errBadParams and the others below are answered 400 by the native engine (net/http/fcgi
// answers 500 for the same requests, outside the counters).
var (
	errNoMethod     = errors.New("fcgi: no REQUEST_METHOD in params")
	errBadProto     = errors.New("fcgi: invalid SERVER_PROTOCOL version")
	errBadCLen      = errors.New("fcgi: bad CONTENT_LENGTH in params")
	errBadURL       = errors.New("fcgi: failed to parse host and REQUEST_URI into a URL")
	errTooManyParam = errors.New("fcgi: too many params")
)

// index makes one pass over raw and records where the mapped params are.
func (ix *paramIndex) index(raw []byte) error {
	hdr := ix.hdr[:0]
	*ix = paramIndex{}
	n := 0
	for p, off := raw, 0; len(p) > 0; {
		name, value, rest, ok := nextPair(p)
		if !ok {
			break // a malformed pair ends the params, as in net/http/fcgi
		}
		if n++; n > maxParams {
			ix.hdr = hdr
			return errTooManyParam
		}
		vo := off + len(p) - len(rest) - len(value)
		no := vo - len(name)
		off += len(p) - len(rest)
		p = rest
		v := span{int32(vo), int32(vo + len(value)), true}
		var dst *span
		switch string(name) {
		case "REQUEST_METHOD":
			dst = &ix.method
		case "SERVER_PROTOCOL":
			dst = &ix.proto
		case "HTTP_HOST":
			dst = &ix.host
		case "CONTENT_LENGTH":
			dst = &ix.clen
		case "CONTENT_TYPE":
			dst = &ix.ctype
		case "REQUEST_URI":
			dst = &ix.uri
		case "SCRIPT_NAME":
			dst = &ix.script
		case "PATH_INFO":
			dst = &ix.pathInfo
		case "QUERY_STRING":
			dst = &ix.query
		case "HTTPS":
			dst = &ix.https
		case "REMOTE_ADDR":
			dst = &ix.raddr
		case "REMOTE_PORT":
			dst = &ix.rport
		}
		if dst != nil {
			*dst = v
			continue
		}
		if !bytes.HasPrefix(name, []byte("HTTP_")) {
			continue
		}
		ns := span{int32(no), int32(no + len(name)), true}
		dup := false
		for i := range hdr {
			if bytes.Equal(raw[hdr[i].name.off:hdr[i].name.end], name) {
				hdr[i].value = v // the same param twice: the last one wins
				dup = true
				break
			}
		}
		if !dup {
			hdr = append(hdr, hdrSpan{name: ns, value: v})
		}
	}
	ix.hdr = hdr
	return nil
}

// str returns the bytes of sp in b.
func (sp span) str(s string) string { return s[sp.off:sp.end] }

// bytesOf returns the bytes of sp in b.
func (sp span) bytesOf(b []byte) []byte { return b[sp.off:sp.end] }

// buildRequest builds the http.Request for params raw the way net/http/cgi.RequestFromMap
// does (same fields, same URL, same header keys, same RemoteAddr), with ctx as its
// context. Every string of the request is a substring of one string made from raw plus
// the derived URL, header keys and remote address: one allocation instead of one per
// field. scratch is reused between requests and returned grown. env is raw as a string
// (a substring of that one string), which ProcessEnv and Param decode on demand.
func buildRequest(ctx context.Context, raw []byte, ix *paramIndex, scratch []byte) (r *http.Request, env string, _ []byte, _ error) {
	if err := ix.index(raw); err != nil {
		return nil, "", scratch, err
	}
	if !ix.method.set || ix.method.off == ix.method.end {
		return nil, "", scratch, errNoMethod
	}
	b := append(scratch[:0], raw...)

	// The URL: scheme://Host + REQUEST_URI (or SCRIPT_NAME+PATH_INFO?QUERY_STRING).
	https := false
	if ix.https.set {
		switch string(ix.https.bytesOf(raw)) {
		case "on", "ON", "1":
			https = true
		}
	}
	urlOff := len(b)
	hasHost := ix.host.set && ix.host.off != ix.host.end
	if hasHost {
		if https {
			b = append(b, "https://"...)
		} else {
			b = append(b, "http://"...)
		}
		b = append(b, ix.host.bytesOf(raw)...)
	}
	if ix.uri.set && ix.uri.off != ix.uri.end {
		b = append(b, ix.uri.bytesOf(raw)...)
	} else {
		b = append(b, ix.script.bytesOf(raw)...)
		b = append(b, ix.pathInfo.bytesOf(raw)...)
		if q := ix.query.bytesOf(raw); len(q) > 0 {
			b = append(b, '?')
			b = append(b, q...)
		}
	}
	urlSpan := span{int32(urlOff), int32(len(b)), true}

	// RemoteAddr, as net.JoinHostPort(REMOTE_ADDR, strconv.Itoa(Atoi(REMOTE_PORT))).
	port, _ := strconv.Atoi(string(ix.rport.bytesOf(raw)))
	raOff := len(b)
	addr := ix.raddr.bytesOf(raw)
	if bytes.IndexByte(addr, ':') >= 0 {
		b = append(b, '[')
		b = append(b, addr...)
		b = append(b, ']')
	} else {
		b = append(b, addr...)
	}
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(port), 10)
	raSpan := span{int32(raOff), int32(len(b)), true}

	// Header keys: HTTP_FOO_BAR becomes Foo-Bar (canonical when it is a valid token).
	for i := range ix.hdr {
		h := &ix.hdr[i]
		off := len(b)
		b = appendHeaderKey(b, raw[h.name.off+5:h.name.end])
		h.key = span{int32(off), int32(len(b)), true}
	}
	s := string(b)

	env = s[:len(raw)]
	req := http.Request{
		Method:     ix.method.str(s),
		Proto:      ix.proto.str(s),
		Close:      true,
		Host:       ix.host.str(s),
		RemoteAddr: raSpan.str(s),
	}
	var ok bool
	if req.Proto == "INCLUDED" {
		req.ProtoMajor, req.ProtoMinor = 1, 0
	} else if req.ProtoMajor, req.ProtoMinor, ok = http.ParseHTTPVersion(req.Proto); !ok {
		return nil, env, b, errBadProto
	}
	if cl := ix.clen.str(s); cl != "" {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil {
			return nil, env, b, errBadCLen
		}
		req.ContentLength = n
	}
	nh := len(ix.hdr)
	if ix.ctype.set && ix.ctype.off != ix.ctype.end {
		nh++
	}
	req.Header = make(http.Header, nh)
	vals := make([]string, nh) // one backing array for every header's value
	if ix.ctype.set && ix.ctype.off != ix.ctype.end {
		vals[0] = ix.ctype.str(s)
		req.Header["Content-Type"] = vals[0:1:1]
		vals = vals[1:]
	}
	for i, h := range ix.hdr {
		k := h.key.str(s)
		vals[i] = h.value.str(s)
		if old, dup := req.Header[k]; dup {
			req.Header[k] = append(old, vals[i]) // HTTP_A_B and HTTP_A-B: both kept, like Header.Add
		} else {
			req.Header[k] = vals[i : i+1 : i+1]
		}
	}
	if https {
		req.TLS = &tls.ConnectionState{HandshakeComplete: true}
	}
	u, err := url.Parse(urlSpan.str(s))
	if err != nil {
		return nil, env, b, errBadURL
	}
	req.URL = u
	// WithContext copies req, which therefore stays on the stack: one Request allocation.
	return req.WithContext(ctx), env, b, nil
}

// appendHeaderKey appends the header key net/http/cgi derives from the part of an HTTP_*
// param name after the prefix: underscores become dashes, then
// textproto.CanonicalMIMEHeaderKey (which leaves a key with a non-token byte unchanged).
func appendHeaderKey(b, name []byte) []byte {
	valid := true
	for _, c := range name {
		if c != '_' && !isTokenByte(c) {
			valid = false
			break
		}
	}
	upper := true
	for _, c := range name {
		if c == '_' {
			c = '-'
		}
		if valid {
			if upper && 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			} else if !upper && 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			upper = c == '-'
		}
		b = append(b, c)
	}
	return b
}

// isTokenByte reports whether c may appear in an HTTP header field name (RFC 7230 tchar).
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// fallbackRequest builds a minimal request for an engine answer (a 400 for params that
// do not make a request), so that it goes through the same counters, endpoint and slow log
// as a handler's answer. Nothing of it reaches the application handler.
func fallbackRequest(ctx context.Context, raw []byte, ix *paramIndex) *http.Request {
	method := "GET"
	if m := ix.method.bytesOf(raw); ix.method.set && len(m) > 0 && len(m) < 32 {
		method = string(m)
	}
	path := ix.uri.bytesOf(raw)
	if !ix.uri.set {
		path = ix.script.bytesOf(raw)
	}
	if i := bytes.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	r := &http.Request{
		Method:     method,
		URL:        &url.URL{Path: string(path)},
		Header:     http.Header{},
		Proto:      "HTTP/1.0",
		ProtoMajor: 1,
		Close:      true,
		Body:       http.NoBody,
		RemoteAddr: string(ix.raddr.bytesOf(raw)),
	}
	return r.WithContext(ctx)
}
