# The course in a few commands. `make book` and `make test` set up everything they need.
#   make book       build the executed book into _build/html (full mode)
#   make test       unit tests, nbval over every notebook (fast mode), book build + browser check
#   make lab        JupyterLab on the notebooks
#   make student    the student edition (solutions removed) into _build/student, run to check it
#   make benchmark  run every notebook in full mode; book/benchmark.json, book/benchmark.md, README column
#   make data       regenerate the shipped samples with Pythia 8 + FastJet (about an hour on 2 cores)
SHELL := /bin/bash
PYTHON ?= python3
# Where the torch wheel comes from. The default is PyTorch's index of CPU-only wheels (a plain
# `pip install torch` on Linux pulls the CUDA build, several GB); where that index cannot be
# reached, the default index is tried instead (some mirrors serve the CPU build there).
# For a GPU machine: make setup TORCH_INDEX=https://download.pytorch.org/whl/cu128
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_VERSION := 2.13.0
# The exact versions the course is tested with (CI installs these; bump them in one commit,
# with environment.yml, after `make test` passes on the new set).
CONSTRAINTS := .ci/constraints.txt
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR := book/_vendor/.complete
WORKERS ?= 2
SEED ?= 1
SAMPLES := top_jets qcd_jets drell_yan dijet_wprime dijet_qcd
NBVAL := --nbval-lax --nbval-current-env --nbval-cell-timeout=300

.PHONY: setup book test unit nbval lab student benchmark data chromium clean help
.DEFAULT_GOAL := help

help:
	@sed -n '2,7p' Makefile | sed 's/^# *//'

# The virtual environment: CPU PyTorch first (an unpinned torch pulls a CUDA build of several GB),
# then the course's package with its extras, at the locked versions.
$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip
	$(BIN)/python -m pip install -q --timeout 15 --retries 1 torch==$(TORCH_VERSION) --index-url $(TORCH_INDEX) \
	  || { echo "$(TORCH_INDEX) not reachable: torch from the default index"; \
	       $(BIN)/python -m pip install -q torch==$(TORCH_VERSION); }
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e ".[dev,generate]"
	touch $(STAMP)

# MathJax, require.js and the widget manager, served by the book itself (offline rendering).
$(VENDOR): book/vendor.sh
	bash book/vendor.sh

setup: $(STAMP) $(VENDOR)

# The notebooks run first (utils/execution.py: only those whose source, or the course's code or data,
# changed since the last build); jupyter-book then renders the stored runs.
book: setup
	$(BIN)/python -m utils book-cache --execute
	$(BIN)/jupyter-book build . --keep-going -W
	@echo "open _build/html/index.html"

# Debian's Chromium for the headless check of the built pages. CI runs as root and installs it;
# elsewhere (no root, macOS) the browser test is skipped with a message saying how to get it.
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
	  || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	       && { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } ; } \
	  || echo "no Chromium: the browser test will be skipped (Debian/Ubuntu: sudo apt-get install chromium; macOS: brew install --cask chromium)"

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

# The student edition (utils/editions.py): every `solution` cell removed, every `exercise` cell raising
# NotImplementedError; then run in fast mode to check that only the exercise cells fail.
STUDENT_BRANCH ?= student
student: setup
	COURSE_FAST=1 $(BIN)/python -m utils student --branch $(STUDENT_BRANCH) --run

benchmark: setup
	$(BIN)/python -m utils.benchmark

data: setup
	for s in $(SAMPLES); do $(BIN)/python -m utils generate $$s --seed $(SEED) --workers $(WORKERS) || exit 1; done
	$(BIN)/python -m utils verify

clean:
	rm -rf _build results .pytest_cache
