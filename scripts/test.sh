#!/usr/bin/env bash
# `make test`: unit and integration tests against a private MariaDB (started here, in a temp
# dir, and stopped at the end), a real nginx and a real headless Chromium that the tests start
# themselves. Extra arguments go to `go test` (e.g. scripts/test.sh -run TestX ./fcgi/...).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/install-deps.sh test

# Short path: Unix socket paths are limited to 108 bytes.
tmp=$(mktemp -d /tmp/adnet-test.XXXXXX)
cleanup() {
  scripts/mariadb.sh stop "$tmp/mysql" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
scripts/mariadb.sh start "$tmp/mysql" >/dev/null
export ADNET_TEST_DSN
ADNET_TEST_DSN=$(scripts/mariadb.sh dsn "$tmp/mysql")

if [[ $# -gt 0 ]]; then
  go test -count=1 "$@"
else
  go vet ./...
  go test -count=1 -timeout 25m ./...
fi
