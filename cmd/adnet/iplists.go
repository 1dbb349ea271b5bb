package main

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"

	"adnet/internal/fraud"
)

// ipSetFromList builds an IP set from configured addresses and CIDRs.
func ipSetFromList(entries []string) (*fraud.IPSet, error) {
	b := fraud.NewIPSetBuilder()
	for _, e := range entries {
		if err := b.Add(e); err != nil {
			return nil, err
		}
	}
	return b.Build(), nil
}

// addIPFile adds every entry of an IP list file (one IP, CIDR or range per line, # comments).
// Any bad line is an error naming it: a list that is half applied is worse than a refusal.
func addIPFile(b *fraud.IPSetBuilder, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if errs := b.AddFile(f); len(errs) > 0 {
		return fmt.Errorf("%s: %w", path, errors.Join(errs...))
	}
	return nil
}

// prefixes parses configured addresses and CIDRs; a plain address is a /32 or /128.
func prefixes(entries []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(entries))
	for _, e := range entries {
		if p, err := netip.ParsePrefix(e); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or CIDR", e)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// hostOf returns the host of a URL ("" if it has none).
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}
