package fraud

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"adnet/models"
)

// AnomalyStore is what the anomaly scanner needs from storage; *mysql.Store implements it.
type AnomalyStore interface {
	EachZoneHour(ctx context.Context, from, to time.Time, fn func(*models.ZoneHour) error) error
	UpsertFraudFlag(ctx context.Context, f *models.FraudFlag) (created bool, err error)
	ReviewedFraudFlags(ctx context.Context, since time.Time) ([]models.FraudFlagKey, error)
	MarkFraudFlagPaused(ctx context.Context, id int64, at time.Time) error
	GetZone(ctx context.Context, id int64) (*models.Zone, error)
	UpdateZone(ctx context.Context, z *models.Zone) error
}

// Defaults of ScannerOptions.
const (
	DefaultAnomalyRecent   = time.Hour
	DefaultAnomalyBaseline = 7 * 24 * time.Hour
	DefaultAnomalyCooldown = 24 * time.Hour
	DefaultAnomalyInterval = 5 * time.Minute
)

// ScannerOptions configure an AnomalyScanner. Zero fields take the defaults.
type ScannerOptions struct {
	Store   AnomalyStore
	Anomaly AnomalyOptions
	// Recent is the window judged: the hours of stats_hourly overlapping the last Recent
	// (with 1h, the previous and the current hour: 60 to 120 minutes of traffic).
	Recent time.Duration
	// Baseline is the trailing history each entity is compared with, ending where the recent
	// window starts.
	Baseline time.Duration
	// Cooldown is how long an entity's metric is left alone after an operator reviewed its
	// flag: a dismissed false alarm must not come back on the next scan.
	Cooldown time.Duration
	// AutoPause (fraud.auto_pause) pauses a flagged zone. It acts once per flag, so a zone
	// an operator resumes while its flag is open stays resumed.
	AutoPause bool
	Logger    logrus.FieldLogger
}

// AnomalyScanner runs the publisher-anomaly monitor over the hourly statistics: per zone,
// site and publisher, the recent CTR and invalid share against the entity's own trailing
// baseline (or its peers'). It is safe for concurrent use; scans are serialised.
type AnomalyScanner struct {
	opt ScannerOptions
	log logrus.FieldLogger

	mu sync.Mutex
	// The baselines end where the recent window starts, an hour boundary: they are read
	// once an hour, not on every scan.
	baseFrom, baseTo time.Time
	own              map[entityKey]*[2]Baseline // per metric, in AnomalyMetrics order
	peers            map[string]*[2]Baseline    // per entity kind
}

// entityKey names a zone, site or publisher.
type entityKey struct {
	kind string
	id   int64
}

// entityKinds are the kinds the scanner assesses, in report order.
var entityKinds = [...]string{models.FlagZone, models.FlagSite, models.FlagPublisher}

// NewAnomalyScanner checks o and returns a scanner.
func NewAnomalyScanner(o ScannerOptions) (*AnomalyScanner, error) {
	if o.Store == nil {
		return nil, models.Errorf(models.EINVALID, "anomaly scanner: a store is required")
	}
	if o.Recent <= 0 {
		o.Recent = DefaultAnomalyRecent
	}
	if o.Baseline <= 0 {
		o.Baseline = DefaultAnomalyBaseline
	}
	if o.Baseline < o.Recent {
		return nil, models.Errorf(models.EINVALID, "anomaly scanner: the baseline (%s) must be longer than the recent window (%s)", o.Baseline, o.Recent)
	}
	if o.Cooldown <= 0 {
		o.Cooldown = DefaultAnomalyCooldown
	}
	o.Anomaly = o.Anomaly.withDefaults()
	log := o.Logger
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = l
	}
	return &AnomalyScanner{opt: o, log: log.WithField("component", "anomaly")}, nil
}

// ScanResult is what one scan found and did.
type ScanResult struct {
	RecentFrom   time.Time          `json:"recent_from"`   // the recent window: [RecentFrom, now]
	BaselineFrom time.Time          `json:"baseline_from"` // the baseline: [BaselineFrom, RecentFrom)
	Assessed     int                `json:"assessed"`      // entity metrics judged (enough volume and a baseline)
	LowVolume    int                `json:"low_volume"`    // entity metrics with too few recent events to judge
	NoBaseline   int                `json:"no_baseline"`   // entity metrics with neither history nor peers
	Suppressed   int                `json:"suppressed"`    // anomalous, but reviewed within the cooldown
	Opened       int                `json:"opened"`        // flags opened by this scan (the others were open already)
	Flags        []models.FraudFlag `json:"flags"`
	Paused       []int64            `json:"paused_zones"` // zones paused by this scan (fraud.auto_pause)
}

