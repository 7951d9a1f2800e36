"""Top-pair events at parton level for generative models (notebook 17): decay coordinates and back.

An event of the ``ttbar_partons`` sample is six quarks, ``(pt, eta, phi)`` each, in the order
:data:`QUARK_NAMES`: the top's ``b``, ``q`` (the up-type quark of its W decay) and ``q'`` (the
down-type one), then the same for the antitop.  A *parton array* is ``(n, 6, 3)``: 18 numbers an
event.  This module computes the masses a generator must get right (two W and two top masses),
and converts the quarks, exactly and invertibly, to *decay coordinates*, in which the narrow
Breit-Wigner peaks are single coordinates:

per top ``k = 1, 2``: its mass ``m_t``, ``pt``, ``eta``, ``phi``; the W mass ``m_W``; the W's
direction in the top's rest frame ``(cos theta_W, phi_W)``; the up-type quark's direction in the
W's rest frame ``(cos theta_q, phi_q)``.  Each rest frame is reached from the lab by a pure boost
along the parent's momentum; its ``z`` axis is the parent's direction of flight in the lab, its
``x`` axis lies in the plane of that direction and the beam (towards the +z beam), ``y = z x x``.

Kinematic convention: the b quarks carry :data:`B_MASS`, the light quarks are massless
(:data:`PARTON_MASSES`), for the true events and for the generated ones alike, so that
:func:`to_decay` and :func:`from_decay` are exact inverses on any event.  (Pythia's light and
charm masses, 0.33-1.5 GeV, move the reconstructed W mass by a median 0.02 GeV.)
Momenta and masses in GeV, angles in radians, ``phi`` in ``[-pi, pi)``.
"""
from __future__ import annotations

import numpy as np

from .data import TTBAR_PARTON_MASSES
from .generative import latent_to_mass, mass_to_latent
from .jets import delta_phi, invariant_mass, to_cartesian, to_ptetaphim

__all__ = [
    "TOP_MASS", "TOP_WIDTH", "W_MASS", "W_WIDTH", "B_MASS", "PARTON_MASSES", "QUARK_NAMES", "DECAY_NAMES",
    "DECAY_FEATURES", "NAIVE_FEATURES", "MASS_NAMES", "four_momenta", "reconstructed_masses", "boost",
    "rest_frame_angles", "from_rest_frame_angles", "two_body_momentum", "to_decay", "from_decay",
    "naive_features", "partons_from_naive", "decay_features", "partons_from_decay_features",
    "evaluation_features", "EVAL_NAMES",
]

TOP_MASS, TOP_WIDTH = 173.0, 1.4   # GeV, Pythia 8.3's 6:m0 and 6:mWidth (the sample's generator)
W_MASS, W_WIDTH = 80.385, 2.085    # GeV, Pythia 8.3's 24:m0 and 24:mWidth
B_MASS = TTBAR_PARTON_MASSES[0]    # GeV, Pythia's b mass
PARTON_MASSES = np.array(TTBAR_PARTON_MASSES)  # (b, q, q') twice: the loader's convention, utils.data
QUARK_NAMES = ("b1", "q1", "qp1", "b2", "q2", "qp2")  # as utils.tooling.generate.TTBAR_QUARKS
MASS_NAMES = ("m_w1", "m_w2", "m_t1", "m_t2")
_PER_TOP = ("m_t", "pt_t", "eta_t", "phi_t", "m_w", "cos_theta_w", "phi_w", "cos_theta_q", "phi_q")
DECAY_NAMES = tuple(f"{name}{k}" for k in (1, 2) for name in _PER_TOP)
# what a generator learns in each system (18 numbers naively; 17 in decay coordinates, where the
# overall azimuth phi_t1 is uniform by the symmetry of the collision about the beam and is drawn)
NAIVE_FEATURES = tuple(f"{v}_{q}" for q in QUARK_NAMES for v in ("log_pt", "eta", "phi"))
DECAY_FEATURES = ("latent_m_t1", "log_pt_t1", "eta_t1", "latent_m_w1", "atanh_cos_theta_w1", "phi_w1",
                  "atanh_cos_theta_q1", "phi_q1",
                  "latent_m_t2", "log_pt_t2", "eta_t2", "dphi_t2", "latent_m_w2", "atanh_cos_theta_w2", "phi_w2",
                  "atanh_cos_theta_q2", "phi_q2")
