package decision

import (
	"strings"
	"testing"
	"time"

	"adnet/models"
)

func TestTargetingRules(t *testing.T) {
	withCountry := func(c string) func(*Request) {
		return func(r *Request) { r.Country = [2]byte{}; copy(r.Country[:], c) }
	}
	withUA := func(d, o, b string) func(*Request) { return func(r *Request) { r.UA = NewUA(d, o, b) } }
	withURL := func(u string) func(*Request) { return func(r *Request) { r.PageURL = u } }
	withKV := func(kv ...string) func(*Request) {
		return func(r *Request) {
			for i := 0; i+1 < len(kv); i += 2 {
				r.KeyValues = append(r.KeyValues, KV{kv[i], kv[i+1]})
			}
		}
	}
	cases := []struct {
		name   string
		tg     models.Targeting
		domain string // site domain of the zone, default news.example
		mod    func(*Request)
		want   bool
	}{
		{"no rules", models.Targeting{}, "", nil, true},
		{"country in", models.Targeting{Countries: []string{"FR", "DE"}}, "", nil, true},
		{"country lower case rule", models.Targeting{Countries: []string{"de"}}, "", nil, true},
		{"country not in", models.Targeting{Countries: []string{"FR"}}, "", nil, false},
		{"country unknown vs include", models.Targeting{Countries: []string{"DE"}}, "", withCountry(""), false},
		{"country excluded", models.Targeting{ExcludeCountries: []string{"DE"}}, "", nil, false},
		{"country not excluded", models.Targeting{ExcludeCountries: []string{"FR"}}, "", nil, true},
		{"country unknown vs exclude", models.Targeting{ExcludeCountries: []string{"DE"}}, "", withCountry(""), true},
		{"include and exclude", models.Targeting{Countries: []string{"DE"}, ExcludeCountries: []string{"DE"}}, "", nil, false},
		{"device match", models.Targeting{Devices: []string{"mobile", "desktop"}}, "", nil, true},
		{"device mismatch", models.Targeting{Devices: []string{"mobile"}}, "", nil, false},
		{"device unknown", models.Targeting{Devices: []string{"mobile", "desktop", "other"}}, "", withUA("", "", ""), false},
		{"device mobile", models.Targeting{Devices: []string{"mobile"}}, "", withUA("mobile", "android", "chrome"), true},
		{"os match", models.Targeting{OSes: []string{"windows"}}, "", nil, true},
		{"os mismatch", models.Targeting{OSes: []string{"ios", "android"}}, "", nil, false},
		{"browser match", models.Targeting{Browsers: []string{"firefox", "chrome"}}, "", nil, true},
		{"browser mismatch", models.Targeting{Browsers: []string{"safari"}}, "", nil, false},
		{"day match (Wednesday)", models.Targeting{Days: []int{3}}, "", nil, true},
		{"day mismatch (weekend)", models.Targeting{Days: []int{0, 6}}, "", nil, false},
		{"hour match", models.Targeting{Hours: []int{11, 12}}, "", nil, true},
		{"hour mismatch", models.Targeting{Hours: []int{13}}, "", nil, false},
		{"domain exact", models.Targeting{SiteDomains: []string{"news.example"}}, "", nil, true},
		{"domain parent rule", models.Targeting{SiteDomains: []string{"example"}}, "", nil, true},
		{"domain subdomain of rule", models.Targeting{SiteDomains: []string{"news.example"}}, "m.news.example", nil, true},
		{"domain label boundary", models.Targeting{SiteDomains: []string{"news.example"}}, "badnews.example", nil, false},
		{"domain other", models.Targeting{SiteDomains: []string{"other.example"}}, "", nil, false},
		{"domain rule case", models.Targeting{SiteDomains: []string{"NEWS.Example."}}, "", nil, true},
		{"domain deny exact", models.Targeting{ExcludeDomains: []string{"news.example"}}, "", nil, false},
		{"domain deny parent", models.Targeting{ExcludeDomains: []string{"example"}}, "", nil, false},
		{"domain deny child only", models.Targeting{ExcludeDomains: []string{"m.news.example"}}, "", nil, true},
		{"url contains", models.Targeting{URLContains: []string{"/politics/", "/sport/"}}, "", nil, true},
		{"url contains case", models.Targeting{URLContains: []string{"/SPORT/"}}, "", nil, true},
		{"url contains upper page", models.Targeting{URLContains: []string{"/sport/"}}, "", withURL("https://NEWS.example/SPORT/x"), true},
		{"url missing", models.Targeting{URLContains: []string{"/politics/"}}, "", nil, false},
		{"url empty page", models.Targeting{URLContains: []string{"/sport/"}}, "", withURL(""), false},
		{"kv match", models.Targeting{KeyValues: map[string][]string{"section": {"sport", "news"}}}, "", withKV("section", "news"), true},
		{"kv wrong value", models.Targeting{KeyValues: map[string][]string{"section": {"sport"}}}, "", withKV("section", "tech"), false},
		{"kv value under other key", models.Targeting{KeyValues: map[string][]string{"section": {"sport"}}}, "", withKV("topic", "sport"), false},
		{"kv missing", models.Targeting{KeyValues: map[string][]string{"section": {"sport"}}}, "", nil, false},
		{"kv all keys required", models.Targeting{KeyValues: map[string][]string{"section": {"sport"}, "lang": {"de"}}}, "", withKV("section", "sport"), false},
		{"kv all keys present", models.Targeting{KeyValues: map[string][]string{"section": {"sport"}, "lang": {"de"}}}, "", withKV("lang", "de", "x", "y", "section", "sport"), true},
		{"rules combine with AND", models.Targeting{Countries: []string{"DE"}, Devices: []string{"mobile"}}, "", nil, false},
		{"all rules pass", models.Targeting{Countries: []string{"DE"}, Devices: []string{"desktop"}, OSes: []string{"windows"},
			Browsers: []string{"chrome"}, Days: []int{3}, Hours: []int{12}, SiteDomains: []string{"example"},
			URLContains: []string{"article"}, KeyValues: map[string][]string{"a": {"b"}}}, "", withKV("a", "b"), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inv := newInv()
			if tc.domain != "" {
				inv.Sites[0].Domain = tc.domain
			}
			addZone(inv, 1, 300, 250)
			addCampaign(inv, 1, models.TierRemnant, 1, 1).Targeting = tc.tg
			e := mustEngine(t, inv)
			r := req(1)
			if tc.mod != nil {
				tc.mod(r)
			}
			_, ok := e.Decide(r, newRNG(1))
			if ok != tc.want {
				t.Fatalf("served = %v, want %v", ok, tc.want)
			}
		})
	}
}

