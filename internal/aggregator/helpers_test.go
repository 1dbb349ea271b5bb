package aggregator

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/sirupsen/logrus"

	"adnet/internal/eventlog"
	"adnet/models"
	"adnet/models/mysql"
	"adnet/models/mysql/mysqltest"
)

func TestMain(m *testing.M) { mysqltest.Main(m) }

// Prices of the test network.
const (
	cpmRate  = 1_234_567 // 1234.567 µ per impression: not a whole number of micro-units
	cpcRate  = 300_000
	cpaRate  = 5_000_000
	shareBP  = 7000
	testHash = "0123456789abcdef0123456789abcdef"
)

// env is a test network in a fresh database with an empty data directory.
type env struct {
	t       testing.TB
	db      *mysql.DB
	raw     *sql.DB // the same database, for the tests' own queries
	store   *mysql.Store
	dataDir string
	zone    int64
	camp    [3]int64 // CPM, CPC, CPA
	creat   [3]int64
	pid     int
	segMax  int64 // segment size of the writers; small by default so that tests cross many segments
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	dsn := mysqltest.MustCreateDatabase(t)
	db, err := mysql.Open(ctx, dsn)
	must(t, err)
	t.Cleanup(func() { db.Close() })
	raw, err := sql.Open("mysql", dsn)
	must(t, err)
	t.Cleanup(func() { raw.Close() })
	e := &env{t: t, db: db, raw: raw, store: mysql.NewStore(db), dataDir: t.TempDir(), pid: 1000}
	adv := &models.Advertiser{Name: "adv", Status: models.StatusActive}
	must(t, e.store.CreateAdvertiser(ctx, adv))
	for i, p := range []models.PricingModel{models.PricingCPM, models.PricingCPC, models.PricingCPA} {
		rate := []int64{cpmRate, cpcRate, cpaRate}[i]
		c := &models.Campaign{AdvertiserID: adv.ID, Name: "c-" + string(p), Status: models.StatusActive, Tier: models.TierRemnant,
			Weight: 1, Pricing: p, RateMicros: rate, Pacing: models.PacingASAP}
		must(t, e.store.CreateCampaign(ctx, c))
		cr := &models.Creative{CampaignID: c.ID, Name: "cr", Status: models.StatusActive, Kind: models.CreativeImage,
			Width: 300, Height: 250, Weight: 1, ImageURL: "https://cdn.example/a.png", ClickURL: "https://shop.example/"}
		must(t, e.store.CreateCreative(ctx, cr))
		e.camp[i], e.creat[i] = c.ID, cr.ID
	}
	pub := &models.Publisher{Name: "pub", Status: models.StatusActive, RevenueShareBP: shareBP}
	must(t, e.store.CreatePublisher(ctx, pub))
	site := &models.Site{PublisherID: pub.ID, Name: "site", Domain: "news.example", Status: models.StatusActive}
	must(t, e.store.CreateSite(ctx, site))
	z := &models.Zone{SiteID: site.ID, Name: "top", Width: 300, Height: 250, Status: models.StatusActive}
	must(t, e.store.CreateZone(ctx, z))
	e.zone = z.ID
	return e
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// writer opens a new worker-process log directory, as a worker process does.
func (e *env) writer(worker int) *eventlog.Writer {
	e.t.Helper()
	e.pid++
	dir := eventlog.ProcessDir(eventlog.WorkerDir(e.dataDir, worker), time.Now(), e.pid)
	segMax := e.segMax
	if segMax == 0 {
		segMax = 64 * eventlog.RecordSize
	}
	w, err := eventlog.OpenWriter(eventlog.WriterOptions{Dir: dir, SegmentMaxBytes: segMax})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { w.Close() })
	return w
}

// options returns aggregator options for tests: quick polling, small batches so that a run
// commits many times.
func (e *env) options(store Store) Options {
	log := logrus.New()
	log.SetOutput(io.Discard)
	if testing.Verbose() {
		log.SetOutput(os.Stderr)
		log.SetLevel(logrus.DebugLevel)
	}
	return Options{DataDir: e.dataDir, Store: store, FlushInterval: 20 * time.Millisecond, PollInterval: 2 * time.Millisecond,
		MaxBatchEvents: 97, ClickWindow: 10 * time.Minute, MaxClicksPerIP: 20, MinClickDelay: time.Second,
		Location: time.UTC, Logger: log, IPHashKey: []byte(testHash), ExpectedEventsPerSecond: 2000,
		// The test events are of 2025: keep the retention jobs away from them.
		HourlyRetention: 100 * 365 * 24 * time.Hour, ClickRetention: 100 * 365 * 24 * time.Hour}
}

