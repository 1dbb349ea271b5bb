package fraud

import (
	"net/http"
	"testing"
)

func TestIsPrefetch(t *testing.T) {
	cases := []struct {
		headers map[string]string
		want    bool
	}{
		{map[string]string{}, false},
		{map[string]string{"Sec-Purpose": "prefetch"}, true},
		{map[string]string{"Sec-Purpose": "prefetch;prerender"}, true},
		{map[string]string{"Sec-Purpose": "prefetch;anonymous-client-ip"}, true},
		{map[string]string{"Sec-Purpose": "PREFETCH"}, true},
		{map[string]string{"Purpose": "prefetch"}, true},
		{map[string]string{"Purpose": "Prefetch"}, true},
		{map[string]string{"X-Moz": "prefetch"}, true},
		{map[string]string{"X-Purpose": "preview"}, true},
		{map[string]string{"X-Purpose": "Preview"}, true},
		{map[string]string{"Sec-Purpose": "navigate"}, false},
		{map[string]string{"Purpose": "navigate"}, false},
		{map[string]string{"X-Moz": "livebookmarks"}, false},
		{map[string]string{"Sec-Fetch-Dest": "document"}, false},
	}
	for _, tc := range cases {
		h := http.Header{}
		for k, v := range tc.headers {
			h.Set(k, v)
		}
		if got := IsPrefetch(h.Get); got != tc.want {
			t.Errorf("IsPrefetch(%v) = %v, want %v", tc.headers, got, tc.want)
		}
	}
	get := func(name string) string {
		if name == "Sec-Purpose" {
			return "prefetch"
		}
		return ""
	}
	if n := testing.AllocsPerRun(100, func() { IsPrefetch(get) }); n != 0 {
		t.Fatalf("IsPrefetch allocates %v times", n)
	}
}

func TestRefererMatches(t *testing.T) {
	cases := []struct {
		referer, domain string
		want            bool
	}{
		{"", "example.com", true},
		{"https://example.com/page", "example.com", true},
		{"https://www.example.com/page", "example.com", true},
		{"https://m.shop.example.com/a?b#c", "example.com", true},
		{"https://WWW.Example.COM/", "example.com", true},
		{"https://example.com:8443/x", "example.com", true},
		{"https://user:pw@example.com/x", "example.com", true},
		{"https://example.com./x", "example.com", true},
		{"https://example.com", "example.com", true},
		{"http://example.com?x=1", "Example.Com.", true},
		{"https://example.com/", "www.example.com", true}, // www. on the site domain is ignored
		{"https://blog.example.com/", "www.example.com", true},
		{"https://evil-example.com/", "example.com", false},
		{"https://example.com.evil.net/", "example.com", false},
		{"https://notexample.com/", "example.com", false},
		{"https://evil.net/?u=https://example.com/", "example.com", false},
		{"https://evil.net/#@example.com", "example.com", false},
		{"https://example.com@evil.net/", "example.com", false},
		{"https://com/", "example.com", false},
		{"about:blank", "example.com", false},
		{"garbage", "example.com", false},
		{"android-app://com.google.android.gm/", "example.com", false},
		{"https://[2001:db8::1]:443/", "example.com", false},
		{"https://anything.net/", "", true},
		// IDN: browsers send punycode; the site domain may be configured in Unicode.
		{"https://xn--bcher-kva.de/", "bücher.de", true},
		{"https://www.xn--bcher-kva.de/", "BÜCHER.de", true},
		{"https://bücher.de/", "xn--bcher-kva.de", true},
		{"https://xn--bcher-kva.de/", "bucher.de", false},
		{"https://xn--mnchen-3ya.de/", "münchen.de", true},
		{"https://xn--fiqs8s.cn/", "中国.cn", true},
	}
	for _, tc := range cases {
		if got := RefererMatches(tc.referer, tc.domain); got != tc.want {
			t.Errorf("RefererMatches(%q, %q) = %v, want %v", tc.referer, tc.domain, got, tc.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		RefererMatches("https://www.example.com:443/page?q=1", "example.com")
	}); n != 0 {
		t.Fatalf("RefererMatches allocates %v times", n)
	}
}

func TestPunycode(t *testing.T) {
	// RFC 3492 section 7.1 samples and common labels.
	cases := map[string]string{
		"bücher":            "bcher-kva",
		"münchen":           "mnchen-3ya",
		"中国":                "fiqs8s",
		"ليهمابتكلموشعربي؟": "egbpdaj6bu4bxfgehfvwxn",
		"他们为什么不说中文":         "ihqwcrb4cv8a8dqg056pqjye",
	}
	for in, want := range cases {
		if got, ok := punycode(in); !ok || got != want {
			t.Errorf("punycode(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
