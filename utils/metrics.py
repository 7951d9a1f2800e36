"""Figures of merit of classifiers in particle physics.

Signal efficiency ``eps_s`` is the true-positive rate, background efficiency ``eps_b`` the
false-positive rate; background *rejection* is ``1 / eps_b``.  ROC curves and AUC come from
scikit-learn (well tested, handles ties and weights); the rest is a few lines on top.
"""
from __future__ import annotations

import numpy as np

__all__ = ["roc_curve", "auc", "rejection_at", "significance_improvement", "max_significance_improvement",
           "js_divergence", "classifier_two_sample_test"]


def _check_scores(labels, scores, weights=None):
    labels = np.asarray(labels).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if labels.shape != scores.shape:
        raise ValueError(f"labels and scores need the same length; got {labels.shape[0]} and {scores.shape[0]}")
    values = set(np.unique(labels).tolist())
    if not values <= {0, 1} or len(values) < 2:
        raise ValueError(f"labels must contain both classes 0 (background) and 1 (signal); got values {sorted(values)}")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"scores contain {np.sum(~np.isfinite(scores))} NaN or infinite values: check the model's output")
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64).ravel()
        if weights.shape != labels.shape:
            raise ValueError(f"weights need the same length as labels; got {weights.shape[0]} and {labels.shape[0]}")
    return labels.astype(int), scores, weights


def roc_curve(labels, scores, weights=None):
    """ROC curve as physicists draw it.

    Parameters
    ----------
    labels : ``(n,)`` 0 = background, 1 = signal.
    scores : ``(n,)`` larger means more signal-like.
    weights : optional ``(n,)`` event weights.

    Returns
    -------
    eps_s, eps_b, thresholds : ``(k,)`` arrays; the cut ``score >= threshold`` keeps a
    fraction ``eps_s`` of signal and ``eps_b`` of background.
    """
    from sklearn.metrics import roc_curve as _roc

    labels, scores, weights = _check_scores(labels, scores, weights)
    eps_b, eps_s, thresholds = _roc(labels, scores, sample_weight=weights, drop_intermediate=False)
    return eps_s, eps_b, thresholds


def auc(labels, scores, weights=None) -> float:
    """Area under the ROC curve: the probability that a random signal scores above a random background."""
    from sklearn.metrics import roc_auc_score

    labels, scores, weights = _check_scores(labels, scores, weights)
    return float(roc_auc_score(labels, scores, sample_weight=weights))


def rejection_at(labels, scores, eps_s: float = 0.3, weights=None) -> float:
    """Background rejection ``1/eps_b`` at signal efficiency ``eps_s`` (interpolated on the ROC).

    Returns ``inf`` if no background passes at that efficiency (then the test set is too
    small to measure it: quote a lower limit instead).
    """
    if not 0 < eps_s <= 1:
        raise ValueError(f"eps_s must be in (0, 1]; got {eps_s}")
    e_s, e_b, _ = roc_curve(labels, scores, weights)
    eps_b = float(np.interp(eps_s, e_s, e_b))
    return float("inf") if eps_b <= 0 else 1.0 / eps_b


def significance_improvement(eps_s, eps_b):
    """SIC = ``eps_s / sqrt(eps_b)``: the factor by which a cut improves ``S/sqrt(B)``.

    Works elementwise on arrays; ``eps_b = 0`` gives ``nan``.
    """
    eps_s, eps_b = np.asarray(eps_s, dtype=np.float64), np.asarray(eps_b, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(eps_b > 0, eps_s / np.sqrt(eps_b), np.nan)


def max_significance_improvement(labels, scores, min_background: int = 10, weights=None) -> float:
    """Largest SIC over all cuts that keep at least ``min_background`` background events
    (cuts on a handful of background events give huge, meaningless SICs)."""
    labels, scores, weights = _check_scores(labels, scores, weights)
    e_s, e_b, _ = roc_curve(labels, scores, weights)
    n_b = np.sum(labels == 0)
    ok = e_b * n_b >= min_background
    if not np.any(ok):
        raise ValueError(f"no cut keeps {min_background} background events: the test set is too small")
    return float(np.nanmax(significance_improvement(e_s[ok], e_b[ok])))


def js_divergence(hist_p, hist_q) -> float:
    """Jensen-Shannon divergence (in bits, between 0 and 1) of two histograms with the same bins.

    The histograms are normalised here; empty bins are fine.  Used to measure how much a cut
    sculpts the background mass distribution (DisCo, arXiv:2001.05310: ``1/JSD``).
    """
    p, q = np.asarray(hist_p, dtype=np.float64), np.asarray(hist_q, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"histograms need the same bins; got shapes {p.shape} and {q.shape}")
    if np.any(p < 0) or np.any(q < 0) or p.sum() <= 0 or q.sum() <= 0:
        raise ValueError("histograms must be non-negative and not empty")
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a, b):
        nz = a > 0
        return np.sum(a[nz] * np.log2(a[nz] / b[nz]))

    return float(0.5 * kl(p, m) + 0.5 * kl(q, m))


def classifier_two_sample_test(sample_a, sample_b, classifier=None, test_fraction: float = 0.5, seed: int = 0):
    """Can a classifier tell two samples apart?  (Lopez-Paz & Oquab, arXiv:1610.06545.)

    Trains ``classifier`` (default: scikit-learn's ``HistGradientBoostingClassifier``) to
    separate ``sample_a`` (label 0, e.g. true events) from ``sample_b`` (label 1, e.g.
    generated events) on part of the data and returns the AUC on the rest: 0.5 means the
    classifier cannot tell them apart.

    Parameters
    ----------
    sample_a, sample_b : ``(n_a, d)`` and ``(n_b, d)`` feature arrays.
    classifier : any scikit-learn classifier with ``predict_proba``.
    test_fraction : fraction of each sample held out for the AUC.

    Returns
    -------
    dict with ``auc``, ``auc_std`` (bootstrap-free estimate, Hanley & McNeil 1982, valid
    near 0.5) and ``weights`` ``w = D/(1-D)`` on the held-out ``sample_b`` rows, with ``D``
    the classifier's probability that a row comes from ``sample_a``: ``w`` reweights
    ``sample_b`` towards ``sample_a``, and where it is far from 1 the generator is off.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import train_test_split

    a, b = np.asarray(sample_a, dtype=np.float64), np.asarray(sample_b, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if b.ndim == 1:
        b = b[:, None]
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"samples need shapes (n_a, d) and (n_b, d) with the same d; got {a.shape} and {b.shape}")
    if min(len(a), len(b)) < 20:
        raise ValueError(f"need at least 20 rows per sample for a two-sample test; got {len(a)} and {len(b)}")
    x = np.concatenate([a, b])
    y = np.concatenate([np.zeros(len(a)), np.ones(len(b))]).astype(int)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    clf = classifier if classifier is not None else HistGradientBoostingClassifier(random_state=seed)
    clf.fit(x_tr, y_tr)
    d = np.clip(clf.predict_proba(x_te)[:, 1], 1e-6, 1 - 1e-6)
    value = auc(y_te, d)
    n1, n0 = int(y_te.sum()), int((1 - y_te).sum())
    q1, q2 = value / (2 - value), 2 * value**2 / (1 + value)
    std = np.sqrt((value * (1 - value) + (n1 - 1) * (q1 - value**2) + (n0 - 1) * (q2 - value**2)) / (n1 * n0))
    d_a = 1 - d[y_te == 1]  # probability of "sample_a" for the held-out sample_b rows
    return {"auc": value, "auc_std": float(std), "weights": d_a / (1 - d_a)}
