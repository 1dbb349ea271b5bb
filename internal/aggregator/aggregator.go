package aggregator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"adnet/internal/eventlog"
	"adnet/models"
)

// Store is what the aggregator needs from the database; *mysql.Store implements it.
type Store interface {
	LoadOffsets(ctx context.Context) (map[string]models.Offset, error)
	LoadDimensions(ctx context.Context) (*models.Dimensions, error)
	StatusChangedAt(ctx context.Context) (time.Time, error)
	ConversionFacts(ctx context.Context, ids []models.ImpressionID) (map[models.ImpressionID]models.ConversionFact, error)
	FlushBatch(ctx context.Context, b *models.Batch) error
	DeleteOffset(ctx context.Context, source string) error
	Rollup(ctx context.Context, o models.RollupOptions) (models.RollupResult, error)
}

// Defaults for zero Options fields.
const (
	DefaultFlushInterval   = 5 * time.Second
	DefaultRetention       = 24 * time.Hour
	DefaultHourlyRetention = 90 * 24 * time.Hour
	DefaultClickRetention  = 90 * 24 * time.Hour
	DefaultClickWindow     = 10 * time.Minute
	DefaultMaxClicksPerIP  = 20
	DefaultWatermark       = 2 * time.Second
	DefaultMaxBatchEvents  = 200000
	DefaultEventsPerSecond = 25000
	DefaultPollInterval    = 50 * time.Millisecond
	DefaultDimsRefresh     = time.Minute
	DefaultRollupInterval  = time.Hour
)

// Options configures an Aggregator. Zero values select the defaults above.
type Options struct {
	DataDir string // sources are the worker-process logs under eventlog.Root(DataDir)
	Store   Store

	FlushInterval   time.Duration // stats.flush_interval
	Retention       time.Duration // events.retention: committed segments and finished sources older than this are deleted
	MaxDisk         int64         // events.max_disk, the limit of each worker's log directory (0: none): past half of it committed segments are deleted whatever their age
	HourlyRetention time.Duration // stats.hourly_retention
	ClickRetention  time.Duration // stats.click_retention
	ClickWindow     time.Duration // fraud.click_window
	MaxClicksPerIP  int           // fraud.max_clicks_per_ip
	MinClickDelay   time.Duration // fraud.min_click_delay (0: fast_click off)
	Location        *time.Location
	Logger          logrus.FieldLogger
	// IPHashKey keys the hash of client addresses stored in click rows (at least 16 bytes,
	// persistent: the same address must hash the same after a restart).
	IPHashKey []byte

	// Tuning.
	Watermark               time.Duration // how long an event waits for earlier events of other workers
	MaxBatchEvents          int           // events held in memory before a commit (bounds memory in an outage)
	ExpectedEventsPerSecond int           // design load of the fraud state
	PollInterval            time.Duration // how often idle logs are polled
	DimsRefresh             time.Duration // how often zone and campaign owners are reloaded
	RollupInterval          time.Duration // how often retention runs on the statistics tables
	Now                     func() time.Time

	// Stream, when set, is the one source instead of the local logs (events.transport =
	// "jetstream"): every host's shipper forwards its logs to it, so the verdicts see every
	// host's events in one order. Its committed sequence is kept in eventlog_offsets under
	// Stream.Name(), in the flush's transaction, and each flush is fenced on it
	// (models.Batch.Expect). Local logs are then the shipper's to prune, not the aggregator's.
	Stream StreamSource
	// ReorderWindow: how long the stream's events wait for a host that stopped shipping (see
	// reorder); DefaultReorderWindow when zero. Held events are bounded by the design load
	// times the window (within 2^16 and 2^20 events of about 200 bytes).
	ReorderWindow time.Duration
}