func (e *env) newAgg(opt Options) *Aggregator {
	e.t.Helper()
	a, err := New(opt)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// totals are the committed statistics, summed.
type totals struct {
	Requests, Served, Imps, Clicks, Convs, InvImps, InvClicks, InvConvs int64
	Spend, Revenue                                                      int64 // nano-units
	Invalid                                                             map[string]int64
	ClickRows, ConvRows                                                 int64
	DailyRequests, ZoneRequests                                         int64
}

func (e *env) totals() totals {
	e.t.Helper()
	ctx := context.Background()
	x := e.raw
	var tt totals
	must(e.t, x.QueryRowContext(ctx, `SELECT COALESCE(SUM(requests),0), COALESCE(SUM(served),0), COALESCE(SUM(impressions),0),
		COALESCE(SUM(clicks),0), COALESCE(SUM(conversions),0), COALESCE(SUM(invalid_impressions),0), COALESCE(SUM(invalid_clicks),0),
		COALESCE(SUM(invalid_conversions),0), COALESCE(SUM(spend_nanos),0), COALESCE(SUM(publisher_revenue_nanos),0) FROM stats_hourly`).
		Scan(&tt.Requests, &tt.Served, &tt.Imps, &tt.Clicks, &tt.Convs, &tt.InvImps, &tt.InvClicks, &tt.InvConvs, &tt.Spend, &tt.Revenue))
	must(e.t, x.QueryRowContext(ctx, `SELECT COALESCE(SUM(requests),0) FROM stats_daily`).Scan(&tt.DailyRequests))
	must(e.t, x.QueryRowContext(ctx, `SELECT COALESCE(SUM(requests),0) FROM stats_zone_daily`).Scan(&tt.ZoneRequests))
	must(e.t, x.QueryRowContext(ctx, `SELECT COUNT(*) FROM clicks`).Scan(&tt.ClickRows))
	must(e.t, x.QueryRowContext(ctx, `SELECT COUNT(*) FROM conversions`).Scan(&tt.ConvRows))
	rows, err := x.QueryContext(ctx, `SELECT event_type, reason, SUM(count) FROM stats_invalid_hourly GROUP BY event_type, reason`)
	must(e.t, err)
	defer rows.Close()
	tt.Invalid = map[string]int64{}
	for rows.Next() {
		var typ models.EventType
		var reason models.Reason
		var n int64
		must(e.t, rows.Scan(&typ, &reason, &n))
		tt.Invalid[typ.String()+"/"+reason.String()] = n
	}
	return tt
}

// workload is a deterministic mix of events over the test network and the statistics it must
// produce. Impression i (i = 0…n-1), served at base + i·10ms from its own address and viewer:
//   - campaign i%3 (CPM, CPC, CPA); a valid serve event and a valid beacon 100 ms later;
//   - i%5 == 0: the beacon again 200 ms after serve → duplicate_impression;
//   - i even: a click 2 s after serve; i%14 == 0: clicked again at 3 s → duplicate_click;
//   - i%6 == 2 (CPA, clicked): a conversion at 5 s; i%12 == 8: converted again at 6 s →
//     duplicate_conversion;
//   - i%66 == 11 (CPA, never clicked): a conversion at 5 s → no_click;
//   - i%17 == 0: an unfilled request from a bot (worker verdict bot_ua).
type workload struct {
	events []models.Event
	want   totals
}

func (e *env) workload(base time.Time, n int) workload {
	var w workload
	w.want.Invalid = map[string]int64{}
	add := func(ev models.Event) { w.events = append(w.events, ev) }
	for i := 0; i < n; i++ {
		served := base.Add(time.Duration(i) * 10 * time.Millisecond)
		id := models.ImpressionID{0xEE, byte(i), byte(i >> 8), byte(i >> 16)}
		k := i % 3
		ev := models.Event{Type: models.EventServe, Time: served, ServedAt: served, ImpressionID: id, ZoneID: e.zone,
			CampaignID: e.camp[k], CreativeID: e.creat[k], PriceMicros: []int64{cpmRate, cpcRate, cpaRate}[k],
			Country: [2]byte{'F', 'R'}, IP: [16]byte{10: 0xff, 11: 0xff, 12: 10, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)},
			ViewerID: uint64(i + 1), UAHash: 77}
		add(ev)
		w.want.Requests++
		w.want.Served++
		at := func(d time.Duration, typ models.EventType) models.Event {
			x := ev
			x.Type, x.Time = typ, served.Add(d)
			return x
		}
		add(at(100*time.Millisecond, models.EventImpression))
		w.want.Imps++
		if k == 0 {
			w.want.Spend += cpmRate
			w.want.Revenue += cpmRate * shareBP / 10000
		}
		if i%5 == 0 {
			add(at(200*time.Millisecond, models.EventImpression))
			w.want.InvImps++
			w.want.Invalid["impression/duplicate_impression"]++
		}
		if i%2 == 0 {
			add(at(2*time.Second, models.EventClick))
			w.want.Clicks++
			w.want.ClickRows++
			if k == 1 {
				w.want.Spend += cpcRate * 1000
				w.want.Revenue += cpcRate * 1000 * shareBP / 10000
			}
			if i%14 == 0 {
				add(at(3*time.Second, models.EventClick))
				w.want.InvClicks++
				w.want.ClickRows++
				w.want.Invalid["click/duplicate_click"]++
			}
		}
		if i%6 == 2 {
			add(at(5*time.Second, models.EventConversion))
			w.want.Convs++
			w.want.ConvRows++
			w.want.Spend += cpaRate * 1000
			w.want.Revenue += cpaRate * 1000 * shareBP / 10000
			if i%12 == 8 {
				add(at(6*time.Second, models.EventConversion))
				w.want.InvConvs++
				w.want.ConvRows++
				w.want.Invalid["conversion/duplicate_conversion"]++
			}
		}
		if i%66 == 11 {
			add(at(5*time.Second, models.EventConversion))
			w.want.InvConvs++
			w.want.ConvRows++
			w.want.Invalid["conversion/no_click"]++
		}
		if i%17 == 0 {
			bot := models.Event{Type: models.EventServe, Reason: models.ReasonBotUA, Time: served.Add(time.Millisecond),
				ServedAt: served.Add(time.Millisecond), ZoneID: e.zone, IP: [16]byte{15: 1}}
			add(bot)
			w.want.Requests++
			w.want.Invalid["serve/bot_ua"]++
		}
	}
	slices.SortStableFunc(w.events, func(a, b models.Event) int { return a.Time.Compare(b.Time) })
	w.want.DailyRequests, w.want.ZoneRequests = w.want.Requests, w.want.Requests
	return w
}

