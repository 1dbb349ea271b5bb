package decision

import (
	"fmt"
	"strings"
	"testing"
)

func TestUAParser(t *testing.T) {
	p, err := NewUAParser(64)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ua                  string
		device, os, browser string
	}{
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", "desktop", "windows", "chrome"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15", "desktop", "macos", "safari"},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", "desktop", "linux", "firefox"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", "mobile", "ios", "safari"},
		{"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36", "mobile", "android", "samsung"},
		{"Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", "tablet", "ios", "safari"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51", "desktop", "windows", "edge"},
		{"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", "desktop", "chromeos", "chrome"},
		{"curl/8.5.0", "other", "other", "other"},
		{"", "", "", ""},
	} {
		for range 2 { // second round from the cache
			u := p.Parse(tc.ua)
			if u.DeviceName() != tc.device || u.OSName() != tc.os || u.BrowserName() != tc.browser {
				t.Errorf("%.50q: got %s/%s/%s, want %s/%s/%s", tc.ua, u.DeviceName(), u.OSName(), u.BrowserName(), tc.device, tc.os, tc.browser)
			}
		}
	}
	// The cache is bounded.
	for i := range 500 {
		p.Parse(fmt.Sprintf("Mozilla/5.0 (Windows NT 10.0) Chrome/%d.0", i))
	}
	if p.Len() > 64 {
		t.Fatalf("cache holds %d entries, limit 64", p.Len())
	}
	// Oversized strings are parsed but not cached.
	long := strings.Repeat("x", maxCachedUA+1)
	p.Parse(long)
	if p.cache.Contains(long) {
		t.Fatal("oversized UA cached")
	}
	if _, err := NewUAParser(0); err == nil {
		t.Fatal("size 0 accepted")
	}
	hit := "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
	p.Parse(hit)
	if a := testing.AllocsPerRun(100, func() { p.Parse(hit) }); a != 0 {
		t.Fatalf("cache hit: %v allocs", a)
	}
}

func TestExpandMacros(t *testing.T) {
	m := &Macros{
		ClickURL:    "https://ads.example/c?t=abc&z=1",
		ImpURL:      `https://ads.example/i?t="x'<y>`,
		Cachebuster: 18446744073709551615,
		ZoneID:      12, CampaignID: 345, CreativeID: 6789,
		Width: 300, Height: 250,
	}
	for i := range m.ImpressionID {
		m.ImpressionID[i] = byte(i * 17)
	}
	for _, tc := range []struct{ tpl, want string }{
		{"", ""},
		{"no macros", "no macros"},
		{`<a href="{click_url}">`, `<a href="https://ads.example/c?t=abc&amp;z=1">`},
		{`<img src="{imp_url}">`, `<img src="https://ads.example/i?t=&#34;x&#39;&lt;y&gt;">`},
		{"{cachebuster}", "18446744073709551615"},
		{"{zone_id}/{campaign_id}/{creative_id}", "12/345/6789"},
		{"{width}x{height}", "300x250"},
		{"{impression_id}", "00112233445566778899aabbccddeeff"},
		{"{unknown} {CLICK_URL} { zone_id}", "{unknown} {CLICK_URL} { zone_id}"},
		{"{{zone_id}}", "{12}"},
		{"{zone_id", "{zone_id"},
		{"}{", "}{"},
		{"{", "{"},
		{"a{b{zone_id}c}", "a{b12c}"},
		{"{averyveryverylongname} {zone_id}", "{averyveryverylongname} 12"},
		{"{zone_id}{zone_id}", "1212"},
		{"ünï{zone_id}cödé", "ünï12cödé"},
	} {
		if got := string(ExpandMacros(nil, tc.tpl, m)); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.tpl, got, tc.want)
		}
	}
	// Empty values expand to nothing rather than leaving the macro.
	if got := string(ExpandMacros(nil, "[{click_url}]", &Macros{})); got != "[]" {
		t.Errorf("empty click url: %q", got)
	}
	// Appends, and does not allocate with room.
	buf := make([]byte, 0, 256)
	buf = ExpandMacros(append(buf, "pre:"...), "{zone_id}", m)
	if string(buf) != "pre:12" {
		t.Errorf("append: %q", buf)
	}
	tpl := `<a href="{click_url}"><img src="{imp_url}" width="{width}"></a>`
	if a := testing.AllocsPerRun(100, func() { buf = ExpandMacros(buf[:0], tpl, m) }); a != 0 {
		t.Errorf("ExpandMacros: %v allocs", a)
	}
}
