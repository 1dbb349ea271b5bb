package fcgi

import (
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// engineTable is the conformance suite's table of engines: every test written with
// forEngines runs once per entry, against the same client and the same expectations.
var engineTable = []struct {
	name   string
	engine Engine
}{
	{"native", EngineNative},
	{"stdlib", EngineStdlib},
}

// forEngines runs test as a subtest per engine; startServer picks the engine from the
// subtest's name.
func forEngines(t *testing.T, test func(t *testing.T)) {
	for _, e := range engineTable {
		t.Run(e.name, test)
	}
}

// engineOf returns the engine of the forEngines subtest t runs in (native elsewhere).
func engineOf(t testing.TB) Engine {
	for _, e := range engineTable {
		if strings.HasSuffix(t.Name(), "/"+e.name) || strings.Contains(t.Name(), "/"+e.name+"/") {
			return e.engine
		}
	}
	return EngineNative
}

// TestUnknownEngine: Serve refuses an engine it does not know, naming the valid ones.
func TestUnknownEngine(t *testing.T) {
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = NewServer(http.NotFoundHandler(), Options{Engine: "fast"}).Serve(ln)
	if err == nil || !strings.Contains(err.Error(), `"native"`) || !strings.Contains(err.Error(), `"stdlib"`) {
		t.Fatalf("Serve with an unknown engine: %v", err)
	}
	for in, want := range map[string]Engine{"": EngineNative, "native": EngineNative, "stdlib": EngineStdlib} {
		if got, err := ParseEngine(in); got != want || err != nil {
			t.Errorf("ParseEngine(%q) = %q, %v", in, got, err)
		}
	}
}
