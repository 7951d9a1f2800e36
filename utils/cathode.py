"""CATHODE: a background model learned in the sidebands and sampled in the signal region.

CATHODE (Hallin et al., arXiv:2109.00546) builds, from data alone, a sample of *background*
events in the signal region of a resonance search:

1. a conditional density estimator, here a normalizing flow, learns ``p(x | m_jj)`` of the
   features ``x`` on the sidebands of the data, where (almost) no signal is;
2. it is conditioned on ``m_jj`` values inside the signal region (drawn from the data there,
   several times each: *oversampling*) and sampled, which interpolates the background into
   the signal region;
3. a classifier separates the signal-region data from these synthetic events (k-fold, so that
   no data event is scored by a classifier that saw it); where the data have more events than
   the background model, the signal is.

This module holds the pieces the notebook (``notebooks/20_cathode.ipynb``) builds on:

- :class:`MarginalGaussianizer`: an invertible map of each feature to a standard normal
  through its empirical quantiles (fitted on the sidebands), so that a small affine flow only
  has to learn correlations and the ``m_jj`` dependence, not the shapes of the marginals;
- :func:`mjj_context`: the flow's conditioning variable, a standardised ``log m_jj``;
- :func:`make_flow` and :func:`train_flow`: a small conditional masked autoregressive flow from
  ``zuko`` (as in notebook 10) and its maximum-likelihood training;
- :class:`BackgroundModel`: an ensemble of such flows with the preprocessing, which samples
  synthetic background events at given ``m_jj`` values (each flow an equal share: the
  ensemble's density is the flows' mixture) and evaluates their log-densities;
- :func:`cathode_scores`: the k-fold classifier of data against synthetic events, with
  :func:`utils.anomaly.kfold_scores`, averaged over several seeds if asked (a classifier
  ensemble);
- :func:`paired_max_sic`: the maximum significance improvement of several methods that scored
  the same events, with one bootstrap shared by all of them, so that their *differences* get
  honest (paired) uncertainties.

Masses are in GeV; features are whatever columns the caller stacks (``(n, d)`` float arrays).
"""
from __future__ import annotations

import time

import numpy as np
from scipy.special import ndtri

from .anomaly import kfold_scores
from .checks import finite_array

__all__ = ["MarginalGaussianizer", "mjj_context", "make_flow", "train_flow", "BackgroundModel",
           "cathode_scores", "paired_max_sic"]


class MarginalGaussianizer:
    """Map each feature, monotonically and invertibly, to a standard normal variable.

    ``z_j = Phi^-1(F_j(x_j))`` with ``F_j`` the empirical distribution function of feature ``j``
    in the fit sample, interpolated linearly between ``n_quantiles`` of its quantiles, and
    ``Phi^-1`` the inverse normal distribution function.  Each feature alone becomes a standard
    normal in the fit sample; their correlations, and their dependence on anything else (here
    ``m_jj``), stay for the flow to learn.  The smallest and largest fitted values map to
    ``z = -+Phi^-1(1 - 1/(2 n_fit))``; values beyond the fitted range are mapped to those ends,
    and :meth:`inverse` maps any ``z`` beyond them back to the extreme fitted values: the
    synthetic events never leave the data's range.  Within the range the map is exactly invertible.

    Parameters
    ----------
    n_quantiles : how many quantiles per feature define the map (at most the fit sample's size).
    """

    def __init__(self, n_quantiles: int = 1000):
        if int(n_quantiles) < 10:
            raise ValueError(f"n_quantiles must be at least 10; got {n_quantiles}")
        self.n_quantiles = int(n_quantiles)
        self.knots_x = None  # per feature: increasing quantile values
        self.knots_z = None  # per feature: the matching standard-normal values

    def fit(self, x) -> MarginalGaussianizer:
        """Fit the quantiles of ``x`` ``(n, d)``.  Returns ``self``."""
        x = finite_array(x, "x", ndim=2)
        n = len(x)
        if n < 10:
            raise ValueError(f"need at least 10 events to fit the quantiles; got {n}")
        k = min(self.n_quantiles, n)
        # probabilities from 1/(2n) to 1 - 1/(2n): the normal values stay finite
        p = np.linspace(0.5 / n, 1 - 0.5 / n, k)
        self.knots_x, self.knots_z = [], []
        for column in x.T:
            q = np.quantile(column, p)
            q[0], q[-1] = column.min(), column.max()  # the whole fitted range maps inside the normal's range
            # a point mass gives repeated quantiles: keep the first of each (x must increase for np.interp)
            keep = np.r_[True, np.diff(q) > 0]
            if keep.sum() < 2:
                raise ValueError("a feature is constant in the fit sample: it cannot be gaussianized")
            self.knots_x.append(q[keep])
            self.knots_z.append(ndtri(p[keep]))
        return self

    def _check(self, x):
        if self.knots_x is None:
            raise ValueError("call fit(x) before transform/inverse")
        x = finite_array(x, "input", ndim=2)
        if x.shape[1] != len(self.knots_x):
            raise ValueError(f"expected {len(self.knots_x)} features; got {x.shape[1]}")
        return x

    def transform(self, x) -> np.ndarray:
        """``(n, d)`` features -> ``(n, d)`` standard-normal coordinates."""
        x = self._check(x)
        return np.column_stack([np.interp(c, kx, kz) for c, kx, kz in zip(x.T, self.knots_x, self.knots_z)])

    def inverse(self, z) -> np.ndarray:
        """``(n, d)`` standard-normal coordinates -> ``(n, d)`` features (the inverse of :meth:`transform`)."""
        z = self._check(z)
        return np.column_stack([np.interp(c, kz, kx) for c, kx, kz in zip(z.T, self.knots_x, self.knots_z)])


