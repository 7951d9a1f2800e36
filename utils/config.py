"""Seeds, device, threads and fast mode: the settings every notebook starts with."""
from __future__ import annotations

import os
import random
import sys

import numpy as np

__all__ = ["set_seed", "get_device", "fast_mode", "pick", "configure_threads", "available_cores"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def set_seed(seed: int = 42) -> np.random.Generator:
    """Seed Python's ``random``, numpy's global generator and torch (CPU and CUDA).

    Returns a fresh ``numpy.random.Generator`` seeded with ``seed``, the preferred way to draw
    random numbers in new code.  Also asks torch for deterministic algorithms where that is
    cheap (cuDNN), so two runs give the same numbers up to float noise.

    torch is seeded if it is imported already: import it first, as the setup cells do.  A
    notebook without torch (trees, fits, scans) does not load it here: that would cost it
    two seconds for nothing.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is None:
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


def available_cores() -> int:
    """CPU cores this process may run on (respects ``taskset``/cgroup affinity where the OS tells)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """The course's thread policy: ``$COURSE_THREADS`` if set, else one thread per two usable cores, at
    most four (:func:`available_cores`: 1 on a 2-core laptop, Colab or CI runner)."""
    env = os.environ.get("COURSE_THREADS", "").strip()
    if not env:
        return min(4, max(1, available_cores() // 2))
    try:
        return int(env)
    except ValueError:
        raise ValueError(f"COURSE_THREADS={env!r} is not a whole number; set it to e.g. 1 or 2") from None


def configure_threads(n: int | None = None) -> int:
    """The course's thread policy: how many CPU threads torch (and numpy's BLAS) may use.

    The course's networks are small (thousands to a few hundred thousand weights, batches of
    a few hundred).  For such models the cost of handing work to several threads outweighs
    the gain, and worse, torch's default (one thread per core, spinning while it waits)
    collapses as soon as anything else runs: measured on 2 cores, a small MLP took 2.1 s with
    one thread and 6.7 s with two, and 9.3 s with two while a second process was busy.
    So the default is one thread per two cores, at most four: 1 on a 2-core laptop,
    Colab or CI runner, 4 on a 16-core workstation.

    Parameters
    ----------
    n : threads to use; default ``$COURSE_THREADS`` if set, else ``min(4, max(1, cores // 2))``.

    Returns
    -------
    the number of threads set: for the BLAS and OpenMP libraries already loaded (numpy's
    OpenBLAS, through ``threadpoolctl``), for torch if it is loaded, and, through
    ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS``, for those loaded
    later (torch reads them when it loads) and for the processes started from here.  Call it
    first in each notebook's setup cell, before ``import torch``: it also asks OpenMP to sleep
    rather than spin while it waits (``OMP_WAIT_POLICY=PASSIVE``), which only takes effect if
    torch is not loaded yet.
    A GPU does not care: this only limits the CPU.
    """
    if n is None:
        n = default_threads()
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"the number of threads must be a positive integer; got {n!r}")
    n = int(n)
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)  # for processes started from here (and BLAS libraries not loaded yet)
    # numpy's BLAS (and any OpenMP runtime) is loaded by now and read the variables above when it
    # was: threadpoolctl resizes the thread pools of the libraries already in the process
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)
    torch = sys.modules.get("torch")
    if torch is None:  # torch reads OMP_NUM_THREADS when it loads; a notebook without torch does not load it
        return n
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)  # allowed once, before any parallel work
    except RuntimeError:
        pass
    return n
