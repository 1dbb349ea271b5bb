//go:build ignore

// datacenterlist writes internal/fraud/datacenter.txt, adnet's built-in list of data-center
// and cloud ranges, from the "cloud" section of sources_data.json in the Go module
// github.com/projectdiscovery/cdncheck (MIT licence), which gathers the ranges the providers
// publish themselves. Run it through scripts/update-datacenter-list.sh (make
// update-datacenter-list), which downloads the module from the Go module proxy.
//
// Only hosting providers are kept. Left out on purpose, because real people browse from
// them: the CDN and WAF sections (Cloudflare WARP, Google's and Apple's relays), zscaler (a
// corporate web proxy: employees' browsing egresses there) and office365 (Microsoft 365
// service front ends). No ISP or mobile ranges are in the source's cloud section.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"adnet/internal/fraud"
)

// providers are the cloud-section entries kept, in the order they are listed in the header.
var providers = []string{"aws", "azure", "google", "oracle", "arvancloud", "navercloud", "nhncloud", "ktcloud", "gabia", "hostway"}

// excluded are the cloud-section entries left out, with the reason.
var excluded = map[string]string{
	"office365": "Microsoft 365 service front ends",
	"zscaler":   "a corporate web proxy: employees browse through it",
}

func main() {
	in := flag.String("in", "", "sources_data.json of the cdncheck module")
	out := flag.String("out", "internal/fraud/datacenter.txt", "the list to write")
	module := flag.String("module", "", "module@version the file comes from (for the header)")
	published := flag.String("published", "", "the module version's publication time (for the header)")
	flag.Parse()
	if err := run(*in, *out, *module, *published); err != nil {
		fmt.Fprintln(os.Stderr, "datacenterlist:", err)
		os.Exit(1)
	}
}

func run(in, out, module, published string) error {
	raw, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var data struct {
		Cloud map[string][]string `json:"cloud"`
	}
	if err := json.Unmarshal(raw, &data); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	for name := range data.Cloud {
		if !slices.Contains(providers, name) && excluded[name] == "" {
			return fmt.Errorf("%s: a new provider %q in the cloud section: decide whether humans browse from it, then add it to providers or excluded", in, name)
		}
	}
	b := fraud.NewIPSetBuilder()
	counts := make([]string, 0, len(providers))
	for _, name := range providers {
		entries := data.Cloud[name]
		if len(entries) == 0 {
			return fmt.Errorf("%s: provider %q is missing or empty", in, name)
		}
		for _, e := range entries {
			p, err := netip.ParsePrefix(strings.TrimSpace(e))
			if err != nil {
				return fmt.Errorf("%s: %s: %w", in, name, err)
			}
			// A guard against a broken source: no provider publishes anything this wide.
			if (p.Addr().Is4() && p.Bits() < 8) || (p.Addr().Is6() && p.Bits() < 16) {
				return fmt.Errorf("%s: %s: %s is implausibly wide", in, name, p)
			}
			b.AddPrefix(p.Masked())
		}
		counts = append(counts, fmt.Sprintf("%s %d", name, len(entries)))
	}
	set := b.Build()
	var v4, v6 int
	var body strings.Builder
	set.Ranges(func(first, last netip.Addr) bool {
		if first.Is4() {
			v4++
		} else {
			v6++
		}
		body.WriteString(rangeText(first, last))
		body.WriteByte('\n')
		return true
	})
	var hdr strings.Builder
	fmt.Fprintf(&hdr, "# adnet's built-in data-center/cloud ranges: the soft \"datacenter\" list (reason datacenter),\n")
	fmt.Fprintf(&hdr, "# loaded by every ad worker unless fraud.builtin_datacenter = false.\n#\n")
	fmt.Fprintf(&hdr, "# Source: the \"cloud\" section of sources_data.json in the Go module %s\n", module)
	fmt.Fprintf(&hdr, "#   (MIT licence, Copyright (c) 2021 ProjectDiscovery, Inc.), published %s; it gathers the\n", published)
	fmt.Fprintf(&hdr, "#   ranges the providers publish themselves.\n")
	fmt.Fprintf(&hdr, "# Providers kept (source entries): %s.\n", strings.Join(counts, ", "))
	names := make([]string, 0, len(excluded))
	for n := range excluded {
		names = append(names, n)
	}
	slices.Sort(names)
	fmt.Fprintf(&hdr, "# Left out: the source's CDN and WAF sections (relays and VPNs people browse through)")
	for _, n := range names {
		fmt.Fprintf(&hdr, "; %s (%s)", n, excluded[n])
	}
	fmt.Fprintf(&hdr, ".\n# No ISP or mobile ranges. Virtual desktops in these clouds (Amazon WorkSpaces, Azure Virtual\n")
	fmt.Fprintf(&hdr, "#   Desktop, Windows 365) are people on data-center addresses: datacenter is a soft reason.\n")
	fmt.Fprintf(&hdr, "# %d merged ranges: %d IPv4, %d IPv6.\n", v4+v6, v4, v6)
	fmt.Fprintf(&hdr, "# Generated %s by: CDNCHECK_VERSION=%s make update-datacenter-list\n", time.Now().UTC().Format(time.DateOnly), versionOf(module))
	fmt.Fprintf(&hdr, "#   (scripts/update-datacenter-list.sh; any newer tag of the module can be named).\n")
	return os.WriteFile(out, []byte(hdr.String()+body.String()), 0o644)
}

func versionOf(module string) string {
	if _, v, ok := strings.Cut(module, "@"); ok {
		return v
	}
	return module
}

// rangeText writes a range as a CIDR when it is exactly one, else as first-last.
func rangeText(first, last netip.Addr) string {
	for bits := 0; bits <= first.BitLen(); bits++ {
		p := netip.PrefixFrom(first, bits)
		if p.Masked().Addr() != first {
			continue
		}
		if lastOf(p) == last {
			return p.String()
		}
	}
	return first.String() + "-" + last.String()
}

// lastOf returns the last address of a masked prefix.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
