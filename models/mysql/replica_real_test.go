package mysql_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"adnet/internal/testport"
	"adnet/models"
	"adnet/models/mysql"
)

// mariadbInstance starts a private MariaDB with scripts/mariadb.sh in dir, listening on a
// free port of 127.0.0.1 too, with extra server options, and returns its DSN and port; it is
// stopped when t ends. A free port can be taken by another test between our probe and the
// server's bind (packages run in parallel), so a start that fails on an address in use is
// retried on another port; any other failure stops the test with the script's diagnostics.
func mariadbInstance(t *testing.T, dir string, opts string) (dsn string, port int) {
	t.Helper()
	script, err := filepath.Abs("../../scripts/mariadb.sh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command(script, "stop", dir).Run() })
	for attempt := 1; ; attempt++ {
		port = testport.Free(t)
		cmd := exec.Command(script, "start", dir, fmt.Sprint(port))
		cmd.Env = append(os.Environ(), "MARIADB_OPTS="+opts)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err == nil {
			return strings.TrimSpace(lastLineOf(string(out))), port
		}
		if attempt < 3 && strings.Contains(stderr.String(), "Address already in use") {
			t.Logf("mariadb.sh start %s: port %d was taken meanwhile; another one", dir, port)
			continue
		}
		t.Fatalf("mariadb.sh start %s (port %d): %v\n%s%s", dir, port, err, out, stderr.String())
	}
}

func lastLineOf(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestReadsOnRealReplica runs a real MariaDB primary (binary log) and a real replica
// (CHANGE MASTER TO … ; START SLAVE) of it: what the primary writes, reads through Reads see
// once it has replicated; with the replica's SQL thread stopped, reads still come from the
// replica (they do not see a newer write: proof they are not served by the primary); with
// the replica server stopped, they fall back to the primary and see it.
func TestReadsOnRealReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two MariaDB servers")
	}
	base, err := os.MkdirTemp("", "adnet-repl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	pdsn, pport := mariadbInstance(t, filepath.Join(base, "p"), "--server-id=1 --log-bin=mysql-bin --binlog-format=ROW --innodb-flush-log-at-trx-commit=0")
	rdsn, _ := mariadbInstance(t, filepath.Join(base, "r"), "--server-id=2 --innodb-flush-log-at-trx-commit=0")
	pdb, err := mysql.Open(ctx, pdsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pdb.Close()
	padm := mysql.SQLX(pdb)
	for _, stmt := range []string{
		"CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'replpw'",
		"GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1'",
	} {
		if _, err := padm.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	var file string
	var pos int64
	var doDB, ignoreDB string
	if err := padm.QueryRowContext(ctx, "SHOW MASTER STATUS").Scan(&file, &pos, &doDB, &ignoreDB); err != nil {
		t.Fatalf("SHOW MASTER STATUS: %v", err)
	}

	rdb, err := mysql.Open(ctx, rdsn)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	rx := mysql.SQLX(rdb)
	change := fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='repl', MASTER_PASSWORD='replpw', MASTER_LOG_FILE='%s', MASTER_LOG_POS=%d", pport, file, pos)
	for _, stmt := range []string{change, "START SLAVE"} {
		if _, err := rx.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("replica: %s: %v", stmt, err)
		}
	}

	// The schema is created on the primary only and reaches the replica by replication.
	if err := mysql.Migrate(ctx, pdb); err != nil {
		t.Fatal(err)
	}
	primary := mysql.NewStore(pdb)
	reads := mysql.NewReads(primary, func(context.Context) (*mysql.DB, error) { return rdb, nil }, nil)
	list := func(cidr string) []models.IPRange {
		return []models.IPRange{models.RangeFromPrefix(netip.MustParsePrefix(cidr))}
	}
	blocked := func() string {
		got, err := reads.LoadIPList(ctx, models.IPListBlocked)
		if err != nil || len(got) != 1 {
			return fmt.Sprintf("%v %v", got, err)
		}
		return got[0].CIDR
	}
	if err := primary.ReplaceIPList(ctx, models.IPListBlocked, list("10.1.0.0/16")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the primary's write read through the replica", func() bool { return blocked() == "10.1.0.0/16" })
	if st := reads.Status(); st.Using != "replica" || st.Fallbacks != 0 {
		t.Fatalf("status %+v", st)
	}

	// Replication paused: a new write on the primary is not visible through the reads.
	if _, err := rx.ExecContext(ctx, "STOP SLAVE SQL_THREAD"); err != nil {
		t.Fatal(err)
	}
	if err := primary.ReplaceIPList(ctx, models.IPListBlocked, list("10.2.0.0/16")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if got := blocked(); got != "10.1.0.0/16" {
		t.Fatalf("with replication paused the reads saw %s: not read from the replica", got)
	}

	// The replica goes away: reads fall back to the primary and see its latest write.
	script, _ := filepath.Abs("../../scripts/mariadb.sh")
	if out, err := exec.Command(script, "stop", filepath.Join(base, "r")).CombinedOutput(); err != nil {
		t.Fatalf("stopping the replica: %v\n%s", err, out)
	}
	if got := blocked(); got != "10.2.0.0/16" {
		t.Fatalf("with the replica down the reads saw %s, want the primary's 10.2.0.0/16", got)
	}
	if st := reads.Status(); st.Using != "primary" || st.Fallbacks != 1 || st.LastError == "" {
		t.Fatalf("status after the replica died: %+v", st)
	}
	t.Logf("replica down: read served by the primary; status %+v", reads.Status())
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
