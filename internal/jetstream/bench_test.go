package jetstream

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"adnet/internal/eventlog"
	"adnet/internal/jetstream/natstest"
)

// BenchmarkPublish measures what the events stream takes: event records
// (eventlog.RecordSize bytes, a message id each, as the shipper sends them) published to a
// file-storage stream on one server (R1) and on a 3-node cluster with routes (R3), every
// server and the publishers on this machine, each message acknowledged by the stream.
// "sync" waits for every acknowledgement before the next publish; "async" keeps up to
// DefaultMaxPending unacknowledged, like the shipper; "async-3hosts" is three such
// publishers at once, each on its own connection and subject (three app hosts' shippers).
// It reports events/s, all publishers together.
//
//	go test ./internal/jetstream -run '^$' -bench Publish -benchtime 5s
func BenchmarkPublish(b *testing.B) {
	for _, replicas := range []int{1, 3} {
		b.Run(fmt.Sprintf("R%d", replicas), func(b *testing.B) {
			var urls []string
			if replicas == 1 {
				urls = []string{natstest.Start(b).URL}
			} else {
				urls = natstest.URLs(natstest.StartCluster(b, replicas))
			}
			connect := func(name string) jetstream.JetStream {
				nc, js, err := Connect(ConnectOptions{Servers: urls, Name: name})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(nc.Close)
				return js
			}
			js := connect("bench")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for { // a cluster elects its meta leader a moment after the servers start
				actx, acancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := EnsureStream(actx, js, StreamOptions{Name: "ADNET_EVENTS", Replicas: replicas})
				acancel()
				if err == nil {
					break
				} else if ctx.Err() != nil {
					b.Fatalf("no R%d stream: %v", replicas, err)
				}
				time.Sleep(200 * time.Millisecond)
			}
			pubs := []*benchPublisher{{js: js, host: "bench0"}}
			for i := 1; i < 3; i++ {
				pubs = append(pubs, &benchPublisher{js: connect(fmt.Sprintf("bench%d", i)), host: fmt.Sprintf("bench%d", i)})
			}
			b.Run("sync", func(b *testing.B) {
				start := time.Now()
				for b.Loop() {
					m, opts := pubs[0].next()
					if _, err := js.PublishMsg(context.Background(), m, opts...); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
			})
			b.Run("async", func(b *testing.B) {
				start := time.Now()
				if err := pubs[0].async(b.N); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
			})
			b.Run("async-3hosts", func(b *testing.B) {
				start := time.Now()
				var wg sync.WaitGroup
				errs := make([]error, len(pubs))
				for i, p := range pubs {
					wg.Go(func() { errs[i] = p.async(b.N / len(pubs)) })
				}
				wg.Wait()
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N/len(pubs)*len(pubs))/time.Since(start).Seconds(), "events/s")
			})
		})
	}
}

// benchPublisher publishes event-sized messages as one host's shipper would.
type benchPublisher struct {
	js   jetstream.JetStream
	host string
	seq  int
	body [eventlog.RecordSize]byte
}

func (p *benchPublisher) next() (*nats.Msg, []jetstream.PublishOpt) {
	p.seq++
	return &nats.Msg{Subject: Subject(p.host), Data: p.body[:], Header: nats.Header{}},
		[]jetstream.PublishOpt{jetstream.WithMsgID(fmt.Sprintf("%s/%d", p.host, p.seq)), jetstream.WithExpectStream("ADNET_EVENTS")}
}

// async publishes n messages with at most DefaultMaxPending awaiting their acknowledgement
// and waits for the last ones.
func (p *benchPublisher) async(n int) error {
	ring := make([]jetstream.PubAckFuture, DefaultMaxPending) // once full, the oldest is at i
	wait := func(f jetstream.PubAckFuture) error {
		select {
		case <-f.Ok():
			return nil
		case err := <-f.Err():
			return err
		}
	}
	i := 0
	for range n {
		if ring[i] != nil {
			if err := wait(ring[i]); err != nil {
				return err
			}
		}
		m, opts := p.next()
		f, err := p.js.PublishMsgAsync(m, opts...)
		if err != nil {
			return err
		}
		ring[i], i = f, (i+1)%len(ring)
	}
	for _, f := range ring {
		if f != nil {
			if err := wait(f); err != nil {
				return err
			}
		}
	}
	return nil
}
