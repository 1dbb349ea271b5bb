// Package mysqltest gives tests a real MariaDB database: a fresh, migrated, randomly named
// database per call, dropped when the test ends, on a server that is either the one named by
// ADNET_TEST_DSN or a private instance that this test binary starts with scripts/mariadb.sh in
// a temporary directory and stops when it exits.
//
// A package whose tests use it calls Main from its TestMain:
//
//	func TestMain(m *testing.M) { mysqltest.Main(m) }
//
// If MariaDB cannot be started the tests fail with the server's error log; they never skip.
package mysqltest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"adnet/models/mysql"
)

// EnvDSN names the environment variable with the DSN of an existing server to use instead of a
// private instance, e.g. "root@unix(/tmp/adnet-db/mysqld.sock)/". The user needs the right to
// create and drop databases; the database name in the DSN, if any, is ignored.
const EnvDSN = "ADNET_TEST_DSN"

// serverOpts tune the throw-away instance: flush the redo log once a second instead of at
// every commit (durability does not matter for a database deleted at the end of the run), and
// a buffer pool that holds the benchmarks' data sets (800k rows of statistics with their
// indexes, ~330 MB) the way a production server's would. The pool is reserved, not touched:
// the tests' small databases use a few MB of it.
const serverOpts = "--innodb-flush-log-at-trx-commit=2 --innodb-buffer-pool-size=512M"

// Time limits: a first start may have to apt-get install MariaDB; a drop is quick.
const (
	startTimeout   = 10 * time.Minute
	cleanupTimeout = time.Minute
)

// server is the one MariaDB instance of the test binary. It is package state because tests
// reach it only through MustOpenDB(tb); Main owns its lifetime.
var server struct {
	mu     sync.Mutex
	inMain bool            // Main is running: a private instance may be started (and will be stopped)
	tried  bool            // a start was attempted; err says how it went
	told   bool            // err has been reported once in full
	cfg    *gomysql.Config // the server, without database name
	err    error
	script string // scripts/mariadb.sh
	dir    string // the private instance's directory, "" when using ADNET_TEST_DSN
}

// Main runs the tests of a package and then stops the private MariaDB instance, if one was
// started, and exits. Call it from TestMain; a TestMain with its own clean-up uses Run.
func Main(m *testing.M) {
	os.Exit(Run(m, nil))
}

// MustOpenDB returns a connection to a new, migrated database that is dropped when tb ends.
func MustOpenDB(tb testing.TB) *mysql.DB {
	tb.Helper()
	return mustOpen(tb, true)
}

// MustOpenEmptyDB returns a connection to a new database without any schema, for tests of the
// migrations themselves. It is dropped when tb ends.
func MustOpenEmptyDB(tb testing.TB) *mysql.DB {
	tb.Helper()
	return mustOpen(tb, false)
}

// MustCreateDatabase creates a new, migrated database and returns its DSN, for tests that hand
// it to another process (adnet serve). It is dropped when tb ends.
func MustCreateDatabase(tb testing.TB) string {
	tb.Helper()
	cfg := mustCreate(tb)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	db, err := mysql.Open(ctx, cfg.FormatDSN())
	if err != nil {
		tb.Fatalf("mysqltest: %v", err)
	}
	defer db.Close()
	if err := mysql.Migrate(ctx, db); err != nil {
		tb.Fatalf("mysqltest: %v", err)
	}
	return cfg.FormatDSN()
}

func mustOpen(tb testing.TB, migrate bool) *mysql.DB {
	tb.Helper()
	cfg := mustCreate(tb)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	db, err := mysql.Open(ctx, cfg.FormatDSN())
	if err != nil {
		tb.Fatalf("mysqltest: %v", err)
	}
	// Registered after the drop, so it runs before it: cleanups run last-in, first-out.
	tb.Cleanup(func() { _ = db.Close() })
	if migrate {
		if err := mysql.Migrate(ctx, db); err != nil {
			tb.Fatalf("mysqltest: %v", err)
		}
	}
	return db
}

