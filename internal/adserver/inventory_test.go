package adserver_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"adnet/internal/adserver"
	"adnet/internal/decision"
	"adnet/internal/demo"
	"adnet/models"
	"adnet/models/mysql"
	"adnet/models/mysql/mysqltest"
)

func TestMain(m *testing.M) { mysqltest.Main(m) }

// TestRefresherConnectsLateAndFollowsChanges: a worker whose database is down at start serves
// the empty snapshot, connects on a later tick, and picks up changes within the interval.
func TestRefresherConnectsLateAndFollowsChanges(t *testing.T) {
	db := mysqltest.MustOpenDB(t)
	store := mysql.NewStore(db)
	ctx := context.Background()
	net, err := demo.Seed(ctx, store, "http://127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	empty, err := decision.Build(&models.Inventory{LoadedAt: time.Now()}, decision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	engine := decision.NewEngine(empty)
	var attempts atomic.Int32
	r := adserver.NewRefresher(adserver.RefresherOptions[*mysql.Store]{
		Connect: func(context.Context) (*mysql.Store, error) {
			if attempts.Add(1) == 1 {
				return nil, errors.New("connection refused")
			}
			return store, nil
		},
		Engine: engine, Interval: 50 * time.Millisecond,
	})
	r.Start(ctx)
	defer r.Close()
	if _, ok := r.Store(); ok || engine.Snapshot().NumZones() != 0 {
		t.Fatal("store connected or inventory loaded although the first connect failed")
	}
	if _, lastErr := r.Health(); lastErr == "" {
		t.Error("Health reports no error after a failed connect")
	}
	waitFor(t, func() bool { return engine.Snapshot().NumZones() == len(net.Zones) })
	if age, lastErr := r.Health(); lastErr != "" || age <= 0 {
		t.Errorf("healthy refresher: age %v, error %q", age, lastErr)
	}

	z := models.Zone{SiteID: net.Sites[0].ID, Name: "added later", Width: 300, Height: 250, Status: models.StatusActive}
	if err := store.CreateZone(ctx, &z); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return engine.Snapshot().NumZones() == len(net.Zones)+1 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