_PERIODIC_DECAY = tuple(i for i, n in enumerate(DECAY_FEATURES) if n.startswith(("phi", "dphi")))
# the two-sample test's features: the 18 numbers of the event and the four reconstructed masses
EVAL_NAMES = tuple(f"{q}_{v}" for q in QUARK_NAMES for v in ("pt", "eta", "phi")) + MASS_NAMES
_TOP_MIN = B_MASS + 1e-3  # GeV: the lightest top that can still decay into b + a massless W
_FEATURE_LIMIT = 30.0     # generated features are clipped to +-30: far outside any true event
_PT_MAX, _ETA_MAX = 6500.0, 10.0  # GeV (the beam energy), and a top |eta| far beyond any true one


def _check_partons(partons) -> np.ndarray:
    p = np.asarray(partons, dtype=np.float64)
    if p.ndim != 3 or p.shape[1:] != (6, 3):
        raise ValueError(f"partons must have shape (n, 6, 3) holding (pt, eta, phi) of {QUARK_NAMES}; "
                         f"got {p.shape}. For a flat (n, 18) array use partons.reshape(-1, 6, 3).")
    return p


def _check_p4(p4, what) -> np.ndarray:
    p4 = np.asarray(p4, dtype=np.float64)
    if p4.ndim != 2 or p4.shape[1] != 4:
        raise ValueError(f"{what} must have shape (n, 4) holding (E, px, py, pz); got {p4.shape}")
    return p4


def four_momenta(partons) -> np.ndarray:
    """Parton array ``(n, 6, 3)`` -> ``(n, 6, 4)`` four-momenta (E, px, py, pz) in GeV, with :data:`PARTON_MASSES`."""
    p = _check_partons(partons)
    return to_cartesian(p[..., 0], p[..., 1], p[..., 2], PARTON_MASSES)


def reconstructed_masses(partons) -> np.ndarray:
    """``(n, 4)`` masses in GeV, :data:`MASS_NAMES`: m(q1 qp1), m(q2 qp2), m(b1 q1 qp1), m(b2 q2 qp2)."""
    p4 = four_momenta(partons)
    return np.stack([invariant_mass(p4[:, 1], p4[:, 2]), invariant_mass(p4[:, 4], p4[:, 5]),
                     invariant_mass(*(p4[:, i] for i in (0, 1, 2))),
                     invariant_mass(*(p4[:, i] for i in (3, 4, 5)))], axis=1)


def boost(p4, beta) -> np.ndarray:
    """Boost four-vectors ``(n, 4)`` into the frame moving with velocity ``beta`` ``(n, 3)`` (its length below 1).

    A pure boost: in the new frame a particle at rest in the old one moves with ``-beta``, so
    ``boost(parent, parent[:, 1:] / parent[:, :1])`` is the parent at rest, and ``boost(x, -beta)``
    undoes ``boost(x, beta)``.
    """
    p4 = _check_p4(p4, "p4")
    beta = np.asarray(beta, dtype=np.float64)
    if beta.shape != (len(p4), 3):
        raise ValueError(f"beta must have shape ({len(p4)}, 3); got {beta.shape}")
    b2 = np.sum(beta**2, axis=1)
    if np.any(b2 >= 1):
        raise ValueError("|beta| must be below 1 (the speed of light)")
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = np.sum(beta * p4[:, 1:], axis=1)
    energy = gamma * (p4[:, 0] - bp)
    coef = gamma**2 / (gamma + 1.0) * bp - gamma * p4[:, 0]  # (gamma - 1)/b2 = gamma^2/(gamma + 1): no 0/0
    return np.concatenate([energy[:, None], p4[:, 1:] + coef[:, None] * beta], axis=1)


