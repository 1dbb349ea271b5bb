package master

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	logtest "github.com/sirupsen/logrus/hooks/test"
)

// fcgiRequest sends one FastCGI GET (with FCGI_KEEP_CONN, as nginx does) over a new
// connection to socket and returns the FCGI_STDOUT content and whether the peer closed the
// connection after FCGI_END_REQUEST. It fails after a generous deadline: a request that
// sits in a backlog nobody reads is the bug this guards against.
func fcgiRequest(socket string) (stdout string, closed bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dialSocket(ctx, socket)
	if err != nil {
		return "", false, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	var params []byte
	for _, kv := range [][2]string{{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/serve/json"}, {"SCRIPT_NAME", ""}} {
		params = append(params, byte(len(kv[0])), byte(len(kv[1])))
		params = append(params, kv[0]+kv[1]...)
	}
	var b []byte
	b = appendRecord(b, fcgiBeginRequest, 1, []byte{0, 1, 1, 0, 0, 0, 0, 0}) // responder, keep conn
	b = appendRecord(b, 4, 1, params)                                        // FCGI_PARAMS
	b = appendRecord(b, 4, 1, nil)
	b = appendRecord(b, fcgiStdin, 1, nil)
	if _, err := c.Write(b); err != nil {
		return "", false, err
	}
	r := bufio.NewReader(c)
	var out bytes.Buffer
	var hdr [fcgiHeaderLen]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return out.String(), false, fmt.Errorf("reading the answer: %w", err)
		}
		n := int(binary.BigEndian.Uint16(hdr[4:6]))
		content := make([]byte, n+int(hdr[6]))
		if _, err := io.ReadFull(r, content); err != nil {
			return out.String(), false, err
		}
		switch hdr[1] {
		case fcgiStdout:
			out.Write(content[:n])
		case fcgiEndRequest:
			if n != 8 || content[4] != fcgiRequestDone {
				return out.String(), false, fmt.Errorf("bad FCGI_END_REQUEST %x", content[:n])
			}
			_, err := r.ReadByte()
			return out.String(), errors.Is(err, io.EOF), nil
		}
	}
}

// TestDeadWorkerSocketAnswers503: while a worker is down (here through a one-minute
// restart backoff) a request on its socket is answered at once with a FastCGI 503 and
// Retry-After by the master, so that nginx retries another worker, instead of waiting in
// the socket's backlog until nginx's read timeout (a 504). When a process is started on
// the socket again, the master has stopped answering and the worker gets every request.
func TestDeadWorkerSocketAnswers503(t *testing.T) {
	opt, hook, out := baseOptions(t, 1, "crash")
	testDeadWorkerAnswers503(t, opt, hook, out)
}

// TestDeadWorkerTCPAnswers503: the same on a TCP listener.
func TestDeadWorkerTCPAnswers503(t *testing.T) {
	opt, hook, out := baseOptions(t, 1, "crash")
	opt.Listen = freeTCPListen(t, 1)
	testDeadWorkerAnswers503(t, opt, hook, out)
}

func testDeadWorkerAnswers503(t *testing.T, opt Options, hook *logtest.Hook, out *lockedBuffer) {
	opt.RestartBackoff, opt.MaxRestartBackoff = time.Minute, time.Minute
	h := start(t, opt, hook, out)
	waitFor(t, "worker crashed", func() bool { p := h.info(0); return p.LastExit != "" && p.PID == 0 })
	socket := h.info(0).Socket

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stdout, closed, err := fcgiRequest(socket)
			switch {
			case err != nil:
				errs <- fmt.Errorf("request on the dead worker's socket: %v (stdout %q)", err, stdout)
			case !strings.HasPrefix(stdout, "Status: 503 ") || !strings.Contains(stdout, "\r\nRetry-After: 1\r\n"):
				errs <- fmt.Errorf("answer %q, want Status: 503 with Retry-After: 1", stdout)
			case !closed:
				errs <- errors.New("connection kept after the 503: nginx would reuse it after the worker is back")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if p := h.info(0); p.PID != 0 {
		t.Fatalf("worker restarted during the test (pid %d): the answers may not be the master's", p.PID)
	}

	// A new process on the socket (here by a reload) takes it over entirely: the test
	// worker speaks HTTP, which the master's FastCGI stand-in would not answer.
	opt.WorkerCommand = testCommand("worker")
	if err := h.m.Reload(opt); err != nil {
		t.Fatal(err)
	}
	ps := h.waitReady(1)
	for range 20 {
		if r := mustGet(t, socket, ""); r.pid != ps[0].PID {
			t.Fatalf("answered by pid %d, want the new worker %d", r.pid, ps[0].PID)
		}
	}
}

// TestStopDuringReloadStartsAtOnce: a SIGTERM that arrives while a rolling reload waits
// for a new worker (here one that never becomes ready, with a ten-minute ReadyTimeout)
// stops the master at once; the reload gives up.
func TestStopDuringReloadStartsAtOnce(t *testing.T) {
	opt, hook, out := baseOptions(t, 2, "worker")
	h := start(t, opt, hook, out)
	h.waitReady(2)

	next := opt
	next.WorkerCommand = testCommand("never-ready")
	next.ReadyTimeout = 10 * time.Minute
	reloadStarted := make(chan struct{})
	reloadErr := make(chan error, 1)
	stopped := make(chan os.Signal, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 4)
	go HandleSignals(ctx, sigs, SignalHandlers{
		Reload: func() {
			close(reloadStarted)
			reloadErr <- h.m.Reload(next)
		},
		Stop: func(sig os.Signal) {
			stopped <- sig
			h.cancel()
		},
	})
	sigs <- syscall.SIGHUP
	<-reloadStarted
	waitFor(t, "new never-ready worker started", func() bool {
		return len(h.entries("master: process started")) >= 3
	})
	sigs <- syscall.SIGTERM
	select {
	case <-stopped:
	case <-time.After(60 * time.Second):
		t.Fatal("SIGTERM not acted on while a reload runs")
	}
	if err := h.wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	select {
	case err := <-reloadErr:
		if err == nil {
			t.Error("reload of never-ready workers succeeded")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("reload did not give up after the stop")
	}
}

// TestWorkerStoppedDuringStartupExitsCleanly: a worker sent SIGQUIT (a graceful stop)
// before it has installed its signal handlers, while it is still starting, exits cleanly
// once started instead of crashing with the Go runtime's goroutine dump.
func TestWorkerStoppedDuringStartupExitsCleanly(t *testing.T) {
	opt, hook, out := baseOptions(t, 1, "slow-start")
	opt.WorkerCommand = testCommand("slow-start", "ADNET_TEST_START_MS=1500")
	h := start(t, opt, hook, out)
	waitFor(t, "worker starting", func() bool { return strings.Contains(out.String(), "slow-start: starting") })
	pid := h.info(0).PID
	if err := h.stop(); err != nil { // SIGQUIT to the worker, still in its startup
		t.Fatal(err)
	}
	var status string
	for _, e := range h.entries("master: process exited") {
		if e.Data["pid"] == pid {
			status, _ = e.Data["status"].(string)
		}
	}
	if status != "exit status 0" {
		t.Errorf("worker stopped during startup: %q, want exit status 0", status)
	}
	if o := out.String(); strings.Contains(o, "SIGQUIT: quit") || strings.Contains(o, "goroutine ") {
		t.Errorf("worker crashed with a goroutine dump:\n%.2000s", o)
	}
}
