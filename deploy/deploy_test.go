// Package deploy_test keeps the deployment files in this directory consistent with each
// other and with adnet: the example configuration loads, the nginx site is what adnet
// renders from it and passes `nginx -t`, and the systemd unit and the logrotate file name the
// paths and signals the configuration and the master use.
package deploy_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"adnet/internal/config"
	"adnet/nginx"
	"adnet/nginx/nginxtest"
)

// debianGeoIP is where Debian's libnginx-mod-http-geoip and geoip-database put the module
// and the country database; deploy/README.md installs both.
var debianGeoIP = nginx.GeoIP{Module: "/usr/share/nginx/modules/ngx_http_geoip_module.so", CountryDB: "/usr/share/GeoIP/GeoIP.dat"}

func loadConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Load("adnet.toml")
	if err != nil {
		t.Fatalf("deploy/adnet.toml: %v", err)
	}
	return cfg
}

// siteParams maps the configuration onto the site template as `adnet nginx-conf` does
// (cmd/adnet's nginxParams), with Debian's GeoIP paths instead of what this machine has, so
// the example does not depend on where it was generated.
func siteParams(cfg *config.Config, geo nginx.GeoIP) nginx.Params {
	sockets := make([]string, cfg.Workers)
	for i := range sockets {
		sockets[i] = cfg.WorkerSocket(i + 1)
	}
	return nginx.Params{
		Listen: cfg.Nginx.Listen, ServerName: cfg.Nginx.ServerName, WorkerSockets: sockets,
		Keepalive: cfg.Nginx.Keepalive, RequestTimeout: cfg.RequestTimeout.D(), ConnectTimeout: cfg.Nginx.ConnectTimeout.D(),
		KeepaliveTimeout:  nginx.KeepaliveTimeout(cfg.IdleTimeout.D(), cfg.ShutdownTimeout.D()),
		NextUpstreamTries: cfg.Nginx.NextUpstreamTries, StaticDir: cfg.Nginx.StaticDir, DemoDir: cfg.Nginx.DemoDir,
		StatusSocket: cfg.StatusSocket(), StatusAllow: cfg.Nginx.StatusAllow, GeoIP: geo, User: cfg.Nginx.User,
		ClientConnections: cfg.Nginx.ClientConnections, UploadsDir: filepath.Join(cfg.DataDir, "uploads"),
		ConsoleSockets: cfg.ConsoleSockets(), TrustedProxies: cfg.Fraud.TrustedProxies,
	}
}

func TestConfig(t *testing.T) {
	cfg := loadConfig(t)
	for _, c := range []struct{ name, got, want string }{
		{"socket_dir", cfg.SocketDir, "/run/adnet"},
		{"pid_file", cfg.PidFile, "/run/adnet/adnet.pid"},
		{"data_dir", cfg.DataDir, "/var/lib/adnet"},
		{"log_file", cfg.LogFile, "/var/log/adnet/adnet.log"},
		{"tracking.key_file", cfg.Tracking.KeyFile, "/etc/adnet/keys/tracking.key"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q (the unit, logrotate file and README assume it)", c.name, c.got, c.want)
		}
	}
	if cfg.DebugEndpoints {
		t.Errorf("debug_endpoints must be off in production")
	}
}

// TestNginxSite: deploy/nginx/adnet.conf is exactly what adnet renders from
// deploy/adnet.toml (ADNET_UPDATE_GOLDEN=1 rewrites it), and real nginx accepts it.
func TestNginxSite(t *testing.T) {
	cfg := loadConfig(t)
	var site bytes.Buffer
	if err := nginx.RenderSite(&site, siteParams(cfg, debianGeoIP)); err != nil {
		t.Fatal(err)
	}
	const golden = "nginx/adnet.conf"
	if os.Getenv("ADNET_UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, site.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(site.Bytes(), want) {
		t.Errorf("%s differs from what adnet renders from adnet.toml; run ADNET_UPDATE_GOLDEN=1 go test ./deploy/", golden)
	}

	// nginx -t on a main configuration that includes the site the way Debian's does.
	geo := debianGeoIP
	if _, err := os.Stat(geo.Module); err != nil {
		geo = nginx.GeoIP{} // this machine lacks the module: check the rest of the site
	}
	site.Reset()
	if err := nginx.RenderSite(&site, siteParams(cfg, geo)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "adnet.conf"), site.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	main := "pid " + filepath.Join(dir, "nginx.pid") + ";\nerror_log " + filepath.Join(dir, "error.log") + ";\n"
	if geo.Module != "" {
		main += "load_module " + geo.Module + ";\n"
	}
	main += "events {}\nhttp {\n  include " + filepath.Join(dir, "adnet.conf") + ";\n}\n"
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(nginxtest.Binary(t), "-t", "-q", "-c", conf, "-p", dir+"/", "-e", filepath.Join(dir, "error.log")).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t rejects the site: %v\n%s", err, out)
	}
}

