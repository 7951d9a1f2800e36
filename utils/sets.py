"""Networks on sets of particles: Particle and Energy Flow Networks and a small transformer.

A jet is a *set* of constituents: no order among them is physical (the pT order of the files
is a convention).  A network that reads a set should give the same output for every order.
Two ways to get that, both used in notebook 06:

* **Deep Sets** (Zaheer et al., arXiv:1703.06114), in particle physics the **Particle Flow
  Network** (PFN) and **Energy Flow Network** (EFN) of Komiske, Metodiev and Thaler
  (arXiv:1810.05165): a per-particle network ``Phi`` maps each constituent to a latent vector,
  the vectors are summed over the jet (a sum does not care about order), and a second network
  ``F`` maps the sum to the output:  ``F(sum_i Phi(p_i))``.  The EFN weights each term with the
  particle's momentum fraction ``z_i`` and lets ``Phi`` see only the angles, which makes it
  infrared and collinear safe: ``F(sum_i z_i Phi(eta_i, phi_i))``.
* **Self-attention** without positional encoding (a transformer encoder, Vaswani et al.,
  arXiv:1706.03762; for jets e.g. Qu, Li and Qian, arXiv:2202.03772): each constituent's
  vector is updated with a weighted average over all the others, then the vectors are pooled
  by a (masked) mean or sum.  Each block is permutation *equivariant* (permuting the inputs
  permutes the outputs), the pooling makes the whole network *invariant*.

Padding.  The course stores jets as fixed-size arrays, zero-padded after the last real
constituent (``pt > 0`` is the mask of real ones).  Every function here takes that mask and
makes sure padded entries never contribute: a sum over ``mask * Phi``, attention scores set to
``-inf`` for padded keys, a mean over real constituents only.  A jet with no real constituent
at all (an all-False mask row) gives zeros, and finite gradients, everywhere.

The standardisation and the shuffle here are the course's only ones: :mod:`utils.sequences`
(notebook 05) calls them with the mask of its sequence lengths.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["fit_standardizer", "standardize", "shuffle_constituents", "ParticleFlowNetwork", "EnergyFlowNetwork",
           "masked_attention", "TransformerBlock", "ParticleTransformer"]


# --- inputs ----------------------------------------------------------------------------------
def _check_features(features, mask):
    features, mask = np.asarray(features), np.asarray(mask, dtype=bool)
    if features.ndim < 2 or mask.shape != features.shape[:2]:
        raise ValueError(f"features must have shape (n_jets, n_constituents, n_features) and mask "
                         f"(n_jets, n_constituents); got {features.shape} and {mask.shape}")
    return features, mask


def fit_standardizer(features, mask) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each constituent feature over the *real* constituents.

    Parameters
    ----------
    features : ``(n_jets, n_constituents, n_features)``, e.g. from
        :func:`utils.jets.constituent_features`; padded entries are ignored.
    mask : ``(n_jets, n_constituents)`` bool, True for real constituents (``pt > 0``).

    Returns
    -------
    ``(mean, std)``, each ``(n_features,)`` float32.  Padded zeros would pull the mean towards
    zero and inflate the spread by an amount that depends on the jet's multiplicity, which is
    why they are left out.  A feature constant over real constituents gets ``std = 1``.
    Fit on the training jets, then apply the same numbers to every split with :func:`standardize`.
    """
    features, mask = _check_features(features, mask)
    if features.ndim != 3:
        raise ValueError(f"features must have shape (n_jets, n_constituents, n_features); got {features.shape}")
    if not mask.any():
        raise ValueError("the mask selects no real constituent: nothing to standardise on")
    real = features[mask].astype(np.float64)  # (n_real, n_features)
    mean, std = real.mean(axis=0), real.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return mean.astype(np.float32), std.astype(np.float32)


def standardize(features, mask, mean, std) -> np.ndarray:
    """``(features - mean) / std`` on real constituents, 0 on padded ones; float32, same shape.

    ``features`` is ``(n_jets, n_constituents, n_features)`` (any trailing feature axes),
    ``mask`` ``(n_jets, n_constituents)`` and ``mean``, ``std`` have the feature shape.  Use the
    ``mean, std`` of :func:`fit_standardizer` on the *training* jets for every split.
    """
    features, mask = _check_features(features, mask)
    mean, std = np.asarray(mean, dtype=np.float32), np.asarray(std, dtype=np.float32)
    if mean.shape != features.shape[2:] or std.shape != mean.shape:
        raise ValueError(f"mean and std must have the feature shape {features.shape[2:]}; "
                         f"got {mean.shape} and {std.shape}")
    out = (features.astype(np.float32) - mean) / std
    out[~mask] = 0.0
    return out


