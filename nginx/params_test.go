package nginx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"adnet/models"
)

// validParams is a complete, valid set of site parameters.
func validParams() Params {
	return Params{
		Listen:         "127.0.0.1:8080",
		WorkerSockets:  []string{"/run/adnet/w0.sock", "/run/adnet/w1.sock"},
		RequestTimeout: 10 * time.Second,
		StaticDir:      "/srv/adnet/static",
		DemoDir:        "/srv/adnet/demo",
		StatusSocket:   "/run/adnet/status.sock",
	}
}

func TestValidateAcceptsValidParams(t *testing.T) {
	for name, p := range map[string]Params{
		"site": validParams(),
		"main": func() Params {
			p := validParams()
			p.TempDir, p.User, p.WorkerProcesses = "/tmp/adnet-nginx", "www-data www-data", "2"
			p.ErrorLog, p.AccessLog = "stderr", "/tmp/adnet-nginx/access.log"
			p.StatusAllow = []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"}
			p.GeoIP = GeoIP{Module: "/usr/lib/nginx/modules/ngx_http_geoip_module.so", CountryDB: "/usr/share/GeoIP/GeoIP.dat"}
			return p
		}(),
		"port only":      func() Params { p := validParams(); p.Listen = "8080"; return p }(),
		"ipv6 listen":    func() Params { p := validParams(); p.Listen = "[::1]:8080"; return p }(),
		"wildcard":       func() Params { p := validParams(); p.Listen = "*:80"; return p }(),
		"server names":   func() Params { p := validParams(); p.ServerName = "ads.example.com *.example.org"; return p }(),
		"no optional":    func() Params { p := validParams(); p.StaticDir, p.DemoDir, p.StatusSocket = "", "", ""; return p }(),
		"sub-second ok":  func() Params { p := validParams(); p.RequestTimeout = 1500 * time.Millisecond; return p }(),
		"trailing slash": func() Params { p := validParams(); p.StaticDir = "/srv/adnet/static/"; return p }(),
	} {
		if err := p.Validate(); err != nil {
			t.Errorf("%s: Validate() = %v, want nil", name, err)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	p := Params{
		Listen:            "127.0.0.1:99999",
		ServerName:        "bad;name",
		WorkerSockets:     []string{"relative.sock", "/run/a.sock", "/run/a.sock", "/run/" + strings.Repeat("x", 120)},
		Keepalive:         -1,
		ConnectTimeout:    time.Microsecond,
		NextUpstreamTries: -2,
		StaticDir:         "static",
		DemoDir:           "/srv/demo}",
		StatusSocket:      "/run/status.sock:/x",
		StatusAllow:       []string{"localhost"},
		GeoIP:             GeoIP{Module: "/m.so"},
		TempDir:           "tmp",
		PidFile:           "/run/x.pid\nuser root",
		User:              "a b c",
		WorkerProcesses:   "lots",
	}
	err := p.Validate()
	if code := models.ErrorCode(err); code != models.EINVALID {
		t.Fatalf("Validate() code = %q (%v), want %q", code, err, models.EINVALID)
	}
	msg := models.ErrorMessage(err)
	for _, want := range []string{
		"Listen:", "ServerName:", "WorkerSockets[0]:", "WorkerSockets[2]: duplicate of WorkerSockets[1]",
		"WorkerSockets[3]:", "Keepalive:", "RequestTimeout: required", "ConnectTimeout:",
		"NextUpstreamTries:", "StaticDir:", "DemoDir:", "StatusSocket:", "StatusAllow[0]:",
		"GeoIP:", "TempDir:", "PidFile:", "User:", "WorkerProcesses:",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("Validate() message lacks %q:\n%s", want, msg)
		}
	}
}

func TestValidateRejectsInjection(t *testing.T) {
	// Each value would end the directive it is in and add one of its own, or change how
	// nginx tokenizes the line.
	bad := []string{";", "{", "}", "\"", "'", "\n", "\r", "$", "#", "\\", " ", "\t", "\x00"}
	fields := map[string]func(p *Params, v string){
		"Listen":           func(p *Params, v string) { p.Listen = "127.0.0.1:80" + v },
		"ServerName":       func(p *Params, v string) { p.ServerName = "ads" + v + "x" },
		"WorkerSockets[1]": func(p *Params, v string) { p.WorkerSockets[1] = "/run/w" + v + ".sock" },
		"StaticDir":        func(p *Params, v string) { p.StaticDir = "/srv/s" + v + "x" },
		"DemoDir":          func(p *Params, v string) { p.DemoDir = "/srv/d" + v + "x" },
		"StatusSocket":     func(p *Params, v string) { p.StatusSocket = "/run/st" + v + ".sock" },
		"StatusAllow[0]":   func(p *Params, v string) { p.StatusAllow = []string{"127.0.0.1" + v} },
		"TempDir":          func(p *Params, v string) { p.TempDir = "/tmp/t" + v + "x" },
		"PidFile":          func(p *Params, v string) { p.PidFile = "/tmp/p" + v + "x" },
		"ErrorLog":         func(p *Params, v string) { p.ErrorLog = "/tmp/e" + v + "x" },
		"AccessLog":        func(p *Params, v string) { p.AccessLog = "/tmp/a" + v + "x" },
		"User":             func(p *Params, v string) { p.User = "www" + v + "x" },
		"GeoIP.Module":     func(p *Params, v string) { p.GeoIP = GeoIP{Module: "/m" + v + "x", CountryDB: "/g.dat"} },
		"GeoIP.CountryDB":  func(p *Params, v string) { p.GeoIP = GeoIP{Module: "/m.so", CountryDB: "/g" + v + "x"} },
		"WorkerProcesses":  func(p *Params, v string) { p.WorkerProcesses = "2" + v },
	}
	for field, set := range fields {
		for _, v := range bad {
			if field == "ServerName" && v == " " || field == "User" && v == " " {
				continue // a space separates names there; "ads x" and "www x" are valid
			}
			p := validParams()
			set(&p, v)
			err := p.Validate()
			if err == nil {
				t.Errorf("%s with %q: Validate() = nil, want an error", field, v)
				continue
			}
			if !strings.Contains(err.Error(), field+":") {
				t.Errorf("%s with %q: error does not name the field: %v", field, v, err)
			}
		}
	}
}

func TestValidateNeedsWorkerSockets(t *testing.T) {
	p := validParams()
	p.WorkerSockets = nil
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "WorkerSockets:") {
		t.Fatalf("Validate() = %v, want a WorkerSockets error", err)
	}
}