// Aggregator tails every worker's event log, takes the verdicts that need all workers' events,
// and commits hourly and daily statistics with the log offsets in one transaction per flush.
// Run it in one process at a time (it takes a lock file in the events directory).
type Aggregator struct {
	opt   Options
	log   logrus.FieldLogger
	store Store
	now   func() time.Time

	eventsDir string
	sources   []*source // sorted by name: the merge's tie-break
	byName    map[string]*source
	offsets   map[string]models.Offset // committed, as last read or written

	fraud *verdicts
	ip    *ipHasher
	dims  *models.Dimensions

	open   *batch // being filled
	sealed *batch // a commit was attempted and failed: it may or may not be in the database

	// Day of the last event, cached: In(loc) per event would cost a zone lookup.
	dayLo, dayHi, dayKey int64

	nextDiscover, nextMaint, lastFlush time.Time
	maintEvery                         time.Duration // how often maintain runs
	retryAt, dimsRetryAt, dimsLoaded   time.Time
	// The zone and campaign statuses in dims are current as of statusAsOf (wall clock, like the
	// events' times); statusMax is the latest status change they include. See ensureStatus.
	statusAsOf, statusMax, statusChecked time.Time
	flushWait                            backoff
	inOutage                             bool
	missing                              map[int64]time.Time // campaign/zone ids absent after a refresh
	hooks                                hooks
	streamMissing                        int64    // stream messages found missing, as last logged
	reorder                              *reorder // the stream's, which is its source's reader

	mu    sync.Mutex
	stats Stats
}

// hooks let tests stop the aggregator at chosen points as if the process had been killed.
type hooks struct {
	crash    func(point string) error // "event", "warmup", "before-commit", "after-commit", "final"
	noWarmup bool                     // skip the warm-up, to show what it is for
	// streamNow, when set, is the wall clock of the stream's reorder (tests replay a stream
	// of the past in accelerated time).
	streamNow func() time.Time
}

func (a *Aggregator) hook(point string) error {
	if a.hooks.crash != nil {
		return a.hooks.crash(point)
	}
	return nil
}

// New checks opt and returns an Aggregator; Run starts it.
func New(opt Options) (*Aggregator, error) {
	if opt.DataDir == "" || opt.Store == nil {
		return nil, models.Errorf(models.EINVALID, "aggregator: DataDir and Store are required")
	}
	if len(opt.IPHashKey) < 16 {
		return nil, models.Errorf(models.EINVALID, "aggregator: the IP hash key must be at least 16 bytes")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opt.FlushInterval, DefaultFlushInterval)
	def(&opt.Retention, DefaultRetention)
	def(&opt.HourlyRetention, DefaultHourlyRetention)
	def(&opt.ClickRetention, DefaultClickRetention)
	def(&opt.ClickWindow, DefaultClickWindow)
	def(&opt.Watermark, DefaultWatermark)
	def(&opt.PollInterval, DefaultPollInterval)
	def(&opt.DimsRefresh, DefaultDimsRefresh)
	def(&opt.RollupInterval, DefaultRollupInterval)
	def(&opt.ReorderWindow, DefaultReorderWindow)
	if opt.MinClickDelay < 0 {
		opt.MinClickDelay = 0
	}
	// Warm-up re-reads the last click window of every source: segments must outlive it.
	opt.Retention = max(opt.Retention, 2*opt.ClickWindow)
	if opt.MaxClicksPerIP <= 0 {
		opt.MaxClicksPerIP = DefaultMaxClicksPerIP
	}
	if opt.MaxBatchEvents <= 0 {
		opt.MaxBatchEvents = DefaultMaxBatchEvents
	}
	if opt.ExpectedEventsPerSecond <= 0 {
		opt.ExpectedEventsPerSecond = DefaultEventsPerSecond
	}
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	log := opt.Logger
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = l
	}
	v, err := newVerdicts(verdictOptions{Window: opt.ClickWindow, MaxClicksPerIP: opt.MaxClicksPerIP,
		MinClickDelay: opt.MinClickDelay, EventsPerSec: opt.ExpectedEventsPerSecond})
	if err != nil {
		return nil, err
	}
	a := &Aggregator{
		opt: opt, log: log.WithField("component", "aggregator"), store: opt.Store, now: opt.Now,
		eventsDir: eventlog.Root(opt.DataDir),
		byName:    map[string]*source{}, offsets: map[string]models.Offset{},
		fraud: v, ip: newIPHasher(opt.IPHashKey), open: newBatch(), missing: map[int64]time.Time{},
		maintEvery: 5 * time.Second,
	}
	a.stats.MaxDiskBytes = opt.MaxDisk
	a.stats.FraudMemoryBytes = v.MemoryBytes()
	return a, nil
}