def shuffle_constituents(mask, *arrays, seed: int | np.random.Generator = 0):
    """Permute each jet's *real* constituents at random; padding stays at the end.

    Parameters
    ----------
    mask : ``(n_jets, n_constituents)`` bool, True for real constituents, which must come first
        in each jet (zero-padded at the end, as in the course's files).
    arrays : one or more arrays ``(n_jets, n_constituents, ...)``, all permuted the same way
        (e.g. the standardised features, or the EFN's momentum fractions and angles).
    seed : of the permutations: an integer, or a ``numpy.random.Generator`` to draw from (it
        advances, so successive calls give new permutations).

    Returns
    -------
    the permuted array, or a tuple of them if several were given.  The mask is unchanged.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2 or not arrays:
        raise ValueError(f"need a mask (n_jets, n_constituents) and at least one array; got mask {mask.shape}")
    arrays = [np.asarray(a) for a in arrays]
    for a in arrays:
        if a.shape[:2] != mask.shape:
            raise ValueError(f"array of shape {a.shape} does not match the mask {mask.shape} in its first two axes")
    rng = np.random.default_rng(seed)  # a Generator passes through unchanged
    # a random key for each real slot, +inf for padding: sorting the keys shuffles the real
    # constituents among themselves and keeps the padded ones at the end, for all jets at once
    keys = np.where(mask, rng.random(mask.shape), np.inf)
    order = np.argsort(keys, axis=1, kind="stable")
    if not np.array_equal(np.take_along_axis(mask, order, axis=1), mask):
        raise ValueError("shuffle_constituents needs the real constituents first in each jet (zero-padded at the end)")
    rows = np.arange(len(mask))[:, None]
    out = tuple(a[rows, order] for a in arrays)
    return out[0] if len(out) == 1 else out


# --- networks --------------------------------------------------------------------------------
def _mlp(sizes, final_activation: bool = True):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if final_activation or i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def masked_attention(q, k, v, mask, fused: bool = False):
    """Scaled dot-product attention in which padded constituents are never attended to.

    Parameters
    ----------
    q, k, v : tensors ``(batch, heads, n, d)``.
    mask : bool tensor ``(batch, n)``, True for real constituents.
    fused : use torch's ``scaled_dot_product_attention`` (the same numbers, faster) instead of
        the attention written out (scores, ``-inf`` for padded keys, softmax, weighted sum).

    Returns
    -------
    ``(batch, heads, n, d)``: for each constituent (query) ``i``,
    ``sum_j softmax_j(q_i . k_j / sqrt(d)) v_j`` over the real ``j`` only.  Rows of padded
    queries are computed as well (and ignored later by the pooling).  A jet with no real
    constituent has nothing to attend to: its rows are 0.  (A softmax over no key at all is
    0/0 = NaN; even where the pooling drops those rows, the NaN comes back in the backward pass
    and turns every parameter's gradient into NaN.)
    """
    empty = ~mask.any(dim=1)[:, None, None, None]  # (batch, 1, 1, 1): jets with no real constituent
    keys = mask[:, None, None, :] | empty          # an empty jet attends to its padding (finite numbers) ...
    if fused:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=keys)
    else:
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (batch, heads, n, n)
        scores = scores.masked_fill(~keys, float("-inf"))           # padded keys get weight 0
        out = torch.softmax(scores, dim=-1) @ v
    return out.masked_fill(empty, 0.0)             # ... and gets 0 from it (no gradient flows there)


class ParticleFlowNetwork(nn.Module):
    """Particle Flow Network (Komiske, Metodiev, Thaler, arXiv:1810.05165): ``F(sum_i Phi(x_i))``.

    Call as ``model(x, mask)`` with ``x`` ``(batch, n, n_features)`` and ``mask``
    ``(batch, n)`` (1 for real constituents, 0 for padding; any dtype).  Returns logits
    ``(batch,)``.  ``model.latent(x, mask)`` returns the summed latent vector ``(batch, L)``
    (zero for a jet with no real constituent: a sum, no division).

    Parameters
    ----------
    n_features : inputs per constituent (5 for :func:`utils.jets.constituent_features`).
    phi_sizes : widths of the per-constituent network ``Phi``; the last is the latent dimension.
    f_sizes : hidden widths of the jet-level network ``F``, which ends in one logit.
    """

    def __init__(self, n_features: int, phi_sizes=(64, 64, 64), f_sizes=(64, 64)):
        super().__init__()
        self.phi = _mlp([n_features, *phi_sizes])
        self.f = _mlp([phi_sizes[-1], *f_sizes, 1], final_activation=False)

    def latent(self, x, mask):
        return (self.phi(x) * mask.unsqueeze(-1).to(x.dtype)).sum(dim=1)  # padding contributes 0

    def forward(self, x, mask):
        return self.f(self.latent(x, mask)).squeeze(-1)


class EnergyFlowNetwork(nn.Module):
    """Energy Flow Network (arXiv:1810.05165): ``F(sum_i z_i Phi(eta_i, phi_i))``, IRC safe.

    Call as ``model(z, angles)`` with ``z`` ``(batch, n)`` the momentum fractions
    ``pt_i / sum pt`` (0 for padding, so padded entries drop out of the sum by themselves)
    and ``angles`` ``(batch, n, 2)`` the (deta, dphi) of each constituent [rad].  Returns
    logits ``(batch,)``.  ``model.phi`` maps ``(..., 2)`` angles to ``(..., L)``: its
    components are the learned angular filters.
    """

    def __init__(self, phi_sizes=(64, 64, 64), f_sizes=(64, 64)):
        super().__init__()
        self.phi = _mlp([2, *phi_sizes])
        self.f = _mlp([phi_sizes[-1], *f_sizes, 1], final_activation=False)

    def latent(self, z, angles):
        return (z.unsqueeze(-1) * self.phi(angles)).sum(dim=1)

    def forward(self, z, angles):
        return self.f(self.latent(z, angles)).squeeze(-1)


class TransformerBlock(nn.Module):
    """One pre-norm transformer encoder block with masked multi-head self-attention.

    ``x -> x + Attention(LayerNorm(x)) -> x + MLP(LayerNorm(x))``; no positional encoding,
    so the block is permutation equivariant.  ``forward(x, mask)`` with ``x``
    ``(batch, n, dim)`` and ``mask`` ``(batch, n)`` bool; returns ``(batch, n, dim)``.
    ``fused=True`` uses torch's ``scaled_dot_product_attention`` (the same numbers, faster);
    ``False`` the attention written out; both through :func:`masked_attention`.
    """

    def __init__(self, dim: int, heads: int = 4, hidden: int | None = None, fused: bool = True):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be a multiple of heads ({heads})")
        self.heads, self.fused = heads, fused
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.mlp = _mlp([dim, hidden or 2 * dim, dim], final_activation=False)

    def forward(self, x, mask):
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = masked_attention(q, k, v, mask, fused=self.fused)  # (batch, heads, n, d // heads)
        x = x + self.out(att.transpose(1, 2).reshape(b, n, d))
        return x + self.mlp(self.norm2(x))


class ParticleTransformer(nn.Module):
    """A small transformer tagger on constituents: embed, self-attention blocks, masked mean, MLP.

    Call as ``model(x, mask)`` like :class:`ParticleFlowNetwork`; returns logits ``(batch,)``.
    A jet with no real constituent pools to a zero vector.

    Parameters
    ----------
    n_features : inputs per constituent.
    dim, heads, n_blocks : width, attention heads and number of :class:`TransformerBlock`.
    f_sizes : hidden widths of the head after the pooling, which ends in one logit.
    pooling : ``"mean"`` over the real constituents (blind to their number) or ``"sum"`` (keeps
        the multiplicity, as the PFN's sum does).
    fused : see :class:`TransformerBlock`.
    """

    def __init__(self, n_features: int, dim: int = 32, heads: int = 4, n_blocks: int = 2,
                 f_sizes=(64,), pooling: str = "mean", fused: bool = True):
        super().__init__()
        if pooling not in ("mean", "sum"):
            raise ValueError(f"pooling must be 'mean' or 'sum'; got {pooling!r}")
        self.pooling = pooling
        self.embed = _mlp([n_features, dim, dim], final_activation=False)
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads, fused=fused) for _ in range(n_blocks))
        self.norm = nn.LayerNorm(dim)
        self.f = _mlp([dim, *f_sizes, 1], final_activation=False)

    def pooled(self, x, mask):
        mask = mask.bool()
        h = self.embed(x)
        for block in self.blocks:
            h = block(h, mask)
        # padded rows are set to 0 (torch.where, so that nothing computed there could leak)
        h = torch.where(mask.unsqueeze(-1), self.norm(h), torch.zeros((), dtype=h.dtype, device=h.device))
        if self.pooling == "sum":
            return h.sum(dim=1)
        return h.sum(dim=1) / mask.sum(dim=1, keepdim=True).to(h.dtype).clamp(min=1.0)

    def forward(self, x, mask):
        return self.f(self.pooled(x, mask)).squeeze(-1)