def mjj_context(mjj, reference) -> np.ndarray:
    """The flow's conditioning variable: ``log m_jj``, standardised with the mean and standard
    deviation of ``log`` of the ``reference`` masses (the sidebands' ``m_jj``).  Returns ``(n, 1)``.

    The logarithm makes a spectrum that falls steeply over 3-4 TeV nearly linear, and the flow
    sees inputs of order one.
    """
    mjj, reference = np.asarray(mjj, dtype=np.float64).ravel(), np.asarray(reference, dtype=np.float64).ravel()
    if len(reference) < 2 or np.any(reference <= 0) or np.any(mjj <= 0):
        raise ValueError("m_jj values must be positive, and the reference needs at least two of them")
    log_ref = np.log(reference)
    return ((np.log(mjj) - log_ref.mean()) / log_ref.std())[:, None]


def make_flow(n_features: int, transforms: int = 3, hidden: tuple = (32, 32), seed: int = 0):
    """A conditional masked autoregressive flow (zuko's ``MAF``, affine transforms) for
    ``p(x | c)`` with ``n_features`` features and one context variable.

    Each transform shifts and scales every feature by amounts computed, by a small network of
    ``hidden`` units, from the previous features and the context; the feature order is reversed
    from one transform to the next.  Affine transforms are enough after
    :class:`MarginalGaussianizer`: the marginals are already normal.  ``seed`` fixes the
    initial weights.
    """
    import torch
    import zuko

    if n_features < 1 or transforms < 1 or len(hidden) < 1:
        raise ValueError("need at least one feature, one transform and one hidden layer")
    torch.manual_seed(seed)
    return zuko.flows.MAF(features=n_features, context=1, transforms=transforms, hidden_features=tuple(hidden))


def train_flow(flow, x, context, epochs: int = 6, batch_size: int = 512, lr: float = 3e-3,
               val_fraction: float = 0.2, seed: int = 0) -> dict:
    """Train a conditional flow by maximum likelihood: minimise ``-log p(x | context)``.

    Adam with a cosine-decaying learning rate over all ``epochs``; a random ``val_fraction`` of
    the events is held out and its negative log-likelihood measured after every epoch (it
    shows over- or under-fitting; the final weights are kept).

    Parameters
    ----------
    flow : from :func:`make_flow` (any zuko conditional flow).
    x : ``(n, d)`` training features (gaussianized); context : ``(n, 1)`` (from :func:`mjj_context`).

    Returns
    -------
    dict with ``train`` and ``val`` (mean negative log-likelihood per event, in nats, one value per
    epoch), ``seconds`` (process CPU time).
    """
    import torch

    x, context = finite_array(x, "x", ndim=2), finite_array(context, "context", ndim=2)
    if len(x) != len(context):
        raise ValueError(f"x and context need the same number of rows; got {len(x)} and {len(context)}")
    if epochs < 1 or batch_size < 1 or not 0 < val_fraction < 1:
        raise ValueError("need epochs >= 1, batch_size >= 1 and 0 < val_fraction < 1")
    t0 = time.process_time()
    generator = torch.Generator().manual_seed(seed)
    xt, ct = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(context, dtype=torch.float32)
    order = torch.randperm(len(xt), generator=generator)
    n_val = max(1, int(val_fraction * len(xt)))
    val, train = order[:n_val], order[n_val:]
    optimizer = torch.optim.Adam(flow.parameters(), lr=lr)
    steps = epochs * int(np.ceil(len(train) / batch_size))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    history = {"train": [], "val": []}
    for _ in range(epochs):
        flow.train()
        total = 0.0
        for batch in train[torch.randperm(len(train), generator=generator)].split(batch_size):
            loss = -flow(ct[batch]).log_prob(xt[batch]).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(batch)
        flow.eval()
        with torch.no_grad():
            history["val"].append(-flow(ct[val]).log_prob(xt[val]).mean().item())
        history["train"].append(total / len(train))
    history["seconds"] = time.process_time() - t0
    return history


