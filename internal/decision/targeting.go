package decision

import (
	"slices"
	"strings"

	"adnet/models"
)

// UA is a request's device, OS and browser as 1-based indexes into models.TargetDevices,
// models.TargetOSes and models.TargetBrowsers; 0 means unknown, which satisfies no device, OS
// or browser rule (a campaign that targets "mobile" does not gamble on unknown devices).
type UA struct {
	Device, OS, Browser uint8
}

// NewUA returns the UA for the given target names ("mobile", "android", "chrome"); names not in
// the models lists map to 0 (unknown).
func NewUA(device, os, browser string) UA {
	return UA{Device: nameIndex(models.TargetDevices, device), OS: nameIndex(models.TargetOSes, os), Browser: nameIndex(models.TargetBrowsers, browser)}
}

// DeviceName returns the device's target name, or "" when unknown.
func (u UA) DeviceName() string { return indexName(models.TargetDevices, u.Device) }

// OSName returns the OS's target name, or "" when unknown.
func (u UA) OSName() string { return indexName(models.TargetOSes, u.OS) }

// BrowserName returns the browser's target name, or "" when unknown.
func (u UA) BrowserName() string { return indexName(models.TargetBrowsers, u.Browser) }

func nameIndex(names []string, name string) uint8 {
	if i := slices.Index(names, name); i >= 0 {
		return uint8(i + 1)
	}
	return 0
}

func indexName(names []string, i uint8) string {
	if i == 0 || int(i) > len(names) {
		return ""
	}
	return names[i-1]
}

// KV is one key-value pair from the ad tag's extra query parameters.
type KV struct {
	Key, Value string
}

// targeting is models.Targeting compiled into predicates over plain data: bit sets for
// enumerations, packed country codes, normalised strings. Empty means unrestricted.
type targeting struct {
	countries, exclCountries []uint16
	devices, oses, browsers  uint16 // bit i set: index i allowed (indexes are 1-based)
	days                     uint8  // bit d: weekday d (0 = Sunday)
	hours                    uint32 // bit h: hour h
	domains, exclDomains     []string
	urlContains              []string // lower case
	kvs                      []kvRule
}

type kvRule struct {
	key    string
	values []string
}

// compileTargeting validates and compiles a targeting rule set. It does not modify t (the
// inventory belongs to the caller) and fails on anything it cannot honour, so that a campaign
// with a rule it does not understand is left out rather than served everywhere.
func compileTargeting(t *models.Targeting) (targeting, error) {
	var c targeting
	var err error
	if c.countries, err = packCountries("countries", t.Countries); err != nil {
		return c, err
	}
	if c.exclCountries, err = packCountries("exclude_countries", t.ExcludeCountries); err != nil {
		return c, err
	}
	if c.devices, err = nameMask("devices", t.Devices, models.TargetDevices); err != nil {
		return c, err
	}
	if c.oses, err = nameMask("oses", t.OSes, models.TargetOSes); err != nil {
		return c, err
	}
	if c.browsers, err = nameMask("browsers", t.Browsers, models.TargetBrowsers); err != nil {
		return c, err
	}
	for _, d := range t.Days {
		if d < 0 || d > 6 {
			return c, models.Errorf(models.EINVALID, "targeting days: %d out of range", d)
		}
		c.days |= 1 << d
	}
	for _, h := range t.Hours {
		if h < 0 || h > 23 {
			return c, models.Errorf(models.EINVALID, "targeting hours: %d out of range", h)
		}
		c.hours |= 1 << h
	}
	c.domains = normDomains(t.SiteDomains)
	c.exclDomains = normDomains(t.ExcludeDomains)
	for _, s := range t.URLContains {
		if s != "" {
			c.urlContains = append(c.urlContains, strings.ToLower(s))
		}
	}
	for k, vs := range t.KeyValues {
		if len(vs) == 0 {
			return c, models.Errorf(models.EINVALID, "targeting key_values: key %q has no values", k)
		}
		c.kvs = append(c.kvs, kvRule{key: k, values: slices.Clone(vs)})
	}
	// Map order is random: sort so that evaluation (and so any later debugging) is stable.
	slices.SortFunc(c.kvs, func(a, b kvRule) int { return strings.Compare(a.key, b.key) })
	return c, nil
}

func packCountries(field string, cs []string) ([]uint16, error) {
	var out []uint16
	for _, s := range cs {
		s = strings.ToUpper(strings.TrimSpace(s))
		if len(s) != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' {
			return nil, models.Errorf(models.EINVALID, "targeting %s: %q is not a country code", field, s)
		}
		out = append(out, uint16(s[0])<<8|uint16(s[1]))
	}
	return out, nil
}

func nameMask(field string, got, names []string) (uint16, error) {
	var m uint16
	for _, g := range got {
		i := nameIndex(names, strings.ToLower(strings.TrimSpace(g)))
		if i == 0 {
			return 0, models.Errorf(models.EINVALID, "targeting %s: unknown value %q", field, g)
		}
		m |= 1 << i
	}
	return m, nil
}

func normDomains(ds []string) []string {
	var out []string
	for _, d := range ds {
		d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
		if d != "" {
			out = append(out, d)
		}
	}
	return out
}

// match reports whether a request passes every rule. Cheap rules come first.
func (t *targeting) match(r *Request, rc *reqCtx) bool {
	if t.devices != 0 && t.devices&(1<<r.UA.Device) == 0 ||
		t.oses != 0 && t.oses&(1<<r.UA.OS) == 0 ||
		t.browsers != 0 && t.browsers&(1<<r.UA.Browser) == 0 ||
		t.days != 0 && t.days&(1<<rc.weekday) == 0 ||
		t.hours != 0 && t.hours&(1<<rc.hour) == 0 {
		return false
	}
	if len(t.countries) > 0 || len(t.exclCountries) > 0 {
		cc := uint16(r.Country[0])<<8 | uint16(r.Country[1])
		if len(t.countries) > 0 && !slices.Contains(t.countries, cc) || slices.Contains(t.exclCountries, cc) {
			return false
		}
	}
	if len(t.domains) > 0 && !anyDomain(t.domains, rc.domain) || len(t.exclDomains) > 0 && anyDomain(t.exclDomains, rc.domain) {
		return false
	}
	if len(t.urlContains) > 0 {
		found := false
		for _, s := range t.urlContains {
			if containsFold(r.PageURL, s) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	for i := range t.kvs {
		if !t.kvs[i].match(r.KeyValues) {
			return false
		}
	}
	return true
}

func (k *kvRule) match(kvs []KV) bool {
	for _, kv := range kvs {
		if kv.Key == k.key && slices.Contains(k.values, kv.Value) {
			return true
		}
	}
	return false
}

// anyDomain reports whether host is one of the domains or a subdomain of one: "news.example"
// matches "news.example" and "m.news.example" but not "badnews.example".
func anyDomain(domains []string, host string) bool {
	for _, d := range domains {
		if host == d || len(host) > len(d) && host[len(host)-len(d)-1] == '.' && host[len(host)-len(d):] == d {
			return true
		}
	}
	return false
}

// containsFold reports whether s contains the lower-case substr, ignoring ASCII case, without
// allocating a lower-cased copy of s.
func containsFold(s, substr string) bool {
	n := len(substr)
	if n == 0 {
		return true
	}
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for j < n && lower(s[i+j]) == substr[j] {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
