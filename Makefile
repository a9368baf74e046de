# kiban — see README.md. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock 2>/dev/null | sha1sum | cut -c1-12)
export PORT ?= 8000
export KIBAN_MODE ?= demo

.PHONY: help setup system-deps run test lint typecheck test-sqlite test-postgres test-e2e bench bench-full clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-14s %s\n", $$1, $$2}'

system-deps: ## Install Debian packages kiban needs at run time (fonts, PC/SC headers)
	@scripts/system-deps.sh runtime

$(STAMP): pyproject.toml requirements.lock
	@scripts/system-deps.sh runtime
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade "pip==26.3"
	@$(BIN)/python -m pip install -q -c requirements.lock -e '.[dev,pcsc]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

setup: $(STAMP) ## Create .venv, install pinned dependencies, apply migrations (idempotent)
	@$(BIN)/kiban migrate

run: setup ## Set up, seed the demo (once) and serve on http://127.0.0.1:$(PORT)
	@$(BIN)/kiban demo seed
	@PORT=$(PORT) $(BIN)/kiban serve

lint: setup ## ruff (lint + format check), mypy, migrations up to date
	@$(BIN)/ruff check kiban tests benchmarks
	@$(BIN)/ruff format --check kiban tests benchmarks
	@KIBAN_MODE=test $(BIN)/mypy kiban
	@KIBAN_MODE=test $(BIN)/python -m django makemigrations --check --dry-run --settings=kiban.settings >/dev/null

test-sqlite: setup ## The whole suite on SQLite
	@KIBAN_MODE=test $(BIN)/pytest -p no:cacheprovider

test-postgres: setup ## The whole suite on a throwaway PostgreSQL server
	@scripts/system-deps.sh postgres
	@KIBAN_MODE=test scripts/with-postgres.sh $(BIN)/pytest -p no:cacheprovider

test: setup ## Lint, type-check, and run the suite on SQLite and on PostgreSQL
	@scripts/system-deps.sh test
	@$(MAKE) --no-print-directory lint
	@echo "== tests on SQLite =="
	@$(MAKE) --no-print-directory test-sqlite
	@echo "== tests on PostgreSQL =="
	@$(MAKE) --no-print-directory test-postgres

bench: setup ## Benchmarks (quick sizes); figures go to docs/benchmarks.md by hand
	@scripts/system-deps.sh postgres
	@KIBAN_MODE=test $(BIN)/python benchmarks/run.py

bench-full: setup ## Benchmarks at Yokohama scale (3.77 million residents; long)
	@scripts/system-deps.sh postgres
	@KIBAN_MODE=test $(BIN)/python benchmarks/run.py --full

clean: ## Remove the virtualenv and local data
	rm -rf $(VENV) var
