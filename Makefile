# moshu: every command a newcomer needs. `make help` lists them.
# Only Python 3.11+ and pip are assumed: the first target bootstraps uv into .tools/ and
# installs the locked environment (uv.lock) into .venv/.

PYTHON     ?= python3
UV_VERSION := 0.13.9
TOOLS      := .tools
UV         := $(TOOLS)/bin/uv
VENV       := .venv
BIN        := $(VENV)/bin
WAREHOUSE  ?= warehouse
# Key of the pseudonymisation of personal columns (see README, Governance). Outside development, set
# MOSHU_PSEUDONYM_KEY or MOSHU_PSEUDONYM_KEY_FILE from your secrets manager; `make run` otherwise
# creates a random development key in .secrets/ (ignored by git, never in the warehouse).
DEV_KEY    := .secrets/pseudonym.key
export UV_PYTHON_DOWNLOADS := never
# The browser checks drive the system Chromium (apt package `chromium`); playwright never downloads a browser.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export UV_PROJECT_ENVIRONMENT := $(VENV)

.DEFAULT_GOAL := help
.PHONY: help setup run test test-slow test-all lint format check dagster schema clean bench bench-quality bench-100m chromium browser screenshots

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# --compile-bytecode: the libraries' bytecode is written once, at install. Where PYTHONDONTWRITEBYTECODE is set (many
# container images), Python would otherwise compile Great Expectations, Dagster and the rest from source on every
# `moshu run` (measured: 11.2-12.8 s against 7.0-7.4 s for a 10,000-row run; bench/README.md).
$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	@touch $@

setup: $(VENV)/.synced ## create .venv from the lock file

$(DEV_KEY):
	@mkdir -p $(dir $@) && umask 077 && $(PYTHON) -c "import secrets; print(secrets.token_hex(32))" > $@
	@echo "created a development pseudonymisation key in $@ (set MOSHU_PSEUDONYM_KEY_FILE to use another)"

run: setup ## build every dataset in dataset_specs/ from seeds/ into ./warehouse (WAREHOUSE=... to change)
	@if [ -z "$$MOSHU_PSEUDONYM_KEY$$MOSHU_PSEUDONYM_KEY_FILE" ]; then $(MAKE) --no-print-directory $(DEV_KEY); fi
	MOSHU_PSEUDONYM_KEY_FILE=$${MOSHU_PSEUDONYM_KEY_FILE:-$(DEV_KEY)} $(BIN)/moshu run --warehouse $(WAREHOUSE)

test: setup ## run the default (fast) tests
	$(BIN)/pytest

test-slow: setup ## run only the slow end-to-end tests (CI runs them after `make test`)
	$(BIN)/pytest -m slow || [ $$? -eq 5 ]

test-all: setup ## run every test, slow and end-to-end ones included
	$(BIN)/pytest -m ""

lint: setup ## ruff format check, ruff lint, mypy
	$(BIN)/ruff format --check pipelines tests bench
	$(BIN)/ruff check pipelines tests bench
	$(BIN)/mypy pipelines

format: setup ## format and autofix with ruff
	$(BIN)/ruff format pipelines tests
	$(BIN)/ruff check --fix pipelines tests

check: setup ## validate every spec and rule file (reads no data)
	$(BIN)/moshu check

schema: setup ## regenerate the JSON Schemas of specs and rule files
	$(BIN)/moshu schema

dagster: setup ## open the Dagster UI on the warehouse's instance (runs of `make run` show there)
	mkdir -p $(WAREHOUSE)/.dagster
	MOSHU_PSEUDONYM_KEY_FILE=$${MOSHU_PSEUDONYM_KEY_FILE:-$(abspath $(DEV_KEY))} DAGSTER_HOME=$(abspath $(WAREHOUSE))/.dagster MOSHU_WAREHOUSE=$(abspath $(WAREHOUSE)) $(BIN)/dagster dev -m pipelines.definitions

chromium: ## install the system Chromium and CJK fonts when `chromium` is missing (Debian / Ubuntu, apt-get)
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-noto-cjk; }

browser: setup chromium ## open the site, a report, a card, a model page and GE Data Docs in headless Chromium (tests/browser)
	$(BIN)/pytest tests/browser -m ""

screenshots: setup chromium ## rebuild the seeds in a temporary folder and redraw docs/screenshots/*.png (full page, 1280 wide)
	$(BIN)/python -m tests.browser.harness docs/screenshots

clean: ## remove the environment and the local warehouse
	rm -rf $(VENV) $(TOOLS) $(WAREHOUSE) .pytest_cache .mypy_cache .ruff_cache

bench: setup bench-quality ## benchmark moshu against the DuckDB floor, polars, polars + pandera and GE on pandas at 1M and 10M rows in one run, then bench-quality (bench/README.md)
	$(BIN)/python bench/run.py --rows 1000000 10000000

bench-quality: setup ## the wide profile (1,000 x 100,000), trial training and the label-issue detector (30,000 x 50), anomaly false alarms
	$(BIN)/python bench/profile_wide.py --columns 1000 --rows 100000
	$(BIN)/python bench/loop.py --rows 30000 --cols 50 --repeat 3
	$(BIN)/python bench/detector.py
	$(BIN)/python bench/anomalies.py --days 30

bench-100m: setup ## the benchmark at 100M rows without the GE-on-pandas baseline (8.3 GB of CSV, about 12 minutes)
	$(BIN)/python bench/run.py --rows 100000000 --only duckdb polars moshu moshu_sql --timeout 0
