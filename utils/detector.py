"""A toy detector: particle-level jet constituents in, detector-level constituents out (Part VII).

Real measurements see particles through a detector that smears their momenta, loses some of them
and cannot see the softest.  Notebooks 14 (a learned calibration) and 15 (unfolding) need such a
detector level; this module provides the simplest one that has the three effects, on the course's
constituent arrays ``(n_jets, n_constituents, 3)`` of (pt [GeV], deta, dphi):

- **pT resolution**, tracking/calorimeter-like: a constant term and a stochastic term added in
  quadrature, ``sigma(pT) / pT = sqrt(a^2 + b^2 / (pT / GeV))`` with ``a = 5 %`` and ``b = 50 %``
  (:func:`relative_pt_resolution`); the measured pT is ``pT (1 + sigma(pT)/pT * N(0, 1))``;
- **efficiency**: each particle is seen with probability ``efficiency`` (95 %), independently;
- **threshold**: a particle whose *measured* pT is below ``pt_min`` (1 GeV) is not recorded
  (this also removes the rare negative values of the Gaussian smearing);
- **angular smearing**: Gaussian in deta and dphi, ``sigma = angle_sigma`` (0.01, about half a
  calorimeter cell of a CMS-like detector).

What it leaves out: pile-up, showers that share cells, the different resolution of charged and
neutral particles (the constituents carry no charge), and a jet energy scale offset.  Everything is
vectorised and seeded: the same ``seed`` and input give the same output, bit for bit.

Example::

    from utils import data, detector, jets
    truth = data.load("top_tagging", "test")["constituents"]
    reco = detector.smear(truth, seed=1)
    shapes_truth, shapes_reco = jets.jet_shapes(truth), jets.jet_shapes(reco)
"""
from __future__ import annotations

import numpy as np

__all__ = ["DETECTOR", "relative_pt_resolution", "smear"]

# The toy detector's settings (the defaults of :func:`smear`).
DETECTOR = {
    "constant": 0.05,      # a: constant term of sigma(pT)/pT
    "stochastic": 0.50,    # b: stochastic term, b / sqrt(pT / GeV)
    "efficiency": 0.95,    # probability that a particle is seen
    "pt_min": 1.0,         # GeV: measured pT below this is not recorded
    "angle_sigma": 0.01,   # Gaussian smearing of deta and dphi
}


def relative_pt_resolution(pt, constant: float = DETECTOR["constant"], stochastic: float = DETECTOR["stochastic"]):
    """``sigma(pT) / pT = sqrt(constant^2 + stochastic^2 / (pT / GeV))`` for any array of pT [GeV] > 0."""
    pt = np.asarray(pt, dtype=np.float64)
    if np.any(pt <= 0):
        raise ValueError("relative_pt_resolution needs pT > 0 GeV")
    return np.sqrt(constant ** 2 + stochastic ** 2 / pt)


def smear(constituents, seed: int, constant: float = DETECTOR["constant"], stochastic: float = DETECTOR["stochastic"],
          efficiency: float = DETECTOR["efficiency"], pt_min: float = DETECTOR["pt_min"],
          angle_sigma: float = DETECTOR["angle_sigma"], return_index: bool = False):
    """Pass particle-level constituents through the toy detector (see the module's docstring).

    Parameters
    ----------
    constituents : array ``(n_jets, n_constituents, 3)`` of (pt [GeV], deta, dphi), zero-padded
        (pt = 0 marks padding), any float dtype.
    seed : seeds the detector's random numbers (``numpy.random.default_rng(seed)``).
    constant, stochastic : the terms of :func:`relative_pt_resolution`.
    efficiency : probability in [0, 1] that a particle is seen.
    pt_min : GeV, the threshold on the measured pT.
    angle_sigma : Gaussian smearing of deta and dphi (0 switches it off).
    return_index : also return, for every detector-level constituent, the index of the particle it
        came from in ``constituents[j]`` (-1 for padding).

    Returns
    -------
    ``(n_jets, n_constituents, 3)`` float32 detector-level constituents, pt-ordered and zero-padded
    as the input; with ``return_index``, also an int64 array ``(n_jets, n_constituents)``.
    """
    c = np.asarray(constituents)
    if c.ndim != 3 or c.shape[-1] != 3:
        raise ValueError(f"constituents must have shape (n_jets, n_constituents, 3) of (pt, deta, dphi); got {c.shape}")
    if not 0.0 <= efficiency <= 1.0:
        raise ValueError(f"efficiency must lie in [0, 1]; got {efficiency}")
    if constant < 0 or stochastic < 0 or angle_sigma < 0 or pt_min < 0:
        raise ValueError("constant, stochastic, angle_sigma and pt_min must be >= 0")
    c = c.astype(np.float64)
    rng = np.random.default_rng(seed)
    pt = c[..., 0]
    real = pt > 0
    safe_pt = np.where(real, pt, 1.0)
    # one draw of every random number for every slot, padding included, so that the result of a jet
    # does not depend on how many real constituents the other jets have
    gauss_pt = rng.standard_normal(pt.shape)
    seen = rng.random(pt.shape) < efficiency
    gauss_angles = rng.standard_normal(pt.shape + (2,))
    measured_pt = pt * (1.0 + relative_pt_resolution(safe_pt, constant, stochastic) * gauss_pt)
    keep = real & seen & (measured_pt >= pt_min)
    out = np.zeros_like(c)
    out[..., 0] = np.where(keep, measured_pt, 0.0)
    out[..., 1:] = np.where(keep[..., None], c[..., 1:] + angle_sigma * gauss_angles, 0.0)
    order = np.argsort(-out[..., 0], axis=1, kind="stable")
    out = np.take_along_axis(out, order[..., None], axis=1).astype(np.float32)
    if not return_index:
        return out
    index = np.where(np.take_along_axis(keep, order, axis=1), order, -1)
    return out, index
