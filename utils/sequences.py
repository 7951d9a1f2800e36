"""Jets as sequences of constituents: lengths, orderings, standardisation, packing.

The recurrent taggers of notebook 05 (and the set networks of notebook 06) read a jet as an array
``(n_jets, n_max, n_features)``: the real constituents first, then zero padding.  This module keeps
the steps that every such network needs in one tested place:

- :func:`sequence_lengths`: how many real constituents each jet has (a constituent is real if its
  pt is positive);
- :func:`reorder`, :func:`reverse_real`, :func:`shuffle_real`: other orders of the real
  constituents, with the padding left at the end (the order an RNN reads them in);
- :func:`fit_standardizer`, :func:`standardize`: zero mean and unit variance per feature, computed
  over the real constituents only (the padding would otherwise drag the means to zero);
- :func:`pack`: ``torch.nn.utils.rnn.pack_padded_sequence`` for a batch of padded jets, so that an
  RNN stops at each jet's last real constituent.

The shuffle and the standardisation are those of the set networks (:func:`utils.sets.shuffle_constituents`,
:func:`utils.sets.fit_standardizer`, :func:`utils.sets.standardize`), called with the mask of the lengths
(:func:`real_mask`): one implementation, the same numbers in notebooks 05 and 06.  ``utils.sets`` (and
with it torch) is imported when one of them is first called, so ``import utils.sequences`` stays light.

Training uses :func:`utils.training.fit` with :func:`utils.training.one_cycle`.

Shapes: ``x`` is ``(n_jets, n_max, n_features)`` (any trailing feature axes), ``lengths`` is
``(n_jets,)`` of integers in ``[0, n_max]``; entry ``j`` of jet ``i`` is real when ``j < lengths[i]``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["sequence_lengths", "real_mask", "reorder", "reverse_real", "shuffle_real", "fit_standardizer",
           "standardize", "pack"]


def _check_lengths(x, lengths) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x)
    lengths = np.asarray(lengths)
    if x.ndim < 2:
        raise ValueError(f"x must have shape (n_jets, n_max, ...); got shape {x.shape}")
    if lengths.shape != (x.shape[0],):
        raise ValueError(f"lengths must have shape ({x.shape[0]},), one per jet; got {lengths.shape}")
    if not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError(f"lengths must be integers; got dtype {lengths.dtype}")
    if len(lengths) and (lengths.min() < 0 or lengths.max() > x.shape[1]):
        raise ValueError(f"lengths must lie in [0, {x.shape[1]}] (the padded length); "
                         f"got {lengths.min()}..{lengths.max()}")
    return x, lengths


def sequence_lengths(constituents, max_length: int | None = None) -> np.ndarray:
    """Number of real constituents per jet, at most ``max_length``.

    Parameters
    ----------
    constituents : ``(n_jets, n_max, k)`` with the pt in ``[..., 0]``, real constituents first and
        zero padding after them (the format of ``utils.data.load("top_tagging")``).
    max_length : cap (the number of leading constituents a network reads); None: no cap.

    Returns
    -------
    int64 array ``(n_jets,)``.
    """
    c = np.asarray(constituents)
    if c.ndim != 3:
        raise ValueError(f"constituents must have shape (n_jets, n_max, k) with pt first; got {c.shape}")
    real = c[..., 0] > 0
    n = real.sum(axis=1)
    # every real constituent must come before the padding, or the lengths would cut real ones off
    if np.any(real[:, 1:] & ~real[:, :-1]):
        raise ValueError("padding (pt = 0) is followed by a real constituent: put the real ones first")
    if max_length is not None:
        if max_length < 1:
            raise ValueError(f"max_length must be >= 1; got {max_length}")
        n = np.minimum(n, max_length)
    return n.astype(np.int64)


def real_mask(lengths, n_max: int) -> np.ndarray:
    """Boolean ``(n_jets, n_max)``: True where a jet has a real constituent (``j < lengths[i]``)."""
    lengths = np.asarray(lengths)
    return np.arange(n_max)[None, :] < lengths[:, None]


def reorder(x, order) -> np.ndarray:
    """``x`` with each jet's entries taken in the given order: ``x[i, order[i, j]]``.

    Parameters
    ----------
    x : ``(n_jets, n_max, ...)``.
    order : integer ``(n_jets, m)`` with ``m <= n_max`` (e.g. a stored clustering-history order,
        a permutation of ``0..n_max-1`` per jet).

    Returns
    -------
    ``(n_jets, m, ...)``, the same dtype as ``x``.
    """
    x = np.asarray(x)
    order = np.asarray(order)
    if order.ndim != 2 or order.shape[0] != x.shape[0]:
        raise ValueError(f"order must have shape ({x.shape[0]}, m); got {order.shape}")
    if not np.issubdtype(order.dtype, np.integer):
        raise ValueError(f"order must hold integer indices; got dtype {order.dtype}")
    if order.size and (order.min() < 0 or order.max() >= x.shape[1]):
        raise ValueError(f"order indexes entries 0..{x.shape[1] - 1}; got {order.min()}..{order.max()}")
    index = order.astype(np.int64).reshape(order.shape + (1,) * (x.ndim - 2))
    return np.take_along_axis(x, index, axis=1)


def reverse_real(x, lengths) -> np.ndarray:
    """Each jet's real entries in reverse order (the last real one first); the padding stays at the end.

    ``x`` is ``(n_jets, n_max, ...)``; returns the same shape.  For pt-ordered constituents this
    gives the softest constituent first and the hardest last.
    """
    x, lengths = _check_lengths(x, lengths)
    j = np.arange(x.shape[1])[None, :]
    order = np.where(j < lengths[:, None], lengths[:, None] - 1 - j, j)
    return reorder(x, order)


def shuffle_real(x, lengths, rng: np.random.Generator) -> np.ndarray:
    """Each jet's real entries in a random order (a new one per jet); the padding stays at the end.

    ``x`` is ``(n_jets, n_max, ...)``; returns the same shape.  ``rng`` is a numpy Generator
    (e.g. from ``utils.set_seed``), so the shuffle is reproducible.  The same permutations as
    :func:`utils.sets.shuffle_constituents` with the mask ``real_mask(lengths, n_max)``.
    """
    from .sets import shuffle_constituents

    x, lengths = _check_lengths(x, lengths)
    return shuffle_constituents(real_mask(lengths, x.shape[1]), x, seed=rng)


def fit_standardizer(x, lengths) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each feature over the real entries only.

    Parameters
    ----------
    x : ``(n_jets, n_max, n_features)``, e.g. ``utils.jets.constituent_features`` of the training jets.
    lengths : ``(n_jets,)`` real entries per jet.

    Returns
    -------
    ``(mean, std)``, each float32 ``(n_features,)``; a feature that never varies gets std 1.
    Fit on the training jets, then apply the same numbers to every split with :func:`standardize`.
    :func:`utils.sets.fit_standardizer` with the mask ``real_mask(lengths, n_max)``.
    """
    from .sets import fit_standardizer as fit_on_mask

    x, lengths = _check_lengths(x, lengths)
    return fit_on_mask(x, real_mask(lengths, x.shape[1]))


