"""Searching the parameter space of a model for its valid points: the two-Higgs-doublet model and four scans.

Used by ``21_parameter_space_exploration``.  The physics model is the CP-conserving two-Higgs-doublet
model (2HDM) with a softly broken Z2 symmetry, written in the notation of the review by Branco et al.
(arXiv:1106.0034, section 5)::

    V = m11^2 |Phi1|^2 + m22^2 |Phi2|^2 - m12^2 (Phi1^+ Phi2 + h.c.) + lambda1/2 |Phi1|^4 + lambda2/2 |Phi2|^4
        + lambda3 |Phi1|^2 |Phi2|^2 + lambda4 |Phi1^+ Phi2|^2 + lambda5/2 [(Phi1^+ Phi2)^2 + h.c.],

scanned in its Lagrangian parameters ``(lambda1, ..., lambda5, tan_beta, m12)`` (``m12`` in GeV, the
signed square root of ``m12^2``; ``m11^2`` and ``m22^2`` are fixed by the minimum conditions).  A point
is *valid* when, at tree level,

- the potential is bounded from below (Deshpande and Ma; eq. (5.x) of the review);
- tree-level perturbative unitarity holds: the 12 eigenvalues of the scalar scattering matrices
  (Kanemura, Kubota, Takasugi, hep-ph/9303263; Akeroyd, Arhrib, Naimi, hep-ph/0006035) are below 8 pi;
- the vacuum is a minimum: all scalar masses squared are positive;
- the lighter CP-even scalar is the observed Higgs boson, ``|m_h - 125.09 GeV| < M_H_WINDOW``;
- its couplings to W and Z are SM-like, ``|cos(beta - alpha)| < COS_BETA_ALPHA_MAX`` (near alignment).

Every constraint also gives a *violation* (0 when it holds, growing with the distance from it, in units
of a quartic coupling), so that an optimiser has a slope to follow: their sum is the loss of
de Souza et al. (arXiv:2206.09223).

Scans work in the unit cube ``u in [0, 1]^7`` mapped linearly onto :data:`BOX`.  Every call of the
constraint function counts as one (expensive) evaluation: :class:`Evaluator` counts them and refuses to
go past its budget, so that every method is compared at exactly the same number of evaluations.

- :func:`random_scan`: uniform sampling in the box;
- :func:`cmaes_scan`: CMA-ES (the ``cmaes`` library) on the violation loss, with restarts, and with an
  optional novelty reward that pushes it along the valid region (Crispim Romao and Crispim Romao,
  arXiv:2402.07661);
- :func:`active_learning_scan`: an ensemble of small networks learns which points are valid and
  proposes the next batch where the members disagree, near the predicted boundary;
- :func:`coverage`: the fraction of a reference scan's occupied bins (in a 2D projection) that a scan
  also reaches.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["V_EW", "M_H_OBS", "M_H_WINDOW", "COS_BETA_ALPHA_MAX", "UNITARITY_BOUND", "PARAMETERS", "BOX",
           "to_physical", "to_unit", "spectrum", "lambdas_from_physical", "bounded_from_below",
           "unitarity_eigenvalues", "violations", "Evaluator", "ScanResult", "random_scan", "novelty",
           "cmaes_scan", "active_learning_scan", "occupied_bins", "coverage", "per_thousand"]

V_EW = 246.22            # GeV, the electroweak vacuum expectation value (G_F^{-1/2} 2^{-1/4})
M_H_OBS = 125.09         # GeV, ATLAS and CMS Run-1 combination (arXiv:1503.07589)
M_H_WINDOW = 3.0         # GeV, tolerance on the tree-level m_h: loop corrections are of a few GeV
COS_BETA_ALPHA_MAX = 0.1 # |cos(beta - alpha)|: the h couplings to W, Z within half a per cent of the SM
UNITARITY_BOUND = 8 * math.pi

PARAMETERS = ("lambda1", "lambda2", "lambda3", "lambda4", "lambda5", "tan_beta", "m12")
LABELS = (r"$\lambda_1$", r"$\lambda_2$", r"$\lambda_3$", r"$\lambda_4$", r"$\lambda_5$", r"$\tan\beta$",
          r"$m_{12}$ [GeV]")
#: lower and upper edge of the scanned box, one row each, in the order of PARAMETERS
BOX = np.array([[-1.0, -1.0, -6.0, -6.0, -6.0, 1.0, 0.0],
                [6.0, 6.0, 6.0, 6.0, 6.0, 10.0, 600.0]])
CONSTRAINTS = ("bounded from below", "unitarity", "masses^2 > 0", "m_h", "alignment")


def _as_points(x, name="params") -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] != len(PARAMETERS):
        raise ValueError(f"{name} must have shape (n, {len(PARAMETERS)}) in the order {PARAMETERS}; got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def to_physical(u, box=BOX) -> np.ndarray:
    """Map points of the unit cube, shape ``(n, 7)``, linearly onto the box: ``lo + u (hi - lo)``."""
    u = _as_points(u, "u")
    return box[0] + u * (box[1] - box[0])


def to_unit(params, box=BOX) -> np.ndarray:
    """The inverse of :func:`to_physical`: parameters ``(n, 7)`` to unit-cube coordinates."""
    params = _as_points(params)
    return (params - box[0]) / (box[1] - box[0])


def spectrum(params) -> dict:
    """Tree-level scalar spectrum of the 2HDM at the parameter points ``params`` (shape ``(n, 7)``).

    Returns a dict of arrays of shape ``(n,)``: the masses squared ``m2_h, m2_H, m2_A, m2_Hpm`` (GeV^2;
    negative where the point is not a minimum), the masses ``m_h, m_H, m_A, m_Hpm`` (GeV; 0 where the
    mass squared is negative), the mixing angle ``alpha`` (radians, in (-pi/2, pi/2]; h = -sin(alpha) rho1
    + cos(alpha) rho2) and ``cos_beta_alpha``, ``cos(beta - alpha)``: the h couplings to W and Z are
    ``sin(beta - alpha)`` times the SM's.  Formulas: Branco et al., arXiv:1106.0034, section 5.2.
    """
    l1, l2, l3, l4, l5, tb, m = _as_points(params).T
    if np.any(tb <= 0):
        raise ValueError("tan_beta must be positive")
    m12sq = m * np.abs(m)
    beta = np.arctan(tb)
    sb, cb = np.sin(beta), np.cos(beta)
    v2 = V_EW**2
    l345 = l3 + l4 + l5
    # CP-even mass matrix in the basis (rho1, rho2) after using the two minimum conditions
    m11 = m12sq * tb + l1 * v2 * cb**2
    m22 = m12sq / tb + l2 * v2 * sb**2
    m12 = -m12sq + l345 * v2 * sb * cb
    root = np.sqrt((m11 - m22) ** 2 + 4 * m12**2)
    m2_h, m2_H = (m11 + m22 - root) / 2, (m11 + m22 + root) / 2
    alpha = 0.5 * np.arctan2(2 * m12, m11 - m22)  # H = cos(alpha) rho1 + sin(alpha) rho2 (the heavier)
    m2_A = m12sq / (sb * cb) - l5 * v2
    m2_Hpm = m2_A + 0.5 * v2 * (l5 - l4)
    out = {"m2_h": m2_h, "m2_H": m2_H, "m2_A": m2_A, "m2_Hpm": m2_Hpm, "alpha": alpha,
           "cos_beta_alpha": np.cos(beta - alpha)}
    for name in ("h", "H", "A", "Hpm"):
        out[f"m_{name}"] = np.sqrt(np.clip(out[f"m2_{name}"], 0, None))
    return out


def lambdas_from_physical(m_h, m_H, m_A, m_Hpm, tan_beta, cos_beta_alpha, m12sq) -> np.ndarray:
    """The inverse map: quartic couplings from the physical masses (GeV), tan(beta), cos(beta - alpha)
    and m12^2 (GeV^2).  Returns parameters of shape ``(n, 7)`` (``m12`` as the signed square root).

    Formulas of Kanemura, Okada, Senaha, Yuan (hep-ph/0408364), also in arXiv:1106.0034.  Uses the
    convention beta - alpha in (0, pi), i.e. sin(beta - alpha) >= 0.
    """
    args = np.broadcast_arrays(*[np.asarray(a, dtype=float) for a in
                                 (m_h, m_H, m_A, m_Hpm, tan_beta, cos_beta_alpha, m12sq)])
    m_h, m_H, m_A, m_Hpm, tb, cba, m12sq = (a.ravel() for a in args)
    if np.any(tb <= 0) or np.any(np.abs(cba) > 1):
        raise ValueError("need tan_beta > 0 and |cos(beta - alpha)| <= 1")
    beta = np.arctan(tb)
    alpha = beta - np.arccos(cba)
    sb, cb, sa, ca = np.sin(beta), np.cos(beta), np.sin(alpha), np.cos(alpha)
    v2, M2 = V_EW**2, m12sq / (np.sin(beta) * np.cos(beta))
    l1 = (m_H**2 * ca**2 + m_h**2 * sa**2 - M2 * sb**2) / (v2 * cb**2)
    l2 = (m_H**2 * sa**2 + m_h**2 * ca**2 - M2 * cb**2) / (v2 * sb**2)
    l3 = ((m_H**2 - m_h**2) * sa * ca / (sb * cb) + 2 * m_Hpm**2 - M2) / v2
    l4 = (M2 + m_A**2 - 2 * m_Hpm**2) / v2
    l5 = (M2 - m_A**2) / v2
    return np.stack([l1, l2, l3, l4, l5, tb, np.sign(m12sq) * np.sqrt(np.abs(m12sq))], axis=1)


def bounded_from_below(params) -> np.ndarray:
    """Boolean ``(n,)``: the quartic part of the potential is positive in every direction (tree level):
    ``lambda1 > 0``, ``lambda2 > 0``, ``lambda3 > -sqrt(lambda1 lambda2)``, ``lambda3 + lambda4 - |lambda5| > -sqrt(lambda1 lambda2)``."""
    return _bfb_terms(_as_points(params)).max(axis=1) == 0


def _bfb_terms(p):
    l1, l2, l3, l4, l5 = p[:, :5].T
    root = np.sqrt(np.clip(l1, 0, None) * np.clip(l2, 0, None))
    return np.stack([np.clip(-l1, 0, None), np.clip(-l2, 0, None), np.clip(-(l3 + root), 0, None),
                     np.clip(-(l3 + l4 - np.abs(l5) + root), 0, None)], axis=1)


def unitarity_eigenvalues(params) -> np.ndarray:
    """The 12 eigenvalues ``(n, 12)`` of the tree-level 2 -> 2 scalar scattering matrices at high energy
    (hep-ph/9303263, hep-ph/0006035): unitarity asks each to be below 8 pi in absolute value."""
    l1, l2, l3, l4, l5 = _as_points(params)[:, :5].T
    s, d = l1 + l2, l1 - l2
    ra = np.sqrt(2.25 * d**2 + (2 * l3 + l4) ** 2)
    rb = np.sqrt(d**2 + 4 * l4**2)
    rc = np.sqrt(d**2 + 4 * l5**2)
    return np.stack([1.5 * s + ra, 1.5 * s - ra, 0.5 * (s + rb), 0.5 * (s - rb), 0.5 * (s + rc), 0.5 * (s - rc),
                     l3 + 2 * l4 - 3 * l5, l3 - l5, l3 + 2 * l4 + 3 * l5, l3 + l5, l3 + l4, l3 - l4], axis=1)


def violations(params) -> tuple[np.ndarray, dict]:
    """How far each point is from each constraint.  Returns ``(v, spec)``: ``v`` of shape ``(n, 5)``, one
    column per entry of :data:`CONSTRAINTS`, each 0 where the constraint holds and positive (in units of a
    quartic coupling) where it fails; ``spec`` is :func:`spectrum`'s dict.  A point is valid when its
    whole row is zero; the row's sum is the loss an optimiser minimises."""
    p = _as_points(params)
    spec = spectrum(p)
    v2 = V_EW**2
    bfb = _bfb_terms(p).sum(axis=1)
    unitarity = np.clip(np.abs(unitarity_eigenvalues(p)) - UNITARITY_BOUND, 0, None).sum(axis=1)
    tachyon = sum(np.clip(-spec[k], 0, None) for k in ("m2_h", "m2_A", "m2_Hpm")) / v2
    # |m_h - 125.09| beyond the window, converted to the change of a quartic coupling that moves
    # m_h^2 = lambda v^2 by that much: d lambda = 2 m_h dm / v^2
    higgs = 2 * M_H_OBS * np.clip(np.abs(spec["m_h"] - M_H_OBS) - M_H_WINDOW, 0, None) / v2
    alignment = np.clip(np.abs(spec["cos_beta_alpha"]) - COS_BETA_ALPHA_MAX, 0, None)
    return np.stack([bfb, unitarity, tachyon, higgs, alignment], axis=1), spec


