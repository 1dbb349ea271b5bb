package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"adnet/internal/aggregator"
	"adnet/internal/config"
	"adnet/internal/token"
	"adnet/nginx/nginxtest"
)

// TestClusterConf: `adnet cluster-conf` on deploy/cluster.toml writes and names every
// host's adnet.toml (each loads) and the front's nginx.conf, which the real nginx accepts;
// `adnet nginx-conf --front` prints the same front.
func TestClusterConf(t *testing.T) {
	// The example front listens on 203.0.113.10:80, which this machine does not have, and
	// nginx -t binds its listen sockets: the test's copy listens on a free loopback port.
	example, err := os.ReadFile("../../deploy/cluster.toml")
	if err != nil {
		t.Fatal(err)
	}
	clusterFile := filepath.Join(t.TempDir(), "cluster.toml")
	os.WriteFile(clusterFile, bytes.Replace(example, []byte(`"203.0.113.10:80"`), []byte(`"`+nginxtest.FreeAddr(t)+`"`), 1), 0o644)
	out := t.TempDir()
	prefix := filepath.Join(out, "front-prefix")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"cluster-conf", "--cluster", clusterFile, "--out", out,
		"--front-prefix", prefix}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, name := range []string{"app1/adnet.toml", "app2/adnet.toml", "app3/adnet.toml", "front/nginx.conf", "front/site.conf"} {
		path := filepath.Join(out, name)
		if !strings.Contains(stdout.String(), "wrote "+path+"\n") {
			t.Errorf("output does not name %s:\n%s", path, stdout.String())
		}
		if strings.HasSuffix(name, ".toml") {
			if _, err := config.Load(path); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
	os.MkdirAll(prefix, 0o755)
	conf := filepath.Join(out, "front", "nginx.conf")
	if b, err := exec.Command(nginxtest.Binary(t), "-t", "-c", conf, "-p", prefix+"/", "-e", filepath.Join(prefix, "error.log")).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t %s: %v\n%s", conf, err, b)
	}

	stdout.Reset()
	if code := run(context.Background(), []string{"nginx-conf", "--front", "--cluster", clusterFile}, &stdout, &stderr); code != 0 {
		t.Fatalf("nginx-conf --front: exit %d: %s", code, stderr.String())
	}
	site, _ := os.ReadFile(filepath.Join(out, "front", "site.conf"))
	if stdout.String() != string(site) {
		t.Error("nginx-conf --front differs from cluster-conf's front/site.conf")
	}
}

// TestClusterConfBadHostDefaults: a [host_defaults] that makes a host's adnet.toml invalid
// is reported naming the host, the setting and where to fix it.
func TestClusterConfBadHostDefaults(t *testing.T) {
	b, err := os.ReadFile("../../deploy/cluster.toml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cluster.toml")
	os.WriteFile(path, bytes.Replace(b, []byte("workers = 4"), []byte("workers = 0"), 1), 0o644)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"cluster-conf", "--cluster", path, "--out", t.TempDir()}, &stdout, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "host app1: workers = 0") || !strings.Contains(stderr.String(), "[host_defaults]") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
}

