# turnin — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

MODULES   := schema platform api consumer dlq cmd/turnin e2e
PKGS      := $(addprefix ./,$(addsuffix /...,$(MODULES)))
BIN       := bin/turnin
PG        := infra/postgres.sh
CHROMIUM  := infra/chromium.sh
GOTEST    ?= go test
TESTFLAGS ?= -race -timeout 20m
FUZZTIME  ?= 20s
BENCHTIME ?= 1x

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[1m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/turnin
	go build -buildvcs=auto -o $(BIN) ./cmd/turnin

.PHONY: run
run: build ## run turnin with the embedded broker and S3 (starts a local PostgreSQL first)
	@$(PG) start >/dev/null
	$(BIN) dev

.PHONY: db
db: ## start the local PostgreSQL (infra/postgres.sh) and print its URL
	@$(PG) start

.PHONY: db-stop
db-stop: ## stop the local PostgreSQL
	@$(PG) stop

.PHONY: test
test: test-embedded test-cluster ## run every test: on the embedded broker, then on a real 3-broker Kafka cluster (starts what it needs; what CI runs)

.PHONY: test-embedded
test-embedded: ## run the suite against real PostgreSQL, the embedded broker and S3 (installs Chromium for the dashboard test)
	@$(CHROMIUM) ensure >/dev/null && url=$$($(PG) start) && $(PG) clean-test-dbs && \
	TURNIN_TEST_DATABASE_URL="$$url" $(GOTEST) $(TESTFLAGS) $(PKGS)

.PHONY: kafka-up
kafka-up: ## start a real 3-broker Apache Kafka 4.x cluster on 127.0.0.1 (jars from Maven Central, cached)
	@infra/kafka.sh up

.PHONY: kafka-down
kafka-down: ## stop the 3-broker cluster
	@infra/kafka.sh down

.PHONY: test-cluster
test-cluster: ## run the suite against a real 3-broker Kafka cluster it starts (jars from Maven Central)
	@$(CHROMIUM) ensure >/dev/null && url=$$($(PG) start) && $(PG) clean-test-dbs && seeds=$$(infra/kafka.sh up) && \
	TURNIN_TEST_DATABASE_URL="$$url" TURNIN_TEST_KAFKA_SEEDS="$$seeds" $(GOTEST) $(TESTFLAGS) $(PKGS)

.PHONY: e2e
e2e: ## run only the fault-injection suite (e2e/); KAFKA=cluster runs it on the 3-broker cluster
	@url=$$($(PG) start) && seeds= && name=embedded && \
	if [ "$(KAFKA)" = cluster ]; then seeds=$$(infra/kafka.sh up) && name=cluster; fi && \
	TURNIN_TEST_DATABASE_URL="$$url" TURNIN_TEST_KAFKA_SEEDS="$$seeds" $(GOTEST) $(TESTFLAGS) -v ./e2e/...; \
	status=$$?; echo "scenario table: .data/e2e/$$name.md; process logs: .data/e2e/logs/"; exit $$status

.PHONY: test-docker
test-docker: ## run the suite on PostgreSQL, Redpanda and MinIO containers (testcontainers-go; needs a Docker engine, skips without one)
	TURNIN_TEST_ENV=containers $(GOTEST) $(TESTFLAGS) -tags containers $(PKGS)

.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME (default 20s)
	go test ./schema -run '^$$' -fuzz FuzzDecodeSubmission -fuzztime $(FUZZTIME)
	go test ./api -run '^$$' -fuzz FuzzDecodeSubmitRequest -fuzztime $(FUZZTIME)

.PHONY: bench
bench: ## run the benchmarks (BENCHTIME=1x by default)
	@url=$$($(PG) start) && \
	TURNIN_TEST_DATABASE_URL="$$url" go test -run '^$$' -bench . -benchtime $(BENCHTIME) $(PKGS)

FLOOD_DIR  ?= docs/flood/embedded
FLOOD_ARGS ?=

.PHONY: flood
flood: build ## one deadline flood against bare, queue and sync paths side by side; report to FLOOD_DIR (FLOOD_ARGS for flags)
	@url=$$($(PG) start) && $(BIN) flood --database-url "$$url" --report $(FLOOD_DIR) $(FLOOD_ARGS)

.PHONY: lint
lint: ## gofmt, go vet, and golangci-lint when installed
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet $(PKGS)
	@if command -v golangci-lint >/dev/null; then golangci-lint run $(PKGS); else echo "golangci-lint not installed; skipped (go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@latest)"; fi

.PHONY: tidy
tidy: ## go mod tidy in every module (GOWORK=off, so the replace lines are what count)
	@for m in $(MODULES); do (cd $$m && GOWORK=off go mod tidy) || exit 1; done

.PHONY: clean
clean: ## remove build output (keeps .data; `rm -rf .data` forgets every submission)
	rm -rf bin