class Evaluator:
    """The expensive black box: evaluates the constraints at unit-cube points and counts every call.

    ``Evaluator(budget)(u)`` with ``u`` of shape ``(k, 7)`` returns ``(valid, loss)``, two arrays of shape
    ``(k,)``, and stores the points, losses and spectra.  Asking for more than ``budget`` evaluations in
    total raises ``ValueError``: the comparison of methods at a fixed budget is enforced, not trusted.
    """

    def __init__(self, budget: int, box=BOX):
        if int(budget) != budget or budget < 1:
            raise ValueError(f"budget must be a positive whole number of evaluations; got {budget!r}")
        self.budget, self.box = int(budget), np.asarray(box, dtype=float)
        self.u, self.loss, self.valid, self.spec = [], [], [], []

    @property
    def n_calls(self) -> int:
        return sum(len(x) for x in self.u)

    @property
    def remaining(self) -> int:
        return self.budget - self.n_calls

    def __call__(self, u):
        u = _as_points(u, "u")
        if np.any(u < 0) or np.any(u > 1):
            raise ValueError("points must lie in the unit cube [0, 1]^7 (the scanned box)")
        if len(u) > self.remaining:
            raise ValueError(f"{len(u)} evaluations asked, only {self.remaining} of the budget of {self.budget} left")
        v, spec = violations(to_physical(u, self.box))
        loss = v.sum(axis=1)
        valid = loss == 0
        self.u.append(u.copy())
        self.loss.append(loss)
        self.valid.append(valid)
        self.spec.append(spec)
        return valid, loss

    def result(self, method: str) -> ScanResult:
        """Everything evaluated so far as a :class:`ScanResult`."""
        def cat(xs):
            return np.concatenate(xs) if xs else np.empty(0)

        spec = {k: cat([s[k] for s in self.spec]) for k in (self.spec[0] if self.spec else {})}
        u = np.concatenate(self.u) if self.u else np.empty((0, len(PARAMETERS)))
        return ScanResult(method, u, cat(self.loss), cat(self.valid).astype(bool), spec, self.box)


