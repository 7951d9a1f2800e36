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


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
