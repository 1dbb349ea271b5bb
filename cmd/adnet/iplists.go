package main

import (
	"context"
	"net/netip"
	"sync"

	"github.com/sirupsen/logrus"

	"adnet/internal/adserver"
	"adnet/internal/config"
	"adnet/internal/fraud"
	"adnet/models"
)

// workerLists are an ad worker's own additions to the database's datacenter list: the
// built-in cloud ranges (fraud.builtin_datacenter) and fraud.datacenter_file. The file is
// read again at every list reload and kept at its last good read (fraud.ListFile): a bad
// line or an unreadable file is logged naming the file and the line, shown in /status, and
// changes nothing else — the database's lists and the built-in ranges are still reloaded. A
// worker started while the file is bad (a SIGHUP replaces every worker process) serves with
// the database's lists and the built-in ranges: never with none.
type workerLists struct {
	builtin []models.IPRange // nil when fraud.builtin_datacenter = false
	file    *fraud.ListFile  // nil without fraud.datacenter_file
	log     logrus.FieldLogger

	mu      sync.Mutex
	lastErr string // the file error last logged, so a bad file is logged once, not every minute
}

func newWorkerLists(cfg *config.Config, log logrus.FieldLogger) *workerLists {
	w := &workerLists{log: log}
	if cfg.Fraud.BuiltinDatacenter {
		w.builtin = fraud.BuiltinDatacenter().IPRanges()
	}
	if cfg.Fraud.DatacenterFile != "" {
		w.file = &fraud.ListFile{Path: cfg.Fraud.DatacenterFile}
	}
	return w
}

// initial returns the datacenter set a worker serves with until the database first
// answers: the built-in ranges and the file.
func (w *workerLists) initial() *fraud.IPSet {
	b := fraud.NewIPSetBuilder()
	w.addTo(b, nil)
	return b.Build()
}

// datacenter returns the database's datacenter ranges with the worker's own added.
func (w *workerLists) datacenter(db []models.IPRange) []models.IPRange {
	b := fraud.NewIPSetBuilder()
	w.addTo(b, db)
	return b.Build().IPRanges()
}

func (w *workerLists) addTo(b *fraud.IPSetBuilder, db []models.IPRange) {
	for _, lists := range [][]models.IPRange{db, w.builtin} {
		for _, r := range lists {
			_ = b.AddRange(r.First, r.Last) // ranges of a built set or of the database: valid
		}
	}
	if w.file == nil {
		return
	}
	set, err := w.file.Load()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if err.Error() != w.lastErr {
			w.log.WithError(err).WithField("setting", "fraud.datacenter_file").WithField("ranges_kept", set.Len()).
				Error("fraud: the data-center list file is bad; keeping its last good version (and the other lists)")
		}
		w.lastErr = err.Error()
	} else if w.lastErr != "" {
		w.log.WithField("file", w.file.Path).Info("fraud: the data-center list file loads again")
		w.lastErr = ""
	}
	set.Ranges(func(first, last netip.Addr) bool {
		_ = b.AddRange(first, last)
		return true
	})
}

// status is the lists' part of the worker's status: a current file error shows in /status
// as a warning (a key ending in "error", see monitor.ExtraHealth).
func (w *workerLists) status() map[string]any {
	m := map[string]any{"datacenter_builtin_ranges": len(w.builtin)}
	if len(w.builtin) > 0 {
		m["datacenter_builtin_source"] = fraud.BuiltinDatacenterSource()
	}
	if w.file != nil {
		st := w.file.Status()
		m["datacenter_file"] = st.Path
		m["datacenter_file_ranges"] = st.Ranges
		m["datacenter_file_error"] = st.Error
	}
	return m
}

// listStore is the worker's store as the inventory refresher sees it: the database's IP
// lists with the worker's own data-center ranges added.
type listStore struct {
	adserver.InventoryStore              // the database (*mysql.Reads: the replica, or the primary)
	lists                   *workerLists // nil: the database's lists only (console workers)
}

func (s listStore) LoadIPList(ctx context.Context, list string) ([]models.IPRange, error) {
	ranges, err := s.InventoryStore.LoadIPList(ctx, list)
	if err != nil || list != models.IPListDatacenter || s.lists == nil {
		return ranges, err
	}
	return s.lists.datacenter(ranges), nil
}
