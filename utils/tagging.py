"""What every top-tagging notebook shares: the boosted-tree baseline and one summary of a tagger.

Notebooks 02 and 03 build boosted trees on the eight high-level jet features step by step;
from Part II on, every new tagger is compared with that baseline on the same test jets, and
each tagger's headline numbers come with bootstrap uncertainties.  This module keeps the two
in one place so that the comparison means the same in every notebook.
"""
from __future__ import annotations

import numpy as np

__all__ = ["train_boosted_trees", "summarize_tagger", "format_summary"]


def train_boosted_trees(train: dict, val: dict, features=None, max_iter: int = 300, seed: int = 0):
    """Boosted decision trees (scikit-learn's ``HistGradientBoostingClassifier``) on jet features.

    Parameters
    ----------
    train, val : dicts from ``utils.data.load("top_tagging", ...)`` (the validation jets decide
        when to stop adding trees: early stopping after 20 rounds without improvement).
    features : names of per-jet features (default ``utils.data.TOP_HIGH_LEVEL``, the eight of
        notebook 02: mass, pT, tau21, tau32, tau1-3, constituent count).
    max_iter : the most trees to grow.
    seed : the trees' random state.

    Returns
    -------
    the fitted classifier; ``clf.decision_function(feature_matrix(test, features))`` scores jets
    (larger means more top-like).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    from .data import TOP_HIGH_LEVEL, feature_matrix

    features = list(TOP_HIGH_LEVEL if features is None else features)
    clf = HistGradientBoostingClassifier(max_iter=max_iter, learning_rate=0.1, early_stopping=True,
                                         n_iter_no_change=20, random_state=seed)
    clf.fit(feature_matrix(train, features), train["label"],
            X_val=feature_matrix(val, features), y_val=val["label"])
    clf.feature_names_ = features
    return clf


def summarize_tagger(labels, scores, n_resamples: int = 200, seed: int = 0,
                     eps_s_points=(0.5, 0.3)) -> dict:
    """The headline numbers of a tagger on test jets, each with its bootstrap uncertainty.

    Parameters
    ----------
    labels : ``(n,)`` 1 = top, 0 = QCD.
    scores : ``(n,)`` larger means more top-like (logits, probabilities: only the order counts).
    n_resamples, seed : of the bootstrap (signal and background resampled separately).
    eps_s_points : signal efficiencies at which to quote the rejection.

    Returns
    -------
    dict with ``auc``, ``auc_err`` and, for each ``eps_s`` in ``eps_s_points`` (0.5 -> ``05``),
    ``rejection_05``, ``rejection_05_err``, ``n_background_pass_05`` (QCD test jets passing the
    cut: the rejection is measured on that many jets; below about 20 it is a rough estimate),
    and ``rejection_05_low``/``rejection_05_high``, the central 68 % (16-84 %) bootstrap interval,
    which is the honest error bar when few jets pass (the distribution of 1/eps_B is then skewed);
    a rejection no test background passes at is ``inf`` with error and interval ``nan``.
    """
    from .metrics import roc_bootstrap, roc_curve

    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=np.float64).ravel()
    boot = roc_bootstrap(labels, scores, eps_s_points, n_resamples=n_resamples, seed=seed)  # one pass for all
    out = {"auc": boot["auc"]["value"], "auc_err": boot["auc"]["std"]}
    e_s, e_b, _ = roc_curve(labels, scores)
    n_b = int(np.sum(labels == 0))
    for eps_s in eps_s_points:
        tag = f"{eps_s:g}".replace(".", "")  # 0.5 -> "05", 0.3 -> "03", 0.25 -> "025"
        out[f"n_background_pass_{tag}"] = float(np.interp(eps_s, e_s, e_b) * n_b)
        res = boot[eps_s]
        out[f"rejection_{tag}"], out[f"rejection_{tag}_err"] = res["value"], res["std"]
        out[f"rejection_{tag}_low"], out[f"rejection_{tag}_high"] = res["low"], res["high"]
    return out


FEW_PASSING = 20  # fewer QCD test jets passing than this: quote the rejection with its 16-84 % interval


def format_summary(name: str, summary: dict) -> str:
    """One line for printing: ``name: AUC 0.9812 +- 0.0008, 1/eps_B = 250 +- 30 (eps_S = 0.5), ...``.

    A rejection measured on fewer than :data:`FEW_PASSING` passing QCD jets is quoted with its
    16-84 % bootstrap interval instead of a symmetric error:
    ``1/eps_B = 1570 [16-84 %: 890, 3140] (eps_S = 0.3, 9 QCD jets pass)``.
    """
    parts = [f"{name}: AUC {summary['auc']:.4f} +- {summary['auc_err']:.4f}"]
    for key in sorted(k for k in summary if k.startswith("rejection_") and k.count("_") == 1):
        tag = key.split("_")[1]
        point = f"eps_S = {tag[0]}.{tag[1:]}"
        n_pass = summary.get(f"n_background_pass_{tag}", float("inf"))
        if n_pass < FEW_PASSING and f"{key}_low" in summary:
            parts.append(f"1/eps_B = {summary[key]:.0f} [16-84 %: {summary[key + '_low']:.0f}, "
                         f"{summary[key + '_high']:.0f}] ({point}, {n_pass:.0f} QCD jets pass)")
        else:
            parts.append(f"1/eps_B = {summary[key]:.0f} +- {summary[key + '_err']:.0f} ({point})")
    return ", ".join(parts)
