package jetstream

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream limits; see the package documentation.
const (
	// DuplicateWindow is how long the stream remembers message ids: the longest shipper
	// outage after a crash that re-sends nothing twice.
	DuplicateWindow = 10 * time.Minute
	// MaxAge is how long the stream keeps an event: the longest aggregator outage.
	MaxAge = 7 * 24 * time.Hour
	// SubjectPrefix is followed by the host name: each host's events have their own subject.
	SubjectPrefix = "adnet.events."
	// HeaderThrough marks a shipper's heartbeat, a message without an event on the host's
	// subject: its value (Unix nanoseconds, the host's clock) is a time before which every
	// event of the host is in the stream ahead of the heartbeat. The aggregator applies the
	// hosts' events in time order up to the oldest such time of the live hosts.
	HeaderThrough = "Adnet-Through"
)

// Subject returns the subject host's shipper publishes to.
func Subject(host string) string { return SubjectPrefix + host }

// ConnectOptions says how to reach the NATS servers ([nats]).
type ConnectOptions struct {
	Servers   []string
	CredsFile string // optional; must not be readable by others
	Name      string // the client's name in the servers' monitoring, e.g. "adnet-ship app-1"
}

// Connect opens a connection that reconnects forever: a server going down is the cluster's
// business, not a reason for the shipper or the aggregator to stop.
func Connect(opt ConnectOptions) (*nats.Conn, jetstream.JetStream, error) {
	if len(opt.Servers) == 0 {
		return nil, nil, fmt.Errorf("jetstream: nats.servers is empty")
	}
	opts := []nats.Option{nats.Name(opt.Name), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(true), nats.Timeout(2 * time.Second)}
	if opt.CredsFile != "" {
		st, err := os.Stat(opt.CredsFile)
		if err != nil {
			return nil, nil, fmt.Errorf("nats.creds_file: %w", err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			return nil, nil, fmt.Errorf("nats.creds_file %s is readable by others (mode %04o): run `chmod 600 %s`",
				opt.CredsFile, st.Mode().Perm(), opt.CredsFile)
		}
		opts = append(opts, nats.UserCredentials(opt.CredsFile))
	}
	url := opt.Servers[0]
	for _, s := range opt.Servers[1:] {
		url += "," + s
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("jetstream: connect %s: %w", url, err)
	}
	// The shipper bounds its own window (DefaultMaxPending); the client's must not be lower.
	// An acknowledgement not received in 5 s fails the publish, which the shipper repeats.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(2*DefaultMaxPending),
		jetstream.WithPublishAsyncTimeout(5*time.Second))
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

// StreamOptions describes the events stream.
type StreamOptions struct {
	Name     string // nats.stream
	Replicas int    // nats.replicas
	MaxBytes int64  // 0: no size limit (MaxAge only)
}

// EnsureStream creates the stream or updates it to the options (replicas, limits); the
// subjects are always adnet.events.> and the storage file. It is idempotent: every shipper
// calls it on start, and `adnet nats-setup` does it once by hand.
func EnsureStream(ctx context.Context, js jetstream.JetStream, o StreamOptions) (*jetstream.StreamInfo, error) {
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	cfg := jetstream.StreamConfig{
		Name:        o.Name,
		Description: "adnet events of every host (adnet ship → adnet aggregate)",
		Subjects:    []string{SubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      MaxAge,
		MaxBytes:    max(o.MaxBytes, -1),
		Replicas:    o.Replicas,
		Duplicates:  DuplicateWindow,
	}
	if o.MaxBytes == 0 {
		cfg.MaxBytes = -1
	}
	s, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("jetstream: create or update stream %s: %w", o.Name, err)
	}
	return s.CachedInfo(), nil
}

// CreateStreamIfMissing creates the stream with o unless it exists; an existing stream is left
// as it is (its limits are `adnet nats-setup`'s to change). Shippers and aggregators call it on
// start, so a new cluster needs no manual step.
func CreateStreamIfMissing(ctx context.Context, js jetstream.JetStream, o StreamOptions) error {
	_, err := js.Stream(ctx, o.Name)
	if err == nil {
		return nil
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("jetstream: look up stream %s: %w", o.Name, err)
	}
	_, err = EnsureStream(ctx, js, o)
	return err
}
