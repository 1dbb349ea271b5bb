package fraud

import (
	"strings"
	"unicode/utf8"
)

// RefererMatches reports whether the Referer header is consistent with a zone's site
// domain (referrer_mismatch). No Referer (privacy settings, Referrer-Policy: no-referrer,
// HTTPS→HTTP) matches: its absence is normal and proves nothing. Otherwise the Referer's
// host must equal siteDomain or be a subdomain of it, so www.example.com and
// m.shop.example.com match example.com while evil-example.com and example.com.evil.net do
// not. Comparison ignores ASCII case, ports, user info and a trailing dot. A leading "www."
// on siteDomain is ignored (publishers register "www.example.com" and serve from both), and
// an empty siteDomain matches everything (nothing to check against).
//
// IDN: browsers send hosts in ASCII (punycode "xn--" labels), so a siteDomain configured in
// Unicode is converted to punycode (lower-cased first; no full IDNA mapping) before
// comparing, and so is a Unicode host in the Referer. A Referer that is present but has no
// host ("about:blank", garbage) does not match. For ASCII input it does not allocate.
func RefererMatches(referer, siteDomain string) bool {
	referer = strings.TrimSpace(referer)
	if referer == "" {
		return true
	}
	domain := normalizeHost(siteDomain)
	domain = strings.TrimPrefix(strings.TrimPrefix(domain, "*."), "www.")
	if domain == "" {
		return true
	}
	host, ok := refererHost(referer)
	if !ok {
		return false
	}
	host = normalizeHost(host)
	if !isASCII(host) || !isASCII(domain) {
		host, domain = toASCIIHost(host), toASCIIHost(domain)
	}
	if len(host) < len(domain) {
		return false
	}
	tail := host[len(host)-len(domain):]
	if !strings.EqualFold(tail, domain) {
		return false
	}
	return len(host) == len(domain) || host[len(host)-len(domain)-1] == '.'
}

// refererHost extracts the host of an absolute URL "scheme://[userinfo@]host[:port]/…".
func refererHost(u string) (string, bool) {
	i := strings.Index(u, "://")
	if i <= 0 {
		return "", false
	}
	rest := u[i+3:]
	if end := strings.IndexAny(rest, "/?#"); end >= 0 {
		rest = rest[:end]
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest = rest[at+1:]
	}
	if strings.HasPrefix(rest, "[") { // IPv6 literal
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return "", false
		}
		return rest[1:end], end > 1
	}
	if c := strings.LastIndexByte(rest, ':'); c >= 0 {
		rest = rest[:c]
	}
	return rest, rest != ""
}

// normalizeHost trims spaces, a leading dot and a trailing root dot.
func normalizeHost(h string) string {
	h = strings.TrimSpace(h)
	h = strings.TrimSuffix(h, ".")
	return strings.TrimPrefix(h, ".")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// toASCIIHost lower-cases h and punycode-encodes its non-ASCII labels (RFC 3492, the
// ToASCII step of IDNA without the Unicode mapping tables). Labels that cannot be encoded
// are kept as they are, which then simply fail to match.
func toASCIIHost(h string) string {
	labels := strings.Split(strings.ToLower(h), ".")
	for i, l := range labels {
		if !isASCII(l) {
			if enc, ok := punycode(l); ok {
				labels[i] = "xn--" + enc
			}
		}
	}
	return strings.Join(labels, ".")
}

// punycode encodes s with the Bootstring parameters of RFC 3492 section 5.
func punycode(s string) (string, bool) {
	const (
		base, tmin, tmax, skew, damp = 36, 1, 26, 38, 700
		initialBias, initialN        = 72, 128
	)
	runes := []rune(s)
	var out []byte
	for _, r := range runes {
		if r < 0x80 {
			out = append(out, byte(r))
		}
	}
	b := len(out)
	h := b
	if b > 0 {
		out = append(out, '-')
	}
	digit := func(d int) byte {
		if d < 26 {
			return byte('a' + d)
		}
		return byte('0' + d - 26)
	}
	adapt := func(delta, numPoints int, first bool) int {
		if first {
			delta /= damp
		} else {
			delta /= 2
		}
		delta += delta / numPoints
		k := 0
		for delta > ((base-tmin)*tmax)/2 {
			delta /= base - tmin
			k += base
		}
		return k + (base-tmin+1)*delta/(delta+skew)
	}
	n, delta, bias := initialN, 0, initialBias
	for h < len(runes) {
		m := int(^uint(0) >> 1)
		for _, r := range runes {
			if int(r) >= n && int(r) < m {
				m = int(r)
			}
		}
		if (m-n)*(h+1) > (1<<31-1)-delta {
			return "", false // overflow: absurd input
		}
		delta += (m - n) * (h + 1)
		n = m
		for _, r := range runes {
			if int(r) < n {
				delta++
			}
			if int(r) == n {
				q := delta
				for k := base; ; k += base {
					t := k - bias
					if t < tmin {
						t = tmin
					} else if t > tmax {
						t = tmax
					}
					if q < t {
						break
					}
					out = append(out, digit(t+(q-t)%(base-t)))
					q = (q - t) / (base - t)
				}
				out = append(out, digit(q))
				bias = adapt(delta, h+1, h == b)
				delta = 0
				h++
			}
		}
		delta++
		n++
	}
	return string(out), true
}
