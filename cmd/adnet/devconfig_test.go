package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDefaultConfigFindsDevInstance: in a checkout where `make run` wrote var/adnet.toml,
// a command without --config (`bin/adnet report`) uses it instead of failing with "no
// configuration file"; ./adnet.toml still comes first.
func TestDefaultConfigFindsDevInstance(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("ADNET_CONFIG", "")
	if _, err := loadConfig("adnet.toml"); err == nil || !strings.Contains(err.Error(), "make run") {
		t.Fatalf("no config anywhere: got %v, want an error naming `make run`", err)
	}

	if err := os.MkdirAll(filepath.Join(dir, "var"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "var", "adnet.toml"), []byte("workers = 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, path := flags("report", os.Stderr)
	cfg, err := loadConfig(*path)
	if err != nil {
		t.Fatalf("with var/adnet.toml: %v", err)
	}
	if want := filepath.Join(dir, "var", "adnet.toml"); cfg.Path != want || cfg.Workers != 3 {
		t.Errorf("loaded %s (workers %d), want %s (workers 3)", cfg.Path, cfg.Workers, want)
	}
	// Paths in it are relative to var/, as for `make run`.
	if want := filepath.Join(dir, "var", "run"); cfg.SocketDir != want {
		t.Errorf("socket_dir = %s, want %s", cfg.SocketDir, want)
	}

	if err := os.WriteFile(filepath.Join(dir, "adnet.toml"), []byte("workers = 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if cfg, err = loadConfig("adnet.toml"); err != nil || cfg.Workers != 5 {
		t.Errorf("./adnet.toml must win over var/adnet.toml: %v %+v", err, cfg)
	}
}

// TestMakeRunPrintsWorkingCommands: the follow-up commands `make run` prints name real
// commands and carry the instance's --config, so that they work as printed.
func TestMakeRunPrintsWorkingCommands(t *testing.T) {
	b, err := os.ReadFile("../../scripts/run.sh")
	if err != nil {
		t.Fatal(err)
	}
	script := string(b)
	i := strings.Index(script, "Commands for this instance")
	if i < 0 {
		t.Fatal("scripts/run.sh prints no follow-up commands")
	}
	printed := map[string]bool{}
	for _, line := range strings.Split(script[i:], "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "$adnet" {
			continue
		}
		if _, ok := commands()[f[1]]; !ok {
			t.Errorf("run.sh prints %q, which is not an adnet command", line)
		}
		if !strings.Contains(line, "--config $conf") {
			t.Errorf("run.sh prints %q without --config $conf", line)
		}
		printed[f[1]] = true
	}
	for _, want := range []string{"report", "top"} {
		if !printed[want] {
			t.Errorf("run.sh does not print `adnet %s --config …`", want)
		}
	}
}
