#!/usr/bin/env bash
# `make cluster-test`: the cluster of issue 14 on one machine — a front nginx, three app hosts
# (nginx + adnet serve), MariaDB primary + replica (and, with the JetStream transport, a
# 3-node NATS JetStream cluster), each in its own network namespace with its own address —
# under a steady load, with faults, each scenario reconciled exactly. Not part of `make test`:
# it needs root. The table goes to var/cluster/latest.md.
#
# Environment: ADNET_CLUSTER_SCALE (durations ×, default 1; 0.25 for a short run),
# ADNET_CLUSTER_TRANSPORT (file | jetstream; default jetstream when adnet has `adnet ship`).
# Extra arguments go to `go test`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [[ $(id -u) -ne 0 ]]; then
	echo "make cluster-test cannot run here: it must run as root (it creates network namespaces, veth pairs and a bridge)" >&2
	exit 1
fi
if ! command -v ip >/dev/null 2>&1; then
	echo "make cluster-test cannot run here: the ip command (iproute2) is missing" >&2
	exit 1
fi
scripts/install-deps.sh test
exec go test -count=1 -tags clustertest -timeout 60m -v -run 'TestClusterNetns$' "$@" ./cmd/adnet
