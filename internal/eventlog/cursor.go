package eventlog

import (
	"errors"
	"io"
	"time"

	"adnet/models"
)

// Cursor is one log source's place in a merge of several by event time — the aggregator's
// and the shipper's: the next event, read but not yet consumed, and when the source was last
// found at its end or failing, so that a source with nothing new is not read again at every
// turn. Embed it beside the reader.
type Cursor struct {
	Head    models.Event // the next event, read but not yet consumed
	HeadPos Position     // the position after it
	HasHead bool
	// Dead is set by the owner once the source's writer is gone (WriterGone): nothing more
	// will be appended, so Fill looks at it rarely.
	Dead    bool
	EOFAt   time.Time // when the last read found nothing new (zero: not at the end)
	LastErr string    // the last read error, "" after a successful read
	errAt   time.Time
}

// EventSource is what a Cursor reads: a Reader, or anything that yields events with the
// position after each.
type EventSource interface {
	Next(ev *models.Event) (Position, error)
}

// DeadPoll is how often Fill looks at a Dead source that was read to its end: the logs of many
// past worker processes then cost nothing.
const DeadPoll = 10 * time.Second

// Fill reads the next event of r into c.Head unless c already has one, or the source was
// found at its end less than poll ago (DeadPoll once Dead), or its last read failed less than
// a second ago. It reports whether c has a head; a read error is returned only when it differs
// from the previous one, for the caller to log once.
func (c *Cursor) Fill(r EventSource, now time.Time, poll time.Duration) (bool, error) {
	if c.HasHead {
		return true, nil
	}
	if c.Dead {
		poll = DeadPoll
	}
	if !c.EOFAt.IsZero() && now.Sub(c.EOFAt) < poll || !c.errAt.IsZero() && now.Sub(c.errAt) < time.Second {
		return false, nil
	}
	pos, err := r.Next(&c.Head)
	switch {
	case err == nil:
		c.HasHead, c.HeadPos, c.EOFAt, c.errAt, c.LastErr = true, pos, time.Time{}, time.Time{}, ""
		return true, nil
	case errors.Is(err, io.EOF):
		c.EOFAt = now
		return false, nil
	}
	c.errAt = now
	if msg := err.Error(); msg != c.LastErr {
		c.LastErr = msg
		return false, err
	}
	return false, nil
}

// AtEnd reports whether the source has been read to its end: no event buffered, and the last
// read found nothing new.
func (c *Cursor) AtEnd() bool { return !c.HasHead && !c.EOFAt.IsZero() }

// Before reports whether c's head comes before o's in the merge (o may be nil): by event time,
// ties to the earlier cursor in the caller's order.
func (c *Cursor) Before(o *Cursor) bool { return o == nil || c.Head.Time.Before(o.Head.Time) }