// errLocked is returned by Run when another aggregator holds the events directory.
var errLocked = errors.New("another aggregator is running on this data directory")

// lockDir takes <events>/aggregator.lock for the life of Run: two aggregators would each count
// every event once, i.e. twice in total.
func (a *Aggregator) lockDir() (func(), error) {
	if err := os.MkdirAll(a.eventsDir, 0o750); err != nil {
		return nil, fmt.Errorf("aggregator: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(a.eventsDir, "aggregator.lock"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("aggregator: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("aggregator: %s: %w", a.eventsDir, errLocked)
	}
	return func() { f.Close() }, nil
}

// Run aggregates until ctx is cancelled, then commits what it holds (if the database lets it
// within a few seconds) and returns nil. It returns an error only if it cannot start (another
// aggregator holds the directory) or on a failure that must stop it (an inconsistent offset
// table). A database outage is never fatal: Run retries until ctx ends.
func (a *Aggregator) Run(ctx context.Context) error {
	unlock, err := a.lockDir()
	if err != nil {
		return err
	}
	defer unlock()
	defer a.closeSources()
	if err := a.start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	rollupDone := make(chan struct{})
	rctx, stopRollup := context.WithCancel(ctx)
	go func() {
		defer close(rollupDone)
		a.rollupLoop(rctx)
	}()
	defer func() {
		stopRollup()
		<-rollupDone
	}()
	a.setRunning(true)
	defer a.setRunning(false)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		if ctx.Err() != nil {
			if a.hook("final") == nil {
				a.finalFlush()
			}
			return nil
		}
		idle, err := a.step(ctx)
		if err != nil {
			return err
		}
		if idle {
			t.Reset(a.opt.PollInterval)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
		}
	}
}

// start loads the committed offsets (waiting for the database), finishes interrupted source
// removals, opens the sources and warms the fraud state up.
func (a *Aggregator) start(ctx context.Context) error {
	wait := backoff{}
	for {
		offs, err := a.store.LoadOffsets(ctx)
		if err == nil {
			a.offsets = offs
			break
		}
		a.outage(err, "load offsets")
		if !sleepCtx(ctx, wait.next()) {
			return ctx.Err()
		}
	}
	for {
		err := a.reloadDims(ctx)
		if err == nil {
			break
		}
		a.outage(err, "load dimensions")
		if !sleepCtx(ctx, wait.next()) {
			return ctx.Err()
		}
	}
	a.recovered()
	if a.opt.Stream != nil {
		if err := a.openStream(); err != nil {
			return err
		}
	} else {
		if err := a.finishRemovals(ctx); err != nil {
			a.log.WithError(err).Warn("aggregator: could not finish removing old sources; retrying later")
		}
		if err := a.discover(); err != nil {
			return err
		}
	}
	if !a.hooks.noWarmup {
		if err := a.warmUp(ctx); err != nil {
			return err
		}
	}
	now := a.now()
	a.lastFlush, a.nextMaint = now, now
	return nil
}

// step does one round of work: discover sources, move events from the logs into the batch,
// flush when due, maintain. idle reports that there was nothing to read.
func (a *Aggregator) step(ctx context.Context) (idle bool, err error) {
	now := a.now()
	if a.opt.Stream == nil && !now.Before(a.nextDiscover) {
		a.nextDiscover = now.Add(time.Second)
		if err := a.discover(); err != nil {
			a.log.WithError(err).Warn("aggregator: discovering sources")
		}
	}
	n := 0
	for n < 4096 && a.pending() < a.opt.MaxBatchEvents {
		s := a.pick(now)
		if s == nil {
			break
		}
		if !a.ensureDims(ctx, &s.Head, now) {
			break // the database is needed to price this event: wait for it
		}
		if err := a.process(s); err != nil {
			return false, err
		}
		n++
	}
	if a.flushDue(now) {
		if err := a.flush(ctx); err != nil {
			return false, err
		}
	}
	if !now.Before(a.nextMaint) {
		a.nextMaint = now.Add(a.maintEvery)
		a.maintain(ctx, now)
	}
	return n == 0, nil
}

