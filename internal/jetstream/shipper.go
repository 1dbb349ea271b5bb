package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"adnet/internal/eventlog"
	"adnet/models"
)

// Shipper defaults.
const (
	DefaultMaxPending = 4096
	// DefaultWatermark is how long an event waits for earlier events of the host's other
	// workers, as in the aggregator's merge of local logs.
	DefaultWatermark = 2 * time.Second
	shippedFile      = "shipped.json"
	removedDir       = ".shipped-removed"
	deadProbeAge     = 30 * time.Second
	recordEvery      = 200 * time.Millisecond
	maintainEvery    = 5 * time.Second
	heartbeatEvery   = time.Second
	stopTimeout      = 10 * time.Second
)

// ShipperOptions configures a Shipper. Zero tuning fields select the defaults.
type ShipperOptions struct {
	DataDir string // the host's logs are under eventlog.Root(DataDir)
	Host    string // nats.host: the subject's last token and the message ids' prefix
	Stream  string // nats.stream: publishes are checked to land in it
	JS      jetstream.JetStream

	Retention time.Duration // events.retention: shipped segments are kept this long
	MaxDisk   int64         // events.max_disk: past half of it shipped segments go at once

	MaxPending   int           // messages awaiting their PubAck at most (bounded memory)
	Watermark    time.Duration // see DefaultWatermark
	PollInterval time.Duration // idle logs are polled this often (50 ms)
	Logger       logrus.FieldLogger
	Now          func() time.Time

	// crash lets tests stop the shipper at a point as if it had been killed: "published"
	// (after each publish), "recorded" (after each write of the shipped file).
	crash func(point string) error
}

// ShipperStats is a snapshot of a Shipper's counters.
type ShipperStats struct {
	Running   bool  `json:"running"`   // it has begun shipping (false while adnet ship waits for the stream)
	Published int64 `json:"published"` // events published (first sends; Resent counts the re-sends)
	Acked     int64 `json:"acked"`     // events the stream acknowledged (duplicates included)
	Resent    int64 `json:"resent"`    // publishes repeated after an error or a timeout
	// Heartbeats is the number of heartbeats sent (HeaderThrough), one a second.
	Heartbeats int64  `json:"heartbeats"`
	Pending    int    `json:"pending"` // awaiting a PubAck
	Sources    int    `json:"sources"`
	LastError  string `json:"last_error,omitempty"`
	// LastErrorAt is when LastError happened.
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// LagBytes (LagRecords) of this host's logs are not acknowledged by the stream yet:
	// unread, read and waiting, or awaiting their PubAck. Refreshed every few seconds.
	LagBytes   int64 `json:"lag_bytes"`
	LagRecords int64 `json:"lag_records"`
	// OldestUnacked is the time of the oldest event read and not yet acknowledged (the one
	// awaiting its PubAck longest, or the oldest of the logs' next events); zero when every
	// event read is acknowledged. Now minus it is how far behind the shipper is.
	OldestUnacked time.Time `json:"oldest_unacked,omitzero"`
	// LastAck is when the stream last acknowledged an event (zero: none since the start).
	LastAck time.Time `json:"last_ack,omitzero"`
}

// shipSource is one worker process's log as the shipper reads it.
type shipSource struct {
	name, dir       string
	r               *eventlog.Reader
	eventlog.Cursor                   // its next event; Dead once its writer is gone
	inflight        int               // its messages awaiting a PubAck
	shipped         eventlog.Position // acknowledged by the stream, in order
}

// inflight is one published message awaiting its PubAck, in publish order.
type inflight struct {
	src *shipSource
	pos eventlog.Position
	at  time.Time // the event's time
	id  string
	msg *nats.Msg
	fut jetstream.PubAckFuture
}

// Shipper forwards one host's event logs to the stream; see the package documentation.
type Shipper struct {
	opt       ShipperOptions
	log       logrus.FieldLogger
	eventsDir string
	subject   string

	sources []*shipSource
	byName  map[string]*shipSource
	shipped map[string]eventlog.Position // as recorded in the file (and to be recorded)
	dirty   bool
	q       []inflight // FIFO of unacknowledged publishes

	nextDiscover, nextRecord, nextMaint, retryAt, nextBeat time.Time
	retryWait                                              time.Duration // doubles while publishing fails

	mu    sync.Mutex
	stats ShipperStats
}

