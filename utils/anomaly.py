"""Anomaly searches without a signal model: what the weak-supervision and autoencoder notebooks share.

A resonance search in the dijet invariant mass ``mjj`` (CWoLa hunting, arXiv:1805.02664)
needs five pieces, each a few lines here so that the notebooks can show the physics:

- :func:`mass_windows` and :func:`inject_signal`: a signal region and its sidebands in
  ``mjj``, and a "data" sample made of background plus a chosen number of signal events;
- :func:`kfold_scores`: a classifier trained on part of the events scores the rest, so that
  no event is scored by a classifier that saw it (k-fold cross-fitting);
- :func:`sic_curve` and :func:`max_sic_with_error`: the significance improvement
  ``eps_S / sqrt(eps_B)`` with bootstrap bands; both live in :mod:`utils.metrics`
  (:func:`utils.metrics.sic_curve`, :func:`utils.metrics.max_significance_improvement`), with
  one rule for which cuts count (at least ``utils.metrics.MIN_BACKGROUND`` background events);
- :func:`dijet_function`, :func:`fit_background` and :func:`bump_hunt`: the smooth fit of
  the background's ``mjj`` spectrum in the sidebands, interpolated into the signal region;
- :func:`local_significance`: the significance of an excess over a background known only
  within an uncertainty (Cowan's formula for a counting experiment).

Besides, :func:`figure_slider` makes the notebooks' sliders over precomputed figures.
Masses are in GeV throughout.
"""
from __future__ import annotations

import numpy as np

from .metrics import MIN_BACKGROUND, max_significance_improvement, sic_curve

__all__ = ["SQRT_S", "mass_windows", "split_in_two", "inject_signal", "kfold_scores", "sic_curve",
           "max_sic_with_error", "dijet_function", "fit_background", "local_significance", "bump_hunt",
           "figure_slider"]

SQRT_S = 13_000.0  # GeV: the centre-of-mass energy of the dijet samples (LHC Run 2)


def mass_windows(mjj, signal_region=(3300.0, 3700.0), sidebands=((3000.0, 3300.0), (3700.0, 4100.0))):
    """Boolean masks of the events in the signal region and in the sidebands.

    Parameters
    ----------
    mjj : ``(n,)`` dijet invariant masses [GeV].
    signal_region : ``(low, high)`` [GeV], low edge included, high edge excluded.
    sidebands : ``((low, high), ...)`` windows [GeV] beside the signal region (may not overlap it).

    Returns
    -------
    in_sr, in_sb : two ``(n,)`` bool arrays.
    """
    mjj = np.asarray(mjj, dtype=np.float64)
    lo, hi = signal_region
    if not lo < hi:
        raise ValueError(f"the signal region needs low < high; got {signal_region}")
    for a, b in sidebands:
        if not a < b or (a < hi and b > lo):
            raise ValueError(f"sideband {(a, b)} must be a window (low < high) outside the signal region {signal_region}")
    in_sr = (mjj >= lo) & (mjj < hi)
    in_sb = np.zeros(len(mjj), dtype=bool)
    for a, b in sidebands:
        in_sb |= (mjj >= a) & (mjj < b)
    return in_sr, in_sb