// spread appends events to the writers, each to a pseudo-random one (seeded): an impression's
// beacon and its click usually land in different workers' logs.
func spread(t testing.TB, events []models.Event, ws []*eventlog.Writer, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := range events {
		must(t, ws[rng.IntN(len(ws))].Append(events[i]))
	}
}

// run starts a in the background and returns a stop function that cancels it and returns
// Run's error.
func run(a *Aggregator) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
}

// runToCrash runs a until Run returns (a crash hook fired) and returns its error.
func runToCrash(t *testing.T, a *Aggregator) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background()) }()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * time.Minute):
		t.Fatal("the aggregator did not reach its crash point")
		return nil
	}
}

// waitTotals polls the database until the totals equal want (or the deadline passes, then
// fails showing the difference).
func (e *env) waitTotals(want totals) {
	e.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var got totals
	for time.Now().Before(deadline) {
		got = e.totals()
		if sameTotals(got, want) {
			return
		}
		if f, over := overshoot(got, want); over {
			e.t.Fatalf("%s counted past its target (counted twice?):\n got %+v\nwant %+v", f, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("totals:\n got %+v\nwant %+v", got, want)
}

// overshoot names a counter of got above its value in want: counters only grow, so that is
// final.
func overshoot(got, want totals) (string, bool) {
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := 0; i < g.NumField(); i++ {
		if g.Field(i).Kind() == reflect.Int64 && g.Field(i).Int() > w.Field(i).Int() {
			return g.Type().Field(i).Name, true
		}
	}
	for k, v := range got.Invalid {
		if v > want.Invalid[k] {
			return k, true
		}
	}
	return "", false
}

func sameTotals(a, b totals) bool {
	ai, bi := a.Invalid, b.Invalid
	a.Invalid, b.Invalid = nil, nil
	if !reflect.DeepEqual(a, b) || len(ai) != len(bi) {
		return false
	}
	for k, v := range ai {
		if bi[k] != v {
			return false
		}
	}
	return true
}

// stays checks that the totals remain want for a moment: nothing is counted twice late.
func (e *env) stays(want totals) {
	e.t.Helper()
	time.Sleep(100 * time.Millisecond)
	if got := e.totals(); !sameTotals(got, want) {
		e.t.Fatalf("totals changed after convergence:\n got %+v\nwant %+v", got, want)
	}
}

var errCrash = errors.New("simulated crash")

// crashAt returns a hook that crashes at the n-th (1-based) passage through point.
func crashAt(point string, n int) func(string) error {
	var mu sync.Mutex
	seen := 0
	return func(p string) error {
		if p != point {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		seen++
		if seen == n {
			return errCrash
		}
		return nil
	}
}
