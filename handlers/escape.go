package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The ad endpoints build their answers by appending into pooled buffers: these helpers
// escape and assemble without allocating, which is most of what the ad request path costs
// in a handler (see BenchmarkServeJS).

// appendHTML appends s escaped for HTML text and quoted attribute values, exactly as
// html.EscapeString does (< > & ' ").
func appendHTML(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '&':
			b = append(b, "&amp;"...)
		case '\'':
			b = append(b, "&#39;"...)
		case '"':
			b = append(b, "&#34;"...)
		default:
			b = append(b, c)
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendJS appends p (text or bytes) as a JavaScript string literal that is also safe inside an HTML
// <script> element, escaping as encoding/json does with HTML escaping: quotes, backslashes
// and control characters, < > & (so no "</script>" can end the script early), U+2028 and
// U+2029 (line terminators in older JavaScript), and invalid UTF-8 as U+FFFD.
func appendJS[T string | []byte](b []byte, p T) []byte {
	b = append(b, '"')
	for i := 0; i < len(p); {
		c := p[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		var rb [utf8.UTFMax]byte // the rune's bytes, copied: decoding needs no conversion of p
		r, n := utf8.DecodeRune(rb[:copy(rb[:], p[i:])])
		switch {
		case r == utf8.RuneError && n == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&15])
		default:
			b = append(b, p[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

// queryParam returns the first value of key in the raw query, unescaped; it allocates only
// when the value holds escapes (tokens and zone ids do not).
func queryParam(raw, key string) string {
	q := queryPairs{rest: raw}
	for {
		k, v, ok := q.next()
		if !ok || k == key {
			return v
		}
	}
}

// queryPairs walks a raw query's key=value pairs, unescaped (pairs that do not unescape are
// skipped, as url.ParseQuery skips them).
type queryPairs struct{ rest string }

// next returns the next pair; ok is false at the end.
func (q *queryPairs) next() (key, value string, ok bool) {
	for q.rest != "" {
		var pair string
		pair, q.rest, _ = strings.Cut(q.rest, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		var err error
		if k, err = url.QueryUnescape(k); err != nil {
			continue
		}
		if v, err = url.QueryUnescape(v); err != nil {
			continue
		}
		return k, v, true
	}
	return "", "", false
}

// cookieValue returns the value of the cookie name in r's Cookie headers without parsing
// the others (http.Request.Cookie allocates every cookie of the header).
func cookieValue(r *http.Request, name string) string {
	for _, line := range r.Header["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			if k, v, ok := strings.Cut(part, "="); ok && k == name {
				return strings.Trim(v, `"`)
			}
		}
	}
	return ""
}

// appendCookie appends a Set-Cookie value: name=value; Path=/; Max-Age; HttpOnly; and
// SameSite=None; Secure on an https ad server (the cookie is third-party on publishers'
// pages, which browsers accept only so), SameSite=Lax otherwise. Values are the signer's
// base64url text: nothing to quote.
func appendCookie[V string | []byte](b []byte, name string, value V, maxAge int, secure bool) []byte {
	b = append(b, name...)
	b = append(b, '=')
	b = append(b, value...)
	b = append(b, "; Path=/; Max-Age="...)
	b = strconv.AppendInt(b, int64(maxAge), 10)
	b = append(b, "; HttpOnly"...)
	if secure {
		return append(b, "; Secure; SameSite=None"...)
	}
	return append(b, "; SameSite=Lax"...)
}

// Header values shared by every answer of the ad endpoints. Assigning a shared slice saves
// an allocation per header per request; nothing appends to or edits a header value in place.
var (
	hdrNoStore   = []string{"no-store, max-age=0"}
	hdrJS        = []string{"text/javascript; charset=utf-8"}
	hdrHTML      = []string{"text/html; charset=utf-8"}
	hdrNosniff   = []string{"nosniff"}
	hdrJSON      = []string{"application/json; charset=utf-8"}
	hdrReferrer  = []string{"no-referrer-when-downgrade"}
	hdrGIF       = []string{"image/gif"}
	hdrGIFCache  = []string{"no-store, no-cache, must-revalidate, max-age=0"}
	hdrNoCache   = []string{"no-cache"}
	hdrGIFLength = []string{"43"}
)
