#!/usr/bin/env bash
# Installs the system packages adnet needs, only those that are missing, with apt.
# Usage: scripts/install-deps.sh [run|test]
#   run  — what `make run` needs: nginx, MariaDB server and client, nats-server
#   test — also what `make test` needs: Chromium (end-to-end tests), wrk (load), cgi-fcgi
# Every machine starts bare: this is the one place that knows the package names.
set -euo pipefail

# libnginx-mod-http-geoip + geoip-database give nginx the visitor's country (country targeting).
# nats-server: the JetStream event stream of several hosts (events.transport = "jetstream"), and
# the private servers of the shipper/consumer tests, which fail without it.
want=(nginx libnginx-mod-http-geoip geoip-database mariadb-server mariadb-client curl nats-server)
if [[ "${1:-run}" == "test" ]]; then
  want+=(chromium wrk libfcgi-bin)
fi

missing=()
for pkg in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "adnet: installing ${missing[*]} with apt-get" >&2
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "adnet: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Packages must not start system-wide services: adnet runs private instances under ./var.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee $policy >/dev/null && $sudo chmod 755 $policy && created_policy=1
fi
cleanup() { [[ $created_policy -eq 1 ]] && $sudo rm -f $policy; return 0; }
trap cleanup EXIT
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
