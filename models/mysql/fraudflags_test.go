package mysql_test

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"adnet/models"
	"adnet/models/mysql"
)

func TestFraudFlagUpsertKeepsOneOpenFlag(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := t.Context()
	pub := mustPublisher(t, s, "Shady Media", models.StatusActive)
	site := mustSite(t, s, pub.ID, "shady.example", models.StatusActive)
	zone := mustZone(t, s, site.ID, "shady: top", models.StatusActive)

	t0 := time.Date(2025, 3, 1, 12, 5, 0, 0, time.UTC)
	f := &models.FraudFlag{EntityKind: models.FlagZone, EntityID: zone.ID, Metric: "ctr", Value: 0.1, Baseline: 0.02,
		Z: 12.5, Volume: 900, BaselineSource: models.BaselineOwn, LastSeenAt: t0}
	created, err := s.UpsertFraudFlag(ctx, f)
	if err != nil || !created {
		t.Fatalf("first upsert: created %v, %v", created, err)
	}
	if f.ID == 0 || f.Status != models.FlagOpen || f.EntityName != "shady: top" || f.Scans != 1 ||
		!f.CreatedAt.Equal(t0) || !f.LastSeenAt.Equal(t0) || f.PausedAt != nil || f.ReviewedAt != nil {
		t.Fatalf("stored flag: %+v", f)
	}
	first := f.ID

	// The next scan still finds the anomaly: the same flag is refreshed, not a second one opened.
	t1 := t0.Add(5 * time.Minute)
	g := &models.FraudFlag{EntityKind: models.FlagZone, EntityID: zone.ID, Metric: "ctr", Value: 0.15, Baseline: 0.02,
		Z: 20, Volume: 1400, BaselineSource: models.BaselinePeers, LastSeenAt: t1}
	created, err = s.UpsertFraudFlag(ctx, g)
	if err != nil || created {
		t.Fatalf("second upsert: created %v, %v", created, err)
	}
	same(t, "refreshed flag", [...]any{g.ID, g.Value, g.Z, g.Volume, g.BaselineSource, g.Scans, g.CreatedAt.Equal(t0), g.LastSeenAt.Equal(t1)},
		[...]any{first, 0.15, 20.0, int64(1400), models.BaselinePeers, 2, true, true})

	// Another metric of the same zone is a flag of its own.
	h := &models.FraudFlag{EntityKind: models.FlagZone, EntityID: zone.ID, Metric: "invalid_rate", Value: 0.5, Baseline: 0.03, Z: 9, Volume: 2000, LastSeenAt: t1}
	if created, err := s.UpsertFraudFlag(ctx, h); err != nil || !created || h.ID == first {
		t.Fatalf("other metric: created %v id %d, %v", created, h.ID, err)
	}

	// Once reviewed, the flag is closed and a new anomaly opens a new flag.
	if err := s.MarkFraudFlagPaused(ctx, first, t1); err != nil {
		t.Fatal(err)
	}
	r, err := s.ReviewFraudFlag(ctx, first, models.FlagDismissed, t1.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != models.FlagDismissed || r.ReviewedAt == nil || !r.ReviewedAt.Equal(t1.Add(time.Minute)) || r.PausedAt == nil || !r.PausedAt.Equal(t1) {
		t.Fatalf("reviewed flag: %+v", r)
	}
	_, err = s.ReviewFraudFlag(ctx, first, models.FlagConfirmed, time.Time{})
	wantErr(t, err, models.ECONFLICT, "already dismissed")
	_, err = s.ReviewFraudFlag(ctx, first, "open", time.Time{})
	wantErr(t, err, models.EINVALID, "must be confirmed or dismissed")
	_, err = s.ReviewFraudFlag(ctx, 999999, models.FlagDismissed, time.Time{})
	wantErr(t, err, models.ENOTFOUND, "fraud flag 999999")

	k := &models.FraudFlag{EntityKind: models.FlagZone, EntityID: zone.ID, Metric: "ctr", Value: 0.2, Baseline: 0.02, Z: 30, Volume: 800, LastSeenAt: t1.Add(time.Hour)}
	if created, err := s.UpsertFraudFlag(ctx, k); err != nil || !created || k.ID == first {
		t.Fatalf("after review: created %v id %d (first %d), %v", created, k.ID, first, err)
	}

	open, err := s.ListFraudFlags(ctx, models.FraudFlagFilter{Status: models.FlagOpen})
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 2 || open[0].ID != k.ID || open[1].ID != h.ID {
		t.Fatalf("open flags, newest first: %+v", open)
	}
	all, err := s.ListFraudFlags(ctx, models.FraudFlagFilter{EntityKind: models.FlagZone, EntityID: zone.ID})
	if err != nil || len(all) != 3 {
		t.Fatalf("all flags of the zone: %d, %v", len(all), err)
	}
	none, err := s.ListFraudFlags(ctx, models.FraudFlagFilter{EntityKind: models.FlagSite})
	if err != nil || len(none) != 0 {
		t.Fatalf("site flags: %+v, %v", none, err)
	}
	_, err = s.ListFraudFlags(ctx, models.FraudFlagFilter{Status: "closed"})
	wantErr(t, err, models.EINVALID, "must be open, confirmed or dismissed")

	reviewed, err := s.ReviewedFraudFlags(ctx, t1)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "reviewed since t1", reviewed, []models.FraudFlagKey{{EntityKind: models.FlagZone, EntityID: zone.ID, Metric: "ctr"}})
	if reviewed, err = s.ReviewedFraudFlags(ctx, t1.Add(2*time.Minute)); err != nil || len(reviewed) != 0 {
		t.Fatalf("reviewed since later: %+v, %v", reviewed, err)
	}
}