def _boost_by(p4, parent, sign, m=None):
    """Boost ``p4`` ``(n, 4)`` into the rest frame of ``parent`` (sign = -1) or from it back to the lab (sign = +1).

    Written with ``u = gamma beta = p/m`` and ``gamma = E/m`` of the parent, so that it stays exact for
    any boost (no ``1 - beta^2`` that rounds to zero for a light, fast parent); ``m``: the parent's mass
    if known (more precise than from E^2 - p^2 for a light parent with a large momentum)."""
    m = invariant_mass(parent) if m is None else np.broadcast_to(np.asarray(m, dtype=np.float64), len(parent))
    gamma = parent[:, 0] / m
    u = sign * parent[:, 1:] / m[:, None]
    up = np.sum(u * p4[:, 1:], axis=1)
    energy = gamma * p4[:, 0] + up
    momentum = p4[:, 1:] + u * (up / (gamma + 1.0) + p4[:, 0])[:, None]
    return np.concatenate([energy[:, None], momentum], axis=1)


def _axes(parent):
    """Rest-frame axes (x, y, z), each ``(n, 3)``: z along the parent's lab momentum, x in the plane of z and
    the +z beam, pointing towards the beam, y = z x x."""
    z = parent[:, 1:] / np.linalg.norm(parent[:, 1:], axis=1, keepdims=True)
    beam = np.array([0.0, 0.0, 1.0])
    x = beam - z[:, 2:3] * z
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, np.cross(z, x), z


def rest_frame_angles(parent, daughter) -> tuple[np.ndarray, np.ndarray]:
    """(cos theta, phi) of ``daughter`` ``(n, 4)`` in the rest frame of ``parent`` ``(n, 4)`` (lab four-vectors).

    The rest frame is reached by a pure boost along the parent's lab momentum; theta and phi are
    measured from the axes described in the module docstring.  Inverse: :func:`from_rest_frame_angles`.
    """
    parent, daughter = _check_p4(parent, "parent"), _check_p4(daughter, "daughter")
    d = _boost_by(daughter, parent, -1.0)[:, 1:]
    x, y, z = _axes(parent)
    d_x, d_y, d_z = (np.sum(d * a, axis=1) for a in (x, y, z))
    cos_theta = np.clip(d_z / np.sqrt(d_x**2 + d_y**2 + d_z**2), -1.0, 1.0)
    return cos_theta, np.arctan2(d_y, d_x)


def two_body_momentum(m_parent, m_a, m_b) -> np.ndarray:
    """Momentum (GeV) of either daughter in the rest frame of a parent of mass ``m_parent`` decaying to
    masses ``m_a`` and ``m_b``; 0 at and below threshold."""
    m, a, b = (np.asarray(x, dtype=np.float64) for x in (m_parent, m_a, m_b))
    lam = (m**2 - (a + b) ** 2) * (m**2 - (a - b) ** 2)
    return np.sqrt(np.clip(lam, 0.0, None)) / (2 * m)


def from_rest_frame_angles(parent, m_daughter, m_other, cos_theta, phi, m_parent=None) -> tuple[np.ndarray, np.ndarray]:
    """Lab four-vectors ``(n, 4)`` of the two daughters of ``parent`` ``(n, 4)``: the one of mass ``m_daughter``
    flies along (cos theta, phi) in the parent's rest frame (the convention of :func:`rest_frame_angles`),
    the other, of mass ``m_other``, opposite.  ``m_parent``: the parent's mass if known (else from ``parent``).
    Returns (daughter, other)."""
    parent = _check_p4(parent, "parent")
    m_parent = invariant_mass(parent) if m_parent is None else np.asarray(m_parent, dtype=np.float64)
    p_star = two_body_momentum(m_parent, m_daughter, m_other)
    cos_theta = np.clip(np.asarray(cos_theta, dtype=np.float64), -1.0, 1.0)
    sin_theta = np.sqrt(1.0 - cos_theta**2)
    x, y, z = _axes(parent)
    direction = (sin_theta * np.cos(phi))[:, None] * x + (sin_theta * np.sin(phi))[:, None] * y + cos_theta[:, None] * z
    m_d = np.broadcast_to(np.asarray(m_daughter, dtype=np.float64), p_star.shape)
    rest = np.concatenate([np.sqrt(p_star**2 + m_d**2)[:, None], p_star[:, None] * direction], axis=1)
    daughter = _boost_by(rest, parent, +1.0, m_parent)
    return daughter, parent - daughter


