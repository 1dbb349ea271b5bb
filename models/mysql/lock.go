package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Leader is a MariaDB named lock (GET_LOCK) held on a dedicated connection: the leadership of
// a process among several that may run the same job on different hosts (the JetStream
// consumer aggregator). MariaDB releases the lock when that connection ends — the holder died,
// or its host lost the database — so a standby's GET_LOCK then succeeds; the holder learns of
// the loss through Lost and must stop.
type Leader struct {
	conn *sql.Conn
	name string
	lost chan struct{}
	stop chan struct{}
	done chan struct{}
}

// leaderCheckEvery is how often the holder verifies it still holds the lock: the bound on how
// long a deposed leader may go on working. Its flushes are fenced anyway (models.Batch.Expect).
const leaderCheckEvery = time.Second

// AcquireLeader blocks until this process holds the named lock, or ctx ends. waiting, if not
// nil, is called once when another connection holds it (a standby), for the log.
func (db *DB) AcquireLeader(ctx context.Context, name string, waiting func()) (*Leader, error) {
	told := false
	for {
		conn, err := db.db.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("leader lock %s: %w", name, err)
		}
		for {
			var got sql.NullInt64
			// A short timeout keeps ctx's cancellation prompt; MariaDB queues nothing between calls.
			err = conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 2)", name).Scan(&got)
			if err != nil {
				break
			}
			if got.Valid && got.Int64 == 1 {
				l := &Leader{conn: conn, name: name, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
				go l.watch()
				return l, nil
			}
			if !told && waiting != nil {
				waiting()
				told = true
			}
		}
		conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// The connection failed: wait a little and try a new one.
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// watch closes lost when the lock is no longer this connection's (the connection broke, or
// the server was restarted).
//
// A check is never cancelled by Release (which waits for it): cancelling a query makes the
// driver drop its connection, which would release the lock under Release's feet.
func (l *Leader) watch() {
	defer close(l.done)
	t := time.NewTicker(leaderCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		var mine sql.NullInt64
		qctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := l.conn.QueryRowContext(qctx, "SELECT IS_USED_LOCK(?) = CONNECTION_ID()", l.name).Scan(&mine)
		cancel()
		if err != nil || !mine.Valid || mine.Int64 != 1 {
			close(l.lost)
			return
		}
	}
}

// Lost is closed when the lock has been lost: stop working at once.
func (l *Leader) Lost() <-chan struct{} { return l.lost }

// Release gives the lock up (closing its connection releases it even if RELEASE_LOCK fails).
func (l *Leader) Release() error {
	close(l.stop)
	<-l.done
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := l.conn.ExecContext(ctx, "DO RELEASE_LOCK(?)", l.name)
	if cerr := l.conn.Close(); err == nil && !errors.Is(cerr, sql.ErrConnDone) {
		err = cerr
	}
	return err
}
