"""Shared test set-up: every package `make setup` installs is there, a non-interactive matplotlib, and
results and caches written to temporary folders."""
import importlib.util
import os
from pathlib import Path

import matplotlib
import pytest

import utils

matplotlib.use("Agg")
# The course's thread policy for the test process too: on two cores, torch's and BLAS's default
# threads spin while they wait and starve the notebook kernels that run beside the unit tests.
utils.configure_threads()


# What `make setup` installs (pyproject.toml's dependencies and the dev, generate and reference extras), by
# import name: a test module that needs one of them fails when it is missing, it is never skipped, so a
# broken environment cannot pass as a green run. Only what `make setup` does not install may be skipped
# (Chromium, which the browser tests ask for with advice).
REQUIRED = ["numpy", "scipy", "matplotlib", "sklearn", "threadpoolctl", "torch", "tqdm", "ipywidgets", "zuko",
            "pandas", "tables", "pythia8mc", "fastjet", "nbval", "xdist", "jupyter_cache", "nbclient", "nbformat",
            "yaml", "playwright", "psutil", "packaging", "jupyter_book"]


def pytest_configure(config):
    missing = [name for name in REQUIRED if importlib.util.find_spec(name) is None]
    if missing:
        pytest.exit(f"the environment lacks {missing}, which `make setup` installs: run `make setup` "
                    "(or `pip install -e \".[dev,generate,reference]\"`), then the tests again", returncode=4)


# the tests that run notebooks, which read each other's results (05 reads 04's), keep the course's results/
RUN_NOTEBOOKS = {"test_book", "test_reference_notebooks", "test_lab_widgets", "test_colab"}


@pytest.fixture(autouse=True)
def _isolated_results(tmp_path, monkeypatch, request):
    """Tests write results and caches into temporary folders, never into the course's results/ or
    data/cache/ (the reference cache, the generator's chunks, stack_chunks' files)."""
    if request.module.__name__ not in RUN_NOTEBOOKS:
        monkeypatch.setenv("COURSE_RESULTS_DIR", str(tmp_path / "results"))
        monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    yield


def pytest_collection_modifyitems(config, items):
    # the long tests first: under pytest-xdist the short ones then fill the gaps at the end
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist (`make test`, `-n 2`): a test module, or a notebook's cells, run on one worker, and a
    notebook that reads another's results (05 reads 04's) runs after it on the same worker
    (:func:`utils.tooling.execution.run_groups`). xdist's scheduling by scope, with these scopes."""
    from xdist.scheduler import LoadScopeScheduling

    from utils.tooling.execution import course_notebooks, run_groups

    group_of = {path.name: "notebooks:" + "+".join(p.stem[:2] for p in group)
                for group in run_groups(course_notebooks()) for path in group}

    class CourseScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            path = nodeid.split("::")[0]
            return group_of.get(Path(path).name, path)

    return CourseScheduling(config, log)


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
