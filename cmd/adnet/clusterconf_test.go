package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"adnet/internal/config"
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