@dataclass
class ScanResult:
    """The points one scan evaluated, in the order it evaluated them.

    ``u``: ``(n, 7)`` unit-cube coordinates; ``loss``, ``valid``: ``(n,)``; ``spec``: the spectrum
    (:func:`spectrum`) at each point; ``params``: physical parameters ``(n, 7)``."""
    method: str
    u: np.ndarray
    loss: np.ndarray
    valid: np.ndarray
    spec: dict = field(repr=False)
    box: np.ndarray = field(default_factory=lambda: BOX.copy(), repr=False)

    @property
    def params(self) -> np.ndarray:
        return self.box[0] + self.u * (self.box[1] - self.box[0])

    @property
    def n_valid(self) -> int:
        return int(self.valid.sum())

    def __len__(self):
        return len(self.u)


def per_thousand(valid) -> tuple[float, float]:
    """Valid points per 1000 evaluations and its binomial standard error (Wilson-like: never 0 for 0 found)."""
    valid = np.asarray(valid, dtype=bool)
    n = len(valid)
    if n == 0:
        raise ValueError("no evaluations")
    p = valid.mean()
    p_err = math.sqrt(max(p * (1 - p), 1 / n) / n)
    return 1000 * p, 1000 * p_err


def random_scan(budget: int, seed: int = 0, box=BOX) -> ScanResult:
    """Uniform random points in the box: exactly ``budget`` evaluations."""
    ev = Evaluator(budget, box)
    rng = np.random.default_rng(seed)
    chunk = 100_000  # memory: a few arrays of this length at a time
    while ev.remaining:
        ev(rng.random((min(chunk, ev.remaining), len(PARAMETERS))))
    return ev.result("random")


