// Package docs_test keeps docs/ARCHITECTURE.md true: its package table is the import rule of
// the project, and this test fails when a package imports a project package that the table
// does not allow, when a package has no row, or when a row names a package that is gone.
// Change the table and the code together.
package docs_test

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "adnet"

// rule is one row of the table: the project packages a package may import.
type rule struct {
	allowed  []string // import paths without the module prefix
	anything bool     // "anything": main wires everything
}

// backticked finds `names` in a table cell.
var backticked = regexp.MustCompile("`([^`]+)`")

// readRules parses the "## Packages" table of ARCHITECTURE.md: | `pkg` | owns | may import |.
func readRules(t *testing.T) map[string]rule {
	t.Helper()
	f, err := os.Open("ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rules := map[string]rule{}
	inTable := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			inTable = line == "## Packages"
			continue
		}
		if !inTable || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 3 {
			t.Fatalf("ARCHITECTURE.md: a package row needs 3 cells (package, owns, may import): %q", line)
		}
		name := backticked.FindStringSubmatch(cells[0])
		if name == nil {
			t.Fatalf("ARCHITECTURE.md: no `package` in the first cell of %q", line)
		}
		var r rule
		imports := strings.TrimSpace(cells[2])
		switch {
		case imports == "anything":
			r.anything = true
		case imports == "nothing of the project":
		default:
			for _, m := range backticked.FindAllStringSubmatch(imports, -1) {
				r.allowed = append(r.allowed, m[1])
			}
			if len(r.allowed) == 0 {
				t.Fatalf("ARCHITECTURE.md: %s: write the allowed packages in backticks, \"nothing of the project\" or \"anything\"; got %q", name[1], imports)
			}
		}
		if _, dup := rules[name[1]]; dup {
			t.Fatalf("ARCHITECTURE.md: two rows for %s", name[1])
		}
		rules[name[1]] = r
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rules) == 0 {
		t.Fatal("ARCHITECTURE.md: no package table under \"## Packages\"")
	}
	return rules
}

// goPackage is what `go list -json` says of a package.
type goPackage struct {
	ImportPath string
	Imports    []string
}

// listPackages returns every package of the module with its (non-test) imports.
func listPackages(t *testing.T) []goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = ".."
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestImportRules(t *testing.T) {
	rules := readRules(t)
	seen := map[string]bool{}
	for _, p := range listPackages(t) {
		name := strings.TrimPrefix(p.ImportPath, module+"/")
		if name == "docs" || name == "deploy" {
			continue // test-only packages that check files
		}
		seen[name] = true
		r, ok := rules[name]
		if !ok {
			t.Errorf("%s has no row in ARCHITECTURE.md's package table: add what it owns and what it may import", name)
			continue
		}
		for _, imp := range p.Imports {
			dep, ok := strings.CutPrefix(imp, module+"/")
			if !ok || r.anything || slices.Contains(r.allowed, dep) {
				continue
			}
			t.Errorf("%s imports %s, which ARCHITECTURE.md does not allow (may import: %s)", name, dep, strings.Join(r.allowed, ", "))
		}
	}
	for name := range rules {
		if !seen[name] {
			t.Errorf("ARCHITECTURE.md has a row for %s, which is not a package of the module", name)
		}
	}
}

// TestStorageOnlyWired: the SQL store is wired by main alone; everything else reaches it
// through interfaces of its own, in domain types.
func TestStorageOnlyWired(t *testing.T) {
	for _, p := range listPackages(t) {
		name := strings.TrimPrefix(p.ImportPath, module+"/")
		if slices.Contains(p.Imports, module+"/models/mysql") && name != "cmd/adnet" && !strings.HasSuffix(name, "test") {
			t.Errorf("%s imports models/mysql: only cmd/adnet, tests and test helpers (…test packages) may", name)
		}
	}
}
