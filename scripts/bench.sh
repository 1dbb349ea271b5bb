#!/usr/bin/env bash
# `make bench`: the whole topology under load, measured against its own ceiling and floor.
#
# Starts a private MariaDB with the demo data, the adnet master with its default workers and a
# private nginx (as `make run` does, but in a temporary directory and on a free port), plus
# two reference locations in the same nginx: `empty_gif` (nginx alone, the ceiling) and a
# minimal FastCGI responder (cmd/fcgifloor, the floor of nginx → FastCGI). For each endpoint,
# wrk drives the ceiling, the floor and the endpoint in alternating rounds of the same length,
# so that every result is a ratio measured under the same conditions. Tracking tokens vary
# per request: a list is collected from /serve/json answers first.
#
# Prints a table and writes var/bench/results.json and var/bench/results.md. Settings (env):
#   BENCH_DURATION=10   seconds per round        BENCH_CONNECTIONS=64   wrk -c
#   BENCH_THREADS=2     wrk -t                   BENCH_ENDPOINTS="ping serve_json serve_js track_imp track_click"
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

duration=${BENCH_DURATION:-10}
conns=${BENCH_CONNECTIONS:-64}
threads=${BENCH_THREADS:-2}
endpoints=${BENCH_ENDPOINTS:-ping serve_json serve_js track_imp track_click}

scripts/install-deps.sh bench
go build -trimpath -o bin/adnet ./cmd/adnet
go build -trimpath -o bin/fcgifloor ./cmd/fcgifloor
adnet=$root/bin/adnet
out=$root/var/bench
mkdir -p "$out"

