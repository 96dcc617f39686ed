# recops developer commands. `make demo` and `make test` work on a fresh clone: they
# create .venv and install what they need first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The install is redone when the project's metadata or its one compiled module changes.
BUILD_INPUTS := pyproject.toml setup.py src/recops/drift/_binning.c
STAMP := $(VENV)/.installed-$(shell cat $(BUILD_INPUTS) | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: demo test check lint fmt bench-ingest bench-drift bench-registry mlflow-venv clean

# MLflow lives in its own venv (it pins pyarrow<26); the MLflow import test starts a real
# `mlflow server` from it and the registry benchmark runs MLflow's client in it.
MLFLOW_VENV := .venv-mlflow
MLFLOW_STAMP := $(MLFLOW_VENV)/.installed-mlflow3

$(STAMP): $(BUILD_INPUTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip 2>&1 | grep -v "is ignored" || true
	$(BIN)/pip install -q -e '.[dev]' 2>&1 | grep -v "is ignored" || true
	$(BIN)/python -c "import recops, duckdb, pyarrow, sqlalchemy, psycopg, pytest"
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

$(MLFLOW_STAMP):
	@test -x $(MLFLOW_VENV)/bin/python || $(PYTHON) -m venv $(MLFLOW_VENV)
	@echo '*' > $(MLFLOW_VENV)/.gitignore
	$(MLFLOW_VENV)/bin/pip install -q -U pip 2>&1 | grep -v "is ignored" || true
	$(MLFLOW_VENV)/bin/pip install -q "mlflow>=3,<4" 2>&1 | grep -v "is ignored" || true
	$(MLFLOW_VENV)/bin/python -c "import mlflow"
	@touch $(MLFLOW_STAMP)

## mlflow-venv: MLflow in its own venv, for the MLflow import test and the registry benchmark
mlflow-venv: $(MLFLOW_STAMP)

## demo: simulate six weeks of a platform with incidents, ingest, summarize (then serve)
demo: $(STAMP)
	$(BIN)/recops demo $(DEMO_ARGS)

## test: lint, types, import layers and the whole test suite on SQLite and the real PostgreSQL
test: $(STAMP) $(MLFLOW_STAMP)
	@bash scripts/ensure-postgres.sh
	@bash scripts/ensure-chromium.sh
	$(MAKE) --no-print-directory lint
	RECOPS_TEST_DATABASE_URL=$${RECOPS_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test} \
	  $(BIN)/pytest -n 2 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	PYTHONPATH=src $(BIN)/lint-imports

fmt: $(STAMP)
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench-ingest: $(STAMP)
	$(BIN)/python bench/ingest.py

bench-drift: $(STAMP)
	$(BIN)/python bench/drift.py

bench-registry: $(STAMP) $(MLFLOW_STAMP)
	$(BIN)/python bench/registry.py

clean:
	rm -rf $(VENV) $(MLFLOW_VENV) recops-demo .pytest_cache .mypy_cache .ruff_cache
