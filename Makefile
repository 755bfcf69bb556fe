# Two set-up commands (README): `make run` serves the app, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Two installs, two stamps: `run` needs the package alone; test, lint, bench and soak
# need the dev extras too. The dev install also stamps the runtime one (it includes
# it), so `make test` then `make run` installs nothing more.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint format bench soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(RUN_STAMP)

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(RUN_STAMP) $(DEV_STAMP)

## The development install (the package and its dev extras).
install: $(DEV_STAMP)

## Serve the app on $(HOST):$(PORT); embedded PostgreSQL under ./.pa-data/ when DATABASE_URL is unset.
run: $(RUN_STAMP)
	$(BIN)/pa-db serve --host $(HOST) --port $(PORT)

## Lint, type-check, then the whole test suite against real PostgreSQL/Redis/PgBouncer.
test: $(DEV_STAMP)
	$(MAKE) lint
	$(BIN)/pytest -p no:cacheprovider

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(DEV_STAMP)
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench: $(DEV_STAMP)
	$(BIN)/python -m bench.run_all

soak: $(DEV_STAMP)
	$(BIN)/pytest -m soak -p no:cacheprovider

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
