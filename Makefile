# The course in a few commands. `make book` and `make test` set up everything they need.
#   make book       build the executed book into _build/html (full mode, two notebooks at a time)
#   make test       lint, unit tests, nbval over every notebook (fast mode, both cores), book + browser check
#   make lab        JupyterLab on the notebooks
#   make student    the student edition (solutions removed) into _build/student, run to check it
#   make benchmark  run every notebook in full mode; book/benchmark.json, book/benchmark.md, README column
#   make data       regenerate the shipped samples with Pythia 8 + FastJet (about an hour on 2 cores)
#   make unit       the unit tests only (under a minute)
#   make lock       regenerate the lock .ci/constraints.txt in a fresh environment, and the conda files from it
SHELL := /bin/bash
PYTHON ?= python3
# Where the torch wheel comes from. The default is PyTorch's index of CPU-only wheels (a plain
# `pip install torch` on Linux pulls the CUDA build, several GB); where that index cannot be
# reached (asked once, before pip would retry it for every dependency), the default index is tried
# instead (some mirrors serve the CPU build there).
# For a GPU machine: make setup TORCH_INDEX=https://download.pytorch.org/whl/cu128
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_VERSION := 2.13.0
# The exact versions the course is tested with (CI installs these): written by `make lock`, which also
# writes environment.yml and .binder/environment.yml from it; commit them after `make test` passes.
CONSTRAINTS := .ci/constraints.txt
EXTRAS := dev,generate,reference
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR := book/_vendor/.complete
WORKERS ?= 2
SEED ?= 1
SAMPLES := top_jets qcd_jets drell_yan dijet_wprime dijet_qcd ttbar_partons shower_nature shower_pseudo_nature shower_measured shower_grid shower_scan
NBVAL := --nbval-lax --nbval-current-env --nbval-cell-timeout=300
# The notebooks run on both cores: pytest-xdist, a notebook's cells kept on one worker (loadscope,
# tests/conftest.py: after the notebook whose results it reads),
# one torch/BLAS thread per worker (the course's thread policy, COURSE_THREADS=1).
XDIST := -n $(WORKERS) --dist loadscope
# the tests that need every notebook's run (the test book) or a whole fresh environment (Colab) run after,
# side by side (one module per worker): the book's build and browser check beside the Colab path's install and run
LATE := tests/test_book.py tests/test_colab.py

.PHONY: setup book test lint unit nbval lab student benchmark data lock sync chromium clean help
.DEFAULT_GOAL := help

help:
	@sed -n '2,9p' Makefile | sed 's/^# *//'

# The virtual environment: CPU PyTorch first (an unpinned torch pulls a CUDA build of several GB),
# then the course's package with its extras, at the locked versions.
$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip
	$(BIN)/python -c "import urllib.request as u; u.urlopen('$(TORCH_INDEX)/torch/', timeout=10)" 2>/dev/null \
	  && $(BIN)/python -m pip install -q --timeout 15 --retries 1 torch==$(TORCH_VERSION) --index-url $(TORCH_INDEX) \
	  || { echo "$(TORCH_INDEX) not reachable: torch from the default index"; \
	       $(BIN)/python -m pip install -q torch==$(TORCH_VERSION); }
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e ".[$(EXTRAS)]"
	touch $(STAMP)

# MathJax, require.js and the widget manager, served by the book itself (offline rendering).
$(VENDOR): book/vendor.sh
	bash book/vendor.sh

setup: $(STAMP) $(VENDOR)

# The notebooks run first (utils/tooling/execution.py: only those whose source, or the course's code or
# data, changed since the last build), two at a time with one thread each; jupyter-book then renders them.
book: setup
	$(BIN)/python -m utils book-cache --execute --workers $(WORKERS)
	$(BIN)/jupyter-book build . --keep-going -W
	@echo "open _build/html/index.html"

# Debian's Chromium for the headless check of the built pages. CI runs as root and installs it;
# elsewhere (no root, macOS) the browser test is skipped with a message saying how to get it.
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
	  || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	       && { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } ; } \
	  || echo "no Chromium: the browser test will be skipped (Debian/Ubuntu: sudo apt-get install chromium; macOS: brew install --cask chromium)"

# Lint; then unit tests, data checks and every notebook through nbval in fast mode, on both cores;
# then, once every notebook's run is stored (tests/executed.py), the test book with its browser check
# and the Colab path in a pytest run of their own.
test: setup chromium
	rm -rf _build/test/executed
	$(BIN)/ruff check utils tests notebooks
	COURSE_FAST=1 COURSE_THREADS=1 $(BIN)/python -m pytest $(NBVAL) $(XDIST) tests notebooks $(addprefix --ignore=,$(LATE))
	COURSE_FAST=1 $(BIN)/python -m pytest $(XDIST) $(LATE)

lint: setup
	$(BIN)/ruff check utils tests notebooks

unit: setup
	$(BIN)/python -m pytest tests -m "not slow" $(addprefix --ignore=,$(LATE))

nbval: setup
	COURSE_FAST=1 COURSE_THREADS=1 $(BIN)/python -m pytest $(NBVAL) $(XDIST) notebooks

# What lists the notebooks (_toc.yml, the README and intro tables, the course map, the navigation
# footers, the conda environments) is written from book/course.yml and the lock.
sync: setup
	$(BIN)/python -m utils sync

# The lock: a fresh environment with CPU torch and every extra, frozen; then the conda files follow.
lock:
	rm -rf _build/lock && $(PYTHON) -m venv _build/lock
	_build/lock/bin/python -m pip install -q -U pip
	_build/lock/bin/python -c "import urllib.request as u; u.urlopen('$(TORCH_INDEX)/torch/', timeout=10)" 2>/dev/null \
	  && _build/lock/bin/python -m pip install -q --timeout 15 --retries 1 torch==$(TORCH_VERSION) --index-url $(TORCH_INDEX) \
	  || _build/lock/bin/python -m pip install -q torch==$(TORCH_VERSION)
	_build/lock/bin/python -m pip install -q -e ".[$(EXTRAS)]"
	# (torch without its local label: 2.13.0 matches the CPU build here and the default build elsewhere)
	{ echo "# The exact versions the course is tested with (Python 3.11, Linux), written by \`make lock\`:"; \
	  echo "# a fresh environment with CPU torch and every extra, frozen. make and CI install with"; \
	  echo "# pip install -c .ci/constraints.txt; python -m utils sync writes environment.yml from it."; \
	  _build/lock/bin/python -m pip freeze --exclude-editable | grep -v "^-e " | sed -E 's/^(torch==[^+]+)[+].*/\1/'; \
	} > $(CONSTRAINTS)
	$(BIN)/python -m utils sync || _build/lock/bin/python -m utils sync

lab: setup
	$(BIN)/jupyter lab notebooks/

# The student edition (utils/editions.py): every `solution` cell removed, every `exercise` cell raising
# NotImplementedError; then run in fast mode to check that only the exercise cells fail.
STUDENT_BRANCH ?= student
student: setup
	COURSE_FAST=1 $(BIN)/python -m utils student --branch $(STUDENT_BRANCH) --run

benchmark: setup
	$(BIN)/python -m utils benchmark

data: setup
	for s in $(SAMPLES); do $(BIN)/python -m utils generate $$s --seed $(SEED) --workers $(WORKERS) || exit 1; done
	$(BIN)/python -m utils verify

clean:
	rm -rf _build results .pytest_cache
