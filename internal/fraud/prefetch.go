package fraud

// IsPrefetch reports whether the request is a speculative load rather than a person's
// action (MRC GIVT: prefetch/prerender), from its headers; get returns a header's value or
// "" (http.Header.Get, or a FastCGI param lookup). Matched case-insensitively:
//
//	Sec-Purpose: prefetch / prerender (Chromium's speculation rules, Fetch standard;
//	             e.g. "prefetch;prerender", "prefetch;anonymous-client-ip")
//	Purpose: prefetch     (older Chromium, <link rel=prefetch>)
//	X-Moz: prefetch       (Firefox)
//	X-Purpose: preview    (Safari Top Sites thumbnails)
//
// Such requests must not be billed even if a person later sees the page; the page's real
// view fires its own beacon. IsPrefetch does not allocate.
func IsPrefetch(get func(name string) string) bool {
	if v := get("Sec-Purpose"); v != "" && (containsFold(v, "prefetch") || containsFold(v, "prerender")) {
		return true
	}
	if v := get("Purpose"); v != "" && (containsFold(v, "prefetch") || containsFold(v, "prerender")) {
		return true
	}
	if v := get("X-Moz"); v != "" && containsFold(v, "prefetch") {
		return true
	}
	if v := get("X-Purpose"); v != "" && (containsFold(v, "preview") || containsFold(v, "prefetch")) {
		return true
	}
	return false
}

// containsFold reports whether s contains the lower-case ASCII word sub, ignoring ASCII
// case in s, without allocating.
func containsFold(s, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for j < n && lowerASCII(s[i+j]) == sub[j] {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

func lowerASCII(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}
