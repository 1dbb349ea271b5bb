package jetstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"adnet/internal/aggregator"
	"adnet/internal/eventlog"
)

// readAhead bounds the messages a Reader holds fetched but not yet read: bounded memory
// however large the backlog in the stream.
const readAhead = 4096

// Source is the events stream as the aggregator's aggregator.StreamSource.
type Source struct {
	js     jetstream.JetStream
	stream string
}

// NewSource returns the stream named stream as a source of events.
func NewSource(js jetstream.JetStream, stream string) *Source {
	return &Source{js: js, stream: stream}
}

// Name is the key of the committed sequence in eventlog_offsets.
func (s *Source) Name() string { return "stream/" + s.stream }

// Open starts an ordered consumer after sequence after (see aggregator.StreamSource).
func (s *Source) Open(after uint64) (aggregator.StreamReader, error) {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if after > 0 {
		cfg = jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: after + 1}
	}
	r, err := s.open(cfg, 0)
	if err != nil {
		return nil, err
	}
	r.next = after + 1
	return r, nil
}

// OpenAt starts an ordered consumer at time t that ends after sequence through.
func (s *Source) OpenAt(t time.Time, through uint64) (aggregator.StreamReader, error) {
	return s.open(jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &t}, through)
}

func (s *Source) open(cfg jetstream.OrderedConsumerConfig, through uint64) (*Reader, error) {
	r := &Reader{src: s, cfg: cfg, ch: make(chan item, readAhead), through: through, done: make(chan struct{}), stop: make(chan struct{})}
	if err := r.reopen(); err != nil {
		return nil, err
	}
	r.lastAt.Store(time.Now().UnixNano())
	go r.fetch()
	go r.watch()
	return r, nil
}

// item is one fetched message.
type item struct {
	seq, pending uint64
	stored       time.Time
	subject      string
	through      string // the heartbeat header, "" for an event
	body         []byte
}

// Reader reads events from the stream in stream order; a goroutine fetches up to readAhead
// messages ahead. Each Position is {Offset: the stream sequence}.
type Reader struct {
	src     *Source
	cfg     jetstream.OrderedConsumerConfig
	ch      chan item
	through uint64 // OpenAt: the last sequence wanted (0: no end)
	done    chan struct{}
	stop    chan struct{}
	once    sync.Once

	mu sync.Mutex
	it jetstream.MessagesContext

	enq       atomic.Uint64 // the last sequence fetched
	lastAt    atomic.Int64  // when (Unix ns)
	last, lag atomic.Uint64
	skipped   atomic.Int64
	// next is the sequence Next expects (0: unknown); a higher one means the stream dropped
	// messages before they were read (older than MaxAge, or past MaxBytes): counted in missing.
	next    uint64
	missing atomic.Uint64
}

// reopen (re)creates the ordered consumer after the last sequence fetched, or from the
// reader's start when nothing was fetched yet.
func (r *Reader) reopen() error {
	cfg := r.cfg
	if seq := r.enq.Load(); seq > 0 {
		cfg = jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: seq + 1}
	}
	cfg.InactiveThreshold = time.Minute // a crashed aggregator's consumer goes away by itself
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	cons, err := r.src.js.OrderedConsumer(ctx, r.src.stream, cfg)
	cancel()
	if err != nil {
		return fmt.Errorf("jetstream: consumer on %s: %w", r.src.stream, err)
	}
	// Heartbeats every second let the client notice a lost pull within a few seconds.
	it, err := cons.Messages(jetstream.PullMaxMessages(1024), jetstream.PullExpiry(5*time.Second),
		jetstream.PullHeartbeat(time.Second))
	if err != nil {
		return fmt.Errorf("jetstream: consume %s: %w", r.src.stream, err)
	}
	r.mu.Lock()
	r.it = it
	r.mu.Unlock()
	return nil
}

func (r *Reader) iterator() jetstream.MessagesContext {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.it
}

func (r *Reader) closing() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

