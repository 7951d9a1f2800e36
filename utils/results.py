"""Record a notebook's headline numbers so that ``make benchmark`` can tabulate them."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

__all__ = ["record_result", "results_dir", "read_results"]


def results_dir() -> Path:
    """``$COURSE_RESULTS_DIR`` if set, else ``results/`` in the course's root folder."""
    return Path(os.environ.get("COURSE_RESULTS_DIR", Path(__file__).resolve().parent.parent / "results"))


def _plain(name: str, value):
    if isinstance(value, (np.generic,)):
        value = value.item()
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # 0-d numpy array or torch tensor
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"result {name!r} is {value}: a headline number must be finite")
        return value
    raise ValueError(f"result {name!r} must be a number, bool or string; got {type(value).__name__}")


def record_result(notebook: str, **metrics) -> Path:
    """Write ``results/<notebook>.json`` with the given metrics (numbers, bools or strings).

    Adds ``fast_mode``, so that the benchmark never mixes fast-mode numbers with full ones.
    Returns the path.  Example: ``utils.record_result("01_logistic_regression", auc=0.91)``.
    """
    from .config import fast_mode

    if not notebook or "/" in notebook or notebook.endswith(".ipynb"):
        raise ValueError(f"notebook must be the notebook's stem, e.g. '01_logistic_regression'; got {notebook!r}")
    if not metrics:
        raise ValueError("record_result needs at least one metric, e.g. auc=0.93")
    payload = {"notebook": notebook, "fast_mode": fast_mode(),
               "metrics": {k: _plain(k, v) for k, v in sorted(metrics.items())}}
    path = results_dir() / f"{notebook}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def read_results(notebook: str) -> dict:
    """The metrics last recorded for a notebook (a dict), or raise FileNotFoundError."""
    path = results_dir() / f"{notebook}.json"
    if not path.exists():
        raise FileNotFoundError(f"no results recorded for {notebook!r} at {path}: run the notebook first")
    return json.loads(path.read_text())
