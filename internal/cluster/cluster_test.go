package cluster

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"adnet/internal/config"
	"adnet/nginx"
)

// TestExampleCluster: deploy/cluster.toml loads, and every host's generated adnet.toml
// loads with config.Load (the checks `adnet serve` applies) and carries what the cluster
// decides: its own nginx.listen, the front trusted, JetStream with its NATS host name, the
// DSN files; [host_defaults] is in every host.
func TestExampleCluster(t *testing.T) {
	cf, err := Load("../../deploy/cluster.toml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, h := range cf.Hosts {
		b, err := cf.HostConfig(h, Secrets{IPHashKeyID: "0123456789abcdef"})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, h.Name, "adnet.toml")
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(path)
		if err != nil {
			t.Fatalf("host %s: %v\n%s", h.Name, err, b)
		}
		for _, chk := range []struct{ what, got, want string }{
			{"nginx.listen", c.Nginx.Listen, h.Address + ":8080"},
			{"events.transport", c.Events.Transport, config.TransportJetStream},
			{"nats.host", c.NATS.Host, h.Name},
			{"nats.stream", c.NATS.Stream, "ADNET_EVENTS"},
			{"nats.servers", strings.Join(c.NATS.Servers, ","), "nats://10.0.0.11:4222,nats://10.0.0.12:4222,nats://10.0.0.13:4222"},
			{"mysql.dsn_file", c.MySQL.DSNFile, "/etc/adnet/mysql-primary.dsn"},
			{"mysql.replica_dsn_file", c.MySQL.ReplicaDSNFile, "/etc/adnet/mysql-replica.dsn"},
			{"tracking.base_url", c.Tracking.BaseURL, "https://ads.example.com"},
			{"data_dir", c.DataDir, "/var/lib/adnet"},
			{"tracking.key_file", c.Tracking.KeyFile, "/etc/adnet/keys/tracking.key"},
			{"stats.ip_hash_key_id", c.Stats.IPHashKeyID, "0123456789abcdef"},
		} {
			if chk.got != chk.want {
				t.Errorf("host %s: %s = %q, want %q", h.Name, chk.what, chk.got, chk.want)
			}
		}
		if c.NATS.Replicas != 3 || c.Workers != 4 {
			t.Errorf("host %s: nats.replicas %d workers %d", h.Name, c.NATS.Replicas, c.Workers)
		}
		if !slices.Contains(c.Fraud.TrustedProxies, "10.0.0.1") {
			t.Errorf("host %s: fraud.trusted_proxies %v lacks the front", h.Name, c.Fraud.TrustedProxies)
		}
	}
	p := cf.FrontParams()
	if len(p.Hosts) != 3 || len(p.ConsoleHosts) != 2 || p.Hosts[2].Addr != "10.0.0.4:8080" {
		t.Errorf("front params %+v", p)
	}
	if err := nginx.RenderFront(&bytes.Buffer{}, p); err != nil {
		t.Error(err)
	}
}

// TestTrustedProxiesMerged: the front joins the proxies [host_defaults] already trusts,
// once; one host's file never leaks into another's.
func TestTrustedProxiesMerged(t *testing.T) {
	cf := validFile(t, "[host_defaults.fraud]\ntrusted_proxies = [\"10.9.0.0/16\", \"10.0.0.1\"]\n")
	b1, _ := cf.HostConfig(cf.Hosts[0], Secrets{})
	b2, _ := cf.HostConfig(cf.Hosts[1], Secrets{})
	for _, b := range [][]byte{b1, b2} {
		if !strings.Contains(string(b), `trusted_proxies = ["10.9.0.0/16", "10.0.0.1"]`) {
			t.Errorf("trusted proxies not merged:\n%s", b)
		}
	}
	if !strings.Contains(string(b1), `host = "a1"`) || !strings.Contains(string(b2), `host = "a2"`) {
		t.Errorf("nats.host per host:\n%s\n%s", b1, b2)
	}
}

