# Millstream: `make run` starts the whole local stack, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Every Python package, transitive ones too, pinned with hashes: `make lock` writes it.
LOCK := requirements.lock
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) 2>/dev/null | cksum | cut -d' ' -f1)
# The browser tests drive Debian's Chromium (a browser download cannot work here).
CHROMIUM := /usr/bin/chromium
# The cluster tests and MILLSTREAM_REDIS=1 run Debian's redis-server (shared rate limits).
REDIS_SERVER := /usr/bin/redis-server
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run run-cluster test test-quick test-compose lint lock lock-upgrade up down status clean bench \
	bench-quick console redis-server faults soak

# The venv holds exactly the locked versions; the project itself is installed without deps,
# then checked against pyproject.toml so that an unlocked new dependency is named.
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# The lock's own pip first: the one a new venv comes with reads a package's extras
	@# (pip-audit's CacheControl[filecache]) as an unpinned requirement and refuses the lock.
	@awk '/^pip==/ {p = 1; print; next} p && /^ +--hash/ {print; next} p {exit}' $(LOCK) > $(VENV)/pip.lock
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(VENV)/pip.lock
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python .ci/check_lock.py
	@rm -f $(VENV)/.installed-*
	@touch $@

UV_STAMP := $(VENV)/.uv-$(UV_VERSION)
$(UV_STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	@touch $@

UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes \
	--python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
	--custom-compile-command 'make lock' --quiet --output-file $(LOCK)

## lock: re-lock after a change to pyproject.toml, keeping every locked version that still fits
lock: $(UV_STAMP)
	$(UV_COMPILE)

## lock-upgrade: re-lock with the newest versions pyproject.toml allows
lock-upgrade: $(UV_STAMP)
	$(UV_COMPILE) --upgrade

$(CHROMIUM):
	@echo "Installing Debian's chromium for the browser tests"
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

$(REDIS_SERVER):
	@echo "Installing Debian's redis-server for shared rate limits and the cluster tests"
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server

## redis-server: install Debian's redis-server (for MILLSTREAM_REDIS=1)
redis-server: $(REDIS_SERVER)

# The compose test runs docker-compose.yml with Debian's podman (no Docker engine needed).
PODMAN_COMPOSE := /usr/bin/podman-compose

$(PODMAN_COMPOSE):
	@echo "Installing Debian's podman, podman-compose, runc and debootstrap for the compose test"
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman podman-compose runc debootstrap

# The operator console (web/): npm ci when the lockfile changed, esbuild when a source did.
CONSOLE := api/static/console/index.html
WEB_SOURCES := $(shell find web/src -type f) web/build.mjs web/package.json

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --ignore-scripts --no-audit --no-fund

$(CONSOLE): web/node_modules/.package-lock.json $(WEB_SOURCES)
	cd web && node build.mjs

## console: build the operator console into api/static/console
console: $(CONSOLE)

## run: provision if needed, then run Kafka, InfluxDB, simulator, connector, worker and API
run: $(STAMP) $(CONSOLE)
	$(BIN)/python -m infra run

## run-cluster: 3 plant edges with MirrorMaker 2, 3 central brokers, 2 workers, 2 APIs (docs/scaling.md)
run-cluster: $(STAMP) $(CONSOLE) $(REDIS_SERVER)
	$(BIN)/python -m infra run-cluster

# `make test` runs the suite on two pytest-xdist workers, each with its own Kafka and
# InfluxDB; a module runs whole on one worker, the longest modules first (tests/conftest.py).
# TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2

## test: provision if needed, then run the whole suite against real servers
test: $(STAMP) $(CHROMIUM) $(CONSOLE) $(REDIS_SERVER)
	$(BIN)/python -m infra provision
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

## test-quick: the unit and contract tests alone, without servers (under a minute)
test-quick: $(STAMP)
	$(BIN)/python -m pytest tests/unit --without-servers -q

## test-compose: docker-compose.yml under podman, images built here once, the journey of make run
test-compose: $(STAMP) $(PODMAN_COMPOSE)
	$(BIN)/python -m infra provision
	MILLSTREAM_COMPOSE_TEST=1 CONTAINERS_CONF=$(CURDIR)/docker/podman/containers.conf \
		$(BIN)/python -m pytest tests/compose -q

## bench: the full benchmark suite on a stack of its own; regenerates docs/benchmarks.md
bench: $(STAMP)
	$(BIN)/python -m infra provision
	$(BIN)/python -m bench

## bench-quick: the same scenarios, smaller and shorter (a few minutes)
bench-quick: $(STAMP)
	$(BIN)/python -m infra provision
	$(BIN)/python -m bench --quick

## faults: every fault scenario with its full outages; regenerates docs/reliability.md
faults: $(STAMP)
	$(BIN)/python -m infra provision
	$(BIN)/python -m bench.faults

# How long `make soak` runs its steady load (minutes).
SOAK_MINUTES ?= 30

## soak: steady load for SOAK_MINUTES, sampled; regenerates the soak section of docs/reliability.md
soak: $(STAMP)
	$(BIN)/python -m infra provision
	$(BIN)/python -m bench.faults.soak --minutes $(SOAK_MINUTES)

## lint: ruff (its security rules too), mypy, the size rules (modules up to 400 lines,
## functions up to 80), every Kafka client built in kafka_edge/, and pip-audit of
## requirements.lock
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy contracts kafka_edge alarmrules connectors pipeline api infra bench cli
	$(BIN)/python .ci/check_size.py
	$(BIN)/python .ci/check_kafka_clients.py
	$(BIN)/python .ci/audit_lock.py $(LOCK)

up: $(STAMP)
	$(BIN)/python -m infra up

down: $(STAMP)
	$(BIN)/python -m infra down

status: $(STAMP)
	$(BIN)/python -m infra status

clean:
	rm -rf $(VENV) .millstream .pytest_cache .mypy_cache .ruff_cache web/node_modules api/static/console
