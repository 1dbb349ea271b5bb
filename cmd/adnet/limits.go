package main

import (
	"github.com/sirupsen/logrus"

	"adnet/fcgi/master"
	"adnet/internal/config"
)

// raiseOpenFiles raises the master's soft open-file limit, which every worker inherits,
// to what one worker may need: nginx may hand a single worker an upstream connection for
// each of its nginx.client_connections (when the other workers are down or slow), plus
// the keepalive pool and the worker's own files (event log, database, control socket). A
// hard limit below that is a warning naming the fix, not a refusal to start: the workers
// then shed load with 503 sooner, which is still a working server.
func raiseOpenFiles(cfg *config.Config, log logrus.FieldLogger) {
	want := uint64(cfg.Nginx.ClientConnections + cfg.Nginx.Keepalive + 1024)
	got, err := master.RaiseNofile(want)
	if err != nil {
		log.WithError(err).WithField("open_files", got).Warn("open-file limit below what nginx.client_connections needs")
		return
	}
	log.WithField("open_files", got).Debug("open-file limit")
}
