package main

import (
	"context"
	"io"
	"path/filepath"

	"adnet/internal/config"
	"adnet/nginx"
)

// runNginxConf prints the nginx configuration for the configured workers: by default the site
// (upstream + server blocks) to drop into /etc/nginx/sites-available; with --standalone a
// complete nginx.conf for a private instance whose pid, logs and temp files live in --prefix.
// With --front it prints the front of a cluster instead (see renderFrontConf).
func runNginxConf(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("nginx-conf", stderr)
	standalone := fs.Bool("standalone", false, "print a complete nginx.conf (for `nginx -c FILE -p PREFIX`) instead of the site only")
	prefix := fs.String("prefix", "", "standalone: directory for nginx's pid, logs and temp files (default: nginx/ beside the config file; "+defaultFrontPrefix+" with --front)")
	front := fs.Bool("front", false, "print the front nginx of a cluster (proxying to the app hosts) from --cluster instead of an app host's site")
	clusterPath := fs.String("cluster", "cluster.toml", "with --front: the cluster file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *front {
		return renderFrontConf(stdout, *clusterPath, *standalone, *prefix)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	p := nginxParams(cfg)
	if !*standalone {
		return nginx.RenderSite(stdout, p)
	}
	if *prefix == "" {
		*prefix = filepath.Join(filepath.Dir(cfg.Path), "nginx")
	}
	if *prefix, err = filepath.Abs(*prefix); err != nil {
		return err
	}
	p.TempDir = *prefix
	p.ErrorLog = filepath.Join(*prefix, "error.log")
	p.AccessLog = "off"
	p.PidFile = filepath.Join(*prefix, "nginx.pid")
	return nginx.RenderMain(stdout, p)
}

// nginxParams maps adnet's configuration onto the nginx templates.
func nginxParams(cfg *config.Config) nginx.Params {
	sockets := cfg.PoolAddresses("worker") // socket paths, or IP:PORT with a TCP listen
	return nginx.Params{
		Listen:            cfg.Nginx.Listen,
		ServerName:        cfg.Nginx.ServerName,
		WorkerSockets:     sockets,
		Keepalive:         cfg.Nginx.Keepalive,
		KeepaliveTimeout:  nginx.KeepaliveTimeout(cfg.IdleTimeout.D(), cfg.ShutdownTimeout.D()),
		RequestTimeout:    cfg.RequestTimeout.D(),
		ConnectTimeout:    cfg.Nginx.ConnectTimeout.D(),
		NextUpstreamTries: cfg.Nginx.NextUpstreamTries,
		StaticDir:         cfg.Nginx.StaticDir,
		UploadsDir:        filepath.Join(cfg.DataDir, "uploads"),
		ConsoleSockets:    cfg.ConsoleSockets(),
		TrustedProxies:    cfg.Fraud.TrustedProxies,
		DemoDir:           cfg.Nginx.DemoDir,
		StatusSocket:      cfg.StatusSocket(),
		StatusAllow:       cfg.Nginx.StatusAllow,
		GeoIP:             nginx.DetectGeoIP(),
		User:              cfg.Nginx.User,
		ClientConnections: cfg.Nginx.ClientConnections,
	}
}