// pending is the number of events held in memory.
func (a *Aggregator) pending() int {
	n := a.open.events
	if a.sealed != nil {
		n += a.sealed.events
	}
	return n
}

func (a *Aggregator) flushDue(now time.Time) bool {
	if a.pending() == 0 || now.Before(a.retryAt) {
		return false
	}
	return a.pending() >= a.opt.MaxBatchEvents || now.Sub(a.lastFlush) >= a.opt.FlushInterval
}

// process judges the head event of s and adds it to the open batch.
func (a *Aggregator) process(s *source) error {
	ev := &s.Head
	s.HasHead = false
	if ev.Time.IsZero() {
		// Never written by adnet's writer (it stamps every event); counted and skipped rather
		// than filed under year 1.
		a.mu.Lock()
		a.stats.Skipped++
		a.mu.Unlock()
		a.consumed(s, s.consumedTime)
		return a.hook("event")
	}
	worker := ev.Reason
	reason := a.fraud.judge(ev)
	if reason == models.ReasonValid {
		reason = a.stopped(ev)
	}
	if reason != worker {
		a.open.tally[reason]++
	}
	a.add(ev, reason)
	a.consumed(s, ev.Time)
	return a.hook("event")
}

// consumed records the head event of s, of time t, as in the open batch.
func (a *Aggregator) consumed(s *source, t time.Time) {
	if a.reorder != nil {
		s.headMark = a.reorder.Mark() // the head is the last event the reorder returned
	}
	a.open.consumed(s, t)
	s.consumed, s.consumedTime = s.HeadPos, t
}

// add counts ev with its final reason into the open batch.
func (a *Aggregator) add(ev *models.Event, reason models.Reason) {
	b := a.open
	var cc [2]byte
	if c := countryCode(ev.Country); c != "" {
		cc = [2]byte{c[0], c[1]}
	}
	k := aggKey{hour: ev.Time.Unix() / 3600 * 3600, day: a.dayOf(ev.Time), zone: ev.ZoneID,
		campaign: ev.CampaignID, creative: ev.CreativeID, country: cc}
	if ev.Type == models.EventServe {
		if _, ok := a.dims.Zones[ev.ZoneID]; !ok {
			k.zone = 0 // see ensureZone; the tracking events' zone ids are signed
		}
	}
	// Bill on the terms in force when the ad was served (signed into its tokens); only events
	// of tokens and log records older than that have none and take the current ones.
	pricing, share := ev.Pricing, ev.ShareBP
	if pricing == "" {
		pricing = a.dims.Campaigns[ev.CampaignID].Pricing
		share = a.dims.Zones[ev.ZoneID].RevenueShareBP
	}
	switch ev.Type {
	case models.EventServe:
		v := b.row(k)
		v.requests++
		if ev.CreativeID != 0 {
			v.served++
		}
		if reason != models.ReasonValid {
			b.invalid[invKey{k, ev.Type, reason}]++
		}
	case models.EventImpression, models.EventClick:
		v := b.row(k)
		var zero models.ImpressionID
		lateClick := ev.Type == models.EventClick && reason == models.ReasonValid && ev.ImpressionID != zero && a.fraud.late(ev)
		if lateClick {
			// Later than the window after its serve: the duplicate filter may have forgotten
			// an earlier click of this impression, so the verdict is taken at flush time
			// against the database and the batch (batch.resolve), and billed only then.
			cost := costNanos(pricing, ev.PriceMicros, ev.Type)
			b.late = append(b.late, pendingClick{key: k, row: len(b.clicks), spend: cost, reven: revenueNanos(cost, share)})
		} else if reason == models.ReasonValid {
			cost := costNanos(pricing, ev.PriceMicros, ev.Type)
			v.spend += cost
			v.reven += revenueNanos(cost, share)
			if ev.Type == models.EventImpression {
				v.imps++
			} else {
				v.clicks++
			}
		} else {
			if ev.Type == models.EventImpression {
				v.invImps++
			} else {
				v.invClicks++
			}
			b.invalid[invKey{k, ev.Type, reason}]++
		}
		if ev.Type == models.EventClick && ev.ImpressionID != zero {
			// Forged clicks (no authentic impression id) are counted but not stored: anyone
			// can send them, so their rows would be unbounded.
			b.clicks = append(b.clicks, models.ClickRow{
				ImpressionID: ev.ImpressionID, Time: ev.Time, ServedAt: ev.ServedAt, ZoneID: ev.ZoneID,
				CampaignID: ev.CampaignID, CreativeID: ev.CreativeID, IPHash: a.ip.hash(ev.IP), UAHash: ev.UAHash,
				ViewerID: ev.ViewerID, Country: countryString(cc), Reason: reason,
			})
			// Only a valid click attributes a conversion: one after a bot's or a replayed
			// click is not billed.
			if reason == models.ReasonValid {
				if t, ok := b.clicked[ev.ImpressionID]; !ok || ev.Time.Before(t) {
					b.clicked[ev.ImpressionID] = ev.Time
				}
			}
		}
	case models.EventConversion:
		cost := costNanos(pricing, ev.PriceMicros, ev.Type)
		b.convs = append(b.convs, pendingConv{key: k, id: ev.ImpressionID, time: ev.Time, reason: reason,
			zone: ev.ZoneID, campaign: ev.CampaignID, creative: ev.CreativeID, payout: ev.PayoutMicros,
			spend: cost, reven: revenueNanos(cost, share)})
	default:
		// An event type this build does not know: counted in no column, but consumed so the
		// log moves on; Stats shows it.
		a.mu.Lock()
		a.stats.Skipped++
		a.mu.Unlock()
	}
}

