# Millstream: `make run` starts the whole local stack, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# The browser tests drive Debian's Chromium (a browser download cannot work here).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-compose lint up down status clean bench bench-quick console

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

$(CHROMIUM):
	@echo "Installing Debian's chromium for the browser tests"
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

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

## test: provision if needed, then run the whole suite against real servers
test: $(STAMP) $(CHROMIUM) $(CONSOLE)
	$(BIN)/python -m infra provision
	$(BIN)/python -m pytest

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

## lint: ruff and mypy
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy contracts kafka_edge alarmrules connectors pipeline api infra bench cli

up: $(STAMP)
	$(BIN)/python -m infra up

down: $(STAMP)
	$(BIN)/python -m infra down

status: $(STAMP)
	$(BIN)/python -m infra status

clean:
	rm -rf $(VENV) .millstream .pytest_cache .mypy_cache .ruff_cache web/node_modules api/static/console
