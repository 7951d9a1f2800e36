"""Simulation-based inference of one parameter from many independent jets (notebook 16).

The question: which value of a simulator's parameter ``theta`` (here the final-state shower
coupling ``alpha_s``) describes a measured set of jets?  The simulator gives samples, never
the likelihood ``p(x | theta)`` of a jet's observables ``x``.  Three ways around that, and the
tools to check their answers:

- **Binned templates** (the classical answer): histograms of one observable at a grid of
  ``theta`` values, each bin's probability interpolated in ``theta`` by a polynomial
  (:class:`TemplateModel`), and a Poisson likelihood of the measured counts minimised with
  iminuit (:func:`fit_template`).
- **Neural ratio estimation** (Cranmer, Pavez, Louppe, arXiv:1506.02169; Hermans, Begy,
  Louppe, arXiv:1903.04057): a classifier ``d(x, theta)`` that takes the parameter as an
  input (:class:`RatioEstimator`) is trained to tell pairs ``(x, theta)`` simulated together
  from pairs whose ``theta`` was shuffled (:func:`train_ratio_estimator`).  Its optimum is
  ``d = p(x, theta) / (p(x, theta) + p(x) p(theta))``, so ``log r = logit d =
  log p(x | theta) - log p(x)``: the per-jet log-likelihood up to a term without ``theta``.
  For independent jets the dataset's log-likelihood is the sum over jets
  (:func:`log_ratio_table` gives it for many jets and many ``theta`` at once).
- **Neural posterior estimation**: a conditional normalizing flow (zuko) for
  ``p(theta | s)``, trained on simulated pseudo-datasets and their summaries ``s``
  (:class:`PosteriorEstimator`, :func:`window_pseudo_datasets`, :func:`dataset_means`).

And the checks: intervals from a negative log-likelihood curve (:func:`profile_interval`),
posteriors on a grid with a flat prior and their central credible intervals
(:func:`grid_posterior`, :func:`central_interval`), the posterior's distribution function at
the truth, whose uniformity is simulation-based calibration (Talts et al., arXiv:1804.06788;
:func:`expected_coverage`), and pseudo-experiments drawn from held-out simulation
(:func:`pseudo_experiments`, :func:`overlap_fraction`, :func:`coverage`).

Conventions: ``theta`` is a float (for the notebook ``alpha_s``, dimensionless); per-jet
observables are ``(n, d)`` arrays (GeV for masses and momenta); log-likelihoods are natural
logarithms, and ``nll`` means ``-log L`` (so a 68 % interval is where it rises by 0.5).
"""
from __future__ import annotations

import time

import numpy as np
import torch
from scipy.interpolate import CubicSpline

from .checks import finite_array
from .unfolding import bin_index  # one binning rule for templates and unfolding (under- and overflow kept)

__all__ = ["bin_index", "quantile_edges", "TemplateModel", "poisson_nll", "fit_template",
           "RatioEstimator", "train_ratio_estimator", "log_ratio_table", "profile_interval",
           "grid_posterior", "central_interval", "expected_coverage", "coverage", "pseudo_experiments",
           "overlap_fraction", "window_pseudo_datasets", "dataset_means", "PosteriorEstimator"]


# --- binned templates ------------------------------------------------------------------------
def quantile_edges(values, n_bins: int, integer: bool = False) -> np.ndarray:
    """Edges of about ``n_bins`` bins with equal counts in ``values``.

    For an integer-valued observable (a multiplicity) set ``integer=True``: the edges fall at
    half-integers, and fewer bins come back where one value alone holds more than a bin's share.
    Returns the increasing edges, ``(k + 1,)`` with ``k <= n_bins``.
    """
    values = finite_array(values, "values")
    if int(n_bins) < 1:
        raise ValueError(f"n_bins must be at least 1; got {n_bins}")
    q = np.quantile(values, np.linspace(0.0, 1.0, int(n_bins) + 1))
    if integer:
        q = np.round(q[1:-1]) - 0.5
        edges = np.unique(np.concatenate([[values.min() - 0.5], q, [values.max() + 0.5]]))
    else:
        edges = np.unique(q)
        edges[-1] = np.nextafter(edges[-1], np.inf)
    if len(edges) < 2:
        raise ValueError("values are constant: no bins can be made")
    return edges