// stopped returns the reason a billable event of a zone or campaign that was paused, archived or
// deleted before it must not bill, or ReasonValid. The statuses are those of the last dimension
// load (at most DimsRefresh old); the events before the change still bill, however late they
// are read.
func (a *Aggregator) stopped(ev *models.Event) models.Reason {
	if ev.Type == models.EventServe || ev.CampaignID == 0 {
		return models.ReasonValid
	}
	z, ok := a.dims.Zones[ev.ZoneID]
	if !ok || z.Billing.Stopped(ev.Time) {
		return models.ReasonPausedZone
	}
	c, ok := a.dims.Campaigns[ev.CampaignID]
	if !ok || c.Billing.Stopped(ev.Time) {
		return models.ReasonPausedCampaign
	}
	return models.ReasonValid
}

// dayOf returns the network-time-zone date of t as Unix seconds of that date at 00:00 UTC.
func (a *Aggregator) dayOf(t time.Time) int64 {
	ns := t.UnixNano()
	if ns >= a.dayLo && ns < a.dayHi {
		return a.dayKey
	}
	l := t.In(a.opt.Location)
	y, m, d := l.Date()
	a.dayLo = time.Date(y, m, d, 0, 0, 0, 0, a.opt.Location).UnixNano()
	a.dayHi = time.Date(y, m, d+1, 0, 0, 0, 0, a.opt.Location).UnixNano()
	a.dayKey = time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix()
	return a.dayKey
}

// ensureDims makes sure the dimensions needed to price ev are loaded. A worker-valid event
// of a campaign or zone created since the last load triggers a reload; if the database is
// down, the event waits (false) rather than being priced at zero. Ids still unknown after a
// reload are priced at zero and logged, and are not reloaded for again for DimsRefresh.
func (a *Aggregator) ensureDims(ctx context.Context, ev *models.Event, now time.Time) bool {
	if ev.Type == models.EventServe {
		return a.ensureZone(ctx, ev, now)
	}
	if ev.Reason != models.ReasonValid || ev.CampaignID == 0 {
		return true
	}
	_, cok := a.dims.Campaigns[ev.CampaignID]
	_, zok := a.dims.Zones[ev.ZoneID]
	if cok && zok {
		return a.ensureStatus(ctx, ev, now)
	}
	miss := ev.CampaignID
	if cok {
		miss = -ev.ZoneID // zones and campaigns share the map: zones negated
	}
	if t, ok := a.missing[miss]; ok && now.Sub(t) < a.opt.DimsRefresh {
		return true
	}
	if now.Before(a.dimsRetryAt) {
		return false
	}
	if err := a.reloadDims(ctx); err != nil {
		a.dimsRetryAt = now.Add(time.Second)
		return false
	}
	_, cok = a.dims.Campaigns[ev.CampaignID]
	_, zok = a.dims.Zones[ev.ZoneID]
	if !cok || !zok {
		if len(a.missing) > 10000 {
			clear(a.missing)
		}
		a.missing[miss] = now
		a.log.WithFields(logrus.Fields{"campaign": ev.CampaignID, "zone": ev.ZoneID}).
			Warn("aggregator: event of an unknown campaign or zone; counted without price or owner")
	}
	return true
}

