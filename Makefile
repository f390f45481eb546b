# Two commands on a fresh machine:  make run  |  make test
# Both run `setup` first: a virtualenv with the locked Python packages, the locked npm
# packages (solc-js, OpenZeppelin, anvil, page libraries) and the compiled contracts.
# Each step is skipped when its lock file has not changed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Slither has its own virtualenv: slither-analyzer pins a web3 that conflicts with ours.
SLITHER_VENV := .venv-slither
# Empty means "furusato's default or the FURUSATO_* environment variable".
PORT ?=
DATA_DIR ?=
CHAIN ?=
PYTEST_ARGS ?=

#: Files of frontend_static/vendor/ made at set-up (see their rules below).
VENDOR_FILES := frontend_static/vendor/jsQR.js frontend_static/vendor/chart.umd.js

RUN_ARGS := $(if $(PORT),--port $(PORT)) $(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(if $(CHAIN),--chain $(CHAIN))

.PHONY: setup run test system-deps lint bench clean

setup: $(VENV)/.installed node_modules/.installed $(VENDOR_FILES)
	@$(BIN)/furusato compile

$(VENV)/.installed: requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

$(SLITHER_VENV)/.installed: requirements-slither.lock
	@test -x $(SLITHER_VENV)/bin/python || $(PYTHON) -m venv $(SLITHER_VENV)
	$(SLITHER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-slither.lock
	@touch $@

node_modules/.installed: package-lock.json package.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Page libraries served from our own origin (never a CDN): copied out of node_modules, so the
# versions are the ones package-lock.json pins. frontend_static/vendor/ is not committed.
frontend_static/vendor/jsQR.js: node_modules/.installed
	@mkdir -p $(@D)
	cp node_modules/jsqr/dist/jsQR.js $@

frontend_static/vendor/chart.umd.js: node_modules/.installed
	@mkdir -p $(@D)
	cp node_modules/chart.js/dist/chart.umd.js $@

run: setup
	$(BIN)/furusato run $(RUN_ARGS)

system-deps:
	@scripts/system-deps.sh

test: setup system-deps $(SLITHER_VENV)/.installed
	@scripts/test.sh $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) node_modules build .pytest_cache .mypy_cache .ruff_cache