def novelty(points, archive, k: int = 5) -> np.ndarray:
    """Novelty of each point: the mean Euclidean distance to its ``k`` nearest neighbours in ``archive``
    (unit-cube coordinates; shapes ``(n, d)`` and ``(m, d)``).  Returns ``(n,)``; zeros if the archive is
    empty, the distance to all of them if it holds fewer than ``k``."""
    points = np.atleast_2d(points)
    if archive is None or np.size(archive) == 0:
        return np.zeros(len(points))
    archive = np.atleast_2d(archive)
    if points.shape[1] != archive.shape[1]:
        raise ValueError(f"points and archive must have the same dimension; got {points.shape} and {archive.shape}")
    d2 = ((points[:, None, :] - archive[None, :, :]) ** 2).sum(-1)
    k = min(k, archive.shape[0])
    nearest = np.sqrt(np.partition(d2, k - 1, axis=1)[:, :k])
    return nearest.mean(axis=1)


def cmaes_scan(budget: int, seed: int = 0, novelty_weight: float = 0.0, sigma0: float = 0.25,
               population: int | None = None, k: int = 5, patience: int = 20,
               max_generations: int | None = None, min_novelty: float = 0.05, features=None,
               blind: bool = False, box=BOX) -> ScanResult:
    """CMA-ES on the violation loss, restarted from a random mean when it stalls; exactly ``budget`` evaluations.

    With ``novelty_weight = w > 0`` each point's fitness is ``loss - w * novelty``, the novelty being its
    mean distance to the ``k`` nearest valid points found so far (:func:`novelty`): once the search sits
    in the valid region, crowded valid points rank below new ones and the search moves on, along the
    region, instead of collapsing onto one point (the novelty reward of arXiv:2402.07661).  A search
    restarts from a new random mean when it has made no progress for ``patience`` generations, or when
    the library's own stopping criteria fire.  Progress is a lower best fitness; with the novelty
    reward, also any generation that finds a valid point farther than ``min_novelty`` (its novelty, in
    unit-cube units) from the valid points known before.  (Without novelty the loss is 0 everywhere
    in the valid region and cannot improve further: plain CMA-ES restarts ``patience`` generations
    after it first gets there.)  ``max_generations`` ends every search after that many generations
    even if it still progresses: with the novelty reward the next one, started elsewhere, is pushed
    away from what the earlier ones found.

    ``features(u, spec)`` maps the generation's points (unit cube, ``(n, 7)``) and their spectrum
    (:func:`spectrum`'s dict) to the space in which novelty is measured (default: the unit cube itself).
    ``blind=True`` permutes the fitness values at random before the optimiser sees them: a broken
    search, for controls, that should do no better than random sampling.
    """
    from cmaes import CMA

    if novelty_weight < 0:
        raise ValueError(f"novelty_weight must be >= 0; got {novelty_weight}")
    ev = Evaluator(budget, box)
    rng = np.random.default_rng(seed)
    dim = len(PARAMETERS)
    bounds = np.tile([0.0, 1.0], (dim, 1))
    archive = None
    restart = 0
    while ev.remaining:
        opt = CMA(mean=rng.random(dim), sigma=sigma0, bounds=bounds, seed=int(rng.integers(2**31)),
                  population_size=population)
        best, stale = np.inf, 0
        while ev.remaining:
            n = min(opt.population_size, ev.remaining)
            u = np.array([opt.ask() for _ in range(opt.population_size)])
            valid, loss = ev(u[:n])
            if n < opt.population_size:
                break  # the budget ended inside this generation: nothing left to learn from
            fitness = loss.copy()
            feats = u if features is None else np.asarray(features(u, ev.spec[-1]), dtype=float)
            if novelty_weight > 0:
                new = novelty(feats, archive, k)
                fitness -= novelty_weight * new
            archive = feats[valid] if archive is None else np.vstack([archive, feats[valid]])
            if blind:
                fitness = rng.permutation(fitness)
            opt.tell(list(zip(u, fitness)))
            if novelty_weight > 0 and archive is not None and len(archive) > k and np.any(new[valid] > min_novelty):
                progress = True  # still finding new valid territory: the novelty reward keeps it moving
            else:
                progress = fitness.min() < best - 1e-12
            best = min(best, fitness.min())
            stale = 0 if progress else stale + 1
            if stale >= patience or opt.should_stop() or (max_generations and opt.generation >= max_generations):
                break
        restart += 1
    result = ev.result("CMA-ES" if novelty_weight == 0 else "CMA-ES + novelty")
    result.restarts = restart
    return result


