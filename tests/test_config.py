import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

import utils


def _python(code: str, **kwargs):
    """Run ``code`` in a fresh Python process (a fresh import of utils, numpy and torch); fail if it fails."""
    return subprocess.run([sys.executable, "-c", code], check=True, **kwargs)


def test_set_seed_makes_numpy_torch_and_random_reproducible():
    rng = utils.set_seed(3)
    a = (random.random(), np.random.rand(), torch.rand(1).item(), rng.random())
    rng = utils.set_seed(3)
    b = (random.random(), np.random.rand(), torch.rand(1).item(), rng.random())
    assert a == b


@pytest.mark.parametrize("bad", [-1, 1.5, "3"])
def test_set_seed_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="seed"):
        utils.set_seed(bad)


def test_get_device_defaults_to_an_available_device(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    device = utils.get_device()
    assert device.type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        assert device.type in {"cpu", "mps"}
    assert utils.get_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device"):
        utils.get_device("tpu")


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), ("0", False), ("", False), ("off", False)])
def test_fast_mode_reads_course_fast(monkeypatch, value, expected):
    monkeypatch.setenv("COURSE_FAST", value)
    assert utils.fast_mode() is expected
    assert utils.pick(full=10, fast=2) == (2 if expected else 10)


def test_fast_mode_rejects_unclear_values(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "maybe")
    with pytest.raises(ValueError, match="COURSE_FAST"):
        utils.fast_mode()


def test_import_has_no_side_effects():
    code = ("import sys, numpy as np; s = np.random.get_state()[1][0]; import utils; "
            "assert 'torch' not in sys.modules, 'import utils imported torch'; "
            "assert np.random.get_state()[1][0] == s, 'import utils seeded numpy'; "
            "utils.metrics; assert 'utils.metrics' in sys.modules")
    _python(code)


def test_unknown_attribute_says_what_exists():
    with pytest.raises(AttributeError, match="modules are"):
        _ = utils.no_such_module


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY", "COURSE_THREADS")


def _thread_settings():
    from threadpoolctl import threadpool_info

    return ({var: os.environ.get(var) for var in _THREAD_VARIABLES}, torch.get_num_threads(),
            sorted((i["filepath"], i["num_threads"]) for i in threadpool_info()))  # the order libraries list in varies


_AT_IMPORT = _thread_settings()  # as conftest.py left them for the whole test session


@pytest.fixture
def restored_threads(monkeypatch):
    """configure_threads changes os.environ, torch and the BLAS pools: all three are put back after the test,
    so that no thread setting of a test reaches the next tests or the notebook kernels they start."""
    from threadpoolctl import threadpool_limits

    for var in _THREAD_VARIABLES:  # setenv records the value to restore (or that there was none)
        present = var in os.environ
        monkeypatch.setenv(var, os.environ.get(var, ""))
        if not present:
            monkeypatch.delenv(var)
    torch_threads = torch.get_num_threads()
    blas = threadpool_limits(limits=None)  # changes nothing; remembers the present limits
    yield
    blas.restore_original_limits()
    torch.set_num_threads(torch_threads)


def test_configure_threads_follows_the_policy(monkeypatch, restored_threads):
    from utils import config

    monkeypatch.delenv("COURSE_THREADS", raising=False)
    monkeypatch.setattr(config, "available_cores", lambda: 2)
    assert utils.configure_threads() == 1 and torch.get_num_threads() == 1
    monkeypatch.setattr(config, "available_cores", lambda: 16)
    assert utils.configure_threads() == 4 and torch.get_num_threads() == 4
    monkeypatch.setenv("COURSE_THREADS", "3")
    assert utils.configure_threads() == 3 and torch.get_num_threads() == 3
    assert utils.configure_threads(2) == 2 and torch.get_num_threads() == 2
    assert all(os.environ[var] == "2" for var in _THREAD_VARIABLES[:3])
    monkeypatch.setenv("COURSE_THREADS", "many")
    with pytest.raises(ValueError, match="COURSE_THREADS"):
        utils.configure_threads()
    with pytest.raises(ValueError, match="positive integer"):
        utils.configure_threads(0)


def test_the_thread_settings_of_a_test_do_not_leak():
    # runs after the test above (pytest keeps the file's order): its "2" must be gone from the
    # environment (the notebook kernels started by later tests inherit it), torch and the BLAS pools
    assert all(os.environ.get(var) != "2" for var in _THREAD_VARIABLES[:3]), \
        {var: os.environ.get(var) for var in _THREAD_VARIABLES}
    env, torch_threads, pools = _thread_settings()
    loaded_at_import = {path for path, _ in _AT_IMPORT[2]}  # libraries loaded since (scikit-learn's) may differ
    assert (env, torch_threads, [p for p in pools if p[0] in loaded_at_import]) == _AT_IMPORT


@pytest.mark.slow
def test_configure_threads_limits_the_blas_numpy_has_already_loaded():
    from utils import config

    if config.available_cores() < 2:
        pytest.skip("one core: numpy's BLAS starts with one thread, there is nothing to limit")
    # a fresh process in which numpy's BLAS starts with one thread per core, as in a student's kernel
    env = {k: v for k, v in os.environ.items()
           if k not in {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "GOTO_NUM_THREADS"}}
    code = ("import json, numpy, threadpoolctl\n"
            "blas = lambda: [i['num_threads'] for i in threadpoolctl.threadpool_info() if i['user_api'] == 'blas']\n"
            "before = blas()\n"
            "import utils\n"
            "assert utils.configure_threads(1) == 1\n"
            "print(json.dumps([before, blas()]))\n")
    result = _python(code, env=env, capture_output=True, text=True)
    before, after = json.loads(result.stdout.strip().splitlines()[-1])
    assert before and max(before) > 1, f"numpy's BLAS started with {before} threads: nothing to test"
    assert after == [1] * len(before), f"numpy's BLAS kept {after} threads after configure_threads(1)"


@pytest.mark.slow
def test_configure_threads_before_torch_sets_a_passive_wait_policy():
    code = ("import os, sys; os.environ.pop('OMP_WAIT_POLICY', None); os.environ.pop('COURSE_THREADS', None); "
            "import utils; n = utils.configure_threads(); "
            "assert os.environ['OMP_WAIT_POLICY'] == 'PASSIVE'; import torch; "
            "assert torch.get_num_threads() == n, (torch.get_num_threads(), n)")
    _python(code)


def test_a_notebook_without_torch_does_not_load_it():
    """The setup calls load torch only when the notebook has: a notebook of trees or fits saves 2 s."""
    code = ("import sys, utils; utils.configure_threads(1); rng = utils.set_seed(3); "
            "assert 'torch' not in sys.modules, 'the setup calls imported torch'; "
            "import torch; utils.set_seed(3); a = torch.rand(3); utils.set_seed(3); "
            "assert torch.equal(a, torch.rand(3)) and torch.get_num_threads() == 1")
    _python(code)
