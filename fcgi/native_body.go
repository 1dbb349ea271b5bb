package fcgi

import (
	"io"
	"net/http"
)

// The request body of the native engine: the connection's loop pushes STDIN content into
// a per-request buffer, the handler reads it. Bounded (maxPendingBody), so that a
// handler that does not read its body stops the loop from reading, which pushes back on
// the peer instead of growing the worker's memory; and limited (MaxBodyBytes).

// push appends body bytes for the handler, waiting while maxPendingBody is unread. Bytes
// beyond MaxBodyBytes, or for a handler that has returned, are dropped.
func (q *nreq) push(p []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.done && q.inErr == nil && len(q.body)-q.bodyR >= maxPendingBody {
		q.cond.Wait()
	}
	if q.done || q.inErr != nil {
		return
	}
	if lim := q.c.s.opt.MaxBodyBytes; lim > 0 && q.bodyN+int64(len(p)) > lim {
		p = p[:lim-q.bodyN]
		q.inErr = &http.MaxBytesError{Limit: lim}
	}
	if q.bodyR == len(q.body) {
		q.body, q.bodyR = q.body[:0], 0
	}
	q.body = append(q.body, p...)
	q.bodyN += int64(len(p))
	q.cond.Broadcast()
}

// endInput marks q's input complete: from now on the peer rightly waits for the answer,
// so the connection is busy for the idle reaper and the drain.
func (q *nreq) endInput() {
	q.mu.Lock()
	q.inEOF = true
	if !q.done && !q.counted {
		q.counted = true
		q.c.tc.nbusy.Add(1)
	}
	q.cond.Broadcast()
	q.mu.Unlock()
}

// Read reads the request body as it arrives.
func (q *nreq) Read(p []byte) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.bodyR == len(q.body) && !q.inEOF && q.inErr == nil {
		q.cond.Wait()
	}
	if q.bodyR < len(q.body) {
		n := copy(p, q.body[q.bodyR:])
		q.bodyR += n
		q.cond.Broadcast()
		return n, nil
	}
	if q.inErr != nil {
		return 0, q.inErr
	}
	return 0, io.EOF
}

// Close is a no-op: unread body is discarded by the connection's loop.
func (q *nreq) Close() error { return nil }

// fail makes q's body return err once its buffered bytes are read.
// A body that arrived whole is left alone: its handler reads it to the end as usual.
func (q *nreq) fail(err error) {
	q.mu.Lock()
	if q.inErr == nil && !q.inEOF {
		q.inErr = err
	}
	q.cond.Broadcast()
	q.mu.Unlock()
}