func TestDefaults(t *testing.T) {
	p := validParams()
	p.WorkerSockets = []string{"/a", "/b", "/c", "/d", "/e"}
	p.TempDir = "/tmp/x"
	d := p.withDefaults()
	if d.ServerName != "_" || d.WorkerProcesses != "auto" || d.ConnectTimeout != 2*time.Second {
		t.Errorf("defaults: ServerName %q WorkerProcesses %q ConnectTimeout %s", d.ServerName, d.WorkerProcesses, d.ConnectTimeout)
	}
	if d.Keepalive != 5*DefaultKeepalivePerSocket {
		t.Errorf("Keepalive default = %d, want %d", d.Keepalive, 5*DefaultKeepalivePerSocket)
	}
	if d.NextUpstreamTries != 3 {
		t.Errorf("NextUpstreamTries default with 5 sockets = %d, want 3", d.NextUpstreamTries)
	}
	if d.PidFile != "/tmp/x/nginx.pid" || d.ErrorLog != "/tmp/x/error.log" || d.AccessLog != "off" {
		t.Errorf("main defaults: PidFile %q ErrorLog %q AccessLog %q", d.PidFile, d.ErrorLog, d.AccessLog)
	}
	if strings.Join(d.StatusAllow, ",") != "127.0.0.1,::1" {
		t.Errorf("StatusAllow default = %v", d.StatusAllow)
	}
	p.WorkerSockets = p.WorkerSockets[:1]
	if d := p.withDefaults(); d.NextUpstreamTries != 1 {
		t.Errorf("NextUpstreamTries default with 1 socket = %d, want 1", d.NextUpstreamTries)
	}
	// Explicit values are kept.
	p.Keepalive, p.NextUpstreamTries, p.ConnectTimeout = 3, 7, time.Second
	if d := p.withDefaults(); d.Keepalive != 3 || d.NextUpstreamTries != 7 || d.ConnectTimeout != time.Second {
		t.Errorf("explicit values overridden: %+v", d)
	}
}

func TestDetectGeoIP(t *testing.T) {
	dir := t.TempDir()
	mods1, mods2 := filepath.Join(dir, "share"), filepath.Join(dir, "lib")
	geo := filepath.Join(dir, "GeoIP")
	for _, d := range []string{mods1, mods2, geo} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	touch := func(p string) {
		t.Helper()
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	modDirs := []string{mods1, mods2}
	dbs := []string{filepath.Join(geo, "GeoIP.dat"), filepath.Join(geo, "GeoIPv6.dat")}

	if g := detectGeoIP(modDirs, dbs); g != (GeoIP{}) || g.Present() {
		t.Fatalf("nothing installed: got %+v", g)
	}
	touch(filepath.Join(mods2, "ngx_http_geoip_module.so"))
	if g := detectGeoIP(modDirs, dbs); g != (GeoIP{}) {
		t.Fatalf("module without database: got %+v, want zero", g)
	}
	touch(dbs[1])
	g := detectGeoIP(modDirs, dbs)
	if !g.Present() || g.Module != filepath.Join(mods2, "ngx_http_geoip_module.so") || g.CountryDB != dbs[1] {
		t.Fatalf("module + IPv6 database: got %+v", g)
	}
	touch(dbs[0])
	if g := detectGeoIP(modDirs, dbs); g.CountryDB != dbs[0] {
		t.Fatalf("IPv4 database should be preferred: got %+v", g)
	}
	// A directory named like the module is not the module.
	if err := os.Remove(filepath.Join(mods2, "ngx_http_geoip_module.so")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(mods2, "ngx_http_geoip_module.so"), 0o755); err != nil {
		t.Fatal(err)
	}
	if g := detectGeoIP(modDirs, dbs); g != (GeoIP{}) {
		t.Fatalf("directory instead of module: got %+v, want zero", g)
	}
}

func TestNginxDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Second:         "5s",
		90 * time.Second:        "90s",
		1500 * time.Millisecond: "1500ms",
		time.Millisecond:        "1ms",
		0:                       "0s",
	} {
		if got := nginxDuration(d); got != want {
			t.Errorf("nginxDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
