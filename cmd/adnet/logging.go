package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/sirupsen/logrus"

	"adnet/internal/config"
)

// logFile is an io.Writer over the configured log file that can be reopened on SIGUSR1, so
// logrotate can move the file away and adnet continues in a fresh one.
type logFile struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

// Reopen closes and reopens the file at the same path.
func (l *logFile) Reopen() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	return old.Close()
}

// newLogger builds the one logger of the process from the configuration. reopen is nil when
// logging to standard error.
func newLogger(cfg *config.Config, process string) (*logrus.Logger, func() error, error) {
	log := logrus.New()
	lvl, err := logrus.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, nil, fmt.Errorf("log_level: %w", err)
	}
	log.SetLevel(lvl)
	if cfg.LogJSON {
		log.SetFormatter(&logrus.JSONFormatter{})
	} else {
		log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, DisableColors: cfg.LogFile != ""})
	}
	log.SetOutput(os.Stderr)
	var reopen func() error
	if cfg.LogFile != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.LogFile), 0o750); err != nil {
			return nil, nil, fmt.Errorf("log_file: %w", err)
		}
		f, err := os.OpenFile(cfg.LogFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return nil, nil, fmt.Errorf("log_file %s: %w", cfg.LogFile, err)
		}
		lf := &logFile{path: cfg.LogFile, f: f}
		log.SetOutput(lf)
		reopen = lf.Reopen
	}
	log.AddHook(processHook(process))
	return log, reopen, nil
}

// processHook tags every entry with the process role ("master", "worker-2", "aggregator").
type processHook string

func (h processHook) Levels() []logrus.Level { return logrus.AllLevels }
func (h processHook) Fire(e *logrus.Entry) error {
	if _, ok := e.Data["proc"]; !ok {
		e.Data["proc"] = string(h)
	}
	return nil
}