# Short path: Unix socket paths are limited to 108 bytes.
tmp=$(mktemp -d /tmp/adnet-bench.XXXXXX)
chmod 755 "$tmp" # nginx's workers may run as another user
pids=()
cleanup() {
  trap - INT TERM EXIT
  rm -f "$tmp/sampling"
  if [[ -f $tmp/nginx/nginx.pid ]]; then
    nginx -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx" -s quit 2>/dev/null || true
  fi
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  scripts/mariadb.sh stop "$tmp/mysql" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup INT TERM EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
conf=$tmp/adnet.toml
cat >"$conf" <<TOML
# make bench: the defaults, except what a private instance in a temporary directory needs.
log_file = "log/adnet.log"
socket_mode = "0666"

[nginx]
listen = "127.0.0.1:$port"
static_dir = "$root/static"

[tracking]
base_url = "$base"

[stats]
flush_interval = "1s"        # so that the reconciliation below waits seconds, not minutes

[mysql]
dsn = "root@unix(mysql/mysqld.sock)/adnet"
TOML
mkdir -p "$tmp/nginx" "$tmp/log" "$tmp/run"

echo "bench: starting MariaDB, adnet and nginx in $tmp"
scripts/mariadb.sh start "$tmp/mysql" >/dev/null
"$adnet" keygen --config "$conf" >/dev/null
"$adnet" migrate --config "$conf" >/dev/null
"$adnet" demo --config "$conf" >/dev/null
"$adnet" serve --config "$conf" >"$tmp/log/serve.out" 2>&1 &
master=$!
pids+=("$master")
bin/fcgifloor "$tmp/run/floor.sock" &
pids+=($!)

# The reference locations, in the same server block as adnet's (same params, keepalive).
"$adnet" nginx-conf --config "$conf" --standalone |
  awk -v sock="$tmp/run/floor.sock" '
    /^upstream adnet_workers/ { print "upstream bench_floor {\n    server unix:" sock ";\n    keepalive 64;\n}\n" }
    /^    location = \/ping / {
      print "    location = /bench/empty_gif {\n        access_log off;\n        empty_gif;\n    }"
      print "    location = /bench/floor {\n        access_log off;\n        fastcgi_pass bench_floor;\n    }\n"
    }
    { print }' >"$tmp/nginx/nginx.conf"
nginx -t -q -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx"
nginx -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx" &
pids+=($!)

for _ in $(seq 1 150); do
  curl -fsS -o /dev/null "$base/ping" 2>/dev/null && curl -fsS -o /dev/null "$base/bench/floor" 2>/dev/null && break
  sleep 0.2
done
curl -fsS -o /dev/null "$base/ping" || { echo "bench: adnet does not answer; see $tmp/log" >&2; exit 1; }

# Zones of the demo data that serve an ad, and tokens from their answers.
zones=()
for z in $(seq 1 64); do
  if curl -fsS "$base/serve/json?zone=$z" 2>/dev/null | grep -q '"impression_url"'; then zones+=("$z"); fi
done
[[ ${#zones[@]} -gt 0 ]] || { echo "bench: no demo zone serves an ad" >&2; exit 1; }
printf '/serve/json?zone=%s\n' "${zones[@]}" >"$tmp/serve_json.paths"
printf '/serve/js?zone=%s\n' "${zones[@]}" >"$tmp/serve_js.paths"
echo /ping >"$tmp/ping.paths"
echo /bench/empty_gif >"$tmp/empty_gif.paths"
echo /bench/floor >"$tmp/floor.paths"
BENCH_PATHS=$tmp/serve_json.paths BENCH_OUT=$tmp/tokens \
  wrk -t"$threads" -c"$conns" -d3s -s scripts/bench/collect.lua "$base" >/dev/null
cat "$tmp"/tokens.*.imp >"$tmp/track_imp.paths"
cat "$tmp"/tokens.*.click >"$tmp/track_click.paths"
echo "bench: ${#zones[@]} zones, $(wc -l <"$tmp/track_imp.paths") impression and $(wc -l <"$tmp/track_click.paths") click tokens"

# report prints the statistics totals once the aggregator has caught up: unchanged over 4 s,
# with flush_interval = 1s.
report() {
  local last="" cur stable=0
  for _ in $(seq 1 300); do
    cur=$("$adnet" report --config "$conf" --format json --from "$(date -u -d '-1 day' +%F)" \
      --to "$(date -u -d '+1 day' +%F)" 2>/dev/null | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["totals"]))' || true)
    if [[ -n $cur && $cur == "$last" ]]; then
      stable=$((stable + 1))
      if ((stable >= 4)); then
        echo "$cur"
        return
      fi
    else
      stable=0
    fi
    last=$cur
    sleep 1
  done
  echo "${last:-{\}}"
}
before=$(report)

# Peak RSS of the master and all its descendants (workers, aggregator), sampled twice a second.
touch "$tmp/sampling"
(
  peak=0
  while [[ -f $tmp/sampling ]]; do
    sum=0
    for p in $master $(pgrep -P "$master") $(for c in $(pgrep -P "$master"); do pgrep -P "$c"; done); do
      r=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
      sum=$((sum + ${r:-0}))
    done
    ((sum > peak)) && peak=$sum && echo "$peak" >"$tmp/rss_peak_kb"
    sleep 0.5
  done
) &
pids+=($!)

# run NAME: one wrk round on NAME's paths; prints its BENCH json.
run() {
  BENCH_PATHS=$tmp/$1.paths wrk -t"$threads" -c"$conns" -d"${duration}s" --timeout 10s \
    -s scripts/bench/paths.lua "$base" | sed -n 's/^BENCH //p'
}

# answered prints how many /track/ and /serve/ requests the workers have answered without
# a 5xx so far (their own counters, from their control sockets). wrk only counts responses
# that arrived before its round ended; the workers also answer those still in flight then.
answered() {
  for sock in "$tmp"/run/worker-*.ctl; do
    curl -fsS --unix-socket "$sock" http://worker/status && echo
  done | python3 -c '
import json, sys
track = serve = 0
for line in sys.stdin:
    if line.strip():
        for e in json.loads(line)["endpoints"]:
            ok = e["requests"] - e["5xx"]
            track += ok if e["prefix"] == "/track/" else 0
            serve += ok if e["prefix"] == "/serve/" else 0
print(track, serve)'
}

results=()
answered_imp=0
answered_click=0
answered_serve=0
for ep in $endpoints; do
  [[ -f $tmp/$ep.paths ]] || { echo "bench: unknown endpoint $ep" >&2; exit 1; }
  gif=$(run empty_gif)
  floor=$(run floor)
  read -r track0 serve0 < <(answered)
  res=$(run "$ep")
  sleep 1 # the requests still in flight when wrk stopped
  read -r track1 serve1 < <(answered)
  results+=("{\"endpoint\":\"$ep\",\"empty_gif\":$gif,\"floor\":$floor,\"result\":$res,\"answered\":$((track1 - track0 + serve1 - serve0))}")
  case $ep in
  track_imp) answered_imp=$((answered_imp + track1 - track0)) ;;
  track_click) answered_click=$((answered_click + track1 - track0)) ;;
  serve_json | serve_js) answered_serve=$((answered_serve + serve1 - serve0)) ;;
  esac
  echo "bench: $ep done"
