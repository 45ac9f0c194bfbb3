# The README's two commands: `make run` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

export SEMSPACE_DB ?= data/semspace.duckdb
export DBT_PROFILES_DIR ?= $(CURDIR)

.PHONY: setup run ingest build mds exports test bench clean

setup: $(STAMP)

# Re-install whenever the project's dependencies change.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable '.[dev]'
	touch $(STAMP)

## make run: ingest the default captions, build every dbt model into $(SEMSPACE_DB), then MDS.
run: ingest build mds

ingest: setup
	$(BIN)/python -m ingest

build: setup
	$(BIN)/dbt build

mds: setup
	$(BIN)/python -m analysis mds --corpus coco

## make exports: Parquet and CSV files of the marts under data/exports/.
exports: setup
	$(BIN)/dbt run --select exports

## make test: the whole suite (unit, ingest, dbt build + data and unit tests on the shared split).
test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python benchmarks/pairs.py

clean:
	rm -rf target logs data/exports