def to_decay(partons) -> np.ndarray:
    """Parton array ``(n, 6, 3)`` -> ``(n, 18)`` decay coordinates :data:`DECAY_NAMES` (GeV, radians).

    Per top: m_t, pt_t, eta_t, phi_t of (b + q + q'), m_W of (q + q'), the W's (cos theta, phi) in
    the top's rest frame, the up-type quark's (cos theta, phi) in the W's rest frame.
    Exact inverse: :func:`from_decay`.
    """
    p4 = four_momenta(partons)
    out = []
    for k in (0, 3):
        b, q, qp = p4[:, k], p4[:, k + 1], p4[:, k + 2]
        w = q + qp
        top = b + w
        pt, eta, phi, _ = to_ptetaphim(top)
        cos_w, phi_w = rest_frame_angles(top, w)
        cos_q, phi_q = rest_frame_angles(w, q)
        out += [invariant_mass(top), pt, eta, phi, invariant_mass(w), cos_w, phi_w, cos_q, phi_q]
    return np.stack(out, axis=1)


def from_decay(decay) -> np.ndarray:
    """``(n, 18)`` decay coordinates :data:`DECAY_NAMES` -> parton array ``(n, 6, 3)``; inverse of :func:`to_decay`.

    Any point is an event: top masses below :data:`B_MASS` are raised to it and W masses above
    ``m_t - B_MASS`` lowered to it (a generator may put a few events there), cosines clipped to [-1, 1].
    """
    d = np.asarray(decay, dtype=np.float64)
    if d.ndim != 2 or d.shape[1] != 18:
        raise ValueError(f"decay coordinates must have shape (n, 18) holding {DECAY_NAMES}; got {d.shape}")
    quarks = []
    for k in (0, 9):
        m_t = np.maximum(d[:, k], _TOP_MIN)
        m_w = np.clip(d[:, k + 4], 1e-3, m_t - B_MASS - 1e-4)
        top = to_cartesian(d[:, k + 1], d[:, k + 2], d[:, k + 3], m_t)
        w, b = from_rest_frame_angles(top, m_w, B_MASS, d[:, k + 5], d[:, k + 6], m_parent=m_t)
        q, qp = from_rest_frame_angles(w, 0.0, 0.0, d[:, k + 7], d[:, k + 8], m_parent=m_w)
        quarks += [b, q, qp]
    pt, eta, phi, _ = to_ptetaphim(np.stack(quarks, axis=1))
    return np.stack([pt, eta, phi], axis=-1)


# --- the features a generator learns ----------------------------------------------------------
def naive_features(partons) -> np.ndarray:
    """Parton array -> ``(n, 18)`` :data:`NAIVE_FEATURES`: each quark's (log(pt/GeV), eta, phi)."""
    p = _check_partons(partons).copy()
    p[..., 0] = np.log(p[..., 0])
    return p.reshape(len(p), 18)