def split_in_two(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split the row indices ``0..n-1`` at random into two disjoint halves (sorted index arrays).

    Used to turn one background sample into a "data" half and an independent template half
    (the idealized anomaly detector needs a pure background sample that data never contain).
    """
    if n < 2:
        raise ValueError(f"need at least 2 rows to split; got {n}")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2:])


def inject_signal(background: dict, signal: dict, n_signal: int, seed: int = 0) -> dict:
    """A "data" sample: all background events plus ``n_signal`` signal events drawn at random.

    Parameters
    ----------
    background, signal : dicts of equal-length per-event arrays (as returned by
        ``utils.data.load("dijet_anomaly", ...)``), with the same keys.
    n_signal : how many signal events to inject (0 for a background-only "null" sample).
    seed : seed of the draw and of the final shuffle.

    Returns
    -------
    dict with the same keys, the events shuffled, and ``label`` (1 = injected signal: the
    truth, which a search never sees but the notebook uses to measure efficiencies) and
    ``signal_index`` (the rows of ``signal`` that were injected).
    """
    n_b = len(next(iter(background.values())))
    n_s = len(next(iter(signal.values())))
    if not 0 <= n_signal <= n_s:
        raise ValueError(f"n_signal must be between 0 and the {n_s} signal events available; got {n_signal}")
    keys = [k for k in background if k not in ("label", "signal_index")]
    missing = [k for k in keys if k not in signal]
    if missing:
        raise ValueError(f"the signal sample lacks the background's arrays {missing}")
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(n_s, size=n_signal, replace=False))
    order = rng.permutation(n_b + n_signal)
    out = {k: np.concatenate([np.asarray(background[k]), np.asarray(signal[k])[chosen]])[order] for k in keys}
    out["label"] = np.concatenate([np.zeros(n_b, dtype=np.int64), np.ones(n_signal, dtype=np.int64)])[order]
    out["signal_index"] = chosen
    return out


def kfold_scores(features, targets, make_classifier, n_folds: int = 5, seed: int = 0, extra=None,
                 weights=None, quantiles: bool = True) -> dict:
    """Score every event with a classifier that never saw it (k-fold cross-fitting).

    The events are split at random into ``n_folds`` folds; classifier ``k`` is trained on
    all folds but ``k`` and scores fold ``k``.  Each row of ``extra`` (events never used in
    training, e.g. a signal sample kept aside to measure efficiencies) is given to one fold
    at random and scored by that fold's classifier, so that it is scored exactly like an
    event of the data.

    Parameters
    ----------
    features : ``(n, d)`` training features.
    targets : ``(n,)`` 0/1 training labels: in CWoLa these are the *sample* labels
        (signal region = 1, sidebands = 0), not the truth.
    make_classifier : function ``seed -> classifier`` with ``fit`` and ``predict_proba``
        (scikit-learn style), called once per fold.
    n_folds : number of folds (at least 2).
    seed : seed of the fold assignment (fold ``k``'s classifier gets ``seed + k``).
    extra : optional ``(m, d)`` further events to score.
    weights : optional ``(n,)`` training weights (passed to ``fit`` as ``sample_weight``).
    quantiles : if True, each fold's scores are turned into quantiles: the fraction of that
        fold's own held-out events that score at or below it.  A cut ``score > 1 - q`` then keeps the
        top fraction ``q`` of every fold, whatever the small differences in calibration
        between the folds' classifiers (as CWoLa hunting does).

    Returns
    -------
    dict with ``scores`` ``(n,)``, ``extra_scores`` ``(m,)`` (empty if no ``extra``), ``fold``
    ``(n,)`` and ``extra_fold`` ``(m,)`` (each row's fold), and ``classifiers`` (the
    ``n_folds`` fitted classifiers).
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(targets).ravel()
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"features must be (n, d) and targets (n,); got {x.shape} and {y.shape}")
    if not set(np.unique(y).tolist()) <= {0, 1}:
        raise ValueError("targets must be 0/1 labels")
    if not isinstance(n_folds, (int, np.integer)) or n_folds < 2 or n_folds > len(y):
        raise ValueError(f"n_folds must be an integer between 2 and the number of events; got {n_folds}")
    w = None if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if w is not None and (w.shape != y.shape or np.any(w < 0) or not np.all(np.isfinite(w))):
        raise ValueError(f"weights must be ({len(y)},), finite and non-negative")
    rng = np.random.default_rng(seed)
    fold = rng.permutation(np.arange(len(y)) % n_folds)  # balanced folds
    x_extra = np.empty((0, x.shape[1])) if extra is None else np.asarray(extra, dtype=np.float64)
    if x_extra.ndim != 2 or x_extra.shape[1] != x.shape[1]:
        raise ValueError(f"extra must be (m, {x.shape[1]}); got {x_extra.shape}")
    extra_fold = rng.integers(0, n_folds, len(x_extra))
    scores, extra_scores = np.empty(len(y)), np.empty(len(x_extra))
    classifiers = []
    for k in range(n_folds):
        train, held = fold != k, fold == k
        if len(np.unique(y[train])) < 2:
            raise ValueError(f"fold {k}: the training folds contain only one class")
        clf = make_classifier(seed + k)
        if weights is None:
            clf.fit(x[train], y[train])
        else:
            clf.fit(x[train], y[train], sample_weight=w[train])
        classifiers.append(clf)
        s = clf.predict_proba(x[held])[:, 1]
        s_extra = clf.predict_proba(x_extra[extra_fold == k])[:, 1] if np.any(extra_fold == k) else np.empty(0)
        if quantiles:
            reference = np.sort(s)
            s, s_extra = (np.searchsorted(reference, v, side="right") / len(reference) for v in (s, s_extra))
        scores[held], extra_scores[extra_fold == k] = s, s_extra
    return {"scores": scores, "extra_scores": extra_scores, "fold": fold, "extra_fold": extra_fold,
            "classifiers": classifiers}


def max_sic_with_error(labels, scores, min_background: int = MIN_BACKGROUND, n_resamples: int = 100,
                       seed: int = 0) -> dict:
    """Maximum SIC over all cuts keeping at least ``min_background`` background events, with its
    bootstrap uncertainty: :func:`utils.metrics.max_significance_improvement` with
    ``n_resamples`` resamples (default 100).

    Returns
    -------
    dict with ``value``, ``std`` (over the resamples), ``low``/``high`` (central 68 %), and
    ``eps_s``, ``eps_b``, ``n_background_pass`` of the best cut.
    """
    if n_resamples < 2:
        raise ValueError(f"n_resamples must be at least 2; got {n_resamples}")
    return max_significance_improvement(labels, scores, min_background, n_resamples=n_resamples, seed=seed)


def dijet_function(mjj, p0, p1, p2, p3=0.0):
    """The dijet function of resonance searches, ``p0 (1 - x)^p1 / x^(p2 + p3 ln x)`` with
    ``x = mjj / sqrt(s)`` (CDF and CMS dijet searches, e.g. arXiv:0812.4036, 1911.03947).

    A smooth, falling shape with four parameters (three with ``p3 = 0``) that describes QCD
    dijet spectra over a wide range.  ``mjj`` in GeV; ``p0`` sets the normalisation (a density
    per GeV, or counts per bin when multiplied by the bin width).
    """
    x = np.asarray(mjj, dtype=np.float64) / SQRT_S
    return p0 * (1.0 - x) ** p1 / x ** (p2 + p3 * np.log(x))


def _dijet_basis(centres, n_params: int) -> np.ndarray:
    """``(k, n_params)`` columns of ``ln f`` for the dijet function: ``ln f = theta . phi`` with
    ``theta = (ln p0, p1, p2, p3)`` and ``phi = (1, ln(1 - x), -ln x, -(ln x)^2)``."""
    x = np.asarray(centres, dtype=np.float64) / SQRT_S
    return np.stack([np.ones_like(x), np.log1p(-x), -np.log(x), -np.log(x) ** 2][:n_params], axis=1)


def fit_background(edges, counts, fit_bins, n_params: int = 3) -> dict:
    """Fit the dijet function to a histogram of ``mjj``, using only the bins in ``fit_bins``.

    A binned Poisson maximum-likelihood fit.  The logarithm of the dijet function is linear
    in ``theta = (ln p0, p1, p2, p3)``, so the fit is a Poisson regression with a log link:
    the expected counts are ``mu_i = width_i * exp(theta . phi_i)``, the negative
    log-likelihood ``sum(mu_i - n_i ln mu_i)`` is convex, and its Hessian
    ``sum(mu_i phi_i phi_i^T)`` gives the covariance of ``theta`` (its inverse).  Unlike a
    least-squares fit with ``sqrt(n)`` errors it stays unbiased for the sparse histograms left
    after a tight cut.  The minimisation is ``scipy.optimize.minimize`` (trust-region, with
    the exact gradient and Hessian), started from a least-squares fit of the log-counts.

    Parameters
    ----------
    edges : ``(k + 1,)`` bin edges [GeV].
    counts : ``(k,)`` events per bin.
    fit_bins : ``(k,)`` bool, the bins that enter the fit (the sidebands; the signal region is
        left out so that a signal cannot pull the fit).
    n_params : 3 (``p3 = 0``) or 4 parameters of :func:`dijet_function`.

    Returns
    -------
    dict with ``theta`` and ``cov`` (``(n_params,)`` and ``(n_params, n_params)``),
    ``expected`` ``(k,)`` (the fitted counts in every bin), ``chi2`` and ``ndof`` (Pearson's,
    over the fitted bins), ``converged``, and ``prediction_error(mask)``: the uncertainty of
    the fitted counts summed over the bins in ``mask`` (linear error propagation).
    """
    from scipy.optimize import minimize

    edges = np.asarray(edges, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    fit_bins = np.asarray(fit_bins, dtype=bool)
    if edges.ndim != 1 or len(edges) != len(counts) + 1 or fit_bins.shape != counts.shape:
        raise ValueError(f"need k+1 edges, k counts and k fit_bins; got {len(edges)}, {len(counts)}, {len(fit_bins)}")
    if n_params not in (3, 4):
        raise ValueError(f"n_params must be 3 or 4; got {n_params}")
    if np.sum(fit_bins & (counts > 0)) <= n_params:
        raise ValueError(f"fewer than {n_params + 1} non-empty bins to fit: loosen the cut or widen the bins")
    if edges[0] <= 0 or edges[-1] >= SQRT_S:
        raise ValueError(f"the bins must lie inside (0, {SQRT_S:.0f}) GeV")
    phi = _dijet_basis(0.5 * (edges[1:] + edges[:-1]), n_params)
    log_width = np.log(np.diff(edges))
    n, basis = counts[fit_bins], phi[fit_bins]

    def mu(theta, rows=slice(None)):
        return np.exp(log_width[rows] + phi[rows] @ theta)

    def nll(theta):
        m = mu(theta, fit_bins)
        return float(np.sum(m - n * np.log(m)))

    def grad(theta):
        return basis.T @ (mu(theta, fit_bins) - n)

    def hess(theta):
        return (basis * mu(theta, fit_bins)[:, None]).T @ basis

    # start: weighted least squares of ln(n / width) on the basis (the non-empty bins)
    nz = n > 0
    sw = np.sqrt(n[nz])
    start = np.linalg.lstsq(basis[nz] * sw[:, None], (np.log(n[nz]) - log_width[fit_bins][nz]) * sw, rcond=None)[0]
    best = minimize(nll, start, jac=grad, hess=hess, method="trust-exact",
                    options={"gtol": 1e-7 * max(1.0, float(n.sum()))})
    theta = best.x
    cov = np.linalg.pinv(hess(theta))
    expected = mu(theta)
    chi2 = float(np.sum((n - expected[fit_bins]) ** 2 / expected[fit_bins]))

    def prediction_error(mask):
        mask = np.asarray(mask, dtype=bool)
        g = phi[mask].T @ expected[mask]  # d(sum mu) / d theta
        return float(np.sqrt(max(g @ cov @ g, 0.0)))

    return {"theta": theta, "cov": cov, "expected": expected, "chi2": chi2, "ndof": int(fit_bins.sum() - n_params),
            "converged": bool(best.success), "prediction_error": prediction_error}


def local_significance(n_observed, b_expected, b_error=0.0) -> float:
    """Local significance (in sigma) of observing ``n_observed`` events over a background
    ``b_expected +- b_error``: the profile-likelihood formula for a counting experiment with an
    uncertain background (Cowan, "Discovery sensitivity for a counting experiment with
    background uncertainty", 2012; Cousins, Linnemann, Tucker, arXiv:physics/0702156),
    which becomes ``sqrt(2 (n ln(n/b) - (n - b)))`` for ``b_error = 0``.

    Signed: negative for a deficit.  Not corrected for the look-elsewhere effect.
    """
    n, b, sigma = float(n_observed), float(b_expected), float(b_error)
    if b <= 0 or n < 0 or sigma < 0:
        raise ValueError(f"need b_expected > 0, n_observed >= 0 and b_error >= 0; got {n}, {b}, {sigma}")
    if sigma == 0:
        q = 2 * ((n * np.log(n / b) if n > 0 else 0.0) - (n - b))
    else:
        s2 = sigma**2
        term1 = n * np.log(n * (b + s2) / (b**2 + n * s2)) if n > 0 else 0.0
        term2 = (b**2 / s2) * np.log1p(s2 * (n - b) / (b * (b + s2)))
        q = 2 * (term1 - term2)
    return float(np.sign(n - b) * np.sqrt(max(q, 0.0)))


def bump_hunt(mjj, edges, signal_region=(3300.0, 3700.0), n_params: int = 3) -> dict:
    """Fit the sidebands of an ``mjj`` histogram, predict the signal region, and quote the excess.

    Parameters
    ----------
    mjj : ``(n,)`` masses [GeV] of the events that passed the selection.
    edges : bin edges [GeV]; the signal region's edges must be bin edges.
    signal_region : ``(low, high)`` [GeV]: these bins are left out of the fit and tested.
    n_params : parameters of the dijet function (3 or 4).

    Returns
    -------
    dict with ``counts``, ``edges``, ``fit`` (from :func:`fit_background`), ``n_observed``
    and ``b_expected``/``b_error`` (summed over the signal region), and ``significance``
    (:func:`local_significance`, signed, in sigma).
    """
    edges = np.asarray(edges, dtype=np.float64)
    lo, hi = signal_region
    if not (np.any(np.isclose(edges, lo)) and np.any(np.isclose(edges, hi))):
        raise ValueError(f"the signal region {signal_region} must start and end on bin edges")
    counts, _ = np.histogram(mjj, bins=edges)
    centres = 0.5 * (edges[1:] + edges[:-1])
    in_sr = (centres > lo) & (centres < hi)
    fit = fit_background(edges, counts, ~in_sr, n_params=n_params)
    n_obs = float(counts[in_sr].sum())
    b = float(fit["expected"][in_sr].sum())
    b_err = fit["prediction_error"](in_sr)
    return {"counts": counts, "edges": edges, "in_sr": in_sr, "fit": fit, "n_observed": n_obs, "b_expected": b,
            "b_error": b_err, "significance": local_significance(n_obs, b, b_err)}


def figure_slider(draw, options, value=None, description: str = ""):
    """A slider over precomputed figures: ``draw(option)`` is called once per option, up front,
    and each figure is kept as a PNG; moving the slider swaps the image.  Nothing is recomputed
    when the slider moves, the widget shows its initial figure in a static page (the book), and
    the cell runs headless: no figure is drawn inside an ``Output`` widget, which intermittently
    hangs notebook runners based on nbclient (``jupyter nbconvert --execute``, the book build)
    with ipykernel 7.

    Parameters
    ----------
    draw : function ``option -> matplotlib Figure`` (the figure is closed after rendering).
    options : the slider's values, e.g. a list of injected signal counts.
    value : the initial value (default: the first option).
    description : the slider's label.

    Returns
    -------
    an ``ipywidgets.VBox`` (slider above image); display it, or make it the cell's last line.
    """
    import io

    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    options = list(options)
    if not options:
        raise ValueError("figure_slider needs at least one option")
    value = options[0] if value is None else value
    if value not in options:
        raise ValueError(f"value {value!r} is not one of the options {options}")
    pngs = {}
    for option in options:
        fig = draw(option)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", bbox_inches="tight")
        plt.close(fig)
        pngs[option] = buffer.getvalue()
    slider = widgets.SelectionSlider(options=options, value=value, description=description,
                                     continuous_update=False, style={"description_width": "initial"})
    image = widgets.Image(value=pngs[value], format="png")
    slider.observe(lambda change: setattr(image, "value", pngs[change["new"]]), names="value")
    return widgets.VBox([slider, image])
