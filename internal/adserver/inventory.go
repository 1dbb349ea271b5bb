package adserver

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"adnet/internal/decision"
	"adnet/internal/fraud"
	"adnet/models"
)

// InventoryStore is what a Refresher reads; the MariaDB store implements it.
type InventoryStore interface {
	LoadInventory(ctx context.Context, now time.Time, loc *time.Location) (*models.Inventory, error)
	LoadIPList(ctx context.Context, list string) ([]models.IPRange, error)
}

// DefaultListInterval is how often the IP lists are reloaded: they can hold millions of
// ranges, so less often than the inventory.
const DefaultListInterval = time.Minute

// RefresherOptions configures a Refresher.
type RefresherOptions[S InventoryStore] struct {
	// Connect opens the database. It is called at Start and, while it fails, again at every
	// Interval: a worker whose database is down at start serves the empty snapshot
	// (fallbacks and 204s) and keeps trying, rather than crash-looping.
	Connect  func(ctx context.Context) (S, error)
	Engine   *decision.Engine
	Interval time.Duration  // inventory.refresh_interval
	Location *time.Location // the network time zone (days of daily caps and pacing)
	// Filter receives the blocked and data-center IP lists; nil: the lists are not loaded.
	Filter       *fraud.RequestFilter
	ListInterval time.Duration // 0: DefaultListInterval
	// DatacenterFile is a file of more data-center ranges (fraud.datacenter_file) added to
	// the database's list; "": none.
	DatacenterFile string
	Logger         logrus.FieldLogger
}

// Refresher keeps an engine's inventory snapshot and a request filter's IP lists current
// from the database, in the background and never on the request path. A failed load keeps
// the last good snapshot and lists: serving continues on slightly stale inventory.
type Refresher[S InventoryStore] struct {
	opt       RefresherOptions[S]
	store     atomic.Pointer[S] // nil until Connect first succeeds
	lastLoad  atomic.Int64      // unix nanos of the last successful snapshot load
	lastError atomic.Value      // string: the last refresh error, "" when healthy
	cancel    context.CancelFunc
	done      chan struct{}
}

// NewRefresher returns a Refresher; Start runs it.
func NewRefresher[S InventoryStore](opt RefresherOptions[S]) *Refresher[S] {
	if opt.ListInterval <= 0 {
		opt.ListInterval = DefaultListInterval
	}
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	if opt.Logger == nil {
		l := logrus.New()
		l.SetOutput(discard{})
		opt.Logger = l
	}
	r := &Refresher[S]{opt: opt, done: make(chan struct{})}
	r.lastError.Store("")
	return r
}

// Start connects and loads once, synchronously (so a worker starts with its inventory when
// the database answers), then keeps refreshing in a goroutine until Close.
func (r *Refresher[S]) Start(ctx context.Context) {
	if s, err := r.opt.Connect(ctx); err != nil {
		r.opt.Logger.WithError(err).Error("inventory: MariaDB unreachable at start; serving no ads until it answers")
		r.lastError.Store(err.Error())
	} else {
		r.store.Store(&s)
		r.refresh(ctx)
		r.refreshLists(ctx)
	}
	lctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.loop(lctx)
}

// Close stops the refresh goroutine and waits for it.
func (r *Refresher[S]) Close() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
}

// Store returns the connected store; ok is false until the database first answered.
func (r *Refresher[S]) Store() (s S, ok bool) {
	p := r.store.Load()
	if p == nil {
		return s, false
	}
	return *p, true
}

// Health reports the age of the snapshot (0 before the first load) and the last refresh
// error ("" when healthy), for the worker's status.
func (r *Refresher[S]) Health() (age time.Duration, lastError string) {
	if t := r.lastLoad.Load(); t > 0 {
		age = time.Since(time.Unix(0, t))
	}
	lastError, _ = r.lastError.Load().(string)
	return age, lastError
}

func (r *Refresher[S]) loop(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(r.opt.Interval)
	defer t.Stop()
	lists := time.NewTicker(r.opt.ListInterval)
	defer lists.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-lists.C:
			if r.store.Load() != nil {
				r.refreshLists(ctx)
			}
		case <-t.C:
			if r.store.Load() == nil {
				s, err := r.opt.Connect(ctx)
				if err != nil {
					r.lastError.Store(err.Error())
					continue
				}
				r.store.Store(&s)
			}
			r.refresh(ctx)
		}
	}
}

// refresh loads the inventory and swaps the engine's snapshot.
func (r *Refresher[S]) refresh(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, r.opt.Interval+5*time.Second)
	defer cancel()
	now := time.Now()
	store, _ := r.Store()
	inv, err := store.LoadInventory(ctx, now, r.opt.Location)
	if err == nil {
		var snap *decision.Snapshot
		snap, err = decision.Build(inv, decision.Options{Location: r.opt.Location})
		if err == nil {
			r.opt.Engine.Swap(snap)
			r.lastLoad.Store(now.UnixNano())
			if prev, _ := r.lastError.Load().(string); prev != "" {
				r.opt.Logger.Info("inventory: refresh recovered")
			}
			r.lastError.Store("")
			if probs, n := snap.Problems(); n > 0 {
				r.opt.Logger.WithField("problems", n).WithField("first", probs[0]).Debug("inventory: rows left out of the snapshot")
			}
			return
		}
	}
	if prev, _ := r.lastError.Load().(string); prev == "" {
		r.opt.Logger.WithError(err).Error("inventory: refresh failed; keeping the last good snapshot")
	}
	r.lastError.Store(err.Error())
}

// refreshLists loads the blocked and data-center IP lists into the request filter. A failure
// keeps the lists already loaded.
func (r *Refresher[S]) refreshLists(ctx context.Context) {
	if r.opt.Filter == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	store, _ := r.Store()
	load := func(list string) (*fraud.IPSet, error) {
		ranges, err := store.LoadIPList(ctx, list)
		if err != nil {
			return nil, err
		}
		b := fraud.NewIPSetBuilder()
		for _, rg := range ranges {
			if err := b.AddRange(rg.First, rg.Last); err != nil {
				return nil, err
			}
		}
		if list == models.IPListDatacenter && r.opt.DatacenterFile != "" {
			if err := b.AddListFile(r.opt.DatacenterFile); err != nil {
				return nil, fmt.Errorf("fraud.datacenter_file: %w", err)
			}
		}
		return b.Build(), nil
	}
	blocked, err := load(models.IPListBlocked)
	if err == nil {
		var dc *fraud.IPSet
		if dc, err = load(models.IPListDatacenter); err == nil {
			r.opt.Filter.SetLists(blocked, dc)
			return
		}
	}
	r.opt.Logger.WithError(err).Error("fraud: loading the IP lists failed; keeping the lists already loaded")
}
