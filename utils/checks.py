"""The input check the course's modules share: a non-empty, finite float array of the expected shape.

Used by :mod:`utils.unfolding`, :mod:`utils.inference` and :mod:`utils.cathode`; classifier labels
and scores have their own check in :mod:`utils.metrics`.
"""
from __future__ import annotations

import numpy as np

__all__ = ["finite_array"]


def finite_array(x, what: str, ndim: int = 1, length: int | None = None, columns: bool = False) -> np.ndarray:
    """``x`` as a float64 array, checked, for functions that take arrays from students.

    Parameters
    ----------
    x : array-like.
    what : the argument's name, for the error message (``"values"``, ``"theta"``).
    ndim : 1 for ``(n,)``, 2 for ``(n, d)``.
    length : the required ``n``, or None for any.
    columns : with ``ndim=2``, accept ``(n,)`` as one column ``(n, 1)``.

    Raises ValueError, naming ``what``, for a wrong shape, an empty array, a wrong length, or a NaN
    or infinite value.
    """
    if ndim not in (1, 2):
        raise ValueError(f"ndim must be 1 or 2; got {ndim}")
    x = np.asarray(x, dtype=np.float64)
    if ndim == 2 and columns and x.ndim == 1:
        x = x[:, None]
    if x.ndim != ndim or len(x) == 0:
        shape = "(n,)" if ndim == 1 else "(n,) or (n, d)" if columns else "(n, d)"
        raise ValueError(f"{what} must be a non-empty {shape} array; got shape {x.shape}")
    if length is not None and len(x) != length:
        raise ValueError(f"{what} must have length {length}; got {len(x)}")
    bad = ~np.isfinite(x)
    if bad.any():
        raise ValueError(f"{what} contains {int(bad.sum())} NaN or infinite values")
    return x
