package fraud

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"adnet/models"
)

func TestRequestFilter(t *testing.T) {
	blocked, errs := ParseIPSet(strings.NewReader("198.51.100.0/24\n2001:db8:bad::/48\n"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	dc, _ := ParseIPSet(strings.NewReader("203.0.113.0/24\n"))
	f := &RequestFilter{UA: NewUAClassifier(UAOptions{CacheSize: 100}), MinClickDelay: time.Second, AdHost: "ads.example"}
	f.SetLists(blocked, dc)
	const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ok := RequestFacts{Type: models.EventClick, UA: chrome, Referer: "https://www.news.example/a", IP: netip.MustParseAddr("192.0.2.1"),
		SiteDomain: "news.example", ServedAt: now.Add(-5 * time.Second), Now: now}
	cases := []struct {
		name string
		mod  func(*RequestFacts)
		want models.Reason
	}{
		{"valid", func(*RequestFacts) {}, models.ReasonValid},
		{"bot", func(r *RequestFacts) {
			r.UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
		}, models.ReasonBotUA},
		{"curl", func(r *RequestFacts) { r.UA = "curl/8.5.0" }, models.ReasonBotUA},
		{"blocked v4", func(r *RequestFacts) { r.IP = netip.MustParseAddr("198.51.100.9") }, models.ReasonBlockedIP},
		{"blocked v4-mapped", func(r *RequestFacts) { r.IP = netip.MustParseAddr("::ffff:198.51.100.9") }, models.ReasonBlockedIP},
		{"blocked v6", func(r *RequestFacts) { r.IP = netip.MustParseAddr("2001:db8:bad:1::5") }, models.ReasonBlockedIP},
		{"datacenter", func(r *RequestFacts) { r.IP = netip.MustParseAddr("203.0.113.5") }, models.ReasonDatacenter},
		{"referrer mismatch", func(r *RequestFacts) { r.Referer = "https://evil-news.example/" }, models.ReasonReferrerMismatch},
		{"no referrer", func(r *RequestFacts) { r.Referer = "" }, models.ReasonValid},
		{"from adnet's own frame", func(r *RequestFacts) { r.Referer = "https://ads.example/serve/frame?zone=1" }, models.ReasonValid},
		{"fast click", func(r *RequestFacts) { r.ServedAt = now.Add(-999 * time.Millisecond) }, models.ReasonFastClick},
		{"click at the delay", func(r *RequestFacts) { r.ServedAt = now.Add(-time.Second) }, models.ReasonValid},
		{"impressions are never fast clicks", func(r *RequestFacts) { r.Type = models.EventImpression; r.ServedAt = now }, models.ReasonValid},
	}
	for _, c := range cases {
		in := ok
		c.mod(&in)
		if got := f.Check(&in); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	// No lists loaded yet: nothing is blocked.
	empty := &RequestFilter{}
	in := ok
	in.IP = netip.MustParseAddr("198.51.100.9")
	if got := empty.Check(&in); got != models.ReasonValid {
		t.Errorf("empty filter: %v", got)
	}
}
