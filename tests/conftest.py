"""Shared test set-up: a non-interactive matplotlib and results written to a temporary folder."""
import os

import matplotlib
import pytest

import utils

matplotlib.use("Agg")
# The course's thread policy for the test process too: on two cores, torch's and BLAS's default
# threads spin while they wait and starve the notebook kernels that run beside the unit tests.
utils.configure_threads()


@pytest.fixture(autouse=True)
def _isolated_results(tmp_path, monkeypatch, request):
    """Unit tests write results into a temporary folder, never into the course's results/."""
    if request.node.get_closest_marker("slow") is None:
        monkeypatch.setenv("COURSE_RESULTS_DIR", str(tmp_path / "results"))
    yield


def pytest_collection_modifyitems(config, items):
    # the book build depends on nothing else and takes longest: run it last
    items.sort(key=lambda item: item.get_closest_marker("slow") is not None)


def pytest_collection_finish(session):
    """When this run builds the book and also runs notebooks through nbval, start the book's
    build now, in the background: its kernels and nbval's then share the two cores instead of
    taking turns (the build's result is awaited by the ``html`` fixture)."""
    items = session.items
    wants_book = any(item.nodeid.startswith("tests/test_book.py") for item in items)
    runs_notebooks = any(item.nodeid.endswith("::Cell 0") for item in items)
    if wants_book and runs_notebooks and not session.config.option.collectonly:
        import test_book

        session.config._course_book_build = test_book.start_build()


def pytest_unconfigure(config):
    proc = getattr(config, "_course_book_build", None)
    if proc is not None and proc.poll() is None:  # the run was interrupted: do not leave it behind
        proc.terminate()


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
