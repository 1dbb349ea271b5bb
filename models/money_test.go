package models

import "testing"

func TestParseMicros(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1": 1_000_000, "1.5": 1_500_000, "0.000001": 1, "12.345678": 12_345_678} {
		if got, err := ParseMicros(in); err != nil || got != want {
			t.Errorf("%s: %d %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "-1", "1.1234567", "abc", "1e3", ".5", "+1"} {
		if _, err := ParseMicros(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