class BackgroundModel:
    """The interpolated background: an ensemble of conditional flows ``p(x | m_jj)`` trained on
    the sidebands, with the preprocessing that maps features to the flows' coordinates.

    Parameters
    ----------
    gaussianizer : a fitted :class:`MarginalGaussianizer` (features -> flow coordinates), or any
        object with the same ``transform`` and ``inverse`` methods (e.g. a plain standardisation).
    reference_mjj : the sidebands' ``m_jj`` [GeV] that define :func:`mjj_context`'s scaling.
    flows : list of trained conditional flows (from :func:`make_flow` and :func:`train_flow`).
    """

    def __init__(self, gaussianizer: MarginalGaussianizer, reference_mjj, flows: list):
        if not flows:
            raise ValueError("need at least one flow")
        self.gaussianizer = gaussianizer
        self.reference_mjj = np.asarray(reference_mjj, dtype=np.float64)
        self.flows = list(flows)

    def flow_inputs(self, x, mjj) -> tuple[np.ndarray, np.ndarray]:
        """What the flows see for features ``x`` ``(n, d)`` at masses ``mjj`` ``(n,)``: the
        preprocessed features ``(n, d)`` and the context ``(n, 1)``."""
        return self.gaussianizer.transform(x), mjj_context(mjj, self.reference_mjj)

    def subset(self, n_flows: int) -> BackgroundModel:
        """The same model with only its first ``n_flows`` flows (for ensemble studies)."""
        if not 1 <= n_flows <= len(self.flows):
            raise ValueError(f"n_flows must be between 1 and {len(self.flows)}; got {n_flows}")
        return BackgroundModel(self.gaussianizer, self.reference_mjj, self.flows[:n_flows])

    def sample(self, mjj, oversample: int = 1, seed: int = 0, chunk: int = 50_000):
        """Synthetic background events at the given masses.

        Every mass in ``mjj`` ``(n,)`` [GeV] is used ``oversample`` times; the ``n * oversample``
        conditions are split into equal shares, one per flow of the ensemble, so that the
        synthetic sample follows the mixture of the flows (an ensemble average of densities).

        Returns
        -------
        ``(features, masses)``: ``(n * oversample, d)`` synthetic features in the original units and
        the ``(n * oversample,)`` masses they were generated at, in a random order.
        """
        import torch

        mjj = np.asarray(mjj, dtype=np.float64).ravel()
        if len(mjj) == 0 or int(oversample) < 1:
            raise ValueError("need at least one mass and oversample >= 1")
        rng = np.random.default_rng(seed)
        masses = rng.permutation(np.tile(mjj, int(oversample)))
        context = torch.as_tensor(mjj_context(masses, self.reference_mjj), dtype=torch.float32)
        shares = np.array_split(np.arange(len(masses)), len(self.flows))
        torch.manual_seed(seed)
        pieces = []
        for flow, share in zip(self.flows, shares):
            flow.eval()
            for rows in np.array_split(share, max(1, int(np.ceil(len(share) / chunk)))):
                if len(rows):
                    with torch.no_grad():
                        pieces.append(flow(context[rows]).sample().double().numpy())
        return self.gaussianizer.inverse(np.concatenate(pieces)), masses

    def log_prob(self, x, mjj) -> np.ndarray:
        """Log-density ``(n,)`` of the mixture of flows in the *gaussianized* coordinates of ``x``
        ``(n, d)`` at masses ``mjj`` ``(n,)`` (nats; the gaussianizer's Jacobian is not included,
        so compare values only between models with the same gaussianizer)."""
        import torch

        x = finite_array(x, "x", ndim=2)
        if len(x) != len(np.ravel(mjj)):
            raise ValueError(f"x and mjj need the same length; got {len(x)} and {len(np.ravel(mjj))}")
        z, context = (torch.as_tensor(a, dtype=torch.float32) for a in self.flow_inputs(x, mjj))
        with torch.no_grad():
            per_flow = torch.stack([flow(context).log_prob(z) for flow in self.flows])
        return (torch.logsumexp(per_flow, 0) - np.log(len(self.flows))).double().numpy()