// TestClusterConfSecrets: cluster-conf keeps the shared secrets in DIR/secrets (0700, files
// 0600, in the formats a single host makes them); a second run keeps the same bytes and says
// so; every host's adnet.toml names the tracking key's install path and the ip-hash.key's id;
// the install instructions name every host's destinations; no key appears in the output or
// the host files; a secret with a loose mode or a damaged one stops the run and is kept as it is.
func TestClusterConfSecrets(t *testing.T) {
	out := t.TempDir()
	conf := func() (string, string, int) {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"cluster-conf", "--cluster", "../../deploy/cluster.toml", "--out", out}, &stdout, &stderr)
		return stdout.String(), stderr.String(), code
	}
	stdout1, stderr1, code := conf()
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr1)
	}
	dir := filepath.Join(out, "secrets")
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("%s: %v %v", dir, fi, err)
	}
	read := func() (tracking, ipHash []byte) {
		for _, name := range []string{"tracking.key", "ip-hash.key"} {
			path := filepath.Join(dir, name)
			fi, err := os.Stat(path)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("%s: %v %v", path, fi, err)
			}
			b, _ := os.ReadFile(path)
			if name == "tracking.key" {
				tracking = b
			} else {
				ipHash = b
			}
		}
		return
	}
	tracking, ipHash := read()
	if _, err := token.LoadKeys(filepath.Join(dir, "tracking.key")); err != nil {
		t.Fatalf("tracking.key is not adnet keygen's format: %v", err)
	}
	key, err := aggregator.LoadSharedIPHashKey(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	id := aggregator.IPHashKeyID(key)
	for _, want := range []string{"created (mode 0600) " + filepath.Join(dir, "tracking.key") + "\n",
		"created (mode 0600) " + filepath.Join(dir, "ip-hash.key") + ", key id " + id + "\n",
		"install -D -o adnet -g adnet -m 0600 " + filepath.Join(dir, "tracking.key") + " /etc/adnet/keys/tracking.key",
		"install -o adnet -g adnet -m 0600 " + filepath.Join(dir, "ip-hash.key") + " /var/lib/adnet/ip-hash.key\n",
		"host app3 (10.0.0.4):", "/etc/adnet/mysql-primary.dsn (mysql.dsn_file)"} {
		if !strings.Contains(stdout1, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout1)
		}
	}
	for _, h := range []string{"app1", "app2", "app3"} {
		c, err := config.Load(filepath.Join(out, h, "adnet.toml"))
		if err != nil {
			t.Fatal(err)
		}
		if c.Tracking.KeyFile != "/etc/adnet/keys/tracking.key" || c.Stats.IPHashKeyID != id {
			t.Errorf("%s: tracking.key_file %q, stats.ip_hash_key_id %q (want %q)", h, c.Tracking.KeyFile, c.Stats.IPHashKeyID, id)
		}
	}

	stdout2, stderr2, code := conf()
	if code != 0 {
		t.Fatalf("second run: exit %d: %s", code, stderr2)
	}
	if t2, i2 := read(); !bytes.Equal(t2, tracking) || !bytes.Equal(i2, ipHash) {
		t.Fatal("the second run replaced a secret")
	}
	if !strings.Contains(stdout2, "kept (already there; cluster-conf never replaces a secret) "+filepath.Join(dir, "ip-hash.key")) {
		t.Errorf("second run does not say it kept the keys:\n%s", stdout2)
	}

	// No key material anywhere it could leak: the output of both runs, the host files.
	var secrets []string
	for _, l := range strings.Split(string(tracking)+string(ipHash), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			secrets = append(secrets, l, l[:12])
		}
	}
	if len(secrets) != 4 {
		t.Fatalf("key lines: %d", len(secrets))
	}
	host, _ := os.ReadFile(filepath.Join(out, "app1", "adnet.toml"))
	for _, s := range secrets {
		for what, text := range map[string]string{"stdout": stdout1 + stdout2, "stderr": stderr1 + stderr2, "app1/adnet.toml": string(host)} {
			if strings.Contains(text, s) {
				t.Errorf("%s shows key material", what)
			}
		}
	}

	// A secret open to others, or damaged, stops the run; it is not replaced.
	os.Chmod(filepath.Join(dir, "ip-hash.key"), 0o644)
	if _, stderr, code := conf(); code == 0 || !strings.Contains(stderr, "chmod 600") {
		t.Errorf("ip-hash.key mode 0644: exit %d, %s", code, stderr)
	}
	os.Chmod(filepath.Join(dir, "ip-hash.key"), 0o600)
	os.WriteFile(filepath.Join(dir, "tracking.key"), []byte("not base64!\n"), 0o600)
	if _, stderr, code := conf(); code == 0 || !strings.Contains(stderr, "tracking.key") {
		t.Errorf("damaged tracking.key: exit %d, %s", code, stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "tracking.key")); string(b) != "not base64!\n" {
		t.Error("the damaged tracking.key was replaced")
	}
	if _, i2 := read(); !bytes.Equal(i2, ipHash) {
		t.Error("ip-hash.key changed")
	}
}

// TestAggregateRefusesAnotherIPHashKey: a cluster host's aggregator (stats.ip_hash_key_id
// set, as cluster-conf writes it) whose data_dir lacks the cluster's ip-hash.key, or holds
// another one, exits naming the fix before it opens the database, and creates no key.
func TestAggregateRefusesAnotherIPHashKey(t *testing.T) {
	secrets := t.TempDir()
	key, err := aggregator.LoadIPHashKey(secrets)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "adnet.toml")
	os.WriteFile(conf, []byte("data_dir = \"data\"\n[stats]\nip_hash_key_id = \""+aggregator.IPHashKeyID(key)+"\"\n"), 0o644)
	aggregate := func() (string, int) {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"aggregate", "--config", conf}, &stdout, &stderr)
		return stderr.String(), code
	}
	if stderr, code := aggregate(); code == 0 || !strings.Contains(stderr, "ip-hash.key is missing") {
		t.Fatalf("no key: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "ip-hash.key")); !os.IsNotExist(err) {
		t.Fatalf("the aggregator made a key of its own: %v", err)
	}
	if _, err := aggregator.LoadIPHashKey(filepath.Join(dir, "data")); err != nil { // another key
		t.Fatal(err)
	}
	if stderr, code := aggregate(); code == 0 || !strings.Contains(stderr, "differs from the cluster's") {
		t.Fatalf("another key: exit %d, %s", code, stderr)
	}
}
