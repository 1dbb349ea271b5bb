#!/usr/bin/env bash
# `make run`: the whole topology on 127.0.0.1:8080 — a private MariaDB under ./var/mysql, the
# adnet master with its FastCGI workers, and a private nginx — with demo data. Ctrl-C stops
# everything. A second run reuses ./var and its data. Nothing is written outside ./var except
# the packages installed by scripts/install-deps.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
var="$root/var"
adnet="$root/bin/adnet"
conf="$var/adnet.toml"

scripts/install-deps.sh run
mkdir -p "$var/nginx" "$var/log"

# One instance at a time: a second one would find the port, the pid file and the database
# taken, and its own "running" message would describe the first.
if curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:8080/ping 2>/dev/null; then
  echo "adnet: something already answers on 127.0.0.1:8080 (another \`make run\`?); stop it first" >&2
  exit 1
fi

if [[ ! -f $conf ]]; then
  cat >"$conf" <<'TOML'
# Configuration of the private development instance started by `make run`.
# Paths are relative to this file (./var). See adnet.example.toml for every setting.
log_file = "log/adnet.log"
workers = 2
# The standalone nginx's workers run as the user who starts `make run` (the rendered config's
# `user` directive), so the sockets need no access for anyone else, wherever the checkout
# is (root's 0700 home included). Production: adnet:adnet 0660, nginx in the adnet group
# (deploy/README.md).
socket_mode = "0600"

[nginx]
listen = "127.0.0.1:8080"
static_dir = "../static"
demo_dir = "demo"

[mysql]
dsn = "root@unix(mysql/mysqld.sock)/adnet"
TOML
fi

# check_open_files raises this shell's soft open-file limit to its hard limit (adnet and nginx
# inherit it) and warns when the hard limit is below the worker_rlimit_nofile the rendered
# nginx.conf asks for: nginx's setrlimit() then fails ("Operation not permitted" in its error
# log) and it holds fewer client connections than nginx.client_connections says.
check_open_files() {
  local need hard
  need=$(sed -n 's/^worker_rlimit_nofile \([0-9]*\);$/\1/p' "$1")
  hard=$(ulimit -Hn)
  ulimit -Sn "$hard" 2>/dev/null || true
  [[ -n $need && $hard != unlimited ]] || return 0
  if (( hard < need )) && ! (ulimit -Hn "$need") 2>/dev/null; then
    echo "adnet: warning: nginx wants $need open files (worker_rlimit_nofile, from nginx.client_connections)" >&2
    echo "adnet: but the hard limit here is $hard, so it holds about $(( (hard - 512) / 2 )) client connections." >&2
    echo "adnet: raise it (as root: ulimit -Hn $need; a systemd unit: LimitNOFILE=$need;" >&2
    echo "adnet: /etc/security/limits.conf: nofile) or lower nginx.client_connections in $conf." >&2
  fi
}

pids=()
mariadb_started=0
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "adnet: stopping…"
  if [[ -f $var/nginx/nginx.pid ]]; then
    nginx -c "$var/nginx/nginx.conf" -p "$var/nginx" -s quit 2>/dev/null || true
  fi
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ $mariadb_started -eq 1 ]]; then scripts/mariadb.sh stop "$var/mysql" || true; fi
  echo "adnet: stopped."
}
trap cleanup INT TERM EXIT

# A private MariaDB unless mysql.dsn points at another server.
if grep -q '^dsn = "root@unix(mysql/mysqld.sock)/adnet"' "$conf"; then
  scripts/mariadb.sh start "$var/mysql"
  mariadb_started=1
fi

[[ -f $var/keys/tracking.key ]] || "$adnet" keygen --config "$conf"
"$adnet" migrate --config "$conf"
"$adnet" demo --config "$conf"

"$adnet" serve --config "$conf" &
pids+=($!)

"$adnet" nginx-conf --config "$conf" --standalone >"$var/nginx/nginx.conf"
nginx -t -q -c "$var/nginx/nginx.conf" -p "$var/nginx"
check_open_files "$var/nginx/nginx.conf"
nginx -c "$var/nginx/nginx.conf" -p "$var/nginx" &
pids+=($!)

up=0
for _ in $(seq 1 150); do
  if curl -fsS -o /dev/null http://127.0.0.1:8080/ping 2>/dev/null; then up=1; break; fi
  sleep 0.2
done
if [[ $up -ne 1 ]]; then
  echo "adnet: did not come up on 127.0.0.1:8080 — see the messages above, $var/log/adnet.log and $var/nginx/error.log" >&2
  exit 1
fi
cat <<MSG

adnet is running (Ctrl-C stops everything):
  health        http://127.0.0.1:8080/ping
  demo page     http://127.0.0.1:8080/demo/
  status        http://127.0.0.1:8080/status
  metrics       http://127.0.0.1:8080/metrics
  nginx status  http://127.0.0.1:8080/nginx_status
  console       http://127.0.0.1:8080/admin/   (sign-ins: $var/data/demo-logins.txt, printed above)
  REST API      http://127.0.0.1:8080/api/v1/  (OpenAPI: /api/v1/openapi.json; token: adnet token create)
  logs          $var/log/adnet.log

Commands for this instance (from $root; bin/adnet also finds var/adnet.toml by itself
in this checkout):
  $adnet top    --config $conf
  $adnet report --config $conf
  $adnet fraud  --config $conf
  $adnet user add --config $conf --email you@example.com --role admin
  $adnet token create --config $conf --email $(sed -n 's/^\(admin@[^ ]*\).*/\1/p' "$var/data/demo-logins.txt" 2>/dev/null)
  kill -HUP \$(cat $var/run/adnet.pid)     # reload: replace the workers one at a time
MSG
wait -n "${pids[@]}" || true
