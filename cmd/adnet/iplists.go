package main

import (
	"net/netip"

	"adnet/internal/config"
	"adnet/internal/fraud"
)

// The IP-list helpers app.go calls while it builds a worker. They only forward to the
// packages that own the rules (fraud for IP sets, config for configured entries) and go away
// when the worker's wiring calls those directly.

func ipSetFromList(entries []string) (*fraud.IPSet, error) { return fraud.NewIPSet(entries) }

func addIPFile(b *fraud.IPSetBuilder, path string) error { return b.AddListFile(path) }

func prefixes(entries []string) ([]netip.Prefix, error) { return config.Prefixes(entries) }

func hostOf(raw string) string { return config.Tracking{BaseURL: raw}.Host() }
