// Package natstest runs private nats-server processes with JetStream for tests, the way
// scripts/mariadb.sh runs a private MariaDB: each on free local ports with its store in the
// test's temporary directory. A missing nats-server fails the test (scripts/install-deps.sh
// installs it); it never skips.
package natstest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"adnet/internal/testport"
)

// Server is one private nats-server.
type Server struct {
	URL  string // nats://127.0.0.1:<port>
	Name string
	dir  string
	args []string
	tb   testing.TB
	cmd  *exec.Cmd
	exit chan struct{}
}

// Start runs a single JetStream server for the test; it is killed when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := newServer(tb, "n1", testport.Free(tb))
	s.Start()
	return s
}

// StartCluster runs n JetStream servers joined by routes (a cluster named "adnet"), so that
// streams can have n replicas. It waits until JetStream has a meta leader.
func StartCluster(tb testing.TB, n int) []*Server {
	tb.Helper()
	cports := make([]int, n)
	for i := range cports {
		cports[i] = testport.Free(tb)
	}
	var routes []string
	for _, p := range cports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	out := make([]*Server, n)
	for i := range out {
		s := newServer(tb, fmt.Sprintf("n%d", i+1), testport.Free(tb))
		s.args = append(s.args, "--cluster_name", "adnet", "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", cports[i]),
			"--routes", strings.Join(routes, ","))
		out[i] = s
	}
	for _, s := range out {
		s.Start()
	}
	return out
}

// URLs returns the servers' client URLs.
func URLs(servers []*Server) []string {
	var u []string
	for _, s := range servers {
		u = append(u, s.URL)
	}
	return u
}

func newServer(tb testing.TB, name string, port int) *Server {
	if _, err := exec.LookPath("nats-server"); err != nil {
		tb.Fatalf("nats-server is not installed (scripts/install-deps.sh test installs it): %v", err)
	}
	dir := filepath.Join(tb.TempDir(), name)
	return &Server{URL: fmt.Sprintf("nats://127.0.0.1:%d", port), Name: name, dir: dir, tb: tb,
		args: []string{"-js", "-sd", dir, "-a", "127.0.0.1", "-p", fmt.Sprint(port), "-n", name}}
}

// Start (re)starts the server on its port and store, and waits until it accepts clients.
func (s *Server) Start() {
	s.tb.Helper()
	cmd := exec.Command("nats-server", s.args...)
	log, err := os.OpenFile(s.dir+".log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		s.tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("start nats-server: %v", err)
	}
	log.Close()
	s.cmd, s.exit = cmd, make(chan struct{})
	go func(c *exec.Cmd, exit chan struct{}) { _ = c.Wait(); close(exit) }(cmd, s.exit)
	s.tb.Cleanup(s.Kill)
	addr := strings.TrimPrefix(s.URL, "nats://")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-s.exit:
			b, _ := os.ReadFile(s.dir + ".log")
			s.tb.Fatalf("nats-server %s exited:\n%s", s.Name, b)
		default:
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("nats-server %s does not accept connections on %s", s.Name, addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the server with SIGKILL (a crash) and waits for it; its store stays.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exit
	s.cmd = nil
}

// Log returns the server's output so far, for a failing test's message.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.dir + ".log")
	return string(b)
}
