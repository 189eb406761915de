# Two commands matter: `make run` and `make test`. Both install what is
# missing first (Go modules, the Python venv, the page's npm packages, the
# nats CLI, Chromium for the browser tests), so a fresh checkout needs nothing
# else. Everything installed lands in .bin/, .venv/ and frontend-ui/node_modules/.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON        ?= python3
VENV          := .venv
VPY           := $(VENV)/bin/python
BIN           := $(CURDIR)/.bin
export SHARED_TESTDATA ?= $(abspath $(CURDIR)/../shared/testdata)
export NATS_SERVER_BIN ?= $(BIN)/nats-server
export NATS_CLI_BIN    ?= $(BIN)/nats
export HUB_BIN         ?= $(BIN)/hub
export DEVCERT_BIN     ?= $(BIN)/devcert
# Let's Encrypt's test CA and its DNS, for the hub's ACME test.
export PEBBLE_BIN              ?= $(BIN)/pebble
export PEBBLE_CHALLTESTSRV_BIN ?= $(BIN)/pebble-challtestsrv

# What `make run` starts: the model of the workers (empty: the Keras ImageNet weights,
# or offline the first model in MODELS_DIR), MODELS_DIR the model repository the workers
# serve (WORKER_MODELS_DIR; empty: models/ then $SHARED_TESTDATA/models), who runs it, and how many workers
# (auto: from the core count, scripts/worker-plan.sh; the cores are divided between them);
# HTTPS=1 serves over HTTPS with a local CA, for phones on the LAN (README).
MODEL   ?=
MODELS_DIR ?=
RUNTIME ?= auto
WORKERS ?= auto
HTTPS   ?=

NATS_CLI_VERSION    := v0.5.0
NATS_SERVER_VERSION := v2.15.2
PEBBLE_VERSION      := v2.10.3
# promtool (make test-alerts) from the Prometheus Go module: v0.316.0 is Prometheus
# v3.16 (module versions v0.3xx.y are v3.xx.y; v0.305.0, compose's v3.5.0, carries
# replace directives that `go install …@version` refuses). A heavy build: minutes.
PROMTOOL_VERSION    := v0.316.0
PROMTOOL_BIN        := $(BIN)/promtool
GO_SOURCES   := $(shell find cmd contract hub internal -name '*.go' -not -name '*_test.go') go.mod go.sum
PAGE_SOURCES := $(shell find frontend-ui/src frontend-ui/public -type f 2>/dev/null) frontend-ui/astro.config.mjs frontend-ui/package-lock.json frontend-ui/tsconfig.json

# What `make fleet` starts besides its 3 NATS nodes, 2 hubs and nginx.
FLEET_WORKERS ?= 2

.PHONY: help docs-config run fleet test bench bench-soak bench-table bench-gpu bench-gpu-carry fuzz deps tools test-deps test-go test-python test-page test-e2e test-compose test-compose-live test-helm test-alerts vet clean

help:
	@echo "make run    install what is missing, then run hub + embedded NATS + worker(s) (MODEL=$(or $(MODEL),default) RUNTIME=$(RUNTIME) WORKERS=$(WORKERS); HTTPS=1 for phones)"
	@echo "make docs-config  regenerate the flag and variable tables of docs/configuration.md"
	@echo "make fleet  the fleet on local processes: 3 TLS NATS nodes, nginx on :8080, 2 hubs, WORKERS=$(FLEET_WORKERS) workers (docs/scaling.md)"
	@echo "make test   install what is missing, then run every test suite"
	@echo "make bench  run the benchmarks (docs/benchmarks.md)"
	@echo "make bench-soak  sessions coming and going for SOAK_DURATION (default 10m), failing on growing memory, files, goroutines or subscriptions"
	@echo "make bench-gpu-carry  build .gpu-carry/ for make bench-gpu on a lent GPU machine (docs/benchmarks.md, GPU)"
	@echo "make fuzz   run each Go fuzz target for FUZZTIME (default $(FUZZTIME)); make test runs their seed corpora"
	@echo "make tools  install the nats CLI, nats-server and pebble (the ACME test CA) into .bin/"

## ---- installs -------------------------------------------------------------

deps: $(HUB_BIN) $(VENV)/.installed frontend-ui/dist/index.html

# The hub's version (hub -version, hub_build_info): the commit, or dev outside git.
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

$(HUB_BIN): $(GO_SOURCES)
	go build -ldflags "-X github.com/webcamhub/webcamhub/hub.Version=$(VERSION)" -o $@ ./cmd/hub

