package fraud_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"adnet/internal/fraud"
	"adnet/models"
	"adnet/models/mysql"
	"adnet/models/mysql/mysqltest"
)

// countingStore counts the scanner's reads of the hourly statistics.
type countingStore struct {
	*mysql.Store
	reads atomic.Int64
}

func (c *countingStore) EachZoneHour(ctx context.Context, from, to time.Time, fn func(*models.ZoneHour) error) error {
	c.reads.Add(1)
	return c.Store.EachZoneHour(ctx, from, to, fn)
}

// network is a small network with a week of statistics, built in a real database.
type network struct {
	store  *mysql.Store
	raw    *sql.DB
	now    time.Time
	zones  map[string]int64
	sites  map[string]int64
	pubs   map[string]int64
	byZone map[int64]string
}

func newNetwork(t *testing.T) *network {
	t.Helper()
	ctx := t.Context()
	dsn := mysqltest.MustCreateDatabase(t)
	db, err := mysql.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	raw, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	n := &network{store: mysql.NewStore(db), raw: raw, now: time.Now().UTC(),
		zones: map[string]int64{}, sites: map[string]int64{}, pubs: map[string]int64{}, byZone: map[int64]string{}}
	for _, p := range []struct {
		pub, domain string
		zones       []string
	}{
		{"Clean Media", "clean.example", []string{"c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"}},
		{"Shady Media", "shady.example", []string{"inflated", "tiny", "botted", "new", "new-normal"}},
	} {
		pub := &models.Publisher{Name: p.pub, Status: models.StatusActive, RevenueShareBP: 7000}
		if err := n.store.CreatePublisher(ctx, pub); err != nil {
			t.Fatal(err)
		}
		site := &models.Site{PublisherID: pub.ID, Name: p.domain, Domain: p.domain, Status: models.StatusActive}
		if err := n.store.CreateSite(ctx, site); err != nil {
			t.Fatal(err)
		}
		n.pubs[p.pub], n.sites[p.domain] = pub.ID, site.ID
		for _, name := range p.zones {
			z := &models.Zone{SiteID: site.ID, Name: name, Width: 300, Height: 250, Status: models.StatusActive}
			if err := n.store.CreateZone(ctx, z); err != nil {
				t.Fatal(err)
			}
			n.zones[name], n.byZone[z.ID] = z.ID, name
		}
	}
	// A week of history ending two hours ago (the baseline window ends where the recent one,
	// the previous and current hour, starts): 300 impressions an hour at 1.7% to 2.3% CTR and
	// 2% invalid, for every zone but the new ones.
	last := n.now.Truncate(time.Hour).Add(-2 * time.Hour)
	var rows []string
	var args []any
	for name, id := range n.zones {
		if strings.HasPrefix(name, "new") {
			continue
		}
		for h := 0; h < 7*24; h++ {
			clicks := 5 + h%3
			rows = append(rows, "(?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, last.Add(-time.Duration(h)*time.Hour), id, n.siteOf(t, id), n.pubOf(t, id), 300, clicks, 6, 0)
		}
	}
	n.insert(t, rows, args)
	return n
}

func (n *network) siteOf(t *testing.T, zone int64) int64 {
	if strings.HasPrefix(n.byZone[zone], "c") {
		return n.sites["clean.example"]
	}
	return n.sites["shady.example"]
}

func (n *network) pubOf(t *testing.T, zone int64) int64 {
	if strings.HasPrefix(n.byZone[zone], "c") {
		return n.pubs["Clean Media"]
	}
	return n.pubs["Shady Media"]
}

func (n *network) insert(t *testing.T, rows []string, args []any) {
	t.Helper()
	for len(rows) > 0 {
		k := min(len(rows), 1000)
		_, err := n.raw.ExecContext(t.Context(),
			`INSERT INTO stats_hourly (hour, zone_id, site_id, publisher_id, impressions, clicks, invalid_impressions, invalid_clicks,
				campaign_id, creative_id, advertiser_id) VALUES `+strings.ReplaceAll(strings.Join(rows[:k], ","), "?)", "?, 1, 1, 1)"),
			args[:8*k]...)
		if err != nil {
			t.Fatal(err)
		}
		rows, args = rows[k:], args[8*k:]
	}
}

// recent adds the current hour's traffic of a zone.
func (n *network) recent(t *testing.T, zone string, imps, clicks, invImps int64) {
	t.Helper()
	id := n.zones[zone]
	n.insert(t, []string{"(?, ?, ?, ?, ?, ?, ?, ?)"}, []any{n.now.Truncate(time.Hour), id, n.siteOf(t, id), n.pubOf(t, id), imps, clicks, invImps, 0})
}

// flagSet renders flags as "kind:name:metric:source" for comparison.
func (n *network) flagSet(flags []models.FraudFlag) []string {
	var out []string
	for _, f := range flags {
		name := f.EntityName
		if f.EntityKind == models.FlagZone {
			name = n.byZone[f.EntityID]
		}
		out = append(out, fmt.Sprintf("%s:%s:%s:%s", f.EntityKind, name, f.Metric, f.BaselineSource))
	}
	slices.Sort(out)
	return out
}

func (n *network) zoneStatus(t *testing.T, name string) models.Status {
	t.Helper()
	z, err := n.store.GetZone(t.Context(), n.zones[name])
	if err != nil {
		t.Fatal(err)
	}
	return z.Status
}

func TestAnomalyScanFlagsPausesAndReviews(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	n := newNetwork(t)
	for i := 1; i <= 9; i++ {
		n.recent(t, fmt.Sprintf("c%d", i), 1000, 20, 20) // as usual
	}
	n.recent(t, "inflated", 1000, 100, 20) // 5x its CTR
	n.recent(t, "tiny", 20, 20, 0)         // every impression clicked, but only 20
	n.recent(t, "botted", 600, 12, 400)    // usual CTR, 40% invalid
	n.recent(t, "new", 1000, 200, 20)      // no history: 10x its peers
	n.recent(t, "new-normal", 1000, 22, 20)

	cs := &countingStore{Store: n.store}
	sc, err := fraud.NewAnomalyScanner(fraud.ScannerOptions{Store: cs, AutoPause: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := sc.Scan(ctx, n.now)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"publisher:Shady Media:ctr:own", "publisher:Shady Media:invalid_rate:own",
		"site:shady.example:ctr:own", "site:shady.example:invalid_rate:own",
		"zone:botted:invalid_rate:own", "zone:inflated:ctr:own", "zone:new:ctr:peers",
	}
	if got := n.flagSet(res.Flags); !slices.Equal(got, want) {
		t.Fatalf("flags:\n got %v\nwant %v", got, want)
	}
	// 14 zones, 2 sites, 2 publishers with recent traffic, 2 metrics each: tiny lacks volume
	// for both; everything else has a baseline (own, or the zones' peers for the new ones).
	if res.Opened != 7 || res.LowVolume != 2 || res.NoBaseline != 0 || res.Assessed != 34 || res.Suppressed != 0 {
		t.Fatalf("scan counts: %+v", res)
	}
	paused := map[string]bool{}
	for _, id := range res.Paused {
		paused[n.byZone[id]] = true
	}
	if len(res.Paused) != 3 || !paused["inflated"] || !paused["botted"] || !paused["new"] {
		t.Fatalf("paused zones: %v", paused)
	}
	for name, want := range map[string]models.Status{"inflated": models.StatusPaused, "new": models.StatusPaused,
		"botted": models.StatusPaused, "tiny": models.StatusActive, "c1": models.StatusActive, "new-normal": models.StatusActive} {
		if got := n.zoneStatus(t, name); got != want {
			t.Errorf("zone %s is %s, want %s", name, got, want)
		}
	}
	if reads := cs.reads.Load(); reads != 2 {
		t.Fatalf("first scan read the statistics %d times, want 2 (baseline and recent)", reads)
	}

	// The next scan refreshes the same flags, pauses nothing again, and reuses the baselines.
	// An operator resumes the new zone meanwhile: auto-pause acted on its flag once already.
	z, err := n.store.GetZone(ctx, n.zones["new"])
	if err != nil {
		t.Fatal(err)
	}
	z.Status = models.StatusActive
	if err := n.store.UpdateZone(ctx, z); err != nil {
		t.Fatal(err)
	}
	res, err = sc.Scan(ctx, n.now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if res.Opened != 0 || len(res.Paused) != 0 || len(res.Flags) != 7 || cs.reads.Load() != 3 {
		t.Fatalf("second scan: opened %d, paused %v, %d flags, %d reads", res.Opened, res.Paused, len(res.Flags), cs.reads.Load())
	}
	if n.zoneStatus(t, "new") != models.StatusActive {
		t.Fatal("the scan paused again a zone an operator resumed")
	}
	open, err := n.store.ListFraudFlags(ctx, models.FraudFlagFilter{Status: models.FlagOpen})
	if err != nil {
		t.Fatal(err)
	}
	var inflated *models.FraudFlag
	for i := range open {
		if open[i].Scans != 2 || open[i].Status != models.FlagOpen {
			t.Errorf("flag after two scans: %+v", open[i])
		}
		if open[i].EntityKind == models.FlagZone && open[i].EntityID == n.zones["inflated"] {
			inflated = &open[i]
		}
	}
	if len(open) != 7 || inflated == nil || inflated.PausedAt == nil || inflated.Z < 4 || inflated.Volume != 1000 ||
		inflated.Value != 0.1 || inflated.Baseline < 0.019 || inflated.Baseline > 0.021 {
		t.Fatalf("open flags: %d; inflated zone's: %+v", len(open), inflated)
	}

	// The operator dismisses the inflated zone's flag: it paused the zone, which has no
	// other open flag, so the zone is resumed; the next scans leave that zone's CTR alone.
	f, resumed, err := fraud.ReviewFlag(ctx, n.store, inflated.ID, models.FlagDismissed, time.Time{})
	if err != nil || !resumed || f.Status != models.FlagDismissed {
		t.Fatalf("dismiss: resumed %v, %+v, %v", resumed, f, err)
	}
	if n.zoneStatus(t, "inflated") != models.StatusActive {
		t.Fatal("dismissing the flag did not resume the zone it paused")
	}
	res, err = sc.Scan(ctx, n.now.Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if res.Suppressed != 1 || len(res.Flags) != 6 || res.Opened != 0 || len(res.Paused) != 0 {
		t.Fatalf("scan after the dismissal: %+v", res)
	}
	// Confirming a flag keeps its zone paused.
	for _, fl := range open {
		if fl.EntityKind == models.FlagZone && fl.EntityID == n.zones["botted"] {
			if _, resumed, err := fraud.ReviewFlag(ctx, n.store, fl.ID, models.FlagConfirmed, time.Time{}); err != nil || resumed {
				t.Fatalf("confirm: resumed %v, %v", resumed, err)
			}
		}
	}
	if n.zoneStatus(t, "botted") != models.StatusPaused {
		t.Fatal("confirming a flag resumed its zone")
	}
}

// Without auto-pause nothing but the flags changes; a database without statistics yields an
// empty scan rather than an error.
func TestAnomalyScanWithoutAutoPause(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	n := newNetwork(t)
	sc, err := fraud.NewAnomalyScanner(fraud.ScannerOptions{Store: n.store})
	if err != nil {
		t.Fatal(err)
	}
	res, err := sc.Scan(ctx, n.now)
	if err != nil || len(res.Flags) != 0 || res.Assessed != 0 {
		t.Fatalf("scan of a network without recent traffic: %+v, %v", res, err)
	}
	n.recent(t, "inflated", 1000, 100, 20)
	res, err = sc.Scan(ctx, n.now)
	if err != nil {
		t.Fatal(err)
	}
	if got := n.flagSet(res.Flags); len(got) != 3 || len(res.Paused) != 0 || n.zoneStatus(t, "inflated") != models.StatusActive {
		t.Fatalf("flags %v, paused %v", got, res.Paused)
	}
	if _, err := fraud.NewAnomalyScanner(fraud.ScannerOptions{}); models.ErrorCode(err) != models.EINVALID {
		t.Fatalf("a scanner without a store: %v", err)
	}
	if _, err := fraud.NewAnomalyScanner(fraud.ScannerOptions{Store: n.store, Recent: 48 * time.Hour, Baseline: time.Hour}); models.ErrorCode(err) != models.EINVALID {
		t.Fatalf("a baseline shorter than the recent window: %v", err)
	}
}

func TestRunAnomalyLoop(t *testing.T) {
	t.Parallel()
	n := newNetwork(t)
	n.recent(t, "inflated", 1000, 100, 20)
	sc, err := fraud.NewAnomalyScanner(fraud.ScannerOptions{Store: n.store})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- fraud.RunAnomalyLoop(ctx, sc, 20*time.Millisecond) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		flags, err := n.store.ListFraudFlags(t.Context(), models.FraudFlagFilter{Status: models.FlagOpen, EntityKind: models.FlagZone})
		if err != nil {
			t.Fatal(err)
		}
		if len(flags) == 1 && flags[0].Scans >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the loop did not scan repeatedly: %+v", flags)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunAnomalyLoop returned %v after cancel", err)
	}
}
