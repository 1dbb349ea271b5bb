package monitor

import (
	"slices"
	"strings"
)

// Health is what the monitor understands of a worker's "extra" status fields (those the
// worker program adds through fcgi.Options.Extra). The worker reports them in whatever
// shape suits it; ExtraHealth looks for these conventions, at the top level or one object
// deep (e.g. {"event_log": {"write_errors": 3, ...}}), with key names compared without
// case and underscores so that both "write_errors" and Go's "WriteErrors" match:
//
//   - a number whose key ends in "errors" (write_errors, eventlog_fsync_errors, ...) is an
//     error counter; they are added up into Errors, watched for growth by the advice;
//   - a string whose key ends in "last_error" is the text of the most recent such error;
//   - any other non-empty string whose key ends in "error" (e.g. "inventory_error") is a
//     current problem, reported as a warning with its key;
//   - "warnings" (a list of strings) are shown as advice as they are;
//   - a number whose key ends in "disk_bytes" is disk use, and one ending in "max_disk" or
//     "max_disk_bytes" its limit: warned about when nearly full.
type Health struct {
	Errors    uint64   `json:"errors"`
	LastError string   `json:"last_error,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
	DiskBytes float64  `json:"disk_bytes,omitempty"`
	MaxDisk   float64  `json:"max_disk,omitempty"` // 0 = no limit known
}

// ExtraHealth extracts Health from a worker's extra status fields (nil gives the zero
// Health).
func ExtraHealth(extra map[string]any) Health {
	var h Health
	h.walk(extra, 0)
	slices.Sort(h.Warnings) // map order is random; the advice must not reorder between polls
	return h
}

func (h *Health) walk(m map[string]any, depth int) {
	for k, v := range m {
		key := strings.ToLower(strings.ReplaceAll(k, "_", ""))
		switch v := v.(type) {
		case map[string]any:
			if depth == 0 {
				h.walk(v, depth+1)
			}
		case float64: // what encoding/json decodes every number to
			h.number(key, v)
		case int:
			h.number(key, float64(v))
		case int64:
			h.number(key, float64(v))
		case uint64:
			h.number(key, float64(v))
		case string:
			switch {
			case v == "":
			case strings.HasSuffix(key, "lasterror"):
				h.LastError = v
			case strings.HasSuffix(key, "error"):
				h.Warnings = append(h.Warnings, k+": "+v)
			}
		case []any:
			if key == "warnings" {
				for _, w := range v {
					if s, ok := w.(string); ok && s != "" {
						h.Warnings = append(h.Warnings, s)
					}
				}
			}
		case []string:
			if key == "warnings" {
				h.Warnings = append(h.Warnings, v...)
			}
		}
	}
}

func (h *Health) number(key string, v float64) {
	if v < 0 {
		return
	}
	switch {
	case strings.HasSuffix(key, "errors"):
		h.Errors += uint64(v)
	case strings.HasSuffix(key, "maxdisk") || strings.HasSuffix(key, "maxdiskbytes"):
		h.MaxDisk = v
	case strings.HasSuffix(key, "diskbytes"):
		h.DiskBytes = v
	}
}