$(VENV)/.installed: $(wildcard inference_server/requirements*.txt)
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --disable-pip-version-check -r inference_server/requirements.txt -r inference_server/requirements-dev.txt
	touch $@

frontend-ui/node_modules/.installed: frontend-ui/package-lock.json
	cd frontend-ui && npm ci --no-audit --no-fund
	touch $@

frontend-ui/dist/index.html: frontend-ui/node_modules/.installed $(PAGE_SOURCES)
	cd frontend-ui && npm run build

$(NATS_CLI_BIN):
	GOBIN=$(BIN) go install github.com/nats-io/natscli/nats@$(NATS_CLI_VERSION)

$(NATS_SERVER_BIN):
	GOBIN=$(BIN) go install github.com/nats-io/nats-server/v2@$(NATS_SERVER_VERSION)

$(PEBBLE_BIN):
	GOBIN=$(BIN) go install github.com/letsencrypt/pebble/v2/cmd/pebble@$(PEBBLE_VERSION)

$(PEBBLE_CHALLTESTSRV_BIN):
	GOBIN=$(BIN) go install github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@$(PEBBLE_VERSION)

$(PROMTOOL_BIN):
	GOBIN=$(BIN) go install github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_VERSION)

# The local CA and certificate of `make run HTTPS=1`.
$(DEVCERT_BIN): cmd/devcert/main.go $(wildcard internal/devcert/*.go) go.mod go.sum
	go build -o $@ ./cmd/devcert

# The nats CLI (classify, record and replay; README), nats-server (scale-out
# tests) and pebble with its DNS (the hub's ACME test).
tools: $(NATS_CLI_BIN) $(NATS_SERVER_BIN) $(PEBBLE_BIN) $(PEBBLE_CHALLTESTSRV_BIN)

# Debian packages the tests need: Chromium for the page, docker-compose to
# validate docker-compose.yml (no Docker engine runs here), openssl for the
# throwaway certificates of the TLS tests and the NATS configuration checks,
# nginx as the fleet's balancer (make fleet and its end-to-end test).
test-deps: deps tools
	@scripts/apt-ensure.sh chromium:chromium certutil:libnss3-tools docker-compose:docker-compose openssl:openssl nginx:nginx

## ---- run ------------------------------------------------------------------

run: deps $(if $(HTTPS),$(DEVCERT_BIN))
	MODEL='$(MODEL)' MODELS_DIR='$(MODELS_DIR)' RUNTIME='$(RUNTIME)' WORKERS='$(WORKERS)' HTTPS='$(HTTPS)' scripts/run-local.sh

# The fleet (scripts/fleet.sh): its CA, certificates, role nkeys, configs,
# stores and logs in .data/fleet; .data/fleet/pids names every process.
fleet: deps tools
	@scripts/apt-ensure.sh openssl:openssl nginx:nginx
	MODEL='$(MODEL)' RUNTIME='$(RUNTIME)' WORKERS='$(if $(filter command line environment,$(origin WORKERS)),$(WORKERS),$(FLEET_WORKERS))' scripts/fleet.sh

# The generated tables of docs/configuration.md, from the hub's flags and the
# worker's parser (checked by TestConfigDoc and test_config_doc.py).
docs-config: $(VENV)/.installed
	scripts/docs-config.sh

## ---- tests ----------------------------------------------------------------

# RUN_LIVE_COMPOSE=1 adds test-compose-live (root, a Docker engine; long).
test: test-deps vet test-go test-python test-page test-compose test-helm test-alerts test-e2e $(if $(RUN_LIVE_COMPOSE),test-compose-live)
	@echo "make test: every suite passed"

vet:
	@unformatted=$$(gofmt -l cmd contract hub e2e internal bench deploy/helm/chartcheck); [ -z "$$unformatted" ] || { echo "not gofmt-ed: $$unformatted"; exit 1; }
	go vet ./...
	go vet -tags e2e ./e2e/...
	cd bench/baseline/gateway && go vet ./...

test-go:
	go test -race -count=1 ./...

test-python: $(VENV)/.installed $(NATS_SERVER_BIN)
	$(VPY) -m pytest -q inference_server

test-page: frontend-ui/node_modules/.installed
	cd frontend-ui && npm run check && npm test && npm run build

test-compose: $(VENV)/.installed $(HUB_BIN) $(NATS_SERVER_BIN) $(NATS_CLI_BIN)
	scripts/check-compose.sh

# docker-compose.yml built and run on a real Docker engine (scripts/test-compose-live.sh):
# dockerd started when none runs, stand-ins for base images no registry gives,
# the page and a photo over /ws and the API through the published port.
test-compose-live: $(NATS_SERVER_BIN)
	scripts/test-compose-live.sh

# The Helm chart (deploy/helm/webcamhub) and the NATS chart's values: helm lint and
# helm template through Helm's Go module, every object decoded strictly into the
# Kubernetes, KEDA and Prometheus operator types. A Go module of its own (its
# dependencies are heavy), so the hub's `go test ./...` never builds it.
test-helm:
	cd deploy/helm/chartcheck && go vet ./... && go test -count=1 ./...

# The alerting rules (deploy/prometheus/rules, docs/operations.md): checked and
# unit-tested by promtool on synthetic series. The chart's PrometheusRule holds the
# same rules (test-helm checks its copy).
test-alerts: $(PROMTOOL_BIN)
	$(PROMTOOL_BIN) check rules deploy/prometheus/rules/webcamhub.rules.yml
	cd deploy/prometheus/rules && $(PROMTOOL_BIN) test rules webcamhub.rules.test.yml

# End to end: the real hub binary, the real Python worker with a real model,
# the nats CLI and the page in Chromium.
test-e2e: test-deps
	go test -tags e2e -count=1 -timeout 20m -v ./e2e/...
	cd frontend-ui && npm run test:e2e

## ---- fuzzing ---------------------------------------------------------------

# Each target longer than the seed corpus that `go test` runs: the hub's
# control-message handling, its decoder of workers' replies and its image header reader.
FUZZTIME ?= 2m
FUZZ_TARGETS := ./hub:FuzzControl ./hub:FuzzReplyHeadDecode ./hub/internal/imagesniff:FuzzInspect

fuzz:
	for t in $(FUZZ_TARGETS); do go test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) "$${t%%:*}"; done

## ---- benchmarks -------------------------------------------------------------

# Bench-only Python packages (the FastAPI service of the article's architecture, bench/baseline/).
$(VENV)/.bench-installed: $(VENV)/.installed bench/baseline/requirements.txt
	$(VPY) -m pip install --quiet --disable-pip-version-check -r bench/baseline/requirements.txt
	touch $@

# The e2e benchmarks include BenchmarkRuntimeTable: each shared .tflite file and
# keras-random on each runtime that can run it, bare and through the hub, one
# markdown table (about 6 minutes on 2 cores); `make bench-table` runs it alone.
bench: test-deps $(VENV)/.bench-installed
	go test -run '^$$' -bench . -benchtime 3s ./hub/...
	go test -tags e2e -run '^$$' -bench . -skip Soak -benchtime 1x -timeout 30m ./e2e/...
	$(VPY) -m bench.worker.throughput --model tflite:$(SHARED_TESTDATA)/models/mobilenet_v2_1.0_224_quant.tflite --model keras-random
	KERAS_BACKEND=jax $(VPY) -m bench.worker.throughput --model keras-random --worker-frames 0 --jpeg-quality 80
	$(VPY) -m bench.worker.hostile --model tflite:$(SHARED_TESTDATA)/models/mobilenet_v2_1.0_224_quant.tflite
	$(VPY) -m bench.worker.per_frame
	$(VPY) -m bench.worker.thread_wake
	cd frontend-ui && npm run bench

# The soak (docs/benchmarks.md, "Soak"): 30 sessions coming and going at a
# webcam's pace for SOAK_DURATION; fails when the hub's, the worker's or
# nats-server's memory, open files, threads, goroutines or subscriptions keep
# growing. Not part of `make bench` (its length); SOAK_TIMEOUT bounds the run.
SOAK_DURATION ?= 10m
SOAK_TIMEOUT  ?= 40m

bench-soak: test-deps
	SOAK_DURATION='$(SOAK_DURATION)' go test -tags e2e -run '^$$' -bench Soak -benchtime 1x -timeout $(SOAK_TIMEOUT) -v ./e2e/...

bench-table: test-deps
	go test -tags e2e -run '^$$' -bench RuntimeTable -benchtime 1x -timeout 15m ./e2e/...

# The GPU benchmark (docs/benchmarks.md, "GPU"): bench-gpu-carry builds .gpu-carry/
# here (binaries, wheels, the converted model: nothing can be downloaded on a lent GPU
# machine); bench-gpu runs there, from the repository root, with .gpu-carry carried.
bench-gpu-carry: $(VENV)/.installed
	bench/gpu/build-carry.sh

bench-gpu:
	bench/gpu/run.sh

clean:
	rm -rf .bin .data test-output frontend-ui/dist
