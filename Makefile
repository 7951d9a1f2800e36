# The course in a few commands. `make book` and `make test` set up everything they need.
#   make book       build the executed book into _build/html (full mode)
#   make test       unit tests, nbval over every notebook (fast mode), book build + browser check
#   make lab        JupyterLab on the notebooks
#   make benchmark  run every notebook in full mode; results/benchmark.json and book/benchmark.md
#   make data       regenerate the shipped samples with Pythia 8 + FastJet (about an hour on 2 cores)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR := book/_vendor/.complete
WORKERS ?= 2
SEED ?= 1
SAMPLES := top_jets qcd_jets drell_yan dijet_wprime dijet_qcd
NBVAL := --nbval-lax --nbval-current-env --nbval-cell-timeout=300

.PHONY: setup book test unit nbval lab benchmark data chromium clean help
.DEFAULT_GOAL := help

help:
	@sed -n '2,7p' Makefile | sed 's/^# *//'

# The virtual environment: CPU PyTorch first (an unpinned torch pulls a CUDA build of several GB),
# then the course's package with its extras.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev,generate]"
	touch $(STAMP)

# MathJax, require.js and the widget manager, served by the book itself (offline rendering).
$(VENDOR): book/vendor.sh
	bash book/vendor.sh

setup: $(STAMP) $(VENDOR)

book: setup
	$(BIN)/jupyter-book build . --keep-going -W
	@echo "open _build/html/index.html"

# Debian's Chromium for the headless check of the built pages (CI runs as root).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# One pytest run: unit tests, data checks, the book build with its browser check (tests/), and
# every notebook through nbval, all in fast mode.
test: setup chromium
	COURSE_FAST=1 $(BIN)/python -m pytest $(NBVAL) tests notebooks

unit: setup
	$(BIN)/python -m pytest tests -m "not slow"

nbval: setup
	COURSE_FAST=1 $(BIN)/python -m pytest $(NBVAL) notebooks

lab: setup
	$(BIN)/jupyter lab notebooks/

benchmark: setup
	$(BIN)/python -m utils.benchmark

data: setup
	for s in $(SAMPLES); do $(BIN)/python -m utils.data generate $$s --seed $(SEED) --workers $(WORKERS) || exit 1; done
	$(BIN)/python -m utils.data verify

clean:
	rm -rf _build results .pytest_cache