func TestFraudFlagValidationAndLimits(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := t.Context()
	_, err := s.UpsertFraudFlag(ctx, &models.FraudFlag{EntityKind: "country", EntityID: 1, Metric: "ctr"})
	wantErr(t, err, models.EINVALID, "entity country 1")
	_, err = s.UpsertFraudFlag(ctx, &models.FraudFlag{EntityKind: models.FlagZone, EntityID: 0, Metric: "ctr"})
	wantErr(t, err, models.EINVALID, "entity zone 0")
	_, err = s.UpsertFraudFlag(ctx, &models.FraudFlag{EntityKind: models.FlagZone, EntityID: 1, Metric: ""})
	wantErr(t, err, models.EINVALID, "metric")
	_, err = s.UpsertFraudFlag(ctx, &models.FraudFlag{EntityKind: models.FlagZone, EntityID: 1, Metric: "ctr", BaselineSource: "guess"})
	wantErr(t, err, models.EINVALID, "baseline source")

	// A z-score past the column's range (a rate jumping from exactly zero) is stored clamped,
	// not refused: the flag matters more than its last digits. An entity that no longer
	// exists has no name.
	f := &models.FraudFlag{EntityKind: models.FlagPublisher, EntityID: 424242, Metric: "ctr", Value: 0.123456789, Baseline: 0, Z: math.Inf(1), Volume: 1}
	if _, err := s.UpsertFraudFlag(ctx, f); err != nil {
		t.Fatal(err)
	}
	if f.Z != 99999999 || f.Value != 0.123457 || f.EntityName != "" {
		t.Fatalf("clamped flag: %+v", f)
	}
	got, err := s.GetFraudFlag(ctx, f.ID)
	if err != nil || got.ID != f.ID || got.Z != f.Z {
		t.Fatalf("GetFraudFlag: %+v, %v", got, err)
	}
	_, err = s.GetFraudFlag(ctx, f.ID+1000)
	wantErr(t, err, models.ENOTFOUND, "not found")
	err = s.MarkFraudFlagPaused(ctx, f.ID+1000, time.Now())
	wantErr(t, err, models.ENOTFOUND, "not found")
}

// Two scanners at once (the background loop and a manual `adnet fraud scan`) must still leave
// one open flag per entity and metric: the database's unique key decides, not the callers.
func TestFraudFlagConcurrentUpserts(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := t.Context()
	const n = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	createdN, ok := 0, 0
	ids := map[int64]bool{}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for attempt := 0; attempt < 20; attempt++ {
				f := &models.FraudFlag{EntityKind: models.FlagSite, EntityID: 7, Metric: "invalid_rate", Value: 0.4, Baseline: 0.02, Z: 8, Volume: 1000}
				created, err := s.UpsertFraudFlag(ctx, f)
				if models.ErrorCode(err) == models.EUNAVAILABLE {
					continue // an InnoDB deadlock between two upserts of one key: retry, as a scan would next time
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ok++
				ids[f.ID] = true
				if created {
					createdN++
				}
				mu.Unlock()
				return
			}
			t.Error("upsert kept deadlocking")
		}()
	}
	wg.Wait()
	open, err := s.ListFraudFlags(ctx, models.FraudFlagFilter{Status: models.FlagOpen})
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 1 || createdN != 1 || len(ids) != 1 || open[0].Scans != ok {
		t.Fatalf("%d open flags, %d reported created, ids %v, scans %d of %d upserts", len(open), createdN, ids, open[0].Scans, ok)
	}
}

