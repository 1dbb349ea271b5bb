package monitor

import (
	"fmt"
	"time"

	"adnet/internal/jetstream"
)

// Thresholds of the shipper's advice: how old the oldest event of this host not yet
// acknowledged by the stream may be. The shipper holds events back 2 s (its watermark) and a
// PubAck takes milliseconds, so a healthy shipper stays within a few seconds.
const (
	shipperBehindWarning  = 30 * time.Second
	shipperBehindCritical = 5 * time.Minute
)

// ShipperDoc is the shipper's status as the master shows it (events.transport = "jetstream"):
// its counters, and how far behind it is as of the master's request.
type ShipperDoc struct {
	jetstream.ShipperStats
	// BehindSeconds is the age of the oldest event read and not acknowledged by the stream
	// (0 when every event read is acknowledged).
	BehindSeconds float64 `json:"behind_seconds"`
	// LastAckAgeSeconds is the time since the stream's last acknowledgement (absent: none
	// since the shipper started).
	LastAckAgeSeconds *float64 `json:"last_ack_age_seconds,omitempty"`
}

// NewShipperDoc returns the shipper's status with its ages as of now (nil for nil).
func NewShipperDoc(st *jetstream.ShipperStats, now time.Time) *ShipperDoc {
	if st == nil {
		return nil
	}
	d := &ShipperDoc{ShipperStats: *st, BehindSeconds: shipperBehind(st, now).Seconds()}
	if !st.LastAck.IsZero() {
		age := max(0, now.Sub(st.LastAck).Seconds())
		d.LastAckAgeSeconds = &age
	}
	return d
}

// shipperBehind is the age of the oldest unacknowledged event (0 if none).
func shipperBehind(st *jetstream.ShipperStats, now time.Time) time.Duration {
	if st.OldestUnacked.IsZero() {
		return 0
	}
	return max(0, now.Sub(st.OldestUnacked))
}

// ShipperAdvice turns the event shipper's status (or the error fetching it) into advice
// lines: a shipper that does not answer or waits for the stream, a shipper falling behind
// (no acknowledgement from the stream, or a backlog), and — always — its figures.
func ShipperAdvice(st *jetstream.ShipperStats, fetchErr error, now time.Time) []Advice {
	const topic = "shipper"
	if fetchErr != nil {
		return []Advice{{Level: Critical, Topic: topic, Text: fmt.Sprintf(
			"the event shipper does not answer (%v): this host's events stay in its local logs and reach the stream once it runs again; the master restarts it — check its log lines", fetchErr)}}
	}
	lastErr := ""
	if st.LastError != "" {
		lastErr = "; last error"
		if !st.LastErrorAt.IsZero() {
			lastErr += fmt.Sprintf(" %.0fs ago", now.Sub(st.LastErrorAt).Seconds())
		}
		lastErr += ": " + st.LastError
	}
	if !st.Running {
		if st.LastError == "" {
			return []Advice{{Level: Info, Topic: topic, Text: "the event shipper is starting (connecting to NATS)"}}
		}
		return []Advice{{Level: Warning, Topic: topic, Text: "the event shipper is waiting for the stream: this host's events stay in its local logs until the NATS cluster answers — check nats.servers and the NATS cluster" + lastErr}}
	}
	lastAck := "no ack since it started"
	if !st.LastAck.IsZero() {
		lastAck = fmt.Sprintf("last ack %.0fs ago", now.Sub(st.LastAck).Seconds())
	}
	lag := bytesText(float64(st.LagBytes))
	var out []Advice
	if behind := shipperBehind(st, now); behind >= shipperBehindWarning {
		level := Warning
		if behind >= shipperBehindCritical {
			level = Critical
		}
		var text string
		if st.LastAck.IsZero() || now.Sub(st.LastAck) >= shipperBehindWarning {
			since := "since it started"
			if !st.LastAck.IsZero() {
				since = fmt.Sprintf("for %.0fs", now.Sub(st.LastAck).Seconds())
			}
			text = fmt.Sprintf("the event shipper has had no acknowledgement from the stream %s: the oldest event of this host not in the stream is %.0fs old, %d records (%s) wait in the local logs and %d publishes await their ack — check nats.servers and the NATS cluster (reachable? the stream's leader elected?)%s",
				since, behind.Seconds(), st.LagRecords, lag, st.Pending, lastErr)
		} else {
			text = fmt.Sprintf("the event shipper is %.0fs behind (%d records, %s of this host's logs not yet in the stream) although the stream acknowledges: a backlog drains at the stream's pace; if it keeps growing, the NATS cluster or the network is too slow for this host's events%s",
				behind.Seconds(), st.LagRecords, lag, lastErr)
		}
		out = append(out, Advice{Level: level, Topic: topic, Text: text})
	}
	out = append(out, Advice{Level: Info, Topic: topic, Text: fmt.Sprintf(
		"shipper: %d events published (%d re-sent), %d acknowledged by the stream (%s), %d awaiting their ack; %d records (%s) behind across %d logs%s",
		st.Published, st.Resent, st.Acked, lastAck, st.Pending, st.LagRecords, lag, st.Sources, lastErr)})
	return out
}
