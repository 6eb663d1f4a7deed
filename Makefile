# zhengban: two commands for a fresh machine.
#   make run   - virtual environment, install, migrate, demo data, serve on 127.0.0.1:$(PORT)
#                with the background worker beside it
#   make test  - install what the tests need (Python and Debian packages) and run the suite

PYTHON ?= python3
VENV ?= .venv
PORT ?= 8000
BIN := $(VENV)/bin
DEPS_STAMP := $(VENV)/.deps-stamp
TEST_STAMP := $(VENV)/.test-deps-stamp

.PHONY: run test test-postgres lint system-deps venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(DEPS_STAMP): $(BIN)/python pyproject.toml agent/pyproject.toml
	$(BIN)/pip install --quiet -e . -e ./agent
	touch $@

$(TEST_STAMP): $(DEPS_STAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(DEPS_STAMP)

# The background worker (compliance after each inventory, catalog re-apply, reminders) runs
# beside the web server and stops with it.
run: $(DEPS_STAMP)
	DEBUG=1 $(BIN)/zhengban migrate --no-input
	DEBUG=1 $(BIN)/zhengban demo
	DEBUG=1 $(BIN)/zhengban db_worker --no-reload & trap 'kill $$! 2>/dev/null' EXIT INT TERM; \
	DEBUG=1 $(BIN)/zhengban runserver 127.0.0.1:$(PORT)

# Debian packages the tests drive for real: the inventory agents and a headless browser.
system-deps:
	bash scripts/install-system-deps.sh

test: $(TEST_STAMP) system-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/zhengban makemigrations --check --dry-run
	$(BIN)/python -m pytest -q

test-postgres: $(TEST_STAMP) system-deps
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} $(BIN)/python -m pytest -q

lint: $(TEST_STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
