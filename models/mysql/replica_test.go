package mysql_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"adnet/models"
	"adnet/models/mysql"
	"adnet/models/mysql/mysqltest"
)

// replicaPair is a primary and a "replica" that are two separate databases on the test
// server: what a read returns tells which one served it. (Real replication is not needed to
// test where reads go; deploy/README.md describes a real replica.)
func replicaPair(t *testing.T) (primary, replica *mysql.Store, replicaDB *mysql.DB) {
	t.Helper()
	p, r := mysqltest.MustOpenDB(t), mysqltest.MustOpenDB(t)
	primary, replica = mysql.NewStore(p), mysql.NewStore(r)
	ctx := t.Context()
	mark := func(s *mysql.Store, cidr string) {
		if err := s.ReplaceIPList(ctx, models.IPListBlocked, []models.IPRange{models.RangeFromPrefix(netip.MustParsePrefix(cidr))}); err != nil {
			t.Fatal(err)
		}
	}
	mark(primary, "10.1.0.0/16")
	mark(replica, "10.2.0.0/16")
	return primary, replica, r
}

// servedBy returns "primary" or "replica" from the blocked list a read returned.
func servedBy(t *testing.T, r *mysql.Reads) string {
	t.Helper()
	got, err := r.LoadIPList(t.Context(), models.IPListBlocked)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("blocked list %v", got)
	}
	switch got[0].First {
	case netip.MustParseAddr("10.1.0.0"):
		return "primary"
	case netip.MustParseAddr("10.2.0.0"):
		return "replica"
	}
	t.Fatalf("blocked list %v from neither", got)
	return ""
}

// TestReadsGoToReplica: with a replica, the inventory, IP lists and reports are read
// there; writes through the primary Store stay on the primary.
func TestReadsGoToReplica(t *testing.T) {
	t.Parallel()
	primary, _, replicaDB := replicaPair(t)
	opened := 0
	reads := mysql.NewReads(primary, func(context.Context) (*mysql.DB, error) { opened++; return replicaDB, nil }, nil)
	for range 3 {
		if got := servedBy(t, reads); got != "replica" {
			t.Fatalf("IP list read from the %s", got)
		}
	}
	if opened != 1 {
		t.Errorf("replica opened %d times, want once", opened)
	}
	ctx := t.Context()
	if _, err := reads.LoadInventory(ctx, time.Now(), time.UTC); err != nil {
		t.Fatal(err)
	}
	to := time.Now().UTC().Truncate(time.Hour)
	if _, err := reads.Report(ctx, models.ReportQuery{From: to.Add(-48 * time.Hour), To: to, GroupBy: []string{"day"}, Location: time.UTC}); err != nil {
		t.Fatal(err)
	}
	// A write goes through the primary's Store, and the replica does not see it (here it
	// never will: these two databases do not replicate).
	if err := primary.ReplaceIPList(ctx, models.IPListBlocked, []models.IPRange{models.RangeFromPrefix(netip.MustParsePrefix("10.1.0.0/16"))}); err != nil {
		t.Fatal(err)
	}
	if got := servedBy(t, reads); got != "replica" {
		t.Fatalf("read after a write from the %s", got)
	}
	if st := reads.Status(); !st.Replica || st.Using != "replica" || st.Fallbacks != 0 {
		t.Errorf("status %+v", st)
	}

	// Without a replica every read is the primary's.
	if got := servedBy(t, mysql.NewReads(primary, nil, nil)); got != "primary" {
		t.Errorf("no replica: read from the %s", got)
	}
}

// TestReadsFallBackToPrimary: a replica that cannot be reached, or fails a read, hands the
// read to the primary at once; the fallback is counted and shown in Status, logged once a
// minute however many reads fall back, and the replica is tried again after ReplicaRetry.
func TestReadsFallBackToPrimary(t *testing.T) {
	t.Parallel()
	primary, _, replicaDB := replicaPair(t)
	logger, hook := logtest.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	reachable := false
	reads := mysql.NewReads(primary, func(context.Context) (*mysql.DB, error) {
		if !reachable {
			return nil, errors.New("dial tcp 10.0.0.22:3306: connect: connection refused")
		}
		return replicaDB, nil
	}, logger)
	reads.SetNow(clock)

	if got := servedBy(t, reads); got != "primary" {
		t.Fatalf("unreachable replica: read from the %s", got)
	}
	st := reads.Status()
	if st.Fallbacks != 1 || st.Using != "primary" || !strings.Contains(st.LastError, "connection refused") {
		t.Fatalf("status after a fallback: %+v", st)
	}
	for range 5 { // within ReplicaRetry: straight to the primary, no new attempt
		if got := servedBy(t, reads); got != "primary" {
			t.Fatalf("read from the %s while the replica is down", got)
		}
	}
	advance(mysql.ReplicaRetry)
	servedBy(t, reads) // a new attempt, failing again
	if st := reads.Status(); st.Fallbacks != 2 {
		t.Fatalf("fallbacks %d, want 2", st.Fallbacks)
	}
	if n := len(hook.AllEntries()); n != 1 {
		t.Fatalf("%d log lines within a minute, want 1", n)
	}

	reachable = true
	advance(time.Minute)
	if got := servedBy(t, reads); got != "replica" {
		t.Fatalf("replica back: read from the %s", got)
	}

	// The replica fails a read (here its pool is gone): that read is served by the
	// primary, and logged since a minute has passed.
	replicaDB.Close()
	if got := servedBy(t, reads); got != "primary" {
		t.Fatalf("failing replica: read from the %s", got)
	}
	if st := reads.Status(); st.Fallbacks != 3 || st.Using != "primary" {
		t.Fatalf("status %+v", st)
	}
	if n := len(hook.AllEntries()); n != 2 {
		t.Fatalf("%d log lines, want 2", n)
	}
	e := hook.LastEntry()
	if e.Level != logrus.WarnLevel || !strings.Contains(e.Message, "mysql.replica_dsn_file") {
		t.Errorf("log %s %q", e.Level, e.Message)
	}

	// An invalid request is not the replica's fault: no fallback.
	advance(mysql.ReplicaRetry)
	if _, err := reads.Report(t.Context(), models.ReportQuery{GroupBy: []string{"nonsense"}}); models.ErrorCode(err) != models.EINVALID {
		t.Fatalf("invalid report: %v", err)
	}
}
