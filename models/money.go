package models

import (
	"strconv"
	"strings"
)

// ParseMicros parses a non-negative decimal amount in currency units ("1.50") into
// micro-units, exactly: no floating point touches money. At most 6 decimals and at most
// 1,000,000,000 units; the error is EINVALID with a message for the client.
func ParseMicros(s string) (int64, error) {
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(frac) > 6 || strings.HasPrefix(whole, "-") || strings.HasPrefix(whole, "+") {
		return 0, errMoney
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > 1_000_000_000 {
		return 0, errMoney
	}
	var f int64
	if frac != "" {
		f, err = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
		if err != nil || f < 0 {
			return 0, errMoney
		}
	}
	return w*1_000_000 + f, nil
}

var errMoney = Errorf(EINVALID, "must be a non-negative amount with at most 6 decimals, like 1.50")
