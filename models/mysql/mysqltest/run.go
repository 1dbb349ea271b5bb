package mysqltest

import (
	"fmt"
	"os"
	"testing"
)

// Run is Main for a TestMain that has its own setup to undo: it runs the tests, calls cleanup
// (if not nil), stops the private MariaDB instance and returns the exit code for os.Exit.
func Run(m *testing.M, cleanup func()) int {
	server.mu.Lock()
	server.inMain = true
	server.mu.Unlock()
	code := m.Run()
	if cleanup != nil {
		cleanup()
	}
	if err := stopServer(); err != nil {
		fmt.Fprintln(os.Stderr, "mysqltest:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
