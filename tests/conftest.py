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
    """When the Colab-path test will run, build its fresh environment in the background from the
    start (mostly downloads and unpacking), so that it overlaps the notebooks' runs."""
    if session.config.option.collectonly:
        return
    if any(item.nodeid.startswith("tests/test_colab.py") for item in session.items):
        from concurrent.futures import ThreadPoolExecutor

        import test_colab

        pool = ThreadPoolExecutor(max_workers=1)
        session.config._course_colab_environment = pool.submit(test_colab.prepare)
        pool.shutdown(wait=False)


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
