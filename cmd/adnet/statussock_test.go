package main

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"adnet/internal/monitor"
)

// TestServeStatusKeepsLiveSocket: a second copy of a helper process (an `adnet ship` started
// by hand beside the master's) must neither take over the running copy's status socket nor
// remove it when it gives up; a socket left behind by a crash is replaced.
func TestServeStatusKeepsLiveSocket(t *testing.T) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	path := filepath.Join(t.TempDir(), "shipper.sock")
	stop, err := serveStatus(path, func() any { return map[string]string{"copy": "first"} }, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := serveStatus(path, func() any { return map[string]string{"copy": "second"} }, log); err == nil ||
		!strings.Contains(err.Error(), "another copy") {
		t.Fatalf("second copy on a live socket: %v, want an error naming another copy", err)
	}
	var got map[string]string
	if err := monitor.FetchControl(context.Background(), path, &got); err != nil || got["copy"] != "first" {
		t.Fatalf("the first copy's socket after the second gave up: %v, %v", got, err)
	}
	stop()

	// A crashed copy leaves its socket file behind with nobody listening.
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	stop, err = serveStatus(path, func() any { return map[string]string{"copy": "after crash"} }, log)
	if err != nil {
		t.Fatalf("a stale socket file: %v", err)
	}
	defer stop()
	if err := monitor.FetchControl(context.Background(), path, &got); err != nil || got["copy"] != "after crash" {
		t.Fatalf("after replacing a stale socket: %v, %v", got, err)
	}
}
