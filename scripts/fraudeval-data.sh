#!/usr/bin/env bash
# Refreshes the User-Agent lists of `make fraud-eval` (internal/fraud/evalmix/testdata) from
# two npm packages the invalid-traffic detector is NOT built from (it is built from
# crawlerdetect's patterns and adnet's own rules):
#   - crawler-user-agents (MIT, github.com/monperrus/crawler-user-agents): the "instances",
#     real User-Agents of crawlers, bots and scrapers, as the held-out bot list;
#   - top-user-agents (MIT, github.com/microlinkhq/top-user-agents): the most common browser
#     User-Agents right now, as people's browsers (the false-positive side).
# Usage: scripts/fraudeval-data.sh [crawler-user-agents version] [top-user-agents version]
set -euo pipefail
cd "$(dirname "$0")/.."
out=internal/fraud/evalmix/testdata
cua=${1:-latest} tua=${2:-latest}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "crawler-user-agents@$cua" "top-user-agents@$tua" >/dev/null && for f in *.tgz; do mkdir "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done)
cdir=$(ls -d "$tmp"/crawler-user-agents-*/package) tdir=$(ls -d "$tmp"/top-user-agents-*/package)
cver=$(node -p "require('$cdir/package.json').version") tver=$(node -p "require('$tdir/package.json').version")
cdate=$(npm view "crawler-user-agents@$cver" "time[$cver]") tdate=$(npm view "top-user-agents@$tver" "time[$tver]")
today=$(date -u +%Y-%m-%d)
{
	echo "# Held-out bot User-Agents for make fraud-eval: every \"instances\" string of the npm package"
	echo "# crawler-user-agents $cver (published $cdate; MIT, github.com/monperrus/crawler-user-agents),"
	echo "# one per line, deduplicated, in the package's order. Fetched $today by scripts/fraudeval-data.sh."
	node -e '
		const seen = new Set();
		for (const e of require(process.argv[1])) for (const ua of e.instances || []) {
			const s = ua.replace(/[\r\n]/g, " ");
			if (s.trim() !== "" && !seen.has(s)) { seen.add(s); console.log(s); }
		}' "$cdir/crawler-user-agents.json"
} >"$out/bot-uas.txt"
{
	echo "# Browser User-Agents for make fraud-eval: the npm package top-user-agents $tver (published"
	echo "# $tdate; MIT, github.com/microlinkhq/top-user-agents), src/index.json (the top 100) then"
	echo "# src/mobile.json, most common first, deduplicated. Fetched $today by scripts/fraudeval-data.sh."
	node -e '
		const seen = new Set();
		for (const f of process.argv.slice(1)) for (const ua of require(f)) {
			if (ua.trim() !== "" && !seen.has(ua)) { seen.add(ua); console.log(ua); }
		}' "$tdir/src/index.json" "$tdir/src/mobile.json"
} >"$out/browser-uas.txt"
wc -l "$out/bot-uas.txt" "$out/browser-uas.txt"
