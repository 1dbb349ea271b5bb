#!/usr/bin/env bash
# `make bench`: the end-to-end benchmark of issue 11 (cmd/adnet/bench_test.go, build tag
# `bench`). It starts the real topology — a private MariaDB with the demo network, the master
# with its workers and the aggregator, nginx — drives it with wrk through nginx on loopback, and
# prints a table of requests/s as ratios to nginx's own empty_gif and to a minimal FastCGI
# responder measured in the same run, latencies, errors, peak memory and whether the statistics
# recorded exactly what was answered. The table is also written to var/bench/latest.{json,md}.
#
# Environment: ADNET_BENCH_DURATION (per endpoint and round, default 10s), ADNET_BENCH_ROUNDS
# (default 2), ADNET_BENCH_CONNECTIONS (default 64), ADNET_BENCH_TOKENS (default 20000),
# ADNET_BENCH_OUT (default var/bench). A default run takes about 3 minutes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# scripts/test.sh installs what is missing (wrk is among the test dependencies); without wrk
# there is no benchmark, so say so plainly rather than run half of it.
scripts/install-deps.sh test
command -v wrk >/dev/null || { echo "adnet bench: wrk is not installed (Debian package wrk)" >&2; exit 1; }

exec scripts/test.sh -timeout 30m -tags bench -v -run '^TestBench$' ./cmd/adnet