done
rm -f "$tmp/sampling"
rss_kb=$(cat "$tmp/rss_peak_kb" 2>/dev/null || echo 0)

# Did the statistics record exactly the events that were answered? Every tracking request is
# recorded (valid or not, with its reason) and every ad request counted: compare what the
# measured rounds answered with what the totals grew by, once the aggregator has caught up.
after=$(report)
echo "{\"before\": $before, \"after\": $after}" >"$out/report.json"

python3 - "$out" "$duration" "$conns" "$threads" "$rss_kb" "$answered_imp" "$answered_click" "$answered_serve" "${results[@]}" <<'PY'
import json, os, platform, sys, datetime
out, duration, conns, threads, rss_kb, a_imp, a_click, a_serve = sys.argv[1:9]
rows = [json.loads(r) for r in sys.argv[9:]]
def rps(r): return r["requests"] / (r["duration_us"] / 1e6)
rep = json.load(open(os.path.join(out, "report.json")))
def delta(*names):
    return sum(rep["after"].get(n, 0) - rep["before"].get(n, 0) for n in names)
rec_imp = delta("impressions", "invalid_impressions")
rec_click = delta("clicks", "invalid_clicks")
rec_req = delta("requests")
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
res = {
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    "machine": f"{os.cpu_count()} × {cpu}, load generator on the same machine",
    "wrk": {"threads": int(threads), "connections": int(conns), "seconds_per_round": int(duration)},
    "peak_rss_mb": round(int(rss_kb) / 1024, 1),
    "endpoints": [],
    "reconciliation": {
        "impressions_answered": int(a_imp), "impressions_recorded": rec_imp,
        "clicks_answered": int(a_click), "clicks_recorded": rec_click,
        "ad_requests_answered": int(a_serve), "ad_requests_recorded": rec_req,
    },
}
for r in rows:
    e, g, f = r["result"], r["empty_gif"], r["floor"]
    res["endpoints"].append({
        "endpoint": r["endpoint"], "rps": round(rps(e)), "empty_gif_rps": round(rps(g)), "floor_rps": round(rps(f)),
        "ratio_empty_gif": round(rps(e) / rps(g), 3), "ratio_floor": round(rps(e) / rps(f), 3),
        "floor_ratio_empty_gif": round(rps(f) / rps(g), 3),
        "p50_ms": e["p50_us"] / 1000, "p99_ms": e["p99_us"] / 1000, "max_ms": e["max_us"] / 1000,
        "non_2xx_3xx": e["non_2xx_3xx"], "socket_errors": e["socket_errors"],
        "wrk_responses": e["requests"], "answered_by_workers": r["answered"],
    })
rc = res["reconciliation"]
rc["exact"] = (rc["impressions_answered"] == rc["impressions_recorded"] and rc["clicks_answered"] == rc["clicks_recorded"]
               and rc["ad_requests_answered"] == rc["ad_requests_recorded"])
json.dump(res, open(os.path.join(out, "results.json"), "w"), indent=2)
lines = [f"`make bench`, {res['date']}, {res['machine']}; wrk -t{threads} -c{conns}, {duration} s per round, rounds alternated.", "",
         "| endpoint | req/s | × empty_gif | × floor | floor × empty_gif | p50 ms | p99 ms | max ms | non-2xx/3xx | socket errors |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
for e in res["endpoints"]:
    lines.append(f"| {e['endpoint']} | {e['rps']} | {e['ratio_empty_gif']:.3f} | {e['ratio_floor']:.3f} | {e['floor_ratio_empty_gif']:.3f} | "
                 f"{e['p50_ms']:.2f} | {e['p99_ms']:.2f} | {e['max_ms']:.2f} | {e['non_2xx_3xx']} | {e['socket_errors']} |")
lines += ["", f"Peak RSS of all adnet processes: {res['peak_rss_mb']} MB.",
          f"Statistics: impressions answered {rc['impressions_answered']}, recorded {rc['impressions_recorded']}; "
          f"clicks answered {rc['clicks_answered']}, recorded {rc['clicks_recorded']}; "
          f"ad requests answered {rc['ad_requests_answered']}, recorded {rc['ad_requests_recorded']} — "
          + ("exact." if rc["exact"] else "NOT exact.")
          + " (Answered: by the workers, without a 5xx; wrk misses the responses still in flight when a round ends.)"]
open(os.path.join(out, "results.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
echo "bench: wrote $out/results.json and $out/results.md"
