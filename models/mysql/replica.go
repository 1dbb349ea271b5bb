package mysql

import (
	"context"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"adnet/models"
)

// Reads is where the reads that may lag the primary by a moment are served: reports (API,
// console, `adnet report`) and the workers' inventory snapshot and IP lists. With a replica
// they go there, taking the bulk of the read load off the primary; writes, the aggregator
// and management changes never come here and stay on the primary.
//
// A replica that fails a read (down, unreachable, not yet migrated) is bypassed: the read
// is retried on the primary at once, the replica is left alone for ReplicaRetry and then
// tried again. Falling back is logged at most once per minute and shown in Status, so that
// a replica that is down for good is noticed without flooding the log. A report or a
// snapshot from the primary is as correct as one from the replica, only more expensive for
// the primary.
type Reads struct {
	primary *Store
	open    func(ctx context.Context) (*DB, error) // opens the replica; nil: no replica
	log     logrus.FieldLogger
	now     func() time.Time

	mu        sync.Mutex
	replica   *Store // nil until opened
	db        *DB
	opening   bool
	downUntil time.Time // reads skip the replica until then
	lastLog   time.Time
	fallbacks int64
	lastErr   string
	lastFall  time.Time
}

// ReplicaRetry is how long a replica that failed is left alone before it is tried again.
const ReplicaRetry = 5 * time.Second

// fallbackLogEvery bounds the fallback log to one line a minute.
const fallbackLogEvery = time.Minute

// NewReads returns the reads of primary, routed to the replica that open connects to (nil:
// no replica, everything on primary). The replica is opened at the first read, and again
// after a failure, never on the caller's request path for longer than the connect timeout.
func NewReads(primary *Store, open func(ctx context.Context) (*DB, error), log logrus.FieldLogger) *Reads {
	if log == nil {
		l := logrus.New()
		l.SetLevel(logrus.PanicLevel)
		log = l
	}
	return &Reads{primary: primary, open: open, log: log, now: time.Now}
}

// ReadsStatus is the state of the reads' routing, for /status.
type ReadsStatus struct {
	Replica      bool      `json:"replica"`       // a replica is configured
	Using        string    `json:"using"`         // "replica" or "primary": where the next read goes
	Fallbacks    int64     `json:"fallbacks"`     // reads that failed on the replica and were served by the primary
	LastError    string    `json:"last_error"`    // the replica's last failure, "" if none
	LastFallback time.Time `json:"last_fallback"` // when the last fallback happened
}

// Status returns where reads go and how often they fell back.
func (r *Reads) Status() ReadsStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := ReadsStatus{Replica: r.open != nil, Using: "primary", Fallbacks: r.fallbacks, LastError: r.lastErr, LastFallback: r.lastFall}
	if r.open != nil && r.now().After(r.downUntil) {
		st.Using = "replica"
	}
	return st
}

// Close closes the replica's pool (the primary belongs to the caller).
func (r *Reads) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.db == nil {
		return nil
	}
	err := r.db.Close()
	r.db, r.replica = nil, nil
	return err
}

// Report runs a statistics report (Store.Report) on the replica, or the primary.
func (r *Reads) Report(ctx context.Context, q models.ReportQuery) (*models.Report, error) {
	return read(r, ctx, func(s *Store) (*models.Report, error) { return s.Report(ctx, q) })
}

// LoadInventory loads the decision engine's inventory (Store.LoadInventory) from the
// replica, or the primary.
func (r *Reads) LoadInventory(ctx context.Context, now time.Time, loc *time.Location) (*models.Inventory, error) {
	return read(r, ctx, func(s *Store) (*models.Inventory, error) { return s.LoadInventory(ctx, now, loc) })
}

// LoadIPList loads an IP list (Store.LoadIPList) from the replica, or the primary.
func (r *Reads) LoadIPList(ctx context.Context, list string) ([]models.IPRange, error) {
	return read(r, ctx, func(s *Store) ([]models.IPRange, error) { return s.LoadIPList(ctx, list) })
}

// read runs fn on the replica when there is a usable one, and on the primary when there is
// not or when the replica failed for a reason other than the request itself.
func read[T any](r *Reads, ctx context.Context, fn func(*Store) (T, error)) (T, error) {
	replica, err := r.replicaStore(ctx)
	if replica == nil {
		if err != nil {
			r.fellBack(err)
		}
		return fn(r.primary)
	}
	v, err := fn(replica)
	if err == nil || ctx.Err() != nil || !replicaFault(err) {
		return v, err
	}
	r.mu.Lock()
	r.downUntil = r.now().Add(ReplicaRetry)
	r.mu.Unlock()
	r.fellBack(err)
	return fn(r.primary)
}

// replicaFault reports whether err may be the replica's fault, so that the primary should
// be asked: anything but an invalid request or a missing row, which the primary would
// answer the same way.
func replicaFault(err error) bool {
	switch models.ErrorCode(err) {
	case models.EINVALID, models.ENOTFOUND:
		return false
	}
	return true
}

// replicaStore returns the replica's Store, opening it if due; nil (and the error of an
// attempt made now, if any) when reads should go to the primary.
func (r *Reads) replicaStore(ctx context.Context) (*Store, error) {
	if r.open == nil {
		return nil, nil
	}
	r.mu.Lock()
	if r.now().Before(r.downUntil) || r.opening {
		r.mu.Unlock()
		return nil, nil
	}
	if r.replica != nil {
		s := r.replica
		r.mu.Unlock()
		return s, nil
	}
	// One reader opens it; the others read from the primary meanwhile.
	r.opening = true
	r.mu.Unlock()
	db, err := r.open(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opening = false
	if err != nil {
		r.downUntil = r.now().Add(ReplicaRetry)
		return nil, err
	}
	r.db, r.replica = db, NewStore(db)
	return r.replica, nil
}

// fellBack counts a read that went to the primary because of err, and logs it at most
// once a minute.
func (r *Reads) fellBack(err error) {
	r.mu.Lock()
	now := r.now()
	r.fallbacks++
	r.lastErr, r.lastFall = err.Error(), now
	logNow := now.Sub(r.lastLog) >= fallbackLogEvery
	if logNow {
		r.lastLog = now
	}
	n := r.fallbacks
	r.mu.Unlock()
	if logNow {
		r.log.WithError(err).WithField("fallbacks", n).
			Warn("mysql: the replica (mysql.replica_dsn_file) failed a read; reading from the primary (logged once a minute, see /status)")
	}
}
