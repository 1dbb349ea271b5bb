package handlers

import (
	"adnet/internal/adserver"
	"adnet/models"
	"bytes"
	"encoding/json"
	"html"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
)

// randomText mixes ASCII, markup, quotes, control characters, multi-byte and invalid UTF-8.
func randomText(rng *rand.Rand) string {
	pieces := []string{"a", "Z", "0", " ", "<", ">", "&", "'", `"`, "\\", "\n", "\r", "\t", "\x00", "\x1f", "é", "€", "😀",
		"\u2028", "\u2029", "\xff", "\xc3", "</script>", "%", "+", "=", ";", "%zz", "%41"}
	var b strings.Builder
	for range rng.IntN(20) {
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	return b.String()
}

// TestEscapersMatchTheLibrary: the allocation-free escapers write what html.EscapeString and
// encoding/json (with its HTML escaping) write.
func TestEscapersMatchTheLibrary(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		s := randomText(rng)
		if got, want := string(appendHTML(nil, s)), html.EscapeString(s); got != want {
			t.Fatalf("appendHTML(%q) = %q, want %q", s, got, want)
		}
		want, _ := json.Marshal(s)
		if got := appendJS(nil, s); string(got) != string(want) || string(appendJS(nil, []byte(s))) != string(want) {
			t.Fatalf("appendJS(%q) = %s, want %s", s, got, want)
		}
	}
}

// TestQueryReadersMatchParseQuery: the query readers find what url.ParseQuery finds.
func TestQueryReadersMatchParseQuery(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	keys := []string{"t", "zone", "page", "k", "t%20", "k+1", ""}
	for range 20000 {
		var parts []string
		for range rng.IntN(6) {
			parts = append(parts, keys[rng.IntN(len(keys))]+"="+url.QueryEscape(randomText(rng)))
			if rng.IntN(8) == 0 {
				parts = append(parts, randomText(rng)) // junk
			}
		}
		raw := strings.Join(parts, "&")
		want, _ := url.ParseQuery(raw)
		for _, k := range keys {
			if got := queryParam(raw, k); got != want.Get(k) && !strings.Contains(raw, ";") {
				t.Fatalf("queryParam(%q, %q) = %q, want %q", raw, k, got, want.Get(k))
			}
		}
		seen := map[string][]string{}
		q := queryPairs{rest: raw}
		for {
			k, v, ok := q.next()
			if !ok {
				break
			}
			seen[k] = append(seen[k], v)
		}
		for k, vs := range want {
			if strings.Contains(raw, ";") {
				break
			}
			if strings.Join(seen[k], "\x00") != strings.Join(vs, "\x00") {
				t.Fatalf("queryPairs(%q)[%q] = %q, want %q", raw, k, seen[k], vs)
			}
		}
	}
}

// TestServeJSONMatchesEncodingJSON: the hand-written /serve/json answer is byte for byte what
// encoding/json writes for the documented ServeJSONAd, for every kind of creative.
func TestServeJSONMatchesEncodingJSON(t *testing.T) {
	a := NewAds(AdsOptions{BaseURL: `https://ads.example/a&b"c`})
	f := newAdsFixture(t)
	var s adserver.Served
	if err := f.ads.opt.Service.Serve(&adserver.Visit{UserAgent: "Mozilla/5.0"}, &adserver.AdRequest{ZoneID: 5}, &s); err != nil || !s.Filled {
		t.Fatalf("serve: %v", err)
	}
	for _, cr := range []models.Creative{
		{ID: 7, Kind: models.CreativeImage, Width: 300, Height: 250, ImageURL: "/static/creatives/a <b>.svg"},
		{ID: 8, Kind: models.CreativeImage, Width: 728, Height: 90, ImageURL: "https://cdn.example/x.png?a=1&b=2"},
		{ID: 9, Kind: models.CreativeText, Width: 300, Height: 100, Title: `"Quoted" & <b>bold</b>`, Text: "é\u2028€\x01"},
		{ID: 10, Kind: models.CreativeHTML, Width: 300, Height: 250, HTML: `<a href="{click_url}">{zone_id}</a><img src="{imp_url}">`},
	} {
		s := &s
		s.Decision.Creative = &cr
		ad := &ServeJSONAd{ImpressionID: hexID(s.ImpressionID), ZoneID: s.Decision.ZoneID, CampaignID: s.Decision.CampaignID, CreativeID: cr.ID, Kind: string(cr.Kind),
			Width: cr.Width, Height: cr.Height, ImageURL: a.assetURL(cr.ImageURL), Title: cr.Title, Text: cr.Text,
			ClickURL: a.clickURL(s), ImpressionURL: a.impURL(s)}
		if cr.Kind == models.CreativeHTML {
			ad.HTML = string(a.expand(nil, cr.HTML, s, false))
		}
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(ad); err != nil {
			t.Fatal(err)
		}
		if got := a.appendJSONAd(nil, s); string(got) != want.String() {
			t.Errorf("creative %d:\n got %s\nwant %s", cr.ID, got, want.String())
		}
	}
}