def _ensemble_fit(x, y, members, width, steps, seed, lr=1e-2):
    """Train ``members`` small networks ``7 -> width -> width -> 1`` at once (one batched model) on
    bootstrap resamples of ``(x, y)``; class-balanced binary cross-entropy.  Returns a predict function
    mapping ``(n, 7)`` to member probabilities ``(members, n)``."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    xt = torch.as_tensor(x, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.float32)
    n, d = xt.shape
    idx = torch.randint(0, n, (members, n), generator=gen)
    xb, yb = xt[idx], yt[idx]  # (members, n, d), (members, n)
    pos = yb.sum(1, keepdim=True).clamp(min=1)
    w = torch.where(yb > 0, 0.5 * n / pos, 0.5 * n / (n - pos).clamp(min=1))

    def init(*shape, fan_in):
        return ((torch.rand(*shape, generator=gen) * 2 - 1) / math.sqrt(fan_in)).requires_grad_(True)

    params = [init(members, d, width, fan_in=d), init(members, 1, width, fan_in=d),
              init(members, width, width, fan_in=width), init(members, 1, width, fan_in=width),
              init(members, width, 1, fan_in=width), init(members, 1, 1, fan_in=width)]

    def forward(inp):  # inp: (members, n, d) -> logits (members, n)
        w1, b1, w2, b2, w3, b3 = params
        h = torch.relu(torch.bmm(inp, w1) + b1)
        h = torch.relu(torch.bmm(h, w2) + b2)
        return (torch.bmm(h, w3) + b3).squeeze(-1)

    opt = torch.optim.Adam(params, lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(forward(xb), yb, weight=w)
        loss.backward()
        opt.step()

    def predict(u):
        with torch.no_grad():
            ut = torch.as_tensor(u, dtype=torch.float32)
            return torch.sigmoid(forward(ut.expand(members, *ut.shape))).numpy()

    return predict


def active_learning_scan(budget: int, seed: int = 0, n_init: int = 200, batch: int = 200, members: int = 4,
                         width: int = 32, steps: int = 150, n_candidates: int = 10_000, local_width: float = 0.05,
                         min_positive: int = 20, top_quantile: float = 0.1, box=BOX) -> ScanResult:
    """Active learning with a classifier ensemble; exactly ``budget`` evaluations.

    ``n_init`` random points first.  Then, batch after batch: an ensemble of ``members`` small networks
    (``7 -> width -> width -> 1``, ReLU, ``steps`` full-batch Adam steps, each on a bootstrap of the
    points) learns to tell *good* points from the rest: the valid ones once at least ``min_positive``
    are known; before that, the ``top_quantile`` of the points with the lowest loss, a stepping stone
    towards them.  ``n_candidates`` candidates are drawn, half uniformly in the box and half around good
    points (Gaussian of width ``local_width`` in unit coordinates); each gets the members' mean
    probability ``p`` and their spread ``s`` (standard deviation), and the ``batch`` candidates with the
    largest ``s + min(p, 0.5)`` are evaluated: points the networks think may be valid and disagree
    about, near the boundary they have learned.  Scoring candidates costs no evaluation.
    """
    import torch

    if n_init >= budget:
        raise ValueError(f"n_init ({n_init}) must be smaller than the budget ({budget})")
    ev = Evaluator(budget, box)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    dim = len(PARAMETERS)
    ev(rng.random((n_init, dim)))
    round_ = 0
    while ev.remaining:
        u = np.concatenate(ev.u)
        loss = np.concatenate(ev.loss)
        valid = loss == 0
        if valid.sum() >= min_positive:
            good = valid
        else:
            good = loss <= np.quantile(loss, top_quantile)
        predict = _ensemble_fit(2 * u - 1, good.astype(float), members, width, steps, seed=seed * 1000 + round_)
        centres = u[good][rng.integers(0, good.sum(), n_candidates // 2)]
        local = np.clip(centres + local_width * rng.standard_normal(centres.shape), 0, 1)
        candidates = np.vstack([rng.random((n_candidates - len(local), dim)), local])
        p = predict(2 * candidates - 1)
        score = p.std(axis=0) + np.minimum(p.mean(axis=0), 0.5)
        n = min(batch, ev.remaining)
        ev(candidates[np.argsort(-score)[:n]])
        round_ += 1
    return ev.result("active learning")


def occupied_bins(xy, edges) -> np.ndarray:
    """Boolean 2D histogram ``(nx, ny)``: which bins of ``edges = (x_edges, y_edges)`` hold at least one of
    the points ``xy`` (shape ``(n, 2)``).  Points outside the edges are ignored."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    counts, _, _ = np.histogram2d(xy[:, 0], xy[:, 1], bins=edges)
    return counts > 0


def coverage(found_xy, reference_xy, edges) -> float:
    """Fraction of the bins occupied by ``reference_xy`` that ``found_xy`` also occupies (0 to 1).

    Both are ``(n, 2)`` arrays of valid points in the same 2D projection; ``edges`` are the bin edges
    chosen before the comparison.  Bins the scan reaches but the reference does not are not counted
    (see :func:`occupied_bins` for them)."""
    ref = occupied_bins(reference_xy, edges)
    if not ref.any():
        raise ValueError("the reference scan occupies no bin: no valid reference point inside the edges")
    return float((occupied_bins(found_xy, edges) & ref).sum() / ref.sum())