// NewShipper checks opt and returns a Shipper; Run starts it.
func NewShipper(opt ShipperOptions) (*Shipper, error) {
	if opt.DataDir == "" || opt.Host == "" || opt.Stream == "" || opt.JS == nil {
		return nil, models.Errorf(models.EINVALID, "shipper: DataDir, Host, Stream and JS are required")
	}
	if opt.MaxPending <= 0 {
		opt.MaxPending = DefaultMaxPending
	}
	if opt.Watermark <= 0 {
		opt.Watermark = DefaultWatermark
	}
	if opt.PollInterval <= 0 {
		opt.PollInterval = 50 * time.Millisecond
	}
	if opt.Retention <= 0 {
		opt.Retention = 24 * time.Hour
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
	return &Shipper{opt: opt, log: log.WithField("component", "shipper"), eventsDir: eventlog.Root(opt.DataDir),
		subject: Subject(opt.Host), byName: map[string]*shipSource{}, shipped: map[string]eventlog.Position{}}, nil
}

// errShipperLocked: two shippers of one host would each publish every event (de-duplicated,
// but twice the work and two writers of the shipped-offset file).
var errShipperLocked = errors.New("another shipper is running on this data directory")

// Run ships until ctx is cancelled, then waits (a few seconds at most) for the outstanding
// acknowledgements, records them and returns nil.
func (s *Shipper) Run(ctx context.Context) error {
	if err := os.MkdirAll(s.eventsDir, 0o750); err != nil {
		return fmt.Errorf("shipper: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(s.eventsDir, "shipper.lock"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("shipper: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fmt.Errorf("shipper: %s: %w", s.eventsDir, errShipperLocked)
	}
	if err := s.loadShipped(); err != nil {
		return err
	}
	_ = os.RemoveAll(filepath.Join(s.eventsDir, removedDir)) // removals interrupted after their record
	defer func() {
		for _, src := range s.sources {
			src.r.Close()
		}
	}()
	t := time.NewTimer(0)
	defer t.Stop()
	for ctx.Err() == nil {
		idle, err := s.step()
		if err != nil {
			return err
		}
		if idle {
			t.Reset(s.opt.PollInterval)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
		}
	}
	return s.stop()
}

// step does one round: discover logs, take in acknowledgements, publish, record, maintain.
// idle reports that nothing moved.
func (s *Shipper) step() (idle bool, err error) {
	now := s.opt.Now()
	if !now.Before(s.nextDiscover) {
		s.nextDiscover = now.Add(time.Second)
		if err := s.discover(); err != nil {
			s.log.WithError(err).Warn("shipper: discovering logs")
		}
	}
	acked, err := s.reap(now)
	if err != nil {
		return false, err
	}
	sent := 0
	for len(s.q) < s.opt.MaxPending && !now.Before(s.retryAt) && sent < 4096 {
		src := s.pick(now)
		if src == nil {
			break
		}
		if err := s.publish(src); err != nil {
			s.fail(err, now)
			break
		}
		sent++
		if err := s.hook("published"); err != nil {
			return false, err
		}
	}
	if s.dirty && !now.Before(s.nextRecord) {
		s.nextRecord = now.Add(recordEvery)
		if err := s.record(); err != nil {
			s.log.WithError(err).Error("shipper: recording shipped offsets")
		} else if err := s.hook("recorded"); err != nil {
			return false, err
		}
	}
	if !now.Before(s.nextBeat) && !now.Before(s.retryAt) {
		s.nextBeat = now.Add(heartbeatEvery)
		s.heartbeat(now)
	}
	if !now.Before(s.nextMaint) {
		s.nextMaint = now.Add(maintainEvery)
		s.maintain(now)
	}
	oldest := s.oldestUnacked()
	s.mu.Lock()
	s.stats.Pending, s.stats.Sources, s.stats.OldestUnacked, s.stats.Running = len(s.q), len(s.sources), oldest, true
	s.mu.Unlock()
	return sent == 0 && acked == 0, nil
}

func (s *Shipper) hook(point string) error {
	if s.opt.crash != nil {
		return s.opt.crash(point)
	}
	return nil
}

// fail notes a publish error; publishing pauses a moment (the connection is reconnecting,
// or the stream is electing a leader).
func (s *Shipper) fail(err error, now time.Time) {
	// From 100 ms to 2 s: a stream leader election takes seconds, and every retry re-sends
	// the whole window.
	s.retryWait = min(max(2*s.retryWait, 100*time.Millisecond), 2*time.Second)
	s.retryAt = now.Add(s.retryWait)
	s.mu.Lock()
	changed := s.stats.LastError != err.Error()
	s.stats.LastError, s.stats.LastErrorAt = err.Error(), now
	s.mu.Unlock()
	if changed {
		s.log.WithError(err).Warn("shipper: publish failed; retrying")
	}
}

// discover opens the logs that appeared since the last call, after their shipped offsets.
func (s *Shipper) discover() error {
	srcs, err := eventlog.Sources(s.eventsDir)
	if err != nil {
		return err
	}
	added := false
	for _, d := range srcs {
		if s.byName[d.Name] != nil {
			continue
		}
		pos := s.shipped[d.Name]
		r, err := eventlog.OpenReader(d.Dir, pos, s.log)
		if err != nil {
			return err
		}
		src := &shipSource{name: d.Name, dir: d.Dir, r: r, shipped: pos}
		s.sources = append(s.sources, src)
		s.byName[d.Name] = src
		added = true
		s.log.WithFields(logrus.Fields{"source": d.Name, "from": pos.String()}).Info("shipper: reading log")
	}
	if added {
		slices.SortFunc(s.sources, func(x, y *shipSource) int { return strings.Compare(x.name, y.name) })
	}
	return nil
}

// pick returns the log whose head event is the oldest, once it is older than the watermark
// (see the aggregator's merge, which this mirrors for one host's logs), or nil.
func (s *Shipper) pick(now time.Time) *shipSource {
	var best *shipSource
	for _, src := range s.sources {
		ok, err := src.Fill(src.r, now, s.opt.PollInterval)
		if err != nil {
			s.log.WithError(err).WithField("source", src.name).Error("shipper: cannot read log")
		}
		if ok && (best == nil || src.Before(&best.Cursor)) {
			best = src
		}
	}
	if best == nil || best.Head.Time.After(now.Add(-s.opt.Watermark)) {
		return nil
	}
	return best
}

// heartbeat publishes the host's through time (HeaderThrough): every event of the host older
// than it has been acknowledged by the stream, so it is stored ahead of the heartbeat. That is
// the oldest of: the events awaiting their acknowledgement, each log's next event not yet
// published, and now minus the watermark (a worker may still write an event that old, as in
// the merge). A log that cannot be read now leaves the time unknown: no heartbeat. It is sent
// without a message id and its acknowledgement is not awaited: a lost heartbeat only delays
// the aggregator's release until the next one.
func (s *Shipper) heartbeat(now time.Time) {
	t := now.Add(-s.opt.Watermark)
	for i := range s.q {
		if s.q[i].at.Before(t) {
			t = s.q[i].at
		}
	}
	for _, src := range s.sources {
		ok, _ := src.Fill(src.r, now, s.opt.PollInterval) // a read error is logged by pick
		switch {
		case ok:
			if src.Head.Time.Before(t) {
				t = src.Head.Time
			}
		case !src.AtEnd():
			return // failing: its next event's time is unknown
		}
	}
	msg := &nats.Msg{Subject: s.subject, Header: nats.Header{}}
	msg.Header.Set(HeaderThrough, strconv.FormatInt(t.UnixNano(), 10))
	if _, err := s.opt.JS.PublishMsgAsync(msg, s.publishOpts("")...); err != nil {
		s.fail(err, now)
		return
	}
	s.mu.Lock()
	s.stats.Heartbeats++
	s.mu.Unlock()
}

// publishOpts are the options of every publish: the stream it must land in, the message id
// (none for a heartbeat), and no retry by the client library. The shipper re-sends failed
// publishes itself (reap, resend); the library's own retry after "no responders" (a stream
// without a leader, during a failover) runs on a timer outside the shipper's control, and in
// nats.go v1.55.0 a run of it crashed the shipper once under a node kill.
func (s *Shipper) publishOpts(id string) []jetstream.PublishOpt {
	opts := []jetstream.PublishOpt{jetstream.WithExpectStream(s.opt.Stream), jetstream.WithRetryAttempts(0)}
	if id != "" {
		opts = append(opts, jetstream.WithMsgID(id))
	}
	return opts
}

// MsgID returns the message id of the event that ends at pos in the log source of host: the
// same for every re-send of the event, so the stream stores it once.
func MsgID(host, source string, pos eventlog.Position) string {
	return host + "/" + source + "/" + pos.String()
}

// publish sends src's head event asynchronously and queues it for its acknowledgement.
func (s *Shipper) publish(src *shipSource) error {
	body := make([]byte, eventlog.RecordSize)
	eventlog.EncodeRecord(body, &src.Head)
	msg := &nats.Msg{Subject: s.subject, Data: body, Header: nats.Header{}}
	id := MsgID(s.opt.Host, src.name, src.HeadPos)
	fut, err := s.opt.JS.PublishMsgAsync(msg, s.publishOpts(id)...)
	if err != nil {
		return err
	}
	s.q = append(s.q, inflight{src: src, pos: src.HeadPos, at: src.Head.Time, id: id, msg: msg, fut: fut})
	src.HasHead = false
	src.inflight++
	s.mu.Lock()
	s.stats.Published++
	s.mu.Unlock()
	return nil
}

// reap takes in the acknowledgements at the front of the queue, in publish order, so that a
// log's shipped offset only ever covers a prefix the stream stored. A failed publish (an
// error or a timeout: the message may or may not be stored) is sent again with the same id.
func (s *Shipper) reap(now time.Time) (n int, err error) {
	defer func() {
		if len(s.q) == 0 {
			s.q = s.q[:0:0] // let the drained backing array go
		}
		s.mu.Lock()
		s.stats.Acked += int64(n)
		if n > 0 {
			s.stats.LastAck = now
		}
		s.mu.Unlock()
	}()
	for len(s.q) > 0 {
		f := &s.q[0]
		select {
		case ack := <-f.fut.Ok():
			if ack.Stream != s.opt.Stream {
				return n, fmt.Errorf("shipper: event stored in stream %s, not %s", ack.Stream, s.opt.Stream)
			}
		case err := <-f.fut.Err():
			if now.Before(s.retryAt) {
				s.q[0].fut = failedFuture{err: err, msg: f.msg} // read once: keep it for later
				return n, nil
			}
			// The stream is failing over (a leader election) or the connection broke: the
			// later messages in flight have most likely failed too. All are sent again, in
			// order, at once, rather than one per timeout; the duplicate window drops those
			// the stream had stored. The old futures are dropped unread.
			resent := s.resend(err, now)
			s.mu.Lock()
			s.stats.Resent += int64(resent)
			s.mu.Unlock()
			s.fail(err, now)
			return n, nil
		default:
			return n, nil
		}
		s.retryWait = 0
		f.src.shipped = f.pos
		f.src.inflight--
		s.shipped[f.src.name] = f.pos
		s.dirty = true
		s.q[0] = inflight{}
		s.q = s.q[1:]
		n++
	}
	return n, nil
}

// resend publishes every message in flight again, in order, and returns how many. When the
// client refuses one (too many pending, closed), it and the rest keep failed futures carrying
// cause, so the next round tries again.
func (s *Shipper) resend(cause error, now time.Time) int {
	for i := range s.q {
		f := &s.q[i]
		fut, err := s.opt.JS.PublishMsgAsync(f.msg, s.publishOpts(f.id)...)
		if err != nil {
			for j := i; j < len(s.q); j++ {
				s.q[j].fut = failedFuture{err: cause, msg: s.q[j].msg}
			}
			s.fail(err, now)
			return i
		}
		f.fut = fut
	}
	return len(s.q)
}

// failedFuture is a publish whose re-send could not even be queued: reap tries again.
type failedFuture struct {
	err error
	msg *nats.Msg
}

func (f failedFuture) Ok() <-chan *jetstream.PubAck { return nil }
func (f failedFuture) Err() <-chan error {
	c := make(chan error, 1)
	c <- f.err
	return c
}
func (f failedFuture) Msg() *nats.Msg { return f.msg }

// stop waits for the outstanding acknowledgements (bounded) and records them.
func (s *Shipper) stop() error {
	deadline := time.Now().Add(stopTimeout)
	for len(s.q) > 0 && time.Now().Before(deadline) {
		if _, err := s.reap(s.opt.Now()); err != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(s.q) > 0 {
		s.log.WithField("pending", len(s.q)).Warn("shipper: stopping with unacknowledged events; they are sent again on the next start")
	}
	return s.record()
}

// loadShipped reads the shipped-offset file; a missing one means nothing was shipped.
func (s *Shipper) loadShipped() error {
	b, err := os.ReadFile(filepath.Join(s.eventsDir, shippedFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("shipper: %w", err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("shipper: %s: %w", shippedFile, err)
	}
	for name, p := range m {
		pos, err := eventlog.ParsePosition(p)
		if err != nil {
			return fmt.Errorf("shipper: %s: %w", shippedFile, err)
		}
		s.shipped[name] = pos
	}
	return nil
}

// record writes the shipped offsets durably: a temporary file, fsynced, renamed over the
// old one, and the directory fsynced, so a crash leaves the old or the new file, whole.
func (s *Shipper) record() error {
	m := make(map[string]string, len(s.shipped))
	for name, p := range s.shipped {
		m[name] = p.String()
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := writeFileSync(s.eventsDir, shippedFile, b); err != nil {
		return fmt.Errorf("shipper: %w", err)
	}
	s.dirty = false
	return nil
}

// writeFileSync replaces dir/name with b atomically and durably.
func writeFileSync(dir, name string, b []byte) error {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// maintain prunes shipped segments past retention (at once past half of max_disk, as the
// aggregator does in file mode) and removes finished logs: in this mode the shipped offsets,
// not the aggregator's, say what a host may delete. A shipped event is in the replicated
// stream, which keeps it MaxAge for the aggregator.
func (s *Shipper) maintain(now time.Time) {
	var keep []*shipSource
	var lag int64
	for _, src := range s.sources {
		segs, size, err := eventlog.Segments(src.dir)
		if err != nil {
			s.log.WithError(err).WithField("source", src.name).Warn("shipper: listing log")
		}
		lag += eventlog.BytesAfter(segs, src.shipped)
		var last time.Time
		for _, sg := range segs {
			if sg.ModTime.After(last) {
				last = sg.ModTime
			}
		}
		idle := now.Sub(last)
		if !src.Dead && src.AtEnd() && idle >= deadProbeAge && eventlog.WriterGone(src.dir) {
			src.Dead = true
		}
		if src.shipped != (eventlog.Position{}) {
			ret := s.opt.Retention
			if s.opt.MaxDisk > 0 && size > s.opt.MaxDisk/2 {
				ret = 0
			}
			if _, err := eventlog.Prune(src.dir, src.shipped, ret, now); err != nil {
				s.log.WithError(err).WithField("source", src.name).Warn("shipper: pruning log")
			}
		}
		if src.Dead && src.AtEnd() && src.inflight == 0 && idle > s.opt.Retention && s.remove(src) {
			continue
		}
		keep = append(keep, src)
	}
	s.sources = keep
	s.mu.Lock()
	s.stats.LagBytes, s.stats.LagRecords = lag, lag/eventlog.RecordSize
	s.mu.Unlock()
}

// remove deletes a finished, fully shipped log: renamed out of eventlog.Sources' sight first,
// then forgotten in the shipped file, then deleted, so that a crash can never make it be
// found again without its offset (it would be shipped again from its start).
func (s *Shipper) remove(src *shipSource) bool {
	tombs := filepath.Join(s.eventsDir, removedDir)
	if err := os.MkdirAll(tombs, 0o750); err != nil {
		return false
	}
	tomb := filepath.Join(tombs, strings.Replace(src.name, "/", "_", 1))
	if err := os.Rename(src.dir, tomb); err != nil {
		s.log.WithError(err).WithField("source", src.name).Warn("shipper: removing finished log")
		return false
	}
	src.r.Close()
	delete(s.byName, src.name)
	delete(s.shipped, src.name)
	if err := s.record(); err == nil {
		_ = os.RemoveAll(tomb)
	}
	s.log.WithField("source", src.name).Info("shipper: removed a finished log past retention")
	return true
}

// oldestUnacked returns the time of the oldest event read and not yet acknowledged: the
// front of the publish queue or the oldest of the logs' next events (zero if there is none).
func (s *Shipper) oldestUnacked() time.Time {
	var oldest time.Time
	if len(s.q) > 0 {
		var ev models.Event
		if eventlog.DecodeRecord(s.q[0].msg.Data, &ev) == nil {
			oldest = ev.Time
		}
	}
	for _, src := range s.sources {
		if src.HasHead && (oldest.IsZero() || src.Head.Time.Before(oldest)) {
			oldest = src.Head.Time
		}
	}
	return oldest
}

// Stats returns a snapshot of the counters; safe from any goroutine.
func (s *Shipper) Stats() ShipperStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}