// TestTargetingTimeZone checks that day and hour rules use the network time zone.
func TestTargetingTimeZone(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600) // testNow 12:00 UTC = 21:00 Wednesday in Tokyo
	auckland := time.FixedZone("NZST", 12*3600)
	for _, tc := range []struct {
		loc  *time.Location
		tg   models.Targeting
		want bool
	}{
		{tokyo, models.Targeting{Hours: []int{21}}, true},
		{tokyo, models.Targeting{Hours: []int{12}}, false},
		{auckland, models.Targeting{Days: []int{4}, Hours: []int{0}}, true}, // Thursday 00:00
		{auckland, models.Targeting{Days: []int{3}}, false},
		{nil, models.Targeting{Days: []int{3}, Hours: []int{12}}, true}, // UTC
	} {
		inv := newInv()
		addZone(inv, 1, 300, 250)
		addCampaign(inv, 1, models.TierRemnant, 1, 1).Targeting = tc.tg
		e := NewEngine(mustBuild(t, inv, Options{Location: tc.loc}))
		if _, ok := e.Decide(req(1), newRNG(1)); ok != tc.want {
			t.Errorf("%v %+v: served = %v, want %v", tc.loc, tc.tg, ok, tc.want)
		}
	}
}

func TestFlightDates(t *testing.T) {
	for _, tc := range []struct {
		name       string
		start, end *time.Time
		want       bool
	}{
		{"open", nil, nil, true},
		{"started now", ptr(testNow), nil, true},
		{"starts later", ptr(testNow.Add(time.Second)), nil, false},
		{"ended", nil, ptr(testNow.Add(-time.Hour)), false},
		{"ends now (exclusive)", nil, ptr(testNow), false},
		{"ends later", ptr(testNow.Add(-time.Hour)), ptr(testNow.Add(time.Second)), true},
	} {
		inv := newInv()
		addZone(inv, 1, 300, 250)
		c := addCampaign(inv, 1, models.TierRemnant, 1, 1)
		c.StartAt, c.EndAt = tc.start, tc.end
		if _, ok := mustEngine(t, inv).Decide(req(1), newRNG(1)); ok != tc.want {
			t.Errorf("%s: served = %v, want %v", tc.name, ok, tc.want)
		}
	}
}

func TestInvalidTargetingLeavesCampaignOut(t *testing.T) {
	inv := newInv()
	addZone(inv, 1, 300, 250)
	addCampaign(inv, 1, models.TierRemnant, 1, 1).Targeting = models.Targeting{Devices: []string{"phone"}}
	addCampaign(inv, 2, models.TierRemnant, 1, 1).Targeting = models.Targeting{Countries: []string{"Germany"}}
	s := mustBuild(t, inv, Options{})
	if _, ok := NewEngine(s).Decide(req(1), newRNG(1)); ok {
		t.Fatal("campaign with an unknown targeting value served")
	}
	probs, n := s.Problems()
	if n != 2 || !strings.Contains(probs[0], "phone") {
		t.Fatalf("problems = %v (%d)", probs, n)
	}
	// The inventory is not modified by Build.
	if got := inv.Campaigns[1].Targeting.Countries[0]; got != "Germany" {
		t.Fatalf("Build modified the inventory: %q", got)
	}
}

func TestUANames(t *testing.T) {
	u := NewUA("tablet", "ios", "safari")
	if u.DeviceName() != "tablet" || u.OSName() != "ios" || u.BrowserName() != "safari" {
		t.Fatalf("round trip: %+v", u)
	}
	if u := NewUA("phone", "", "lynx"); u != (UA{}) || u.DeviceName() != "" {
		t.Fatalf("unknown names: %+v", u)
	}
}