// unknownZoneSkew is how far the workers' clocks may run ahead of the aggregator's.
const unknownZoneSkew = time.Second

// ensureZone makes sure the dimensions know every zone that existed when the serve event ev
// happened, so that add files an ad request whose zone id is not among them under zone 0, the
// one "unknown zone" figure, rather than as a row per id a caller made up. A zone created since
// the last load triggers a reload; ids made up by a flood of requests trigger at most one
// reload a second, and their events wait for it (false) — a delay, never a misfiled request.
func (a *Aggregator) ensureZone(ctx context.Context, ev *models.Event, now time.Time) bool {
	if _, ok := a.dims.Zones[ev.ZoneID]; ok || ev.ZoneID == 0 || a.dims.LoadedAt.After(ev.Time.Add(unknownZoneSkew)) {
		return true
	}
	if now.Sub(a.dimsLoaded) < time.Second || now.Before(a.dimsRetryAt) {
		return false
	}
	if err := a.reloadDims(ctx); err != nil {
		a.dimsRetryAt = now.Add(time.Second)
		return false
	}
	// The event was in the log before this load began: the load knows its zone if it existed.
	return true
}

func (a *Aggregator) reloadDims(ctx context.Context) error {
	asOf := time.Now()
	changed, err := a.store.StatusChangedAt(ctx)
	if err != nil {
		return err
	}
	d, err := a.store.LoadDimensions(ctx)
	if err != nil {
		return err
	}
	a.dims, a.dimsLoaded = d, a.now()
	a.statusAsOf, a.statusMax = asOf, changed
	return nil
}

// statusCheckEvery bounds the status checks of ensureStatus: a billable event waits at most
// this long for one, well within the merge's watermark in steady traffic.
const statusCheckEvery = 500 * time.Millisecond

// maxClockAhead is how far ahead of the aggregator's clock a worker's may run before
// ensureStatus stops waiting for statuses as current as its events.
const maxClockAhead = 10 * time.Second

// ensureStatus makes sure the zone and campaign statuses are current as of a billable event,
// so that a pause stops billing at once rather than at the next dimension reload: an event
// later than what the statuses are known for waits (false) for a check of the latest status
// change (one cheap query), and for a reload when there is a newer one. Events read late —
// catching up after an outage — are older than the statuses and need no check.
func (a *Aggregator) ensureStatus(ctx context.Context, ev *models.Event, now time.Time) bool {
	if ev.Time.Before(a.statusAsOf) || ev.Time.After(time.Now().Add(maxClockAhead)) {
		return true // a worker clock far ahead must not stall the pipeline: its events bill
	}
	if now.Sub(a.statusChecked) < statusCheckEvery || now.Before(a.dimsRetryAt) {
		return false
	}
	a.statusChecked = now
	asOf := time.Now()
	changed, err := a.store.StatusChangedAt(ctx)
	if err != nil {
		a.dimsRetryAt = now.Add(time.Second)
		return false
	}
	if changed.After(a.statusMax) {
		if err := a.reloadDims(ctx); err != nil {
			a.dimsRetryAt = now.Add(time.Second)
			return false
		}
	} else {
		a.statusAsOf = asOf
	}
	return ev.Time.Before(a.statusAsOf)
}

// closeSources closes every reader.
func (a *Aggregator) closeSources() {
	for _, s := range a.sources {
		s.r.Close()
	}
}

// sleepCtx sleeps d or until ctx ends; it reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// backoff is an exponential delay from 250ms to 30s.
type backoff struct{ d time.Duration }

func (b *backoff) next() time.Duration {
	if b.d == 0 {
		b.d = 250 * time.Millisecond
	} else {
		b.d = min(2*b.d, 30*time.Second)
	}
	return b.d
}

func (b *backoff) reset() { b.d = 0 }