class TemplateModel:
    """Per-bin probabilities of one observable as smooth functions of ``theta``.

    :meth:`fit` histograms the observable at each simulated ``theta`` (a grid of values) and
    fits, in every bin separately, a polynomial of degree ``degree`` in ``theta`` to the bin's
    fraction of jets, weighted by its binomial error (``degree = 1`` is linear, ``2``
    quadratic interpolation across the grid; with as many grid values as parameters it passes
    through every point).  :meth:`probabilities` evaluates the polynomials at any ``theta``,
    clips them at a small positive value and normalises them to one.

    Parameters
    ----------
    edges : the bin edges (:func:`quantile_edges`); under- and overflow go to the end bins.
    degree : of the per-bin polynomial in ``theta``.
    """

    def __init__(self, edges, degree: int = 2):
        self.edges = finite_array(edges, "edges")
        if len(self.edges) < 3:
            raise ValueError("a template needs at least two bins")
        if int(degree) < 0:
            raise ValueError(f"degree must be >= 0; got {degree}")
        self.degree = int(degree)
        self.coef = None

    @property
    def n_bins(self) -> int:
        return len(self.edges) - 1

    def histograms(self, values, theta) -> tuple[np.ndarray, np.ndarray]:
        """The grid's values ``(g,)`` and the counts ``(g, n_bins)`` of ``values`` at each."""
        values, theta = finite_array(values, "values"), finite_array(theta, "theta")
        if len(values) != len(theta):
            raise ValueError(f"values and theta differ in length: {len(values)} and {len(theta)}")
        grid, which = np.unique(theta, return_inverse=True)
        b = bin_index(values, self.edges)
        counts = np.zeros((len(grid), self.n_bins))
        np.add.at(counts, (which, b), 1.0)
        return grid, counts

    def fit(self, values, theta) -> TemplateModel:
        """Fit the per-bin polynomials to jets ``values`` ``(n,)`` simulated at ``theta`` ``(n,)``."""
        grid, counts = self.histograms(values, theta)
        if len(grid) < self.degree + 1:
            raise ValueError(f"a polynomial of degree {self.degree} needs at least {self.degree + 1} values of theta; "
                             f"got {len(grid)}")
        totals = counts.sum(axis=1, keepdims=True)
        frac = counts / totals
        # binomial error of each fraction; a bin with no jets counts as if it had one
        sigma = np.sqrt(np.maximum(counts, 1.0) * (1 - np.minimum(frac, 0.5))) / totals
        self.center, self.scale = grid.mean(), max(np.ptp(grid), 1e-12)
        t = (grid - self.center) / self.scale
        design = np.vander(t, self.degree + 1, increasing=True)
        self.coef = np.empty((self.n_bins, self.degree + 1))
        for k in range(self.n_bins):
            w = 1.0 / sigma[:, k]
            self.coef[k] = np.linalg.lstsq(design * w[:, None], frac[:, k] * w, rcond=None)[0]
        self.grid, self.counts = grid, counts
        return self

    def probabilities(self, theta) -> np.ndarray:
        """Bin probabilities at ``theta``: ``(n_bins,)`` for a scalar, ``(m, n_bins)`` for ``(m,)``."""
        if self.coef is None:
            raise ValueError("the template model is not fitted: call fit(values, theta) first")
        th = np.asarray(theta, dtype=np.float64)
        t = (np.atleast_1d(th) - self.center) / self.scale
        p = np.vander(t, self.degree + 1, increasing=True) @ self.coef.T
        p = np.maximum(p, 1e-9)
        p /= p.sum(axis=1, keepdims=True)
        return p[0] if th.ndim == 0 else p

    def expected(self, theta, n_jets) -> np.ndarray:
        """Expected counts per bin for ``n_jets`` jets at ``theta``."""
        return n_jets * self.probabilities(theta)

    def chi2(self, values, theta) -> tuple[float, int]:
        """Pearson chi2 of other jets' histograms (e.g. validation) against the model, and its
        number of degrees of freedom (bins minus one per grid value): the check of the interpolation."""
        grid, counts = self.histograms(values, theta)
        expect = counts.sum(axis=1, keepdims=True) * self.probabilities(grid)
        return float(np.sum((counts - expect) ** 2 / expect)), int(len(grid) * (self.n_bins - 1))

    def fisher_information(self, theta, step: float = 1e-4) -> float:
        """The Fisher information per jet of the binned observable at ``theta``,
        ``sum_b (dp_b/dtheta)^2 / p_b``: ``1/sqrt(n I)`` is the best resolution ``n`` jets can give."""
        dp = (self.probabilities(theta + step) - self.probabilities(theta - step)) / (2 * step)
        return float(np.sum(dp**2 / self.probabilities(theta)))