def cathode_scores(x_data, x_synthetic, make_classifier, n_folds: int = 5, seeds=(0,), extra=None) -> dict:
    """The CATHODE classifier: signal-region data (label 1) against synthetic background (label 0).

    k-fold cross-fitting with :func:`utils.anomaly.kfold_scores` (scores are quantiles within
    each fold), repeated for every seed in ``seeds`` (new folds, new classifier seeds); the scores
    of the repetitions are averaged, a classifier ensemble in which every score still comes from
    classifiers that never saw the event.

    Parameters
    ----------
    x_data : ``(n, d)`` features of the data in the signal region.
    x_synthetic : ``(m, d)`` synthetic background events (e.g. from :meth:`BackgroundModel.sample`).
    make_classifier : ``seed -> classifier`` (scikit-learn style).
    extra : optional ``(k, d)`` events to score as well, never trained on (a signal test sample,
        the sideband data for a bump hunt).

    Returns
    -------
    dict with ``data`` ``(n,)`` and ``synthetic`` ``(m,)`` and ``extra`` ``(k,)`` mean scores,
    ``singles`` (a list with each repetition's ``(data, synthetic, extra)`` scores) and
    ``seconds`` (process CPU time).
    """
    x_data, x_synthetic = finite_array(x_data, "x_data", ndim=2), finite_array(x_synthetic, "x_synthetic", ndim=2)
    if x_data.shape[1] != x_synthetic.shape[1]:
        raise ValueError(f"data and synthetic events need the same features; got {x_data.shape} and {x_synthetic.shape}")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("need at least one seed")
    t0 = time.process_time()
    x = np.concatenate([x_data, x_synthetic])
    y = np.r_[np.ones(len(x_data), dtype=int), np.zeros(len(x_synthetic), dtype=int)]
    singles = []
    for seed in seeds:
        result = kfold_scores(x, y, make_classifier, n_folds, seed=seed, extra=extra)
        s = result["scores"]
        singles.append((s[: len(x_data)], s[len(x_data):], result["extra_scores"]))
    mean = [np.mean([single[i] for single in singles], axis=0) for i in range(3)]
    return {"data": mean[0], "synthetic": mean[1], "extra": mean[2], "singles": singles,
            "seconds": time.process_time() - t0}


def paired_max_sic(labels, scores: dict, min_background: int = 20, n_resamples: int = 100, seed: int = 0) -> dict:
    """Maximum SIC ``eps_s / sqrt(eps_b)`` of several methods on the same events, with a paired bootstrap.

    Every resample draws the events once (signal and background separately, with replacement)
    and evaluates every method on that same resample, so the spread of a *difference* between
    two methods counts only what differs between them: on the same events most of the test
    sample's fluctuation is common to both and cancels.  The rule for which cuts count is that of
    :func:`utils.metrics.max_significance_improvement` (at least ``min_background`` background
    events kept), and the values agree with it.

    Parameters
    ----------
    labels : ``(n,)`` truth, 1 = signal, 0 = background.
    scores : ``{name: (n,) scores}``, larger = more signal-like, all for the same events.

    Returns
    -------
    dict with ``value`` (``{name: max SIC}``), ``std`` (``{name: bootstrap std}``) and ``samples``
    (``{name: (n_resamples,) array}``): the spread of ``samples[a] - samples[b]`` is the paired
    uncertainty of ``value[a] - value[b]``.
    """
    labels = np.asarray(labels).ravel()
    if not set(np.unique(labels).tolist()) == {0, 1}:
        raise ValueError("labels must contain both classes, as 0 (background) and 1 (signal)")
    if not scores:
        raise ValueError("need at least one method's scores")
    if n_resamples < 2:
        raise ValueError(f"n_resamples must be at least 2; got {n_resamples}")
    prepared = {}
    for name, s in scores.items():
        s = np.asarray(s, dtype=np.float64).ravel()
        if s.shape != labels.shape or not np.all(np.isfinite(s)):
            raise ValueError(f"scores of {name!r} must be finite and of shape {labels.shape}; got {s.shape}")
        order = np.argsort(-s, kind="stable")
        sorted_s = s[order]
        last = np.r_[np.flatnonzero(sorted_s[1:] != sorted_s[:-1]), len(s) - 1]  # a cut keeps every event up to here
        prepared[name] = (order, last)

    def max_sic(counts, order, last):
        y = labels[order]
        c = counts[order]
        tp, fp = np.cumsum(c * y)[last], np.cumsum(c * (1 - y))[last]
        ok = (fp >= min_background) & (fp > 0)
        if not np.any(ok):
            return np.nan
        return float(np.max(tp[ok] / tp[-1] / np.sqrt(fp[ok] / fp[-1])))

    ones = np.ones(len(labels))
    value = {name: max_sic(ones, *p) for name, p in prepared.items()}
    if any(np.isnan(v) for v in value.values()):
        raise ValueError(f"no cut keeps {min_background} background events: the test set is too small")
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(labels == c) for c in (0, 1)]
    samples = {name: np.empty(n_resamples) for name in scores}
    for k in range(n_resamples):
        counts = np.zeros(len(labels))
        for g in groups:
            counts[g] = np.bincount(rng.integers(0, len(g), len(g)), minlength=len(g))
        for name, p in prepared.items():
            samples[name][k] = max_sic(counts, *p)
    std = {name: float(np.nanstd(v, ddof=1)) for name, v in samples.items()}
    return {"value": value, "std": std, "samples": samples}