def partons_from_naive(features) -> np.ndarray:
    """``(n, 18)`` :data:`NAIVE_FEATURES` -> parton array; phi wrapped into [-pi, pi). Inverse of :func:`naive_features`."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[1] != 18:
        raise ValueError(f"naive features must have shape (n, 18); got {f.shape}")
    p = np.clip(f, -_FEATURE_LIMIT, _FEATURE_LIMIT).reshape(len(f), 6, 3)
    p[..., 0] = np.exp(p[..., 0])
    p[..., 2] = delta_phi(p[..., 2], 0.0)
    return p


def _atanh(c):
    return np.arctanh(np.clip(c, -1 + 1e-12, 1 - 1e-12))


def decay_features(partons) -> np.ndarray:
    """Parton array -> ``(n, 17)`` :data:`DECAY_FEATURES`, the decay coordinates a generator learns.

    Masses through their Breit-Wigner map (:func:`utils.generative.mass_to_latent` with the top's
    or the W's mass and width), log(pt_t/GeV), eta_t, atanh(cos theta) (unbounded), the azimuths
    as they are, and for the second top ``dphi_t2 = phi_t2 - phi_t1 - pi`` wrapped (near 0: the tops
    are nearly back to back).  The overall azimuth phi_t1 is dropped (uniform by symmetry).
    """
    d = to_decay(partons)
    cols = []
    for k in (0, 9):
        cols += [mass_to_latent(d[:, k], TOP_MASS, TOP_WIDTH), np.log(d[:, k + 1]), d[:, k + 2]]
        if k:
            cols.append(delta_phi(d[:, k + 3], d[:, 3] + np.pi))
        cols += [mass_to_latent(d[:, k + 4], W_MASS, W_WIDTH), _atanh(d[:, k + 5]), d[:, k + 6],
                 _atanh(d[:, k + 7]), d[:, k + 8]]
    return np.stack(cols, axis=1)


def partons_from_decay_features(features, rng=None, phi_t1=None) -> np.ndarray:
    """``(n, 17)`` :data:`DECAY_FEATURES` -> parton array ``(n, 6, 3)``; ``phi_t1`` uniform from ``rng`` unless given.

    Any real input is an event (azimuths wrapped, masses kept physical by :func:`from_decay`).  On
    true features, with the true ``phi_t1``, this is the exact inverse of :func:`decay_features`.
    """
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[1] != 17:
        raise ValueError(f"decay features must have shape (n, 17) holding {DECAY_FEATURES}; got {f.shape}")
    f = np.clip(f, -_FEATURE_LIMIT, _FEATURE_LIMIT)  # a badly trained generator's outliers stay finite
    for j in (1, 9):  # top pT below the beam energy, |eta| < 10: far outside any true event
        f[:, j] = np.clip(f[:, j], -_FEATURE_LIMIT, np.log(_PT_MAX))
        f[:, j + 1] = np.clip(f[:, j + 1], -_ETA_MAX, _ETA_MAX)
    if phi_t1 is None:
        rng = np.random.default_rng() if rng is None else rng
        phi_t1 = rng.uniform(-np.pi, np.pi, len(f))
    phi_t1 = np.asarray(phi_t1, dtype=np.float64)
    phi_t2 = delta_phi(phi_t1 + np.pi + f[:, 11], 0.0)
    d = np.empty((len(f), 18))
    for k, j, phi in ((0, 0, phi_t1), (9, 8, phi_t2)):
        jj = j + (1 if k else 0)  # the second top's block has dphi_t2 in it
        d[:, k] = latent_to_mass(f[:, j], TOP_MASS, TOP_WIDTH, minimum=_TOP_MIN)
        d[:, k + 1] = np.exp(f[:, j + 1])
        d[:, k + 2] = f[:, j + 2]
        d[:, k + 3] = phi
        d[:, k + 4] = latent_to_mass(f[:, jj + 3], W_MASS, W_WIDTH, minimum=1e-3)
        d[:, k + 5] = np.tanh(f[:, jj + 4])
        d[:, k + 6] = delta_phi(f[:, jj + 5], 0.0)
        d[:, k + 7] = np.tanh(f[:, jj + 6])
        d[:, k + 8] = delta_phi(f[:, jj + 7], 0.0)
    return from_decay(d)


def evaluation_features(partons) -> np.ndarray:
    """Parton array -> ``(n, 22)`` :data:`EVAL_NAMES`: the 18 numbers of the event and the four reconstructed
    masses (GeV), what the two-sample test compares."""
    p = _check_partons(partons)
    return np.concatenate([p.reshape(len(p), 18), reconstructed_masses(p)], axis=1)
