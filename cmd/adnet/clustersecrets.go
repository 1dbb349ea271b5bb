package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"adnet/internal/aggregator"
	"adnet/internal/cluster"
	"adnet/internal/config"
	"adnet/internal/token"
	"adnet/models"
)

// The shared secrets of a cluster, in DIR/secrets of `adnet cluster-conf`: every app host
// must hold the same bytes.
const (
	secretsDirName  = "secrets"
	trackingKeyName = "tracking.key"           // tracking.key_file: a token signed by one host is checked by another
	ipHashKeyName   = aggregator.IPHashKeyFile // <data_dir>/ip-hash.key: click rows hash addresses alike whichever aggregator leads
)

// clusterSecrets is what ensureClusterSecrets found or made; never key material.
type clusterSecrets struct {
	dir         string
	created     []string // file names made by this run
	ipHashKeyID string
}

// ensureClusterSecrets makes dir (mode 0700) and in it every shared secret that is missing,
// with the generators a single host uses (`adnet keygen`'s token.GenerateKeyFile, the
// aggregator's LoadIPHashKey: crypto/rand, mode 0600, never overwriting). A secret already
// there is checked (format, mode 0600, owner) and kept as it is, never replaced: running
// cluster-conf again must not rotate keys the hosts already use. Errors name the file and the
// fix, never the key.
func ensureClusterSecrets(dir string) (*clusterSecrets, error) {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	if !fi.IsDir() {
		return nil, config.Problems{fmt.Sprintf("secrets: %s is not a directory", dir)}
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, config.Problems{fmt.Sprintf("secrets: %s has mode %04o, open to other users; run: chmod 700 %s", dir, perm, dir)}
	}
	s := &clusterSecrets{dir: dir}

	// The tracking key, in `adnet keygen`'s format; LoadKeys checks an existing one's mode,
	// owner and format.
	path := filepath.Join(dir, trackingKeyName)
	if err := token.GenerateKeyFile(path); err == nil {
		s.created = append(s.created, trackingKeyName)
	} else if models.ErrorCode(err) != models.ECONFLICT { // ECONFLICT: there already; checked below
		return nil, fmt.Errorf("secrets: %w", err)
	}
	if _, err := token.LoadKeys(path); err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}

	// The IP hash key, in the aggregator's format: LoadIPHashKey creates it in dir as it would
	// in data_dir, or reads (and checks) the one there.
	path = filepath.Join(dir, ipHashKeyName)
	_, statErr := os.Lstat(path)
	if statErr == nil {
		if err := privateFile(path); err != nil {
			return nil, err
		}
	}
	key, err := aggregator.LoadIPHashKey(dir)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		s.created = append(s.created, ipHashKeyName)
	}
	s.ipHashKeyID = aggregator.IPHashKeyID(key)
	clear(key)
	return s, nil
}

// privateFile checks that path is a regular file that only its owner may read or write.
func privateFile(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("secrets: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return config.Problems{fmt.Sprintf("secrets: %s is not a regular file", path)}
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return config.Problems{fmt.Sprintf("secrets: %s has mode %04o, open to other users; run: chmod 600 %s", path, perm, path)}
	}
	return nil
}

// printSecrets says which secrets were made and which kept.
func (s *clusterSecrets) printSecrets(w io.Writer) {
	for _, name := range []string{trackingKeyName, ipHashKeyName} {
		what := "kept (already there; cluster-conf never replaces a secret)"
		for _, c := range s.created {
			if c == name {
				what = "created (mode 0600)"
			}
		}
		extra := ""
		if name == ipHashKeyName {
			extra = ", key id " + s.ipHashKeyID
		}
		fmt.Fprintf(w, "%s %s%s\n", what, filepath.Join(s.dir, name), extra)
	}
}

// printInstall prints where every generated file goes on which host, with its mode. hosts
// are the app hosts' loaded configurations (nil for one that failed to load).
func (s *clusterSecrets) printInstall(w io.Writer, cf *cluster.File, out string, hosts map[string]*config.Config) {
	// where names a host path: as written when absolute, else relative to the host's adnet.toml.
	where := func(raw string) string {
		if filepath.IsAbs(raw) {
			return raw
		}
		return raw + " (relative to the directory of the host's adnet.toml)"
	}
	dataDir := cf.DataDir()
	if dataDir == "" {
		dataDir = config.Defaults().DataDir
	}
	keyFile := cf.TrackingKeyFile()
	fmt.Fprintf(w, "\nInstall: copy %s to every app host at the same path over a private channel (scp -rp; it\n"+
		"holds the keys), then on each host, as root, before adnet's first start there. The secrets are the\n"+
		"same bytes on every host, mode 0600, owned by the user adnet runs as (adnet: deploy/adnet.service).\n"+
		"A host whose aggregator finds no ip-hash.key, or another one, refuses to aggregate\n"+
		"(stats.ip_hash_key_id = %q).\n", out, s.ipHashKeyID)
	for _, h := range cf.Hosts {
		fmt.Fprintf(w, "  host %s (%s):\n", h.Name, h.Address)
		fmt.Fprintf(w, "    %s -> the host's config file (adnet serve --config; /etc/adnet/adnet.toml in deploy/), mode 0640\n",
			filepath.Join(out, h.Name, "adnet.toml"))
		kf, dd := where(keyFile), where(dataDir)
		if c := hosts[h.Name]; c != nil && filepath.IsAbs(keyFile) && filepath.IsAbs(dataDir) {
			kf, dd = c.Tracking.KeyFile, c.DataDir
		}
		fmt.Fprintf(w, "    install -D -o adnet -g adnet -m 0600 %s %s   # tracking.key_file\n", filepath.Join(s.dir, trackingKeyName), kf)
		fmt.Fprintf(w, "    install -d -o adnet -g adnet -m 0700 %s   # data_dir\n", dd)
		fmt.Fprintf(w, "    install -o adnet -g adnet -m 0600 %s %s\n", filepath.Join(s.dir, ipHashKeyName), filepath.Join(dd, ipHashKeyName))
	}
	fmt.Fprintf(w, "  front (%s): %s (a standalone nginx -c) or %s (a system nginx's site), mode 0644\n",
		cf.Front.Listen, filepath.Join(out, "front", "nginx.conf"), filepath.Join(out, "front", "site.conf"))
	var own []string
	for _, p := range []struct{ key, path string }{{"mysql.dsn_file", cf.MySQL.DSNFile}, {"mysql.replica_dsn_file", cf.MySQL.ReplicaDSNFile}} {
		if p.path != "" {
			own = append(own, p.path+" ("+p.key+")")
		}
	}
	for _, h := range cf.Hosts {
		if c := hosts[h.Name]; c != nil && c.NATS.CredsFile != "" {
			own = append(own, c.NATS.CredsFile+" (nats.creds_file)")
			break
		}
	}
	fmt.Fprintf(w, "Not generated, yours to provide on every app host, mode 0600, owner adnet: %s.\n", strings.Join(own, ", "))
	fmt.Fprintf(w, "Keep %s (private, backed up) where cluster-conf runs: the next run reuses it; without it a new\n"+
		"run makes keys no host has. Delete the copies on the hosts once installed.\n", s.dir)
	fmt.Fprintf(w, "Check: every host's /status shows aggregator.ip_hash_key_id = %q.\n", s.ipHashKeyID)
}
