# livedash: `make run` to serve, `make test` for the whole suite. Both set everything up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# `make run HOST=0.0.0.0 PORT=9000` (or the same as environment variables) overrides these.
export HOST ?= 127.0.0.1
export PORT ?= 8000
# On a developer's machine, scripts on it may ingest without a token (off in production).
export LIVEDASH_LOOPBACK_INGEST ?= 1
SRC := app tests $(wildcard bench)

.PHONY: run dev test check format lock chromium screenshot clean bench

# Stamps make a second `make run` skip the install (it starts in about a second).
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.run-stamp: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev-stamp: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $(VENV)/.run-stamp $@

run: $(VENV)/.run-stamp
	$(BIN)/python -m app

# For designers: templates reload, Python reloads, and open pages refresh themselves when a
# file under templates/ or static/ changes; /styleguide shows every partial in every state.
dev: $(VENV)/.run-stamp
	LIVEDASH_DEV=1 $(BIN)/python -m app

# Browser tests drive Debian's Chromium; Playwright never downloads a browser of its own.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

# Redis tests start a private redis-server of their own on a free port; Debian's package has it.
.PHONY: redis-server
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing Debian's redis-server"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server; }

check: $(VENV)/.dev-stamp
	$(BIN)/ruff format --check $(SRC)
	$(BIN)/ruff check $(SRC)
	$(BIN)/mypy

format: $(VENV)/.dev-stamp
	$(BIN)/ruff format $(SRC)
	$(BIN)/ruff check --fix $(SRC)

test: $(VENV)/.dev-stamp chromium redis-server check
	$(BIN)/pytest

# The fan-out benchmark: livedash and a node:http reference under 10,000 SSE
# clients, about 3 minutes. `$(BIN)/python -m bench --help` for smaller runs.
bench: $(VENV)/.dev-stamp
	$(BIN)/python -m bench

# Refresh the README's screenshots (the browser tests that take them): the busy demo; light,
# dark, phone and kiosk; a card's sparkline and its detail page.
screenshot: $(VENV)/.dev-stamp chromium
	LIVEDASH_SCREENSHOT=docs/screenshot.png $(BIN)/pytest -q tests/browser/test_screenshot.py
	LIVEDASH_SCREENSHOT_DIR=docs $(BIN)/pytest -q tests/browser/test_kiosk.py -k screenshots
	LIVEDASH_HISTORY_SHOTS=docs $(BIN)/pytest -q tests/browser/test_history.py

# Regenerate the pinned requirements from pyproject.toml (tests/test_requirements.py
# fails when they drift apart).
DEPS = $(PYTHON) -c 'import sys, tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
  print("\n".join(p["dependencies"] if sys.argv[1] == "run" else p["optional-dependencies"]["dev"]))'
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	$(DEPS) run > .lock-venv/run.in
	$(DEPS) dev > .lock-venv/dev.in
	.lock-venv/bin/python -m pip install -q --disable-pip-version-check -r .lock-venv/run.in
	.lock-venv/bin/python -m pip freeze > requirements.txt
	.lock-venv/bin/python -m pip install -q --disable-pip-version-check -r .lock-venv/dev.in
	{ echo "-r requirements.txt"; .lock-venv/bin/python -m pip freeze | grep -vxFf requirements.txt; } \
	  > requirements-dev.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
