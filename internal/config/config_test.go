package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
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
design_load = 0
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
		"fraud.design_load = 0: must be between 10 and 10000000",
		"mysql.dsn contains a password",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "secret") {
		t.Errorf("the password leaked into the error message:\n%s", msg)
	}
	if len(err.(Problems)) != 7 {
		t.Errorf("want 7 problems, got %d:\n%s", len(err.(Problems)), msg)
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

func TestPrefixesAndHost(t *testing.T) {
	got, err := Prefixes([]string{"10.1.2.3/8", "192.0.2.7", "::1"})
	if err != nil || len(got) != 3 || got[0].String() != "10.0.0.0/8" || got[1].String() != "192.0.2.7/32" || got[2].String() != "::1/128" {
		t.Errorf("Prefixes = %v, %v", got, err)
	}
	if _, err := Prefixes([]string{"10.0.0.0/8", "nope"}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("a bad entry: %v", err)
	}
	for raw, want := range map[string]string{"https://ads.example:8443/x": "ads.example", "http://[::1]:8080": "::1", "%zz": "", "": ""} {
		if got := (Tracking{BaseURL: raw}).Host(); got != want {
			t.Errorf("Host(%q) = %q, want %q", raw, got, want)
		}
	}
}

// TestClientConnections: nginx.client_connections defaults to 10,000 (the seed's 5,620
// active connections with room) and a value out of range names the setting and the range.
func TestClientConnections(t *testing.T) {
	c, err := Load(writeFile(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if c.Nginx.ClientConnections != 10000 {
		t.Errorf("nginx.client_connections default = %d, want 10000", c.Nginx.ClientConnections)
	}
	_, err = Load(writeFile(t, "[nginx]\nclient_connections = 10\n"))
	if err == nil || !strings.Contains(err.Error(), "nginx.client_connections = 10: must be between 100 and 1000000") {
		t.Errorf("client_connections = 10: got %v", err)
	}
}

// TestEventsFsync: the durability policy is "interval" (default) or "always"; anything else
// is refused with the setting, both values and what each costs.
func TestEventsFsync(t *testing.T) {
	c, err := Load(writeFile(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if c.Events.Fsync != FsyncInterval {
		t.Errorf("events.fsync default = %q, want %q", c.Events.Fsync, FsyncInterval)
	}
	if c, err = Load(writeFile(t, "[events]\nfsync = \"always\"\n")); err != nil || c.Events.Fsync != FsyncAlways {
		t.Errorf("fsync = always: %v, %+v", err, c)
	}
	// With "always" the interval is not used, so a zero one is no problem.
	if _, err = Load(writeFile(t, "[events]\nfsync = \"always\"\nfsync_interval = \"0s\"\n")); err != nil {
		t.Errorf("fsync = always with fsync_interval 0: %v", err)
	}
	_, err = Load(writeFile(t, "[events]\nfsync = \"sometimes\"\n"))
	if err == nil || !strings.Contains(err.Error(), `events.fsync = "sometimes": must be "interval"`) || !strings.Contains(err.Error(), `or "always"`) {
		t.Errorf("fsync = sometimes: got %v", err)
	}
	_, err = Load(writeFile(t, "[events]\nfsync_interval = \"0s\"\n"))
	if err == nil || !strings.Contains(err.Error(), "events.fsync_interval") {
		t.Errorf("fsync = interval with fsync_interval 0: got %v", err)
	}
}

// TestDesignLoad: the default is today's design (25,000 events/s over 10 minutes) and the
// product with the window is bounded, with a message naming both settings.
func TestDesignLoad(t *testing.T) {
	c, err := Load(writeFile(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if c.Fraud.DesignLoad != 25000 || !c.Fraud.BuiltinDatacenter {
		t.Errorf("defaults: design_load %d, builtin_datacenter %v", c.Fraud.DesignLoad, c.Fraud.BuiltinDatacenter)
	}
	_, err = Load(writeFile(t, "[fraud]\ndesign_load = 2000000\nclick_window = \"1h\"\n"))
	if err == nil || !strings.Contains(err.Error(), "fraud.design_load = 2000000 with fraud.click_window = \"1h0m0s\"") {
		t.Errorf("oversized design: %v", err)
	}
	c, err = Load(writeFile(t, "[fraud]\ndesign_load = 100000\nbuiltin_datacenter = false\n"))
	if err != nil || c.Fraud.DesignLoad != 100000 || c.Fraud.BuiltinDatacenter {
		t.Errorf("design_load = 100000: %v %+v", err, c.Fraud)
	}
}

// TestEventsTransport: "file" is the default and needs no [nats]; "jetstream" needs
// nats.servers and nats.host, and every message names its setting.
func TestEventsTransport(t *testing.T) {
	c, err := Load(writeFile(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if c.Events.Transport != TransportFile || c.NATS.Stream != "ADNET_EVENTS" || c.NATS.Replicas != 3 {
		t.Errorf("defaults: transport %q, stream %q, replicas %d", c.Events.Transport, c.NATS.Stream, c.NATS.Replicas)
	}
	_, err = Load(writeFile(t, "[events]\ntransport = \"jetstream\"\n"))
	if err == nil || !strings.Contains(err.Error(), "nats.servers is empty") || !strings.Contains(err.Error(), "nats.host is empty") {
		t.Errorf("jetstream without [nats]: got %v", err)
	}
	_, err = Load(writeFile(t, "[events]\ntransport = \"kafka\"\n"))
	if err == nil || !strings.Contains(err.Error(), `events.transport = "kafka"`) {
		t.Errorf("transport = kafka: got %v", err)
	}
	_, err = Load(writeFile(t, "[events]\ntransport = \"jetstream\"\n[nats]\nservers = [\"10.0.0.5:4222\"]\nhost = \"a.b\"\nreplicas = 2\nreorder_window = \"1s\"\n"))
	if err == nil || !strings.Contains(err.Error(), "nats.servers") || !strings.Contains(err.Error(), `nats.host = "a.b"`) || !strings.Contains(err.Error(), "nats.replicas = 2") ||
		!strings.Contains(err.Error(), `nats.reorder_window = "1s"`) {
		t.Errorf("bad [nats]: got %v", err)
	}
	c, err = Load(writeFile(t, "[events]\ntransport = \"jetstream\"\n[nats]\nservers = [\"nats://10.0.0.5:4222\"]\nhost = \"app-1\"\ncreds_file = \"nats.creds\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.NATS.Host != "app-1" || !filepath.IsAbs(c.NATS.CredsFile) || c.NATS.ReorderWindow.D() != 30*time.Second {
		t.Errorf("jetstream config: %+v", c.NATS)
	}
}
