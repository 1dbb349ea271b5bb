package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "adnet.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEmptyFileIsValid(t *testing.T) {
	c, err := Load(writeFile(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxChildren != 50 || c.Workers < 2 {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if !filepath.IsAbs(c.SocketDir) || !strings.Contains(c.MySQL.DSN, "@unix(/") {
		t.Fatalf("relative paths not resolved: %q %q", c.SocketDir, c.MySQL.DSN)
	}
}

// The example file documents every setting with its default: loading it must give exactly
// what an empty file gives (except workers, commented out because its default depends on the CPU).
func TestExampleMatchesDefaults(t *testing.T) {
	b, err := os.ReadFile("../../adnet.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	// Load both from the same directory so that resolved paths compare equal.
	ex, err := Load(writeFile(t, string(b)))
	if err != nil {
		t.Fatal(err)
	}
	emptyPath := filepath.Join(filepath.Dir(ex.Path), "empty.toml")
	if err := os.WriteFile(emptyPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	empty, err := Load(emptyPath)
	if err != nil {
		t.Fatal(err)
	}
	ex.Path, empty.Path = "", ""
	if !reflect.DeepEqual(ex, empty) {
		t.Fatalf("adnet.example.toml differs from Defaults:\nexample  %+v\ndefaults %+v", ex, empty)
	}
	// Every setting of the struct must be mentioned in the example file.
	for _, key := range allKeys(reflect.TypeOf(Config{}), "") {
		name := key[strings.LastIndex(key, ".")+1:]
		if !strings.Contains(string(b), name+" =") {
			t.Errorf("setting %s is not documented in adnet.example.toml", key)
		}
	}
}

func allKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("toml")
		if tag == "-" || tag == "" {
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			keys = append(keys, allKeys(f.Type, prefix+tag+".")...)
			continue
		}
		keys = append(keys, prefix+tag)
	}
	return keys
}

func TestEveryProblemReportedAtOnce(t *testing.T) {
	_, err := Load(writeFile(t, `
workers = 0
max_children = -1
queue_timeout = "soon"
typo_setting = 3
[nginx]
listen = "nowhere"
[fraud]
max_clicks_per_ip = 0
`))
	if err == nil {
		t.Fatal("expected errors")
	}
	// A decode error (queue_timeout) stops decoding, so check it alone first.
	if !strings.Contains(err.Error(), "queue_timeout") {
		t.Fatalf("decode error does not name the setting: %v", err)
	}
	_, err = Load(writeFile(t, `
workers = 0
max_children = -1
typo_setting = 3
[nginx]
listen = "nowhere"
[fraud]
max_clicks_per_ip = 0
[mysql]
dsn = "user:secret@tcp(db:3306)/adnet"
`))
	if err == nil {
		t.Fatal("expected errors")
	}
	msg := err.Error()
	for _, want := range []string{
		"workers = 0: must be between 1 and 256",
		"max_children = -1: must be between 1 and 100000",
		"typo_setting: unknown setting",
		`nginx.listen = "nowhere"`,
		"fraud.max_clicks_per_ip = 0",
		"mysql.dsn contains a password",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "secret") {
		t.Errorf("the password leaked into the error message:\n%s", msg)
	}
	if len(err.(Problems)) != 6 {
		t.Errorf("want 6 problems, got %d:\n%s", len(err.(Problems)), msg)
	}
}

func TestUnitsParse(t *testing.T) {
	c, err := Load(writeFile(t, `
socket_mode = "0600"
[events]
segment_max_bytes = "2MiB"
max_disk = "1GB"
fsync_interval = "250ms"
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Events.SegmentMaxBytes != 2<<20 || c.Events.MaxDisk != 1e9 || c.Events.FsyncInterval.D().Milliseconds() != 250 || c.SocketMode != 0o600 {
		t.Fatalf("units misparsed: %+v %o", c.Events, c.SocketMode)
	}
	for _, bad := range []string{`socket_mode = "999"`, "[events]\nmax_disk = \"lots\""} {
		if _, err := Load(writeFile(t, bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

// TestFCGIEngine: fcgi.engine defaults to native, accepts stdlib, and a wrong value is
// reported with the setting's name and the valid values.
func TestFCGIEngine(t *testing.T) {
	c, err := Load(writeFile(t, ""))
	if err != nil || c.FCGI.Engine != "native" {
		t.Fatalf("default engine %q, %v", c.FCGI.Engine, err)
	}
	c, err = Load(writeFile(t, "[fcgi]\nengine = \"stdlib\"\n"))
	if err != nil || c.FCGI.Engine != "stdlib" {
		t.Fatalf("stdlib engine %q, %v", c.FCGI.Engine, err)
	}
	_, err = Load(writeFile(t, "[fcgi]\nengine = \"fast\"\n"))
	if err == nil || !strings.Contains(err.Error(), `fcgi.engine = "fast": must be "native"`) ||
		!strings.Contains(err.Error(), `"stdlib"`) {
		t.Fatalf("error for a wrong engine: %v", err)
	}
}
