package fraud

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// datacenterList is adnet's built-in data-center/cloud list. Its header names the source,
// the date and the command that refreshes it (make update-datacenter-list).
//
//go:embed datacenter.txt
var datacenterList string

// BuiltinDatacenter returns the built-in data-center/cloud ranges (internal/fraud/datacenter.txt,
// the cloud providers' own published ranges; no ISP or mobile ranges), parsed once.
var BuiltinDatacenter = sync.OnceValue(func() *IPSet {
	set, _ := ParseIPSet(strings.NewReader(datacenterList)) // TestBuiltinDatacenter: no bad line
	return set
})

// BuiltinDatacenterSource returns the built-in list's "Source:" and "Generated" header lines
// (without the comment marks), for status pages and logs.
func BuiltinDatacenterSource() string {
	var parts []string
	for _, line := range strings.Split(datacenterList, "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		line = strings.TrimSpace(strings.TrimPrefix(line, "#"))
		if strings.HasPrefix(line, "Source:") || strings.HasPrefix(line, "Generated") {
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, " ")
}

// ListFile is an IP list file that is read again at every reload and keeps its last good
// content: a reload that finds the file unreadable, or with any bad line, keeps the set of
// the previous good read in force and reports the error (naming the file and the lines)
// until the file is fixed. A list is never half applied, and a typo never empties it.
type ListFile struct {
	Path string

	mu       sync.Mutex
	good     *IPSet
	goodAt   time.Time
	err      error
	failedAt time.Time
}

// ListFileStatus describes a ListFile for status pages.
type ListFileStatus struct {
	Path     string    `json:"path"`
	Ranges   int       `json:"ranges"`               // of the set in force
	LoadedAt time.Time `json:"loaded_at,omitzero"`   // of the set in force
	Error    string    `json:"load_error,omitempty"` // of the latest read, "" when it was good
	FailedAt time.Time `json:"failed_at,omitzero"`
}

// Load reads the file. It returns the set in force — the file's, or the last good one when
// the read failed (nil if it never succeeded) — and the read's error, if any.
func (l *ListFile) Load() (*IPSet, error) {
	set, err := readListFile(l.Path)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.err, l.failedAt = err, time.Now()
		return l.good, err
	}
	l.good, l.goodAt, l.err, l.failedAt = set, time.Now(), nil, time.Time{}
	return set, nil
}

// Status returns the set in force and the latest read's error.
func (l *ListFile) Status() ListFileStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := ListFileStatus{Path: l.Path, Ranges: l.good.Len(), LoadedAt: l.goodAt, FailedAt: l.failedAt}
	if l.err != nil {
		st.Error = l.err.Error()
	}
	return st
}

// readListFile reads a whole IP list file: any bad line is an error naming the file and
// the lines (at most the first three, and how many more).
func readListFile(path string) (*IPSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := NewIPSetBuilder()
	if errs := b.AddFile(f); len(errs) > 0 {
		shown := errs[:min(3, len(errs))]
		msg := errors.Join(shown...).Error()
		msg = strings.ReplaceAll(msg, "\n", "; ")
		if more := len(errs) - len(shown); more > 0 {
			msg += fmt.Sprintf("; and %d more bad lines", more)
		}
		return nil, fmt.Errorf("%s: %s", path, msg)
	}
	return b.Build(), nil
}
