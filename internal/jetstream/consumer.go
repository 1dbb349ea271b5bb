package jetstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"adnet/internal/aggregator"
	"adnet/internal/eventlog"
	"adnet/models"
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
	return s.open(cfg, 0)
}

// OpenAt starts an ordered consumer at time t that ends after sequence through.
func (s *Source) OpenAt(t time.Time, through uint64) (aggregator.StreamReader, error) {
	return s.open(jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &t}, through)
}

func (s *Source) open(cfg jetstream.OrderedConsumerConfig, through uint64) (*Reader, error) {
	cfg.InactiveThreshold = time.Minute // a crashed aggregator's consumer goes away by itself
	ctx, cancel := context.WithCancel(context.Background())
	cons, err := s.js.OrderedConsumer(ctx, s.stream, cfg)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("jetstream: consumer on %s: %w", s.stream, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(1024))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("jetstream: consume %s: %w", s.stream, err)
	}
	r := &Reader{it: it, cancel: cancel, ch: make(chan item, readAhead), through: through, done: make(chan struct{})}
	go r.fetch()
	return r, nil
}

// item is one fetched message: its sequence and body, or an error.
type item struct {
	seq, pending uint64
	body         []byte
	err          error
}

// Reader reads events from the stream in stream order; a goroutine fetches up to readAhead
// messages ahead. Each Position is {Offset: the stream sequence}.
type Reader struct {
	it      jetstream.MessagesContext
	cancel  context.CancelFunc
	ch      chan item
	through uint64 // OpenAt: the last sequence wanted (0: no end)
	done    chan struct{}
	once    sync.Once

	last, lag atomic.Uint64
	skipped   atomic.Int64
}

func (r *Reader) fetch() {
	defer close(r.done)
	for {
		m, err := r.it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
			// Heartbeats missed and the like: the ordered consumer recreates itself from the
			// last sequence it delivered; keep going.
			time.Sleep(100 * time.Millisecond)
			continue
		}
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		// Blocks while readAhead messages wait: the bound on memory. Close drains the channel
		// so that this send returns and the closed iterator ends the loop.
		r.ch <- item{seq: md.Sequence.Stream, pending: md.NumPending, body: m.Data()}
	}
}

// Next fills ev with the next event. Opened by Open it never blocks (io.EOF: nothing yet);
// opened by OpenAt it waits for the next message up to a few seconds and returns io.EOF once
// the sequence through was delivered. A message that is not an event record is skipped and
// counted.
func (r *Reader) Next(ev *models.Event) (eventlog.Position, error) {
	for {
		if r.through > 0 && r.last.Load() >= r.through {
			return eventlog.Position{}, io.EOF
		}
		var it item
		if r.through > 0 {
			select {
			case it = <-r.ch:
			case <-time.After(5 * time.Second):
				return eventlog.Position{}, io.EOF
			}
		} else {
			select {
			case it = <-r.ch:
			default:
				return eventlog.Position{}, io.EOF
			}
		}
		r.last.Store(it.seq)
		r.lag.Store(it.pending)
		if err := eventlog.DecodeRecord(it.body, ev); err != nil {
			r.skipped.Add(1)
			continue
		}
		return eventlog.Position{Offset: int64(it.seq)}, nil
	}
}

// Lag is the number of messages in the stream after the last one read.
func (r *Reader) Lag() uint64 { return r.lag.Load() }

// Skipped is the number of messages that were not event records.
func (r *Reader) Skipped() int64 { return r.skipped.Load() }

// Close stops the consumer.
func (r *Reader) Close() error {
	r.once.Do(func() {
		r.it.Stop()
		r.cancel()
		for {
			select {
			case <-r.ch:
				continue
			case <-r.done:
			}
			break
		}
	})
	return nil
}