// Scan judges every zone, site and publisher with traffic in the recent window, records the
// anomalies as open flags (one per entity and metric: a flag still open is refreshed) and,
// with AutoPause, pauses the flagged zones. A flag that was written stays written if a later
// step fails; the next scan completes the work.
func (s *AnomalyScanner) Scan(ctx context.Context, now time.Time) (*ScanResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now = now.UTC()
	recentFrom := now.Add(-s.opt.Recent).Truncate(time.Hour)
	baseFrom := recentFrom.Add(-s.opt.Baseline).Truncate(time.Hour)
	res := &ScanResult{RecentFrom: recentFrom, BaselineFrom: baseFrom}
	if !s.baseFrom.Equal(baseFrom) || !s.baseTo.Equal(recentFrom) || s.own == nil {
		if err := s.loadBaselines(ctx, baseFrom, recentFrom); err != nil {
			return nil, err
		}
	}
	recent, err := s.recentCounts(ctx, recentFrom, now)
	if err != nil {
		return nil, err
	}
	reviewed, err := s.opt.Store.ReviewedFraudFlags(ctx, now.Add(-s.opt.Cooldown))
	if err != nil {
		return nil, err
	}
	skip := make(map[models.FraudFlagKey]bool, len(reviewed))
	for _, k := range reviewed {
		skip[k] = true
	}

	keys := make([]entityKey, 0, len(recent))
	for k := range recent {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b entityKey) int {
		return cmp.Or(cmp.Compare(kindOrder(a.kind), kindOrder(b.kind)), cmp.Compare(a.id, b.id))
	})
	for _, k := range keys {
		for i, metric := range AnomalyMetrics() {
			var own, peers Baseline
			if b := s.own[k]; b != nil {
				own = b[i]
			}
			if p := s.peers[k.kind]; p != nil {
				peers = p[i]
			}
			a := Assess(metric, recent[k], own, peers, s.opt.Anomaly)
			switch {
			case a.Baseline.Source == "":
				res.NoBaseline++
				continue
			case a.Volume < s.opt.Anomaly.MinVolume:
				res.LowVolume++
				continue
			}
			res.Assessed++
			if !a.Flag {
				continue
			}
			if skip[models.FraudFlagKey{EntityKind: k.kind, EntityID: k.id, Metric: metric}] {
				res.Suppressed++
				continue
			}
			if err := s.record(ctx, k, &a, now, res); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// record writes one anomaly as an open flag and applies auto-pause to a zone.
func (s *AnomalyScanner) record(ctx context.Context, k entityKey, a *Assessment, now time.Time, res *ScanResult) error {
	f := models.FraudFlag{EntityKind: k.kind, EntityID: k.id, Metric: a.Metric, Value: a.Value, Baseline: a.Baseline.Rate,
		Z: a.Z, Volume: a.Volume, BaselineSource: a.Baseline.Source, LastSeenAt: now}
	created, err := s.opt.Store.UpsertFraudFlag(ctx, &f)
	if err != nil {
		return err
	}
	fields := logrus.Fields{"entity": k.kind, "id": k.id, "metric": a.Metric, "value": a.Value,
		"baseline": a.Baseline.Rate, "z": a.Z, "volume": a.Volume, "baseline_source": a.Baseline.Source, "flag": f.ID}
	if created {
		res.Opened++
		s.log.WithFields(fields).Warn("anomaly: flagged for review")
	}
	if s.opt.AutoPause && k.kind == models.FlagZone && f.PausedAt == nil {
		paused, err := s.pauseZone(ctx, k.id)
		if err != nil {
			return fmt.Errorf("auto-pause zone %d (flag %d): %w", k.id, f.ID, err)
		}
		if paused {
			if err := s.opt.Store.MarkFraudFlagPaused(ctx, f.ID, now); err != nil {
				return err
			}
			at := now
			f.PausedAt = &at
			res.Paused = append(res.Paused, k.id)
			s.log.WithFields(fields).Warn("anomaly: zone paused (fraud.auto_pause)")
		}
	}
	res.Flags = append(res.Flags, f)
	return nil
}

// pauseZone sets an active zone's status to paused; the workers' next inventory snapshot
// stops serving it. A zone that is not active (already paused by someone, archived) is left
// alone and reported as not paused by us.
func (s *AnomalyScanner) pauseZone(ctx context.Context, id int64) (bool, error) {
	z, err := s.opt.Store.GetZone(ctx, id)
	if models.ErrorCode(err) == models.ENOTFOUND {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if z.Status != models.StatusActive {
		return false, nil
	}
	z.Status = models.StatusPaused
	if err := s.opt.Store.UpdateZone(ctx, z); err != nil {
		return false, err
	}
	return true, nil
}

// loadBaselines reads [from, to) hour by hour and computes every entity's own baselines and
// each kind's peer baselines. A site's or publisher's hour is the sum of its zones' in that
// hour, so the rows (ordered by hour) are summed per hour before they are accumulated.
func (s *AnomalyScanner) loadBaselines(ctx context.Context, from, to time.Time) error {
	accs := map[entityKey]*BaselineAcc{}
	hour := map[entityKey]*Counts{}
	var cur time.Time
	flush := func() {
		for k, c := range hour {
			a := accs[k]
			if a == nil {
				a = &BaselineAcc{}
				accs[k] = a
			}
			a.AddHour(*c, s.opt.Anomaly)
		}
		clear(hour)
	}
	err := s.opt.Store.EachZoneHour(ctx, from, to, func(h *models.ZoneHour) error {
		if !h.Hour.Equal(cur) {
			flush()
			cur = h.Hour
		}
		addZoneHour(hour, h)
		return nil
	})
	if err != nil {
		return err
	}
	flush()
	own := make(map[entityKey]*[2]Baseline, len(accs))
	byKind := map[string]*[2][]Baseline{}
	for k, a := range accs {
		var b [2]Baseline
		for i, m := range AnomalyMetrics() {
			b[i] = a.Baseline(m, s.opt.Anomaly)
		}
		own[k] = &b
		pk := byKind[k.kind]
		if pk == nil {
			pk = &[2][]Baseline{}
			byKind[k.kind] = pk
		}
		for i := range b {
			pk[i] = append(pk[i], b[i])
		}
	}
	peers := map[string]*[2]Baseline{}
	for kind, pk := range byKind {
		var p [2]Baseline
		for i := range pk {
			p[i] = PeerBaseline(pk[i], s.opt.Anomaly)
		}
		peers[kind] = &p
	}
	s.own, s.peers, s.baseFrom, s.baseTo = own, peers, from, to
	s.log.WithFields(logrus.Fields{"from": from, "to": to, "entities": len(own)}).Debug("anomaly: baselines loaded")
	return nil
}

// recentCounts sums the recent window per entity.
func (s *AnomalyScanner) recentCounts(ctx context.Context, from, now time.Time) (map[entityKey]Counts, error) {
	sums := map[entityKey]*Counts{}
	err := s.opt.Store.EachZoneHour(ctx, from, now.Add(time.Hour), func(h *models.ZoneHour) error {
		addZoneHour(sums, h)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make(map[entityKey]Counts, len(sums))
	for k, c := range sums {
		out[k] = *c
	}
	return out, nil
}

// addZoneHour adds one zone's hour to the zone, its site and its publisher. Rows filed under
// no site or publisher (the aggregator did not know the zone yet) count for the zone only.
func addZoneHour(m map[entityKey]*Counts, h *models.ZoneHour) {
	c := Counts{Impressions: h.Impressions, Clicks: h.Clicks, InvalidImpressions: h.InvalidImpressions, InvalidClicks: h.InvalidClicks}
	for _, k := range [...]entityKey{{models.FlagZone, h.ZoneID}, {models.FlagSite, h.SiteID}, {models.FlagPublisher, h.PublisherID}} {
		if k.id <= 0 {
			continue
		}
		sum := m[k]
		if sum == nil {
			sum = &Counts{}
			m[k] = sum
		}
		sum.Add(c)
	}
}

func kindOrder(kind string) int {
	for i, k := range entityKinds {
		if k == kind {
			return i
		}
	}
	return len(entityKinds)
}

// RunAnomalyLoop scans every interval (DefaultAnomalyInterval when ≤ 0), the first time right
// away, until ctx ends; it then returns nil. A failed scan is logged and retried at the next
// tick: a database outage must not stop the aggregator process that hosts the loop.
func RunAnomalyLoop(ctx context.Context, s *AnomalyScanner, interval time.Duration) error {
	if interval <= 0 {
		interval = DefaultAnomalyInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res, err := s.Scan(ctx, time.Now())
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.log.WithError(err).Error("anomaly: scan failed; retrying at the next interval")
		default:
			s.log.WithFields(logrus.Fields{"assessed": res.Assessed, "flags": len(res.Flags), "opened": res.Opened,
				"paused": len(res.Paused), "suppressed": res.Suppressed}).Debug("anomaly: scan done")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
