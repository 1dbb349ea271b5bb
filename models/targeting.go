package models

import (
	"strings"
)

// Targeting restricts where and to whom a campaign serves. Every rule is data, evaluated by the
// decision engine as predicates — never compiled to code. An empty list means "no restriction".
// Rules combine with AND; values within one list combine with OR.
type Targeting struct {
	Countries        []string            `json:"countries,omitempty"`         // ISO 3166-1 alpha-2, upper case
	ExcludeCountries []string            `json:"exclude_countries,omitempty"` //
	Devices          []string            `json:"devices,omitempty"`           // desktop, mobile, tablet, tv, other
	OSes             []string            `json:"oses,omitempty"`              // windows, macos, linux, android, ios, chromeos, other
	Browsers         []string            `json:"browsers,omitempty"`          // chrome, firefox, safari, edge, opera, samsung, other
	Days             []int               `json:"days,omitempty"`              // 0 = Sunday … 6 = Saturday, network time zone
	Hours            []int               `json:"hours,omitempty"`             // 0 … 23, network time zone
	SiteDomains      []string            `json:"site_domains,omitempty"`      // serve only on these site domains
	ExcludeDomains   []string            `json:"exclude_domains,omitempty"`   // never on these
	URLContains      []string            `json:"url_contains,omitempty"`      // page URL contains one of these
	KeyValues        map[string][]string `json:"key_values,omitempty"`        // tag key-values: key must have one of the values
}

// Device, OS and browser names accepted in targeting rules.
var (
	TargetDevices  = []string{"desktop", "mobile", "tablet", "tv", "other"}
	TargetOSes     = []string{"windows", "macos", "linux", "android", "ios", "chromeos", "other"}
	TargetBrowsers = []string{"chrome", "firefox", "safari", "edge", "opera", "samsung", "other"}
)

// Validate returns an EINVALID error naming the first bad rule. It normalises case.
func (t *Targeting) Validate() error {
	for i, c := range t.Countries {
		t.Countries[i] = strings.ToUpper(c)
		if !isCountry(t.Countries[i]) {
			return Invalid("targeting", "targeting countries: %q is not a two-letter country code", c)
		}
	}
	for i, c := range t.ExcludeCountries {
		t.ExcludeCountries[i] = strings.ToUpper(c)
		if !isCountry(t.ExcludeCountries[i]) {
			return Invalid("targeting", "targeting exclude_countries: %q is not a two-letter country code", c)
		}
	}
	if err := oneOf("devices", t.Devices, TargetDevices); err != nil {
		return err
	}
	if err := oneOf("oses", t.OSes, TargetOSes); err != nil {
		return err
	}
	if err := oneOf("browsers", t.Browsers, TargetBrowsers); err != nil {
		return err
	}
	for _, d := range t.Days {
		if d < 0 || d > 6 {
			return Invalid("targeting", "targeting days: %d must be 0 (Sunday) to 6 (Saturday)", d)
		}
	}
	for _, h := range t.Hours {
		if h < 0 || h > 23 {
			return Invalid("targeting", "targeting hours: %d must be 0 to 23", h)
		}
	}
	for _, list := range [][]string{t.SiteDomains, t.ExcludeDomains} {
		for i, d := range list {
			list[i] = strings.ToLower(strings.TrimSpace(d))
			if !validHost(list[i]) {
				return Invalid("targeting", "targeting domains: %q is not a host name", d)
			}
		}
	}
	for _, s := range t.URLContains {
		if s == "" || len(s) > 200 {
			return Invalid("targeting", "targeting url_contains: entries must be 1 to 200 bytes")
		}
	}
	for k, vs := range t.KeyValues {
		if k == "" || len(k) > 64 || len(vs) == 0 {
			return Invalid("targeting", "targeting key_values: key %q must be 1 to 64 bytes with at least one value", k)
		}
	}
	return nil
}

func isCountry(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

func oneOf(field string, got, allowed []string) error {
	for i, g := range got {
		got[i] = strings.ToLower(g)
		ok := false
		for _, a := range allowed {
			if got[i] == a {
				ok = true
				break
			}
		}
		if !ok {
			return Invalid("targeting", "targeting %s: %q must be one of %s", field, g, strings.Join(allowed, ", "))
		}
	}
	return nil
}