// directives reads a systemd unit's Key=Value lines (the last one wins, as in systemd).
func directives(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("%s: not Key=Value: %q", path, line)
			continue
		}
		m[k] = v
	}
	return m
}

func TestSystemdUnit(t *testing.T) {
	cfg := loadConfig(t)
	d := directives(t, "adnet.service")
	for k, want := range map[string]string{
		"ExecStart":            "/usr/local/bin/adnet serve --config /etc/adnet/adnet.toml",
		"ExecReload":           "/bin/kill -HUP $MAINPID",
		"KillMode":             "mixed",
		"KillSignal":           "SIGTERM",
		"User":                 "adnet",
		"RuntimeDirectory":     filepath.Base(cfg.SocketDir),
		"StateDirectory":       filepath.Base(cfg.DataDir),
		"LogsDirectory":        filepath.Base(filepath.Dir(cfg.LogFile)),
		"ProtectSystem":        "strict",
		"NoNewPrivileges":      "yes",
		"UMask":                "0027",
		"Restart":              "on-failure",
		"RuntimeDirectoryMode": "0750",
	} {
		if d[k] != want {
			t.Errorf("%s=%q, want %q", k, d[k], want)
		}
	}
	// RuntimeDirectory= is under /run, StateDirectory= under /var/lib, LogsDirectory= under
	// /var/log: the configuration must point there.
	if filepath.Dir(cfg.SocketDir) != "/run" || filepath.Dir(cfg.DataDir) != "/var/lib" || filepath.Dir(filepath.Dir(cfg.LogFile)) != "/var/log" {
		t.Errorf("the configuration's directories are not the ones systemd creates")
	}
	// The stop timeout leaves the workers shutdown_timeout to drain, plus the master's margin.
	stop, err := time.ParseDuration(d["TimeoutStopSec"])
	if err != nil || stop < cfg.ShutdownTimeout.D()+5*time.Second {
		t.Errorf("TimeoutStopSec=%s is not above shutdown_timeout %s + 5s", d["TimeoutStopSec"], cfg.ShutdownTimeout.D())
	}

	// systemd's own check, with ExecStart pointing at a binary that exists here.
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Logf("systemd-analyze not installed: the unit's syntax is not verified")
		return
	}
	b, _ := os.ReadFile("adnet.service")
	unit := filepath.Join(t.TempDir(), "adnet.service")
	if err := os.WriteFile(unit, bytes.ReplaceAll(b, []byte("/usr/local/bin/adnet"), []byte("/bin/true")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", unit).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestLogrotate(t *testing.T) {
	cfg := loadConfig(t)
	b, err := os.ReadFile("adnet.logrotate")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			lines = append(lines, l)
		}
	}
	s := strings.Join(lines, "\n")
	if m, _ := filepath.Match(strings.Fields(s[strings.Index(s, "/var/log"):])[0], cfg.LogFile); !m {
		t.Errorf("the logrotate pattern does not cover log_file %s", cfg.LogFile)
	}
	// USR1 to the master's pid file: it reopens its log and forwards the signal to the workers.
	if !regexp.MustCompile(`kill -USR1 "\$\(cat ` + regexp.QuoteMeta(cfg.PidFile) + `\)"`).MatchString(s) {
		t.Errorf("postrotate does not send USR1 to the pid in %s", cfg.PidFile)
	}
	if strings.Contains(s, "copytruncate") {
		t.Errorf("copytruncate loses lines; adnet reopens its log on USR1")
	}
}
