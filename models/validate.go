package models

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// validName checks a human-readable name: present, at most 200 characters, valid UTF-8;
// validName checks a human-readable name; key is its JSON field, label names it in messages.
func validName(key, label, s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return Invalid(key, "%s: must not be empty", label)
	}
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > 200 {
		return Invalid(key, "%s: must be valid UTF-8 of at most 200 characters", label)
	}
	return nil
}

// validSize checks an ad size: both sides between 1 and 4000 pixels.
func validSize(w, h int) error {
	if w < 1 || w > 4000 || h < 1 || h > 4000 {
		return Invalid("width", "size %dx%d: width and height must be between 1 and 4000 pixels", w, h)
	}
	return nil
}

// validHost reports whether s is a plausible DNS host name (letters, digits, hyphens and dots;
// labels of 1–63 characters) without scheme, port or path.
func validHost(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// ValidateLandingURL checks a click-through or asset URL: absolute http or https with a host,
// no user info (a classic phishing trick), at most 2048 bytes. Anything else would let a
// creative redirect viewers to javascript:, data: or file: URLs.
func ValidateLandingURL(field, raw string) error {
	if len(raw) > 2048 {
		return Invalid(field, "%s: at most 2048 bytes", field)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Invalid(field, "%s %q: not a valid URL", field, raw)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Invalid(field, "%s %q: must start with http:// or https://", field, raw)
	}
	if u.Host == "" || u.Hostname() == "" {
		return Invalid(field, "%s %q: must name a host", field, raw)
	}
	if u.User != nil {
		return Invalid(field, "%s %q: must not contain user information", field, raw)
	}
	if strings.ContainsAny(raw, " \t\r\n\x00") {
		return Invalid(field, "%s %q: must not contain spaces or control characters", field, raw)
	}
	return nil
}
