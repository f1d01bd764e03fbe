# gitops-ml — every task a developer or CI runs. `make help` lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DVC_NO_ANALYTICS := 1
export MLFLOW_DISABLE_TELEMETRY := true
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help setup run test test-fast lint typecheck bench lock mlflow-ui clean report report-example docs

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/uv: requirements/bootstrap.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/bootstrap.txt

$(STAMP): $(BIN)/uv requirements/dev.txt pyproject.toml
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python --require-hashes requirements/dev.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@if [ -d .git ]; then $(BIN)/pre-commit install --install-hooks >/dev/null && echo "pre-commit hooks installed"; fi
	@touch $@

setup: $(STAMP) ## Create .venv and install the locked dependencies and git hooks

run: $(STAMP) ## Reproduce the pipeline (prepare → train → evaluate) with DVC
	GITOPS_ML_TIMINGS=$(CURDIR)/eval/timings.json $(BIN)/dvc repro

test: $(STAMP) ## Run the whole test suite (what CI runs)
	$(BIN)/pytest

test-fast: $(STAMP) ## Run the quick tier: every test not marked slow (about a minute)
	$(BIN)/pytest -m "not slow"

lint: $(STAMP) ## Lint and format-check code, check import contracts and scripts, audit workflows
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/lint-imports --no-cache
	$(BIN)/shellcheck -x .github/scripts/*.sh .ci/run
	@if [ -d .github/workflows ]; then \
	  $(BIN)/zizmor --offline .github/workflows && \
	  $(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml; fi

typecheck: $(STAMP) ## Type-check src/ with mypy (strict)
	$(BIN)/mypy

report: $(STAMP) ## Compare this workspace with main: writes reports/report.md and report.json
	$(BIN)/gitops-ml report --out reports

report-example: $(STAMP) ## Regenerate docs/example-report/ (a real PR on the default data)
	$(BIN)/python scripts/report_example.py --out docs/example-report --doc docs/pull-requests.md

docs: $(STAMP) ## Regenerate docs/cli.md and docs/params.md from the CLI and the params models
	$(BIN)/gitops-ml docs --out docs

SIZES ?= 7k
bench: $(STAMP) ## Run the benchmarks, write docs/benchmarks.md (SIZES="7k 1M 10M"; default 7k)
	$(BIN)/python benchmarks/run.py --out docs/benchmarks.md --sizes $(SIZES)

LOCK := $(BIN)/uv pip compile pyproject.toml --universal --generate-hashes --no-emit-index-url \
	--python-version 3.11 --quiet

lock: $(BIN)/uv ## Regenerate the hashed, URL-free dependency locks from pyproject.toml
	$(LOCK) -o requirements/requirements.txt
	$(LOCK) --extra dev -o requirements/dev.txt

mlflow-ui: $(STAMP) ## Browse the local MLflow runs on http://127.0.0.1:5000
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000

clean: ## Remove the virtualenv and caches (not data, models or metrics)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
