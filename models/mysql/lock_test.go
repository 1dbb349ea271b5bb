package mysql_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"adnet/models"
)

// TestLeaderLock: the second contender waits while the first holds the lock, and gets it
// once the first releases it.
func TestLeaderLock(t *testing.T) {
	t.Parallel()
	_, db, _ := newStore(t)
	ctx := t.Context()
	name := fmt.Sprintf("adnet_test_%d", time.Now().UnixNano()) // locks are server-wide
	first, err := db.AcquireLeader(ctx, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	got := make(chan error, 1)
	go func() {
		l, err := db.AcquireLeader(ctx, name, func() { close(waited) })
		if err == nil {
			defer l.Release()
		}
		got <- err
	}()
	select {
	case <-waited:
	case err := <-got:
		t.Fatalf("the second contender got the lock while the first held it (%v)", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the second contender neither waited nor got the lock")
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second contender did not get the released lock")
	}
	select {
	case <-first.Lost():
	default:
	}
}

// TestFlushBatchExpect: a flush whose expected offset is not the committed one fails with
// ECONFLICT and writes nothing.
func TestFlushBatchExpect(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := context.Background()
	src := "stream/TEST"
	b := &models.Batch{Offsets: []models.Offset{{Source: src, Offset: 10}}, Expect: []models.Offset{{Source: src}}}
	if err := s.FlushBatch(ctx, b); err != nil {
		t.Fatalf("first flush from the zero offset: %v", err)
	}
	stale := &models.Batch{Offsets: []models.Offset{{Source: src, Offset: 20}}, Expect: []models.Offset{{Source: src}}}
	var me *models.Error
	if err := s.FlushBatch(ctx, stale); !errors.As(err, &me) || me.Code != models.ECONFLICT {
		t.Fatalf("flush from a stale offset: %v, want ECONFLICT", err)
	}
	offs, err := s.LoadOffsets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if offs[src].Offset != 10 {
		t.Fatalf("offset %d after the refused flush, want 10", offs[src].Offset)
	}
	next := &models.Batch{Offsets: []models.Offset{{Source: src, Offset: 20}}, Expect: []models.Offset{{Source: src, Offset: 10}}}
	if err := s.FlushBatch(ctx, next); err != nil {
		t.Fatal(err)
	}
}