def poisson_nll(counts, expected) -> float:
    """``-log`` of the Poisson likelihood of ``counts`` given ``expected`` (same shape), without the
    constant ``sum log(n!)``: ``sum(expected - counts * log(expected))``."""
    counts, expected = np.asarray(counts, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if counts.shape != expected.shape:
        raise ValueError(f"counts {counts.shape} and expected {expected.shape} differ in shape")
    if np.any(expected <= 0):
        raise ValueError("expected counts must be positive")
    return float(np.sum(expected - counts * np.log(expected)))


def fit_template(model: TemplateModel, counts, bounds=None, start=None, minos: bool = False) -> dict:
    """Fit ``theta`` to a histogram of measured ``counts`` ``(n_bins,)`` with iminuit.

    The likelihood is Poisson in every bin with expectation ``n * p_b(theta)``, ``n`` the
    measured number of jets (the normalisation is fixed, so only the shape of the histogram
    measures ``theta``).  MIGRAD finds the minimum of :func:`poisson_nll`, HESSE the error
    from its curvature, and with ``minos=True`` MINOS the asymmetric errors where the NLL has
    risen by 0.5 (``errordef = 0.5``, a 68 % interval).

    Parameters
    ----------
    bounds : ``(low, high)`` limits of ``theta``; default the simulated grid widened by 10 %
        of its range on each side (beyond it the polynomials extrapolate).
    start : the starting value; default the centre of the grid.

    Returns
    -------
    dict with ``value``, ``error`` (HESSE), ``lower``/``upper`` (the 68 % interval: MINOS
    if asked, else ``value -+ error``), ``valid`` (MIGRAD converged), ``nll`` at the minimum.
    """
    from iminuit import Minuit

    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape != (model.n_bins,):
        raise ValueError(f"counts must have shape ({model.n_bins},), one per bin; got {counts.shape}")
    if np.any(counts < 0) or counts.sum() <= 0:
        raise ValueError("counts must be non-negative with at least one jet")
    if bounds is None:
        span = np.ptp(model.grid)
        bounds = (model.grid.min() - 0.1 * span, model.grid.max() + 0.1 * span)
    n = counts.sum()

    def nll(theta):
        return poisson_nll(counts, model.expected(theta, n))

    m = Minuit(nll, theta=float(np.mean(bounds) if start is None else start))
    m.errordef = Minuit.LIKELIHOOD
    m.limits["theta"] = tuple(bounds)
    m.migrad()
    m.hesse()
    value, error = float(m.values["theta"]), float(m.errors["theta"])
    out = {"value": value, "error": error, "lower": value - error, "upper": value + error,
           "valid": bool(m.valid), "nll": float(m.fval)}
    if minos:
        m.minos()
        me = m.merrors["theta"]
        out["lower"], out["upper"] = value + float(me.lower), value + float(me.upper)
    return out


# --- neural ratio estimation -----------------------------------------------------------------
class RatioEstimator(torch.nn.Module):
    """A parametrised classifier ``d(x, theta)``, returned as its logit ``log r(x, theta)``.

    A multilayer perceptron (SiLU activations) of the observables ``x`` ``(B, d)`` and the
    parameter ``theta`` ``(B,)``, both standardised inside with the means and standard
    deviations given here (those of the training sample), so that the caller passes physical
    values.  ``forward`` returns the logit ``(B,)``; trained as :func:`train_ratio_estimator`
    does, it estimates ``log p(x | theta) - log p(x)``.

    With ``degree=None`` ``theta`` is one more input of the network, and the network alone
    decides how the logit varies between the values of ``theta`` it was trained at.  With
    ``degree=k`` the logit is a polynomial in the standardised ``t``, ``sum_j c_j(x) t^j``, whose
    ``k + 1`` coefficients the network computes from ``x``: the same assumption as the per-bin
    polynomial of :class:`TemplateModel`, and a well-defined interpolation between the values
    of a grid.
    """

    def __init__(self, x_mean, x_std, theta_mean: float, theta_std: float, hidden=(64, 64),
                 degree: int | None = None):
        super().__init__()
        x_mean, x_std = finite_array(x_mean, "x_mean"), finite_array(x_std, "x_std")
        if len(x_mean) != len(x_std) or np.any(x_std <= 0) or theta_std <= 0:
            raise ValueError("x_mean and x_std need one value per feature, and the standard deviations must be > 0")
        if len(hidden) < 1:
            raise ValueError("need at least one hidden layer")
        if degree is not None and int(degree) < 1:
            raise ValueError(f"degree must be None (theta is an input like x) or at least 1; got {degree}")
        self.degree = None if degree is None else int(degree)
        self.register_buffer("x_mean", torch.tensor(x_mean, dtype=torch.float32))
        self.register_buffer("x_std", torch.tensor(x_std, dtype=torch.float32))
        self.register_buffer("theta_scale", torch.tensor([theta_mean, theta_std], dtype=torch.float32))
        layers, width = [], len(x_mean) + (1 if self.degree is None else 0)
        for h in hidden:
            layers += [torch.nn.Linear(width, h), torch.nn.SiLU()]
            width = h
        layers.append(torch.nn.Linear(width, 1 if self.degree is None else self.degree + 1))
        self.net = torch.nn.Sequential(*layers)

    @classmethod
    def for_data(cls, x, theta, hidden=(64, 64), degree: int | None = None, seed: int = 0) -> RatioEstimator:
        """A network standardised on training jets ``x`` ``(n, d)`` and their ``theta`` ``(n,)``; ``seed``
        fixes the initial weights."""
        x, theta = finite_array(x, "x", ndim=2, columns=True), finite_array(theta, "theta")
        torch.manual_seed(seed)
        return cls(x.mean(0), x.std(0) + 1e-12, float(theta.mean()), float(theta.std() + 1e-12), hidden, degree)

    def forward(self, x, theta):
        z = (x - self.x_mean) / self.x_std
        t = ((theta - self.theta_scale[0]) / self.theta_scale[1])[:, None]
        if self.degree is None:
            return self.net(torch.cat([z, t], dim=1))[:, 0]
        return (self.net(z) * self._powers(t)).sum(dim=1)

    def coefficients(self, x, batch_size: int = 50_000) -> np.ndarray:
        """The polynomial's coefficients ``c_j(x)`` of each jet ``x`` ``(n, d)``: ``(n, degree + 1)`` (``degree``
        must be set).  A dataset's log-likelihood ratio is ``sum_j (sum_i c_j(x_i)) t^j``: the sums over its
        jets of ``c_1, ..., c_degree`` are all it depends on (sufficient statistics of the learned model)."""
        if self.degree is None:
            raise ValueError("coefficients need a network with a polynomial in theta (degree set)")
        x = finite_array(x, "x", ndim=2, columns=True)
        xt = torch.tensor(x, dtype=torch.float32)
        with torch.no_grad():
            return np.concatenate([self.net((xt[i:i + batch_size] - self.x_mean) / self.x_std).double().numpy()
                                   for i in range(0, len(x), batch_size)])

    def _powers(self, t):
        # (n, 1) -> (n, degree + 1): 1, t, t^2, ...
        return torch.cat([torch.ones_like(t), t.repeat(1, self.degree).cumprod(dim=1)], dim=1)

    def logits_with_grid(self, x, theta, thetas):
        """``(forward(x, theta), logits_at(x, thetas))`` with one pass of the network for a polynomial."""
        if self.degree is None:
            return self(x, theta), self.logits_at(x, thetas)
        c = self.net((x - self.x_mean) / self.x_std)
        t = ((theta - self.theta_scale[0]) / self.theta_scale[1])[:, None]
        tk = ((thetas - self.theta_scale[0]) / self.theta_scale[1])[:, None]
        return (c * self._powers(t)).sum(dim=1), c @ self._powers(tk).T

    def logits_at(self, x, thetas):
        """The logit of every jet ``x`` ``(B, d)`` at every value ``thetas`` ``(K,)``: ``(B, K)``.  With a
        polynomial in ``theta`` the network runs once per jet, not once per value."""
        if self.degree is None:
            b, k = len(x), len(thetas)
            return self(x.repeat_interleave(k, dim=0), thetas.repeat(b)).reshape(b, k)
        z = (x - self.x_mean) / self.x_std
        t = ((thetas - self.theta_scale[0]) / self.theta_scale[1])[:, None]
        return self.net(z) @ self._powers(t).T


def train_ratio_estimator(model: RatioEstimator, x, theta, x_val, theta_val, epochs: int = 20,
                          batch_size: int = 512, lr: float = 2e-3, weight_decay: float = 0.0,
                          negatives: str = "shuffle", seed: int = 0) -> dict:
    """Train ``model`` to tell jets with their own ``theta`` from jets with a shuffled one.

    Each training jet is a positive example with the ``theta`` it was simulated at (label 1)
    and a negative one with a ``theta`` drawn from the marginal distribution of ``theta``
    (label 0), so that the negatives follow ``p(x) p(theta)``:

    - ``negatives="shuffle"``: the ``theta`` of another jet, a fresh random permutation each
      epoch (any distribution of ``theta``, e.g. a continuous scan);
    - ``negatives="all"``: for ``theta`` on a grid of a few values, every jet is a negative at
      *every* grid value, weighted by that value's frequency: the average of the loss over all
      shuffles, computed exactly instead of drawn (same optimum, less noise).

    The loss is the binary cross-entropy (the negatives' weights sum to one per jet, as the
    positives'); Adam with a learning rate decaying on a cosine to zero.  The validation loss
    (the same construction on ``x_val``, ``theta_val``, with a fixed permutation for
    ``"shuffle"``) is measured after each epoch and the weights of the best epoch are kept.

    Parameters
    ----------
    x, x_val : ``(n, d)`` observables; theta, theta_val : ``(n,)`` the parameter of each jet.

    Returns
    -------
    dict with ``train``, ``val`` (the mean loss per example per epoch; ``log 2 = 0.693`` is a
    classifier that learned nothing), ``best_epoch`` (0-based), ``seconds`` (process CPU time).
    """
    x, x_val = finite_array(x, "x", ndim=2, columns=True), finite_array(x_val, "x_val", ndim=2, columns=True)
    theta, theta_val = finite_array(theta, "theta"), finite_array(theta_val, "theta_val")
    if len(x) != len(theta) or len(x_val) != len(theta_val):
        raise ValueError("x and theta (and x_val and theta_val) must have the same number of jets")
    if x.shape[1] != len(model.x_mean) or x_val.shape[1] != len(model.x_mean):
        raise ValueError(f"the model expects {len(model.x_mean)} features; got {x.shape[1]} and {x_val.shape[1]}")
    if epochs < 1 or batch_size < 1:
        raise ValueError("epochs and batch_size must be positive")
    if negatives not in ("shuffle", "all"):
        raise ValueError(f"negatives must be 'shuffle' or 'all'; got {negatives!r}")
    t0 = time.process_time()
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    f32 = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    xt, tt, xv, tv = f32(x), f32(theta), f32(x_val), f32(theta_val)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    if negatives == "all":
        grid, counts = np.unique(theta, return_counts=True)
        if len(grid) > 64:
            raise ValueError(f"negatives='all' is for a grid of a few values of theta; got {len(grid)} distinct values")
        grid_t, weight = f32(grid), f32(counts / counts.sum())

        def loss_of(xb, tb, partner_b):  # partner_b is not needed: the negatives are every grid value
            pos, neg = model.logits_with_grid(xb, tb, grid_t)  # neg (B, K): every jet at every grid value
            return 0.5 * (bce(pos, torch.ones_like(pos))
                          + (bce(neg, torch.zeros_like(neg), reduction="none") * weight).sum(dim=1).mean())
    else:
        def loss_of(xb, tb, partner_b):  # the negatives: the same jets with their partners' theta
            pos, neg = model(xb, tb), model(xb, partner_b)
            return 0.5 * (bce(pos, torch.ones_like(pos)) + bce(neg, torch.zeros_like(neg)))

    partner_val = tv[torch.as_tensor(np.random.default_rng([seed, 1]).permutation(len(tv)))]  # fixed
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * int(np.ceil(len(x) / batch_size)))
    history = {"train": [], "val": []}
    best, best_state = np.inf, None
    for _ in range(epochs):
        model.train()
        # a jet's partner theta comes from a fresh permutation of the whole training set every epoch
        partner = tt[torch.as_tensor(rng.permutation(len(tt)))]
        order = torch.as_tensor(rng.permutation(len(xt)))
        total = 0.0
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            loss = loss_of(xt[rows], tt[rows], partner[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(rows)
        history["train"].append(total / len(order))
        model.eval()
        with torch.no_grad():
            val = float(loss_of(xv, tv, partner_val))
        history["val"].append(val)
        if val < best:
            best = val
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    model.eval()
    history["best_epoch"] = int(np.argmin(history["val"]))
    history["seconds"] = time.process_time() - t0
    return history


def log_ratio_table(models, x, thetas, batch_size: int = 20_000) -> np.ndarray:
    """``log r(x_j, theta_k)`` for every jet and every ``theta``: ``(n, k)`` float64.

    ``models`` is one :class:`RatioEstimator` or a list of them (an ensemble: their logits are
    averaged).  A dataset's log-likelihood ratio at ``theta_k`` is the sum of its jets' rows in
    column ``k``, so the table of all held-out jets serves any number of pseudo-experiments.
    """
    if isinstance(models, torch.nn.Module):
        models = [models]
    x = finite_array(x, "x", ndim=2, columns=True)
    thetas = finite_array(thetas, "thetas")
    step = max(1, batch_size // (len(thetas) if models[0].degree is None else 1))
    out = np.zeros((len(x), len(thetas)))
    xt, tt = torch.tensor(x, dtype=torch.float32), torch.tensor(thetas, dtype=torch.float32)
    with torch.no_grad():
        for model in models:
            model.eval()
            for start in range(0, len(x), step):
                out[start:start + step] += model.logits_at(xt[start:start + step], tt).double().numpy()
    return out / len(models)


# --- intervals, posteriors, calibration ------------------------------------------------------
def profile_interval(thetas, nll, delta: float = 0.5, refine: int = 20) -> dict:
    """Minimum and interval of negative log-likelihood curves tabulated on a grid of ``theta``.

    ``nll`` is ``(k,)`` or ``(m, k)`` (``m`` curves, e.g. pseudo-experiments), ``k = len(thetas)``.
    Each curve is interpolated by a cubic spline evaluated on a ``refine`` times finer grid;
    the estimate is its minimum, and the interval runs to where the curve has risen by ``delta``
    (0.5: 68 %, 2.0: 95 %, by Wilks' theorem).  Where the curve does not rise that far within
    the grid, the interval stops at the grid's end and ``closed`` is False.

    Returns
    -------
    dict of ``(m,)`` arrays (floats for one curve): ``value``, ``lower``, ``upper``, ``closed``.
    """
    thetas = finite_array(thetas, "thetas")
    nll = np.asarray(nll, dtype=np.float64)
    single = nll.ndim == 1
    nll = np.atleast_2d(nll)
    if nll.shape[1] != len(thetas) or len(thetas) < 4 or np.any(np.diff(thetas) <= 0):
        raise ValueError(f"nll must have one column per theta (>= 4 increasing values); got {nll.shape} "
                         f"for {len(thetas)} thetas")
    if not np.all(np.isfinite(nll)):
        raise ValueError("nll contains NaN or infinite values")
    fine = np.linspace(thetas[0], thetas[-1], (len(thetas) - 1) * refine + 1)
    curve = CubicSpline(thetas, nll, axis=1)(fine)
    best = np.argmin(curve, axis=1)
    rows = np.arange(len(curve))
    rise = curve - curve[rows, best][:, None] - delta
    inside = rise <= 0
    # the interval is the connected run of points below the line around the minimum
    idx = np.arange(len(fine))
    below_left = np.where((idx[None, :] < best[:, None]) & ~inside, idx[None, :], -1).max(axis=1)
    above_right = np.where((idx[None, :] > best[:, None]) & ~inside, idx[None, :], len(fine)).min(axis=1)

    def crossing(i_out, i_in):
        # linear interpolation between the last point outside and the first inside
        r_out, r_in = rise[rows, i_out], rise[rows, i_in]
        with np.errstate(invalid="ignore", divide="ignore"):  # open ends are replaced below
            return fine[i_out] + (fine[i_in] - fine[i_out]) * r_out / (r_out - r_in)

    lo_open, hi_open = below_left < 0, above_right >= len(fine)
    lower = np.where(lo_open, fine[0], crossing(np.maximum(below_left, 0), np.clip(below_left + 1, 0, len(fine) - 1)))
    upper = np.where(hi_open, fine[-1], crossing(np.minimum(above_right, len(fine) - 1), np.clip(above_right - 1, 0, len(fine) - 1)))
    out = {"value": fine[best], "lower": lower, "upper": upper, "closed": ~(lo_open | hi_open)}
    return {k: v[0] for k, v in out.items()} if single else out


def grid_posterior(thetas, log_density) -> np.ndarray:
    """Normalise log-densities on a grid of ``theta`` (``(k,)`` or ``(m, k)``) to posterior densities
    (trapezoidal rule; with a flat prior, ``log_density = -nll``)."""
    thetas = finite_array(thetas, "thetas")
    logd = np.atleast_2d(np.asarray(log_density, dtype=np.float64))
    if logd.shape[1] != len(thetas):
        raise ValueError(f"log_density needs one column per theta ({len(thetas)}); got {logd.shape}")
    dens = np.exp(logd - logd.max(axis=1, keepdims=True))
    dens /= np.trapezoid(dens, thetas, axis=1)[:, None]
    return dens[0] if np.ndim(log_density) == 1 else dens


def _cdf(thetas, density):
    steps = 0.5 * (density[:, 1:] + density[:, :-1]) * np.diff(thetas)
    cdf = np.concatenate([np.zeros((len(density), 1)), np.cumsum(steps, axis=1)], axis=1)
    return cdf / cdf[:, -1:]


def central_interval(thetas, density, level: float = 0.6827, truth=None) -> dict:
    """Central credible intervals of posteriors tabulated on a grid.

    ``density`` ``(k,)`` or ``(m, k)`` from :func:`grid_posterior`; the interval runs from the
    ``(1 - level)/2`` to the ``(1 + level)/2`` quantile; ``median`` and ``mean`` come along.
    With ``truth`` (scalar or ``(m,)``), ``cdf_at_truth`` is the posterior's distribution function at
    the true value: the rank statistic of simulation-based calibration (uniform on [0, 1] when
    the posteriors are calibrated), and ``covered`` says whether the interval holds the truth.
    """
    thetas = finite_array(thetas, "thetas")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1); got {level}")
    dens = np.atleast_2d(np.asarray(density, dtype=np.float64))
    cdf = _cdf(thetas, dens)
    q = lambda p: np.array([np.interp(p, c, thetas) for c in cdf])  # noqa: E731 (the quantile function)
    out = {"lower": q((1 - level) / 2), "upper": q((1 + level) / 2), "median": q(0.5),
           "mean": np.trapezoid(dens * thetas, thetas, axis=1)}
    if truth is not None:
        truth = np.broadcast_to(np.asarray(truth, dtype=np.float64), (len(dens),))
        out["cdf_at_truth"] = np.array([np.interp(t, thetas, c) for t, c in zip(truth, cdf)])
        out["covered"] = (out["lower"] <= truth) & (truth <= out["upper"])
    return {k: v[0] for k, v in out.items()} if np.ndim(density) == 1 else out


def expected_coverage(cdf_at_truth, levels=None) -> tuple[np.ndarray, np.ndarray]:
    """The expected-coverage curve of simulation-based calibration.

    The truth lies inside the central credible interval of credibility ``L`` exactly when
    ``|2 u - 1| <= L``, ``u`` the posterior's distribution function at the truth
    (:func:`central_interval`).  Returns ``(levels, fraction covered at each level)``; a
    calibrated method lies on the diagonal, an overconfident one below it.
    """
    u = finite_array(cdf_at_truth, "cdf_at_truth")
    levels = np.linspace(0.0, 1.0, 51) if levels is None else finite_array(levels, "levels")
    return levels, (np.abs(2 * u[None, :] - 1) <= levels[:, None]).mean(axis=1)


def coverage(lower, upper, truth) -> tuple[float, float]:
    """The fraction of intervals ``[lower, upper]`` that contain ``truth`` (all ``(m,)`` or scalar
    truth), with its binomial standard error (a lower bound when the intervals come from
    overlapping pseudo-experiments)."""
    lower, upper = finite_array(lower, "lower"), finite_array(upper, "upper")
    truth = np.broadcast_to(np.asarray(truth, dtype=np.float64), lower.shape)
    if lower.shape != upper.shape:
        raise ValueError("lower and upper must have the same shape")
    hit = (lower <= truth) & (truth <= upper)
    f = float(hit.mean())
    return f, float(np.sqrt(max(f * (1 - f), 1.0 / len(hit)) / len(hit)))


# --- pseudo-experiments ----------------------------------------------------------------------
def pseudo_experiments(theta, n_jets: int, n_per_value: int, values=None, seed: int = 0):
    """Pseudo-experiments drawn from simulated jets at a set of parameter values.

    For each value in ``values`` (default: every distinct ``theta``), ``n_per_value``
    experiments of ``n_jets`` jets each, drawn without replacement *within* an experiment
    from the jets simulated at that value (experiments share jets when ``n_per_value * n_jets``
    exceeds the jets available: :func:`overlap_fraction` says how much).

    Returns
    -------
    index : ``(m, n_jets)`` int64, rows into ``theta``; truth : ``(m,)`` the value of each experiment.
    """
    theta = finite_array(theta, "theta")
    values = np.unique(theta) if values is None else finite_array(values, "values")
    if n_jets < 1 or n_per_value < 1:
        raise ValueError("n_jets and n_per_value must be positive")
    rng = np.random.default_rng(seed)
    index, truth = [], []
    for v in values:
        rows = np.flatnonzero(theta == v)
        if len(rows) < n_jets:
            raise ValueError(f"only {len(rows)} jets at theta = {v}, fewer than n_jets = {n_jets}")
        for _ in range(n_per_value):
            index.append(rng.choice(rows, n_jets, replace=False))
            truth.append(v)
    return np.array(index, dtype=np.int64), np.array(truth)


def overlap_fraction(index, truth) -> float:
    """The mean fraction of jets that two pseudo-experiments with the same truth share
    (``index`` ``(m, n_jets)``, ``truth`` ``(m,)`` from :func:`pseudo_experiments`)."""
    index, truth = np.asarray(index), finite_array(truth, "truth")
    shared, pairs = 0.0, 0.0
    for v in np.unique(truth):
        rows = index[truth == v]
        m = len(rows)
        if m < 2:
            continue
        c = np.bincount(rows.ravel())
        shared += np.sum(c * (c - 1.0)) / 2
        pairs += m * (m - 1) / 2
    return float(shared / pairs / index.shape[1]) if pairs else 0.0


def window_pseudo_datasets(alpha, n_jets: int, n_sets: int, pool_factor: float = 1.0, seed: int = 0):
    """Pseudo-datasets of ``n_jets`` jets from a scan in which small groups of jets (chunks)
    share one parameter value, drawn uniformly per chunk.

    One chunk holds fewer jets than a pseudo-dataset needs.  So each pseudo-dataset starts
    from a random chunk and adds the chunks nearest to it in ``alpha`` until there are at
    least ``pool_factor * n_jets`` jets, then draws ``n_jets`` of them without replacement: the
    jets of a pseudo-dataset come from *nearby* values, not one value.  Its label is the mean
    of its jets' values; ``spread`` (the standard deviation of its jets' values) measures the
    approximation, to be compared with the resolution.  A larger pool makes pseudo-datasets
    drawn around the same chunk share fewer jets (about ``1 / pool_factor`` of them), at the
    price of a larger spread.

    Parameters
    ----------
    alpha : ``(n,)`` the parameter of each jet of the scan (equal within a chunk).
    pool_factor : the pool of nearby jets holds at least this many times ``n_jets`` (>= 1).

    Returns
    -------
    index : ``(n_sets, n_jets)`` int64 rows into ``alpha``; label : ``(n_sets,)``; spread : ``(n_sets,)``.
    """
    alpha = finite_array(alpha, "alpha")
    if n_jets < 1 or n_sets < 1:
        raise ValueError("n_jets and n_sets must be positive")
    if pool_factor < 1:
        raise ValueError(f"pool_factor must be at least 1; got {pool_factor}")
    need = int(np.ceil(pool_factor * n_jets))
    if len(alpha) < need:
        raise ValueError(f"the scan holds {len(alpha)} jets, fewer than pool_factor * n_jets = {need}")
    values, which = np.unique(alpha, return_inverse=True)
    members = np.split(np.argsort(which, kind="stable"), np.cumsum(np.bincount(which))[:-1])
    sizes = np.array([len(m) for m in members])
    rng = np.random.default_rng(seed)
    index = np.empty((n_sets, n_jets), dtype=np.int64)
    for s in range(n_sets):
        c = rng.integers(len(values))
        lo = hi = c
        total = sizes[c]
        while total < need:  # grow the window towards the nearer neighbouring chunk
            left = values[c] - values[lo - 1] if lo > 0 else np.inf
            right = values[hi + 1] - values[c] if hi + 1 < len(values) else np.inf
            if left <= right:
                lo -= 1
                total += sizes[lo]
            else:
                hi += 1
                total += sizes[hi]
        pool = np.concatenate(members[lo:hi + 1])
        index[s] = rng.choice(pool, n_jets, replace=False)
    chosen = alpha[index]
    return index, chosen.mean(axis=1), chosen.std(axis=1)


def dataset_means(features, index, block: int = 512) -> np.ndarray:
    """Summaries of pseudo-datasets: the mean of each feature over each dataset's jets.

    ``features`` ``(n, d)``, ``index`` ``(m, n_jets)`` rows into it; returns ``(m, d)``.  Computed in
    blocks of ``block`` datasets, so memory stays at ``block * n_jets * d`` numbers.
    """
    features = finite_array(features, "features", ndim=2, columns=True)
    index = np.asarray(index)
    if index.ndim != 2 or index.min() < 0 or index.max() >= len(features):
        raise ValueError(f"index must be (m, n_jets) rows into the {len(features)} jets")
    out = np.empty((len(index), features.shape[1]))
    for start in range(0, len(index), block):
        out[start:start + block] = features[index[start:start + block]].mean(axis=1)
    return out


# --- neural posterior estimation -------------------------------------------------------------
class PosteriorEstimator:
    """A conditional normalizing flow for the posterior ``p(theta | s)`` of one parameter with a
    uniform prior on ``[low, high]``, given a dataset's summary ``s`` ``(d,)``.

    ``theta`` is first mapped to the real line, ``z = logit((theta - low)/(high - low))``, so
    the posterior never leaks outside the prior's range.  A zuko flow maps ``z`` to a standard
    normal: ``flow="nsf"``, a neural spline flow (``zuko.flows.NSF``: monotonic
    rational-quadratic splines whose knots a small network computes from the standardised
    summary), or ``flow="maf"``, affine transforms (``zuko.flows.MAF``; in one dimension a
    shift and a scale computed from the summary: a Gaussian in ``z``).  The change of variables
    gives ``log p(z | s)``, and ``log p(theta | s) = log p(z | s) + log |dz/dtheta|``.
    Trained by maximum likelihood on pairs ``(theta, s)`` simulated together, it estimates
    the posterior for the prior the training ``theta`` were drawn from.
    """

    def __init__(self, n_summaries: int, low: float, high: float, transforms: int = 2, bins: int = 8,
                 hidden=(64, 64), flow: str = "nsf", seed: int = 0):
        import zuko

        if not high > low:
            raise ValueError(f"the prior needs low < high; got {low}, {high}")
        if n_summaries < 1 or transforms < 1:
            raise ValueError("need at least one summary and one transform")
        if flow not in ("nsf", "maf"):
            raise ValueError(f"flow must be 'nsf' (spline) or 'maf' (affine); got {flow!r}")
        self.low, self.high, self.n_summaries = float(low), float(high), int(n_summaries)
        torch.manual_seed(seed)
        if flow == "nsf":
            self.flow = zuko.flows.NSF(features=1, context=self.n_summaries, transforms=transforms, bins=bins,
                                       hidden_features=tuple(hidden))
        else:
            self.flow = zuko.flows.MAF(features=1, context=self.n_summaries, transforms=transforms,
                                       hidden_features=tuple(hidden))
        self.s_mean = self.s_std = None

    def _z(self, theta):
        u = (np.asarray(theta, dtype=np.float64) - self.low) / (self.high - self.low)
        if np.any(u <= 0) or np.any(u >= 1):
            raise ValueError(f"theta must lie inside the prior's range ({self.low}, {self.high})")
        return np.log(u) - np.log1p(-u), -np.log(u * (1 - u) * (self.high - self.low))  # z, log |dz/dtheta|

    def _context(self, summaries):
        s = finite_array(summaries, "summaries", ndim=2, columns=True)
        if s.shape[1] != self.n_summaries:
            raise ValueError(f"expected {self.n_summaries} summaries per dataset; got {s.shape[1]}")
        if self.s_mean is None:
            raise ValueError("the posterior estimator is not trained: call fit first")
        return torch.tensor((s - self.s_mean) / self.s_std, dtype=torch.float32)

    def fit(self, theta, summaries, theta_val, summaries_val, epochs: int = 30, batch_size: int = 256,
            lr: float = 3e-3, seed: int = 0) -> dict:
        """Maximum-likelihood training: minimise ``-log p(theta | s)`` over simulated pairs.

        Adam with a cosine-decaying learning rate; the weights of the epoch with the best
        validation loss are kept.  Returns a dict with ``train``, ``val`` (mean ``-log p(z | s)`` per
        dataset, one value per epoch), ``best_epoch`` and ``seconds`` (process CPU time).
        """
        s = finite_array(summaries, "summaries", ndim=2, columns=True)
        s_val = finite_array(summaries_val, "summaries_val", ndim=2, columns=True)
        theta, theta_val = finite_array(theta, "theta"), finite_array(theta_val, "theta_val")
        if len(s) != len(theta) or len(s_val) != len(theta_val):
            raise ValueError("theta and summaries (and their validation sets) must have the same length")
        t0 = time.process_time()
        self.s_mean, self.s_std = s.mean(0), s.std(0) + 1e-12
        z = torch.tensor(self._z(theta)[0], dtype=torch.float32)[:, None]
        zv = torch.tensor(self._z(theta_val)[0], dtype=torch.float32)[:, None]
        c, cv = self._context(s), self._context(s_val)
        rng = np.random.default_rng(seed)
        torch.manual_seed(seed)
        opt = torch.optim.Adam(self.flow.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * int(np.ceil(len(z) / batch_size)))
        history = {"train": [], "val": []}
        best, best_state = np.inf, None
        for _ in range(epochs):
            order = torch.as_tensor(rng.permutation(len(z)))
            total = 0.0
            for start in range(0, len(z), batch_size):
                rows = order[start:start + batch_size]
                loss = -self.flow(c[rows]).log_prob(z[rows]).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach()) * len(rows)
            history["train"].append(total / len(z))
            with torch.no_grad():
                val = float(-self.flow(cv).log_prob(zv).mean())
            history["val"].append(val)
            if val < best:
                best, best_state = val, {k: v.clone() for k, v in self.flow.state_dict().items()}
        self.flow.load_state_dict(best_state)
        history["best_epoch"] = int(np.argmin(history["val"]))
        history["seconds"] = time.process_time() - t0
        return history

    def log_density(self, summaries, thetas) -> np.ndarray:
        """``log p(theta_k | s_i)`` for every dataset ``i`` and every ``theta_k`` strictly inside the
        prior's range: ``(m, k)``."""
        thetas = finite_array(thetas, "thetas")
        c = self._context(summaries)
        z, logjac = self._z(thetas)
        zt = torch.tensor(z, dtype=torch.float32)
        out = np.empty((len(c), len(thetas)))
        with torch.no_grad():
            dist = self.flow(c)  # one distribution per dataset, evaluated at every theta
            for k in range(len(thetas)):
                out[:, k] = dist.log_prob(zt[k].expand(len(c), 1)).double().numpy() + logjac[k]
        return out

    def sample(self, summaries, n: int, seed: int = 0) -> np.ndarray:
        """``n`` posterior samples of ``theta`` for each dataset: ``(m, n)``."""
        c = self._context(summaries)
        torch.manual_seed(seed)
        with torch.no_grad():
            z = self.flow(c).sample((n,))[..., 0].double().numpy().T
        return self.low + (self.high - self.low) / (1 + np.exp(-z))
