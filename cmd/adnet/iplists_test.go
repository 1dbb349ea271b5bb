package main

import (
	"context"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"adnet/internal/adserver"
	"adnet/internal/config"
	"adnet/internal/decision"
	"adnet/internal/fraud"
	"adnet/models"
)

// listDB is the database's side of the IP lists, changeable between reloads.
type listDB struct {
	mu    sync.Mutex
	lists map[string][]models.IPRange
}

func (d *listDB) LoadInventory(ctx context.Context, now time.Time, loc *time.Location) (*models.Inventory, error) {
	return &models.Inventory{LoadedAt: now}, nil
}

func (d *listDB) LoadIPList(ctx context.Context, list string) ([]models.IPRange, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lists[list], nil
}

func (d *listDB) set(list, cidr string) {
	p := netip.MustParsePrefix(cidr)
	b := fraud.NewIPSetBuilder()
	b.AddPrefix(p)
	d.mu.Lock()
	d.lists[list] = b.Build().IPRanges()
	d.mu.Unlock()
}

// reloadLists runs one list load as a worker does (a Refresher's start loads the lists once,
// synchronously), through the worker's listStore.
func reloadLists(t *testing.T, db *listDB, lists *workerLists, filter *fraud.RequestFilter) {
	t.Helper()
	empty, err := decision.Build(&models.Inventory{LoadedAt: time.Now()}, decision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := adserver.NewRefresher(adserver.RefresherOptions[listStore]{
		Connect:  func(context.Context) (listStore, error) { return listStore{InventoryStore: db, lists: lists}, nil },
		Engine:   decision.NewEngine(empty),
		Interval: time.Hour, ListInterval: time.Hour, Filter: filter,
	})
	r.Start(context.Background())
	r.Close()
}

// TestBadListFileKeepsLists: a fraud.datacenter_file that turns bad keeps its last good
// version at the next reload, the database's lists still reload around it, the error is
// logged naming the file and the line and shown in the worker's status; a worker started
// while the file is bad (SIGHUP replaces every worker) still has the database's lists and the
// built-in ranges. Before, a bad file failed the whole reload (the blocklist stopped
// following the database) and a new worker started with no list at all.
func TestBadListFileKeepsLists(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dc.txt")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Defaults()
	cfg.Fraud.DatacenterFile = path
	log, hook := test.NewNullLogger()
	log.SetOutput(io.Discard)
	db := &listDB{lists: map[string][]models.IPRange{}}
	db.set(models.IPListBlocked, "192.0.2.0/24")
	db.set(models.IPListDatacenter, "198.18.0.0/16")

	blockedIP, dbDC := netip.MustParseAddr("192.0.2.9"), netip.MustParseAddr("198.18.3.4")
	fileDC, builtinDC := netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("3.5.140.1")
	check := func(when string, f *fraud.RequestFilter, blocked netip.Addr, want map[netip.Addr]models.Reason) {
		t.Helper()
		for a, r := range want {
			if got := f.Check(&fraud.RequestFacts{Type: models.EventServe, IP: a, Now: time.Now()}); got != r {
				t.Errorf("%s: %s is %s, want %s", when, a, got, r)
			}
		}
	}

	write("198.51.100.0/24\n")
	lists := newWorkerLists(cfg, log)
	filter := &fraud.RequestFilter{}
	reloadLists(t, db, lists, filter)
	check("good file", filter, blockedIP, map[netip.Addr]models.Reason{blockedIP: models.ReasonBlockedIP,
		dbDC: models.ReasonDatacenter, fileDC: models.ReasonDatacenter, builtinDC: models.ReasonDatacenter})

	// The file gets a malformed line, and meanwhile an admin blocks another range.
	write("198.51.100.0/24\n203.0.113.0/24\nnot-an-address\n")
	db.set(models.IPListBlocked, "233.252.0.0/24")
	reloadLists(t, db, lists, filter)
	newBlocked := netip.MustParseAddr("233.252.0.1")
	check("bad file at a reload", filter, newBlocked, map[netip.Addr]models.Reason{newBlocked: models.ReasonBlockedIP,
		dbDC: models.ReasonDatacenter, fileDC: models.ReasonDatacenter, builtinDC: models.ReasonDatacenter,
		netip.MustParseAddr("203.0.113.1"): models.ReasonValid})
	var logged bool
	for _, e := range hook.AllEntries() {
		if err, _ := e.Data[logrus.ErrorKey].(error); e.Level == logrus.ErrorLevel && err != nil &&
			strings.Contains(err.Error(), path) && strings.Contains(err.Error(), "line 3") {
			logged = true
		}
	}
	if !logged {
		t.Errorf("no error log naming %s and line 3: %v", path, hook.AllEntries())
	}
	st := lists.status()
	if e, _ := st["datacenter_file_error"].(string); !strings.Contains(e, "line 3") {
		t.Errorf("status does not show the file's error: %v", st)
	}

	// A new worker process (SIGHUP) while the file is bad: never no list.
	lists2 := newWorkerLists(cfg, log)
	filter2 := &fraud.RequestFilter{}
	filter2.SetLists(nil, lists2.initial())
	check("new worker before the database answers", filter2, blockedIP, map[netip.Addr]models.Reason{builtinDC: models.ReasonDatacenter})
	reloadLists(t, db, lists2, filter2)
	check("new worker with a bad file", filter2, newBlocked, map[netip.Addr]models.Reason{newBlocked: models.ReasonBlockedIP,
		dbDC: models.ReasonDatacenter, builtinDC: models.ReasonDatacenter})

	// Unreadable, then fixed.
	os.Remove(path)
	reloadLists(t, db, lists, filter)
	check("unreadable file", filter, newBlocked, map[netip.Addr]models.Reason{fileDC: models.ReasonDatacenter})
	write("203.0.113.0/24\n")
	reloadLists(t, db, lists, filter)
	check("fixed file", filter, newBlocked, map[netip.Addr]models.Reason{fileDC: models.ReasonValid,
		netip.MustParseAddr("203.0.113.1"): models.ReasonDatacenter, builtinDC: models.ReasonDatacenter})
	if e := lists.status()["datacenter_file_error"]; e != "" {
		t.Errorf("error still shown after the fix: %v", e)
	}

	// fraud.builtin_datacenter = false leaves the built-in ranges out.
	cfg.Fraud.BuiltinDatacenter = false
	if newWorkerLists(cfg, log).initial().Contains(builtinDC) {
		t.Error("builtin_datacenter = false still loads the built-in list")
	}
}
