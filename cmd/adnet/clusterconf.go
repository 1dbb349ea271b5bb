package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"adnet/internal/cluster"
	"adnet/internal/config"
	"adnet/nginx"
)

// defaultFrontPrefix is where the front's standalone nginx keeps its pid, logs and temp
// files unless --front-prefix says otherwise.
const defaultFrontPrefix = "/var/lib/adnet-front"

// runClusterConf writes every host's adnet.toml and the front's nginx configuration from a
// cluster file: DIR/<host>/adnet.toml, DIR/front/nginx.conf (standalone) and
// DIR/front/site.conf (for a system nginx), and keeps the secrets every host must share in
// DIR/secrets (0700): tracking.key and ip-hash.key (0600), made once and reused on every
// later run, never printed. Each host's file is loaded back with the same checks `adnet
// serve` applies, so a cluster file that yields a bad host config fails here, naming the
// host, rather than on the host at start. It ends with where each file goes on which host.
func runClusterConf(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("adnet cluster-conf", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("cluster", "cluster.toml", "the cluster file (TOML: [cluster], [front], [[hosts]], [nats], [mysql], [host_defaults])")
	out := fs.String("out", "", "directory to write <host>/adnet.toml, front/nginx.conf, front/site.conf and secrets/ (the shared keys, reused when there) into (required)")
	prefix := fs.String("front-prefix", defaultFrontPrefix, "the front's standalone nginx.conf: directory for its pid, logs and temp files")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return config.Problems{"--out: required, the directory to write the configurations into"}
	}
	cf, err := cluster.Load(*path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	sec, err := ensureClusterSecrets(filepath.Join(*out, secretsDirName))
	if err != nil {
		return err
	}
	var probs config.Problems
	files := map[string][]byte{}
	var order []string
	for _, h := range cf.Hosts {
		b, err := cf.HostConfig(h, cluster.Secrets{IPHashKeyID: sec.ipHashKeyID})
		if err != nil {
			return err
		}
		name := filepath.Join(*out, h.Name, "adnet.toml")
		files[name], order = b, append(order, name)
	}
	fp := cf.FrontParams()
	var site, main bytes.Buffer
	if err := nginx.RenderFront(&site, fp); err != nil {
		return fmt.Errorf("front: %w", err)
	}
	fp.TempDir = *prefix
	if err := nginx.RenderFrontMain(&main, fp); err != nil {
		return fmt.Errorf("front: %w", err)
	}
	files[filepath.Join(*out, "front", "nginx.conf")] = main.Bytes()
	files[filepath.Join(*out, "front", "site.conf")] = site.Bytes()
	order = append(order, filepath.Join(*out, "front", "nginx.conf"), filepath.Join(*out, "front", "site.conf"))

	hosts := map[string]*config.Config{}
	for _, name := range order {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(name, files[name], 0o644); err != nil {
			return err
		}
		if filepath.Base(name) == "adnet.toml" {
			if c, err := config.Load(name); err == nil {
				hosts[filepath.Base(filepath.Dir(name))] = c
			} else {
				var hp config.Problems
				if errors.As(err, &hp) {
					for _, p := range hp {
						probs = append(probs, fmt.Sprintf("host %s: %s (fix it in [host_defaults] of %s)", filepath.Base(filepath.Dir(name)), p, *path))
					}
				} else {
					return err
				}
			}
		}
		fmt.Fprintf(stdout, "wrote %s\n", name)
	}
	sec.printSecrets(stdout)
	if len(probs) > 0 {
		return probs
	}
	sec.printInstall(stdout, cf, *out, hosts)
	return nil
}

// renderFrontConf is `adnet nginx-conf --front`: the front's site, or with --standalone a
// complete nginx.conf whose pid, logs and temp files live in prefix.
func renderFrontConf(stdout io.Writer, clusterPath string, standalone bool, prefix string) error {
	cf, err := cluster.Load(clusterPath)
	if err != nil {
		return err
	}
	p := cf.FrontParams()
	if !standalone {
		return nginx.RenderFront(stdout, p)
	}
	if prefix == "" {
		prefix = defaultFrontPrefix
	}
	if prefix, err = filepath.Abs(prefix); err != nil {
		return err
	}
	p.TempDir = prefix
	return nginx.RenderFrontMain(stdout, p)
}