const minimal = `
[cluster]
name = "c1"
[front]
listen = "10.0.0.1:80"
[[hosts]]
name = "a1"
address = "10.0.0.2"
http_port = 8080
console = true
[[hosts]]
name = "a2"
address = "10.0.0.3"
http_port = 8080
[nats]
servers = ["nats://10.0.0.11:4222"]
[mysql]
dsn_file = "/etc/adnet/primary.dsn"
`

func validFile(t *testing.T, extra string) *File {
	t.Helper()
	cf, err := loadText(t, minimal+extra)
	if err != nil {
		t.Fatal(err)
	}
	return cf
}

func loadText(t *testing.T, text string) (*File, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cluster.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return Load(path)
}

// TestSharedSecretsInHostConfig: every host reads the tracking key at the same path —
// [host_defaults.tracking] key_file, else DefaultTrackingKeyFile — and requires the
// cluster's ip-hash.key by its id; without an id the setting is left out.
func TestSharedSecretsInHostConfig(t *testing.T) {
	cf := validFile(t, "")
	if got := cf.TrackingKeyFile(); got != DefaultTrackingKeyFile {
		t.Errorf("TrackingKeyFile() = %q, want %q", got, DefaultTrackingKeyFile)
	}
	for _, h := range cf.Hosts {
		b, err := cf.HostConfig(h, Secrets{IPHashKeyID: "00112233aabbccdd"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `key_file = "`+DefaultTrackingKeyFile+`"`) || !strings.Contains(string(b), `ip_hash_key_id = "00112233aabbccdd"`) {
			t.Errorf("host %s:\n%s", h.Name, b)
		}
	}
	if b, _ := cf.HostConfig(cf.Hosts[0], Secrets{}); strings.Contains(string(b), "ip_hash_key_id") {
		t.Errorf("ip_hash_key_id without an id:\n%s", b)
	}
	cf = validFile(t, "[host_defaults]\ndata_dir = \"/srv/adnet\"\n[host_defaults.tracking]\nkey_file = \"/srv/keys/t.key\"\n")
	if cf.TrackingKeyFile() != "/srv/keys/t.key" || cf.DataDir() != "/srv/adnet" {
		t.Errorf("TrackingKeyFile() = %q, DataDir() = %q", cf.TrackingKeyFile(), cf.DataDir())
	}
	if b, _ := cf.HostConfig(cf.Hosts[1], Secrets{}); !strings.Contains(string(b), `key_file = "/srv/keys/t.key"`) {
		t.Errorf("[host_defaults.tracking] key_file not kept:\n%s", b)
	}
}

func TestClusterProblems(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{strings.Replace(minimal, `name = "c1"`, `name = "C 1"`, 1), "cluster.name"},
		{strings.Replace(minimal, `listen = "10.0.0.1:80"`, `listen = "0.0.0.0:80"`, 1), "front.address: required"},
		{strings.Replace(minimal, `address = "10.0.0.3"`, `address = "app2"`, 1), "hosts[1].address"},
		{strings.Replace(minimal, `name = "a2"`, `name = "a1"`, 1), "used twice"},
		{strings.Replace(minimal, "console = true", "", 1), "no host has console = true"},
		{strings.Replace(minimal, `servers = ["nats://10.0.0.11:4222"]`, "", 1), "nats.servers: none"},
		{strings.Replace(minimal, `dsn_file = "/etc/adnet/primary.dsn"`, "", 1), "mysql.dsn_file: required"},
		{minimal + "[host_defaults.nginx]\nlisten = \"1.2.3.4:80\"\n", "host_defaults.nginx.listen: set by the cluster file"},
		{minimal + "[front.extra]\nx = 1\n", "unknown setting"},
		{minimal + "[host_defaults.stats]\nip_hash_key_id = \"0123456789abcdef\"\n", "host_defaults.stats.ip_hash_key_id: set by the cluster file"},
	} {
		_, err := loadText(t, c.text)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want a problem containing %q", err, c.want)
		}
	}
}
