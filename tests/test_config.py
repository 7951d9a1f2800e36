import random

import numpy as np
import pytest
import torch

import utils


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
    import subprocess
    import sys

    code = ("import sys, numpy as np; s = np.random.get_state()[1][0]; import utils; "
            "assert 'torch' not in sys.modules, 'import utils imported torch'; "
            "assert np.random.get_state()[1][0] == s, 'import utils seeded numpy'; "
            "utils.metrics; assert 'utils.metrics' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_attribute_says_what_exists():
    with pytest.raises(AttributeError, match="modules are"):
        utils.no_such_module


def test_configure_threads_follows_the_policy(monkeypatch):
    from utils import config

    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("COURSE_THREADS", raising=False)
        monkeypatch.setattr(config, "available_cores", lambda: 2)
        assert utils.configure_threads() == 1 and torch.get_num_threads() == 1
        monkeypatch.setattr(config, "available_cores", lambda: 16)
        assert utils.configure_threads() == 4 and torch.get_num_threads() == 4
        monkeypatch.setenv("COURSE_THREADS", "3")
        assert utils.configure_threads() == 3 and torch.get_num_threads() == 3
        assert utils.configure_threads(2) == 2 and torch.get_num_threads() == 2
        monkeypatch.setenv("COURSE_THREADS", "many")
        with pytest.raises(ValueError, match="COURSE_THREADS"):
            utils.configure_threads()
        with pytest.raises(ValueError, match="positive integer"):
            utils.configure_threads(0)
    finally:
        torch.set_num_threads(before)


def test_configure_threads_before_torch_sets_a_passive_wait_policy():
    import subprocess
    import sys

    code = ("import os, sys; os.environ.pop('OMP_WAIT_POLICY', None); os.environ.pop('COURSE_THREADS', None); "
            "import utils; n = utils.configure_threads(); "
            "assert os.environ['OMP_WAIT_POLICY'] == 'PASSIVE'; import torch; "
            "assert torch.get_num_threads() == n, (torch.get_num_threads(), n)")
    subprocess.run([sys.executable, "-c", code], check=True)