def standardize(x, lengths, mean, std) -> np.ndarray:
    """``(x - mean) / std`` on the real entries, zero on the padding; float32, the shape of ``x``.

    ``x`` is ``(n_jets, n_max, ...)``, ``lengths`` ``(n_jets,)``, ``mean`` and ``std`` have the
    feature shape ``x.shape[2:]`` (from :func:`fit_standardizer`).  :func:`utils.sets.standardize`
    with the mask ``real_mask(lengths, n_max)``.
    """
    from .sets import standardize as standardize_on_mask

    x, lengths = _check_lengths(x, lengths)
    return standardize_on_mask(x, real_mask(lengths, x.shape[1]), mean, std)


def pack(x, lengths):
    """A ``PackedSequence`` of a padded batch, for ``torch.nn.GRU``/``LSTM`` with ``batch_first=True``.

    Parameters
    ----------
    x : float tensor ``(batch, n_max, n_features)``, real entries first.
    lengths : integer tensor or array ``(batch,)``, every entry >= 1 (an RNN needs one step at least).

    The batch need not be sorted by length (``enforce_sorted=False``: torch sorts it and the
    RNN's final states come back in the batch's own order).  The lengths go to the CPU, as torch wants.
    """
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence

    lengths = torch.as_tensor(lengths).to("cpu", torch.int64)
    if lengths.ndim != 1 or len(lengths) != x.shape[0]:
        raise ValueError(f"lengths must have shape ({x.shape[0]},); got {tuple(lengths.shape)}")
    if len(lengths) and int(lengths.min()) < 1:
        raise ValueError("every sequence needs at least one real entry (length >= 1) to be packed")
    return pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
