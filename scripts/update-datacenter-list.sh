#!/bin/sh
# Refreshes internal/fraud/datacenter.txt, the built-in data-center/cloud list, from the Go
# module github.com/projectdiscovery/cdncheck (its sources_data.json carries the ranges the
# cloud providers publish). The module proxy lists no versions of it, so name a tag:
#
#   CDNCHECK_VERSION=v1.2.49 make update-datacenter-list
#
# then review the diff (git diff --stat internal/fraud/datacenter.txt) and run the tests
# (go test ./internal/fraud -run Datacenter): they check that no known ISP or mobile range
# crept in.
set -eu
cd "$(dirname "$0")/.."
: "${CDNCHECK_VERSION:?set CDNCHECK_VERSION to a tag of github.com/projectdiscovery/cdncheck, e.g. v1.2.49}"
module=github.com/projectdiscovery/cdncheck@$CDNCHECK_VERSION
info=$(go mod download -json "$module")
dir=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
infofile=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Info": "\(.*\)",*$/\1/p')
published=$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$infofile")
[ -n "$dir" ] && [ -f "$dir/sources_data.json" ] || { echo "update-datacenter-list: no sources_data.json in $module" >&2; exit 1; }
go run scripts/datacenterlist.go -in "$dir/sources_data.json" -out internal/fraud/datacenter.txt \
	-module "$module" -published "$published"
head -n 20 internal/fraud/datacenter.txt | grep -E '^# [0-9]+ merged ranges'