// mustCreate creates a randomly named database, registers its drop and returns its config.
func mustCreate(tb testing.TB) *gomysql.Config {
	tb.Helper()
	srv, err := serverConfig()
	if err != nil {
		tb.Fatalf("mysqltest: %v", err)
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		tb.Fatalf("mysqltest: %v", err)
	}
	name := "adnet_test_" + hex.EncodeToString(rnd[:])
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := adminExec(ctx, srv, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		tb.Fatalf("mysqltest: create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := adminExec(ctx, srv, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			tb.Errorf("mysqltest: drop database %s: %v", name, err)
		}
	})
	cfg := srv.Clone()
	cfg.DBName = name
	return cfg
}

// adminExec runs one statement on the server on a short-lived connection.
func adminExec(ctx context.Context, srv *gomysql.Config, stmt string) error {
	connector, err := gomysql.NewConnector(srv)
	if err != nil {
		return err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

// serverConfig returns the server to create databases on, starting the private instance on
// first use. A failed start is remembered: every later test fails with the same error instead
// of trying again.
func serverConfig() (*gomysql.Config, error) {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		cfg, err := gomysql.ParseDSN(dsn)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvDSN, err)
		}
		cfg.DBName = ""
		return cfg, nil
	}
	server.mu.Lock()
	defer server.mu.Unlock()
	if !server.inMain {
		return nil, fmt.Errorf("no server: call mysqltest.Main(m) from this package's TestMain, or set %s", EnvDSN)
	}
	if !server.tried {
		server.tried = true
		server.cfg, server.err = startServer()
	}
	if server.err != nil && server.told {
		return nil, errors.New("MariaDB did not start: see the first failing test for the error and the server log")
	}
	server.told = server.err != nil
	return server.cfg, server.err
}

// startServer starts a private instance in a new temporary directory. Called with server.mu held.
func startServer() (*gomysql.Config, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	server.script = filepath.Join(root, "scripts", "mariadb.sh")
	// Under /tmp rather than t.TempDir's long paths: a Unix socket path has at most 107 bytes.
	dir, err := os.MkdirTemp("", "adnet-mariadb-")
	if err != nil {
		return nil, err
	}
	server.dir = dir
	if err := startWatchdog(server.script, dir); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", server.script, "start", dir)
	cmd.Env = append(os.Environ(), "MARIADB_OPTS="+serverOpts)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("start MariaDB with %s start %s: %v\n%s%s", server.script, dir, err, stdout.String(), stderr.String())
	}
	dsn := lastLine(stdout.String())
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("%s printed %q, not a DSN: %w", server.script, dsn, err)
	}
	cfg.DBName = ""
	return cfg, nil
}

// startWatchdog starts a detached shell that stops the instance and removes dir once this
// process is gone, so that a test binary killed by -timeout or a signal (when Main's own
// clean-up never runs) does not leave a server behind.
func startWatchdog(script, dir string) error {
	cmd := exec.Command("bash", "-c",
		`while kill -0 "$1" 2>/dev/null; do sleep 1; done; bash "$2" stop "$3" >/dev/null 2>&1; rm -rf "$3"`,
		"mysqltest-watchdog", strconv.Itoa(os.Getpid()), script, dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start watchdog: %w", err)
	}
	return cmd.Process.Release()
}

// stopServer stops the private instance, if one was started, and removes its directory.
func stopServer() error {
	server.mu.Lock()
	defer server.mu.Unlock()
	if server.dir == "" {
		return nil
	}
	defer func() { server.dir = "" }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", server.script, "stop", server.dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("stop MariaDB in %s: %v\n%s", server.dir, err, out)
	}
	return os.RemoveAll(server.dir)
}

// repoRoot walks up from the working directory (the package's directory under go test) to the
// directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory: cannot find scripts/mariadb.sh")
		}
		dir = parent
	}
}

func lastLine(s string) string {
	var last string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			last = line
		}
	}
	return last
}
