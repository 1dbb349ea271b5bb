# adnet — the two commands a newcomer needs are `make run` and `make test`.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build run test screenshots test-unit lint bench bench-go fraud-eval reconcile-large chaos cluster-test update-datacenter-list clean

all: build

## build: compile bin/adnet
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/adnet ./cmd/adnet

## run: everything up on 127.0.0.1:8080 (private MariaDB under ./var, nginx, master + workers, demo data)
run: build
	scripts/run.sh

## test: unit + integration tests against a private MariaDB, a real nginx and headless Chromium
test:
	scripts/test.sh

## screenshots: refresh docs/screenshots/ (the console's main pages, from its Chromium test)
screenshots:
	ADNET_SCREENSHOTS=1 scripts/test.sh -run TestConsoleEndToEnd ./cmd/adnet

## test-unit: the tests that need no MariaDB, nginx or browser
test-unit:
	$(GO) test -count=1 -short ./...

## lint: gofmt, go vet and staticcheck
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

## bench: end to end through nginx with wrk, as ratios to nginx's empty_gif and a minimal FastCGI responder (about 3 min; var/bench/latest.md)
bench:
	scripts/bench.sh

## bench-go: Go micro-benchmarks of the hot paths (compare as ratios within one run)
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./fcgi/... ./handlers/... ./internal/... ./nginx/...

## reconcile-large: the statistics reconciliation test with over a million events
reconcile-large:
	ADNET_RECONCILE_EVENTS=1200000 scripts/test.sh -timeout 90m -v -run TestStatisticsReconcile ./cmd/adnet

## fraud-eval: a labelled traffic mix (held-out bot UAs, real Chromium, late replays, carrier NAT…) through the real system; per-reason precision/recall, per-actor recall/FP, FAILS when a target is missed (ADNET_FRAUDEVAL_SEED, ADNET_FRAUDEVAL_SCALE)
fraud-eval:
	scripts/test.sh -timeout 20m -tags fraudeval -v -run TestFraudEval ./cmd/adnet

## chaos: faults under a steady load through nginx, each reconciled exactly against MariaDB (about 12 min; var/chaos/latest.md)
chaos:
	scripts/test.sh -timeout 30m -tags chaos -v -run 'TestChaos$$' ./cmd/adnet

## cluster-test: as root — front, 3 app hosts, MariaDB primary + replica (+ 3-node JetStream) in network namespaces; faults under load, reconciled exactly per type and host (var/cluster/latest.md; ADNET_CLUSTER_SCALE=0.25 for a short run); not part of `make test`
cluster-test:
	scripts/cluster-test.sh

## update-datacenter-list: refresh internal/fraud/datacenter.txt from a tag of the Go module github.com/projectdiscovery/cdncheck (CDNCHECK_VERSION=v1.2.49 make update-datacenter-list)
update-datacenter-list:
	scripts/update-datacenter-list.sh

clean:
	rm -rf bin
