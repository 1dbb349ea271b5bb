package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/sirupsen/logrus"

	"adnet/internal/config"
	"adnet/models/mysql"
)

// openDB connects to MariaDB with mysql.dsn, adding the password from mysql.password_file
// (which must be mode 0600: a password readable by others is refused, not used), or with the
// DSN in mysql.dsn_file (mode 0600 too) when that is set: the primary, for every write.
func openDB(ctx context.Context, cfg *config.Config) (*mysql.DB, error) {
	dsn := cfg.MySQL.DSN
	if cfg.MySQL.DSNFile != "" {
		s, err := readSecret(cfg.MySQL.DSNFile)
		if err != nil {
			return nil, fmt.Errorf("mysql.dsn_file: %w", err)
		}
		db, err := mysql.Open(ctx, s)
		if err != nil {
			return nil, fmt.Errorf("connecting to MariaDB (mysql.dsn_file): %w", err)
		}
		return db, nil
	}
	if cfg.MySQL.PasswordFile != "" {
		pw, err := readSecret(cfg.MySQL.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("mysql.password_file: %w", err)
		}
		dc, err := mysqldrv.ParseDSN(dsn)
		if err != nil {
			return nil, fmt.Errorf("mysql.dsn: %w", err)
		}
		dc.Passwd = pw
		dsn = dc.FormatDSN()
	}
	db, err := mysql.Open(ctx, dsn)
	if err != nil {
		// The driver's error never contains the password; the DSN is not repeated here.
		return nil, fmt.Errorf("connecting to MariaDB (mysql.dsn): %w", err)
	}
	return db, nil
}

// newReads returns where reports and inventory snapshots are read: the replica of
// mysql.replica_dsn_file when set (opened at the first read; the primary answers while it
// is unreachable), else the primary store itself.
func newReads(cfg *config.Config, primary *mysql.Store, log logrus.FieldLogger) *mysql.Reads {
	var open func(ctx context.Context) (*mysql.DB, error)
	if path := cfg.MySQL.ReplicaDSNFile; path != "" {
		open = func(ctx context.Context) (*mysql.DB, error) {
			dsn, err := readSecret(path)
			if err != nil {
				return nil, fmt.Errorf("mysql.replica_dsn_file: %w", err)
			}
			db, err := mysql.Open(ctx, dsn)
			if err != nil {
				return nil, fmt.Errorf("connecting to the MariaDB replica (mysql.replica_dsn_file): %w", err)
			}
			return db, nil
		}
	}
	return mysql.NewReads(primary, open, log)
}

// openCurrentDB opens the database and refuses a schema that is behind this binary (the
// error says to run `adnet migrate`); every command but migrate uses it.
func openCurrentDB(ctx context.Context, cfg *config.Config) (*mysql.DB, error) {
	db, err := openDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := mysql.CheckSchema(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// readSecret reads a one-line secret from a file that only its owner may read.
func readSecret(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s is readable by others (mode %04o): run `chmod 600 %s`", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