func (r *Reader) fetch() {
	defer close(r.done)
	for !r.closing() {
		m, err := r.iterator().Next()
		if err != nil {
			if r.closing() {
				return
			}
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				// Stopped by watch: start a new consumer after the last sequence fetched.
				if err := r.reopen(); err != nil {
					time.Sleep(500 * time.Millisecond)
				}
				continue
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		md, err := m.Metadata()
		if err != nil || md.Sequence.Stream <= r.enq.Load() {
			continue // a message seen before a consumer was recreated
		}
		// Blocks while readAhead messages wait: the bound on memory. Close drains the channel
		// so that this send returns.
		it := item{seq: md.Sequence.Stream, pending: md.NumPending, stored: md.Timestamp, subject: m.Subject(), body: m.Data()}
		if h := m.Headers(); h != nil {
			it.through = h.Get(HeaderThrough)
		}
		select {
		case r.ch <- it:
		case <-r.stop:
			return
		}
		r.enq.Store(md.Sequence.Stream)
		r.lastAt.Store(time.Now().UnixNano())
	}
}

// stallAfter is how long the reader waits for a message the stream has before it recreates
// its consumer: an ordered consumer whose server died (or whose stream changed leader) does
// not always come back by itself, and the committed sequence, not the consumer, is the
// reader's position anyway.
const stallAfter = 3 * time.Second

// watch recreates the consumer when the stream holds messages after the last one fetched but
// none arrived for stallAfter (and the reader is not just full).
func (r *Reader) watch() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		if time.Since(time.Unix(0, r.lastAt.Load())) < stallAfter || len(r.ch) == cap(r.ch) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := r.src.js.Stream(ctx, r.src.stream)
		var last uint64
		if err == nil {
			var info *jetstream.StreamInfo
			if info, err = st.Info(ctx); err == nil {
				last = info.State.LastSeq
			}
		}
		cancel()
		if err == nil && last > r.enq.Load() {
			r.lastAt.Store(time.Now().UnixNano()) // give the new consumer its time
			r.iterator().Stop()
		}
	}
}

// Next fills m with the next message: an event, or a shipper's heartbeat (m.Through set).
// Opened by Open it never blocks (io.EOF: nothing yet); opened by OpenAt it waits for the
// next message up to a few seconds and returns io.EOF once the sequence through was
// delivered. A message that is neither an event record nor a heartbeat is skipped and
// counted.
func (r *Reader) Next(m *aggregator.StreamMessage) error {
	for {
		if r.through > 0 && r.last.Load() >= r.through {
			return io.EOF
		}
		var it item
		if r.through > 0 {
			select {
			case it = <-r.ch:
			case <-time.After(5 * time.Second):
				return io.EOF
			}
		} else {
			select {
			case it = <-r.ch:
			default:
				return io.EOF
			}
		}
		if r.next != 0 && it.seq > r.next {
			r.missing.Add(it.seq - r.next)
		}
		r.next = it.seq + 1
		r.last.Store(it.seq)
		r.lag.Store(it.pending)
		host, ok := strings.CutPrefix(it.subject, SubjectPrefix)
		if !ok || host == "" {
			r.skipped.Add(1)
			continue
		}
		m.Seq, m.Stored, m.Host, m.Through = it.seq, it.stored, host, time.Time{}
		if it.through != "" {
			ns, err := strconv.ParseInt(it.through, 10, 64)
			if err != nil || ns <= 0 {
				r.skipped.Add(1)
				continue
			}
			m.Through = time.Unix(0, ns)
			return nil
		}
		if err := eventlog.DecodeRecord(it.body, &m.Event); err != nil {
			r.skipped.Add(1)
			continue
		}
		return nil
	}
}

// Lag is the number of messages in the stream after the last one read.
func (r *Reader) Lag() uint64 { return r.lag.Load() }

// Missing is the number of messages the stream no longer had when the reader reached them:
// events lost to the stream's limits (an aggregator down longer than MaxAge).
func (r *Reader) Missing() uint64 { return r.missing.Load() }

// Skipped is the number of messages that were not event records.
func (r *Reader) Skipped() int64 { return r.skipped.Load() }

// Close stops the consumer.
func (r *Reader) Close() error {
	r.once.Do(func() {
		close(r.stop)
		r.iterator().Stop()
		<-r.done
	})
	return nil
}
