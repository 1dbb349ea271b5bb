package models

import (
	"strings"
	"testing"
	"time"
)

func TestValidateLandingURL(t *testing.T) {
	for _, ok := range []string{"https://shop.example/landing?x=1", "http://a.example", "https://a.example:8443/p#f",
		"https://shop.example/landing?click={click_id}"} {
		if err := ValidateLandingURL("click_url", ok); err != nil {
			t.Errorf("%q rejected: %v", ok, err)
		}
	}
	for _, bad := range []string{"javascript:alert(1)", "data:text/html,hi", "file:///etc/passwd", "//evil.example/",
		"/relative", "ftp://a.example/", "https://user:pw@a.example/", "https:///nohost", "https://a.example/ space",
		"https://a.example/\nX", "https://" + strings.Repeat("a", 2050)} {
		err := ValidateLandingURL("click_url", bad)
		if err == nil || ErrorCode(err) != EINVALID || !strings.Contains(ErrorMessage(err), "click_url") {
			t.Errorf("%q accepted or badly reported: %v", bad, err)
		}
	}
}

func TestErrorCodes(t *testing.T) {
	e := Errorf(ENOTFOUND, "zone %d not found", 7)
	if ErrorCode(e) != ENOTFOUND || ErrorMessage(e) != "zone 7 not found" {
		t.Fatalf("%v", e)
	}
	wrapped := &wrap{e}
	if ErrorCode(wrapped) != ENOTFOUND {
		t.Fatal("code lost through wrapping")
	}
	other := &wrap{nil}
	if ErrorCode(other) != EINTERNAL || ErrorMessage(other) != "Internal error." || ErrorCode(nil) != "" {
		t.Fatal("internal errors must not leak details")
	}
}

type wrap struct{ err error }

func (w *wrap) Error() string { return "wrapped" }
func (w *wrap) Unwrap() error { return w.err }

func validCampaign() Campaign {
	return Campaign{Name: "c", Status: StatusActive, Tier: TierRemnant, Weight: 1, Pricing: PricingCPM, RateMicros: 1000,
		Pacing: PacingASAP}
}

func TestCampaignValidate(t *testing.T) {
	c := validCampaign()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	end := start.Add(-time.Hour)
	for name, mod := range map[string]func(*Campaign){
		"no name":         func(c *Campaign) { c.Name = " " },
		"bad tier":        func(c *Campaign) { c.Tier = 9 },
		"zero weight":     func(c *Campaign) { c.Weight = 0 },
		"bad pricing":     func(c *Campaign) { c.Pricing = "flat" },
		"negative rate":   func(c *Campaign) { c.RateMicros = -1 },
		"end before":      func(c *Campaign) { c.StartAt, c.EndAt = &start, &end },
		"negative limit":  func(c *Campaign) { c.Daily.Clicks = -1 },
		"even, no daily":  func(c *Campaign) { c.Pacing = PacingEven },
		"freq window":     func(c *Campaign) { c.FreqCap = 3 },
		"bad country":     func(c *Campaign) { c.Targeting.Countries = []string{"FRA"} },
		"bad hour":        func(c *Campaign) { c.Targeting.Hours = []int{24} },
		"bad device":      func(c *Campaign) { c.Targeting.Devices = []string{"fridge"} },
		"bad site domain": func(c *Campaign) { c.Targeting.SiteDomains = []string{"http://x.example"} },
	} {
		c := validCampaign()
		mod(&c)
		if err := c.Validate(); ErrorCode(err) != EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
	c = validCampaign()
	c.Targeting.Countries = []string{"fr"}
	c.Targeting.Browsers = []string{"Chrome"}
	if err := c.Validate(); err != nil || c.Targeting.Countries[0] != "FR" || c.Targeting.Browsers[0] != "chrome" {
		t.Fatalf("normalisation: %v %+v", err, c.Targeting)
	}
}

func TestMoney(t *testing.T) {
	if Cost(PricingCPM, 2_500_000, EventImpression) != 2500 || Cost(PricingCPM, 2_500_000, EventClick) != 0 ||
		Cost(PricingCPC, 150_000, EventClick) != 150_000 || Cost(PricingCPA, 4_000_000, EventConversion) != 4_000_000 {
		t.Fatal("cost by pricing model")
	}
	// The publisher's share rounds down: the network never pays out more than it bills.
	if PublisherRevenue(999, 7000) != 699 || PublisherRevenue(1_000_000, 10000) != 1_000_000 || PublisherRevenue(5, 0) != 0 {
		t.Fatal("publisher revenue")
	}
}

func TestSiteAndZoneValidate(t *testing.T) {
	s := Site{Name: "s", Domain: " News.Example ", Status: StatusActive}
	if err := s.Validate(); err != nil || s.Domain != "news.example" {
		t.Fatalf("%v %q", err, s.Domain)
	}
	for _, d := range []string{"https://news.example", "news.example/path", "news.example:80", "-bad.example", ""} {
		s := Site{Name: "s", Domain: d, Status: StatusActive}
		if s.Validate() == nil {
			t.Errorf("domain %q accepted", d)
		}
	}
	id := int64(3)
	z := Zone{ID: 3, Name: "z", Width: 300, Height: 250, Status: StatusActive, FallbackZoneID: &id}
	if z.Validate() == nil {
		t.Error("a zone falling back to itself was accepted")
	}
	z = Zone{Name: "z", Width: 0, Height: 250, Status: StatusActive}
	if z.Validate() == nil {
		t.Error("zero width accepted")
	}
}

func TestReasonNames(t *testing.T) {
	for i := 0; i < NumReasons; i++ {
		r := Reason(i)
		back, ok := ParseReason(r.String())
		if !ok || back != r {
			t.Errorf("reason %d (%s) does not round-trip", i, r)
		}
	}
	if Reason(200).String() != "unknown" {
		t.Error("unknown reason")
	}
}

func TestReasonClasses(t *testing.T) {
	if len(reasonClasses) != NumReasons {
		t.Fatalf("%d reasons but %d classes", NumReasons, len(reasonClasses))
	}
	if ReasonValid.Class() != ClassNone {
		t.Error("valid has a class")
	}
	for i := 1; i < NumReasons; i++ {
		if c := Reason(i).Class(); c != ClassGIVT && c != ClassSIVT {
			t.Errorf("reason %s has no MRC class", Reason(i))
		}
	}
	if Reason(200).Class() != ClassGIVT {
		t.Error("an unknown invalid reason must stay invalid")
	}
}
