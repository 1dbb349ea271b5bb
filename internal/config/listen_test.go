package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func loadText(t *testing.T, text string) (*Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "adnet.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return Load(path)
}

func TestListenTCP(t *testing.T) {
	c, err := loadText(t, "workers = 3\nlisten = \"tcp://10.0.0.2:9000\"\n[fcgi]\nallow_peers = [\"10.0.0.1\", \"10.0.0.0/24\"]\n[pools.console]\nworkers = 2\nlisten = \"tcp://10.0.0.2:9100\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.PoolAddresses("worker"), " "); got != "10.0.0.2:9000 10.0.0.2:9001 10.0.0.2:9002" {
		t.Errorf("worker addresses %s", got)
	}
	if got := strings.Join(c.ConsoleSockets(), " "); got != "10.0.0.2:9100 10.0.0.2:9101" {
		t.Errorf("console addresses %s", got)
	}
	c, err = loadText(t, "workers = 2\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.PoolAddress("worker", 2); got != filepath.Join(c.SocketDir, "worker-2.sock") {
		t.Errorf("unix default %s", got)
	}
}

func TestClusterSettingsProblems(t *testing.T) {
	for text, want := range map[string]string{
		"listen = \"tcp://10.0.0.2:9000\"\n":                                                   "fcgi.allow_peers is empty",
		"listen = \"10.0.0.2:9000\"\n":                                                         "listen = \"10.0.0.2:9000\": must be",
		"listen = \"tcp://0.0.0.0:9000\"\n[fcgi]\nallow_peers=[\"10.0.0.1\"]\n":                "not an address nginx can connect to",
		"listen = \"tcp://host:9000\"\n[fcgi]\nallow_peers=[\"10.0.0.1\"]\n":                   "not IP:PORT",
		"workers = 4\nlisten = \"tcp://10.0.0.2:65534\"\n[fcgi]\nallow_peers=[\"10.0.0.1\"]\n": "beyond 65535",
		"workers = 4\nlisten = \"tcp://10.0.0.2:9000\"\n[fcgi]\nallow_peers=[\"10.0.0.1\"]\n[pools.console]\nlisten = \"tcp://10.0.0.2:9002\"\n": "port ranges overlap",
		"[fcgi]\nallow_peers = [\"nope\"]\n":                                         "fcgi.allow_peers: \"nope\"",
		"[events]\ntransport = \"jetstream\"\n":                                      "needs nats.servers",
		"[events]\ntransport = \"kafka\"\n":                                          "events.transport = \"kafka\"",
		"[events]\ntransport = \"jetstream\"\n[nats]\nservers=[\"nats://a:4222\"]\n": "needs nats.host",
		"[nats]\nreplicas = 7\n":                                                     "nats.replicas = 7",
		"[nats]\nservers = [\"a:4222\"]\n":                                           "nats.servers: \"a:4222\"",
		"[mysql]\ndsn_file = \"a\"\npassword_file = \"b\"\n":                         "remove password_file",
	} {
		_, err := loadText(t, text)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want a problem containing %q", text, err, want)
		}
	}
	c, err := loadText(t, "[events]\ntransport = \"jetstream\"\n[nats]\nservers = [\"nats://10.0.0.11:4222\"]\nhost = \"app1\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.NATS.Stream != "ADNET_EVENTS" || c.NATS.Replicas != 3 || c.Events.Transport != TransportJetStream {
		t.Errorf("nats defaults: %+v %q", c.NATS, c.Events.Transport)
	}
}
