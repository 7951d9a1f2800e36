"""Seeds, device and fast mode: the three settings every notebook starts with."""
from __future__ import annotations

import os
import random

import numpy as np

__all__ = ["set_seed", "get_device", "fast_mode", "pick"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def set_seed(seed: int = 42) -> np.random.Generator:
    """Seed Python's ``random``, numpy's global generator and torch (CPU and CUDA, if installed).

    Returns a fresh ``numpy.random.Generator`` seeded with ``seed``, the preferred way to draw
    random numbers in new code.  Also asks torch for deterministic algorithms where that is
    cheap (cuDNN), so two runs give the same numbers up to float noise.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # numpy-only notebooks do not need torch
        return np.random.default_rng(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    return np.random.default_rng(seed)


def get_device(prefer: str | None = None):
    """The torch device to train on: ``cuda`` if a GPU is visible, else ``mps`` (Apple), else ``cpu``.

    ``prefer`` (or the environment variable ``COURSE_DEVICE``) forces one, e.g. ``"cpu"``
    to compare timings.  Returns a ``torch.device``.
    """
    import torch

    choice = prefer or os.environ.get("COURSE_DEVICE")
    if choice:
        if choice not in {"cpu", "cuda", "mps"} and not choice.startswith("cuda:"):
            raise ValueError(f"unknown device {choice!r}; use 'cpu', 'cuda', 'cuda:N' or 'mps'")
        return torch.device(choice)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def fast_mode() -> bool:
    """True when ``COURSE_FAST`` is set to 1/true/yes/on: fewer events and epochs, for tests.

    The book and students run the full mode; CI runs every notebook with ``COURSE_FAST=1``.
    """
    value = os.environ.get("COURSE_FAST", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"COURSE_FAST={value!r} is not understood; set it to 1 (fast) or 0 (full)")


def pick(full, fast):
    """``fast`` in fast mode, else ``full``: keeps each size's two values side by side.

    Example: ``N_EVENTS = utils.pick(full=200_000, fast=5_000)``.
    """
    return fast if fast_mode() else full