func TestEachZoneHour(t *testing.T) {
	t.Parallel()
	s, db, _ := newStore(t)
	ctx := t.Context()
	h0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	ins := func(hour time.Time, zone, campaign, site, pub, imps, clicks, invImps, invClicks int64) {
		t.Helper()
		_, err := mysql.SQLX(db).ExecContext(ctx,
			`INSERT INTO stats_hourly (hour, zone_id, campaign_id, creative_id, country, advertiser_id, publisher_id, site_id,
				impressions, clicks, invalid_impressions, invalid_clicks) VALUES (?, ?, ?, 1, 'FR', 1, ?, ?, ?, ?, ?, ?)`,
			hour, zone, campaign, pub, site, imps, clicks, invImps, invClicks)
		if err != nil {
			t.Fatal(err)
		}
	}
	ins(h0, 1, 1, 10, 100, 50, 2, 1, 0)
	ins(h0, 1, 2, 10, 100, 30, 1, 0, 3) // a second campaign in the same zone and hour: summed
	ins(h0, 2, 1, 11, 100, 7, 0, 0, 0)
	ins(h0, 0, 0, 0, 0, 0, 0, 99, 99) // forged events: no zone
	ins(h0.Add(time.Hour), 2, 1, 11, 100, 5, 1, 2, 2)
	ins(h0.Add(2*time.Hour), 1, 1, 10, 100, 9, 9, 9, 9) // outside [from, to)
	ins(h0.Add(-time.Hour), 1, 1, 10, 100, 9, 9, 9, 9)  // outside too

	var got []models.ZoneHour
	err := s.EachZoneHour(ctx, h0.Add(30*time.Minute).In(time.FixedZone("X", 7200)), h0.Add(2*time.Hour), func(h *models.ZoneHour) error {
		got = append(got, *h)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "zone hours", got, []models.ZoneHour{
		{Hour: h0, ZoneID: 1, SiteID: 10, PublisherID: 100, Impressions: 80, Clicks: 3, InvalidImpressions: 1, InvalidClicks: 3},
		{Hour: h0, ZoneID: 2, SiteID: 11, PublisherID: 100, Impressions: 7},
		{Hour: h0.Add(time.Hour), ZoneID: 2, SiteID: 11, PublisherID: 100, Impressions: 5, Clicks: 1, InvalidImpressions: 2, InvalidClicks: 2},
	})

	stop := context.Canceled
	calls := 0
	err = s.EachZoneHour(ctx, h0, h0.Add(2*time.Hour), func(*models.ZoneHour) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Fatalf("fn's error must stop the scan: %v after %d calls", err, calls)
	}
}

// Version 3 adds the one-open-flag key: flags opened twice under version 2 (nothing prevented
// it then) are reconciled on the way up, keeping the newest open, and the way down is clean.
func TestFraudFlagsMigration(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, db, _ := newStore(t)
	x := mysql.SQLX(db)
	version := func() int64 {
		t.Helper()
		cur, _, err := mysql.SchemaVersion(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		return cur
	}
	for version() > 2 {
		if err := mysql.MigrateDown(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	for i, status := range []string{"open", "open", "dismissed", "open"} {
		metric := "ctr"
		if i == 3 {
			metric = "invalid_rate"
		}
		if _, err := x.ExecContext(ctx, `INSERT INTO fraud_flags (entity_kind, entity_id, metric, value, baseline, z, created_at, status)
			VALUES ('zone', 5, ?, 0.1, 0.01, 9, ?, ?)`, metric, time.Date(2025, 1, 1, i, 0, 0, 0, time.UTC), status); err != nil {
			t.Fatal(err)
		}
	}
	if err := mysql.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	flags, err := s.ListFraudFlags(ctx, models.FraudFlagFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range flags {
		got = append(got, f.Metric+":"+f.Status+":"+f.LastSeenAt.Format("15"))
	}
	same(t, "flags after the upgrade, newest first", got, []string{"invalid_rate:open:03", "ctr:dismissed:02", "ctr:open:01", "ctr:dismissed:00"})
	if err := mysql.MigrateDown(ctx, db); err != nil {
		t.Fatalf("down from 3: %v", err)
	}
	if err := mysql.Migrate(ctx, db); err != nil {
		t.Fatalf("up again: %v", err)
	}
}
