"""Unfolding: from the detector level back to the particle level, binned and unbinned (notebook 15).

A detector smears, loses and thresholds particles, so a measured distribution is the particle-level
one folded with the detector's response.  *Unfolding* undoes that fold using a simulation in which
every jet is known at both levels.  This module holds the pieces of notebook
``notebooks/15_unfolding.ipynb``:

Binned (one observable at a time):

- :func:`histogram` (and :func:`bin_index`): counts in fixed bins, under- and overflow folded into the
  first and last bin;
- :func:`response_matrix`: ``R[j, i] = P(reco bin j | truth bin i)`` from the simulation's pairs;
- :func:`matrix_inversion`: the unregularised solution of ``R x = d`` and its covariance;
- :func:`iterative_bayesian_unfolding`: D'Agostini's iterative Bayesian unfolding (IBU,
  NIM A362 (1995) 487; also called Richardson-Lucy), written out; ``pyunfold`` does the same, but its
  last release needs pandas and six, which the course does not install;
- :func:`bin_weights`: a binned result as per-jet weights of the simulation's particle-level jets,
  so that binned and unbinned results are compared with the same (unbinned) distances.

Unbinned, all observables at once (OmniFold, Andreassen, Komiske, Metodiev, Nachman, Thaler,
arXiv:1911.09107):

- :func:`classifier_weights`: the likelihood-ratio trick, ``p / (1 - p)`` of a boosted-tree
  classifier (:func:`make_classifier`) trained k-fold (every jet is weighted by a classifier that never
  saw it), clipped; the features enter as their :func:`quantile_codes` (faster to fit);
- :func:`histogram_weights`: the same ratio from histograms of one observable (with it, OmniFold is IBU);
- :func:`omnifold`: the two-step iteration (step 1 at detector level, step 2 at particle level).

Checks:

- :func:`poisson_weights`: Poisson(1) weights for bootstrap replicas of a data set;
- :func:`scaled_wasserstein`: the 1D Wasserstein-1 distance of two weighted samples in units of a spread;
- :func:`two_sample_floor`: the distance two independent samples of the same distribution show (the
  noise floor that a closure test is measured against).

Shapes: a sample of ``n`` jets is ``(n,)`` for one observable or ``(n, d)`` for ``d`` observables;
weights are ``(n,)``, non-negative.  Units are the observables' own (GeV for a mass).
"""
from __future__ import annotations

import numpy as np

from .checks import finite_array

__all__ = ["bin_index", "histogram", "response_matrix", "matrix_inversion", "iterative_bayesian_unfolding", "bin_weights",
           "make_classifier", "quantile_codes", "classifier_weights", "histogram_weights", "omnifold", "poisson_weights",
           "scaled_wasserstein", "two_sample_floor"]


# --- input checks ------------------------------------------------------------------------------
def _weights(w, n: int, what: str) -> np.ndarray:
    if w is None:
        return np.ones(n)
    w = finite_array(w, what, length=n)
    if np.any(w < 0):
        raise ValueError(f"{what} must be non-negative")
    if w.sum() <= 0:
        raise ValueError(f"{what} sum to zero: nothing to compare")
    return w


def _edges(edges, what: str = "edges") -> np.ndarray:
    e = finite_array(edges, what)
    if len(e) < 2 or np.any(np.diff(e) <= 0):
        raise ValueError(f"{what} must be at least two strictly increasing values; got {e}")
    return e


# --- binned unfolding -------------------------------------------------------------------------
def bin_index(values, edges) -> np.ndarray:
    """The bin of each value, ``(n,)`` ints in ``[0, len(edges) - 2]``: below the first edge counts in the
    first bin, at or above the last edge in the last (under- and overflow folded in, so no jet is lost)."""
    values, edges = finite_array(values, "values"), _edges(edges)
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)


def histogram(values, edges, weights=None) -> np.ndarray:
    """Weighted counts ``(len(edges) - 1,)`` of ``values`` ``(n,)``, under- and overflow in the end bins."""
    values, edges = finite_array(values, "values"), _edges(edges)
    w = _weights(weights, len(values), "weights")
    return np.bincount(bin_index(values, edges), weights=w, minlength=len(edges) - 1).astype(np.float64)


def response_matrix(truth, reco, truth_edges, reco_edges, weights=None, normalize: bool = True) -> np.ndarray:
    """The detector's response in bins, from pairs (truth, reco) of the same jets.

    Parameters
    ----------
    truth, reco : ``(n,)`` the observable of each simulated jet at particle and at detector level.
    truth_edges, reco_edges : bin edges at the two levels (under- and overflow go to the end bins).
    weights : ``(n,)`` optional jet weights.
    normalize : True gives probabilities ``R[j, i] = P(reco bin j | truth bin i)`` (each column sums to
        one, or zero for an empty truth bin: every jet here is measured, so there is no inefficiency);
        False gives the weighted counts ``N[j, i]``.

    Returns
    -------
    ``(n_reco_bins, n_truth_bins)`` array: ``reco_histogram = R @ truth_histogram``.
    """
    truth, reco = finite_array(truth, "truth"), finite_array(reco, "reco", length=len(np.atleast_1d(truth)))
    w = _weights(weights, len(truth), "weights")
    te, re_ = _edges(truth_edges, "truth_edges"), _edges(reco_edges, "reco_edges")
    n_t, n_r = len(te) - 1, len(re_) - 1
    flat = bin_index(reco, re_) * n_t + bin_index(truth, te)
    counts = np.bincount(flat, weights=w, minlength=n_r * n_t).reshape(n_r, n_t)
    if not normalize:
        return counts
    column = counts.sum(axis=0)
    return np.divide(counts, column, out=np.zeros_like(counts), where=column > 0)


def _check_response(response, n_data: int | None = None) -> np.ndarray:
    r = np.asarray(response, dtype=np.float64)
    if r.ndim != 2 or r.size == 0 or not np.all(np.isfinite(r)) or np.any(r < 0):
        raise ValueError(f"response must be a non-negative finite (n_reco, n_truth) matrix; got shape {r.shape}")
    if n_data is not None and r.shape[0] != n_data:
        raise ValueError(f"response has {r.shape[0]} reco bins but the data have {n_data}")
    if np.any(r.sum(axis=0) > 1 + 1e-9):
        raise ValueError("response columns must sum to at most 1 (probabilities P(reco | truth)); "
                         "use response_matrix(..., normalize=True)")
    return r


def matrix_inversion(response, data) -> tuple[np.ndarray, np.ndarray]:
    """Unregularised unfolding: the solution ``x`` of ``R x = d`` and its covariance.

    Parameters
    ----------
    response : ``(n_reco, n_truth)`` probabilities (:func:`response_matrix`); square and invertible, or
        with more reco than truth bins (then least squares).
    data : ``(n_reco,)`` counts.

    Returns
    -------
    ``x`` ``(n_truth,)`` and its covariance ``(n_truth, n_truth)`` for Poisson data,
    ``R^+ diag(d) R^+T`` with ``R^+`` the (pseudo-)inverse.  The estimate is unbiased and has the smallest
    variance of the unbiased ones; when the response mixes neighbouring bins strongly, that variance is
    huge and the neighbouring bins are anti-correlated: the result oscillates.
    """
    r = _check_response(response)
    d = finite_array(data, "data", length=r.shape[0])
    if r.shape[0] < r.shape[1]:
        raise ValueError(f"inversion needs at least as many reco bins as truth bins; got {r.shape}")
    if np.linalg.matrix_rank(r) < r.shape[1]:
        raise ValueError("the response matrix is singular (an empty truth bin?): merge bins before inverting")
    pinv = np.linalg.pinv(r)
    return pinv @ d, pinv @ np.diag(d) @ pinv.T


def iterative_bayesian_unfolding(data, response, prior, n_iterations: int, return_history: bool = False):
    """D'Agostini's iterative Bayesian unfolding (NIM A362 (1995) 487).

    Each iteration applies Bayes' theorem with the current estimate ``x`` as the prior,

    ``P(truth i | reco j) = R[j, i] x_i / sum_k R[j, k] x_k``,  then
    ``x_i <- (1 / eps_i) sum_j P(truth i | reco j) d_j``  with ``eps_i = sum_j R[j, i]``.

    Parameters
    ----------
    data : ``(n_reco,)`` non-negative counts (weighted counts allowed).
    response : ``(n_reco, n_truth)`` probabilities ``P(reco j | truth i)`` (:func:`response_matrix`).
    prior : ``(n_truth,)`` non-negative starting estimate (usually the simulation's truth histogram;
        only its shape matters).
    n_iterations : >= 0; 0 returns the prior scaled to the data's normalisation.  Few iterations keep
        the result near the prior (a regularisation); many converge towards the maximum-likelihood
        solution for Poisson data, which is the matrix inversion where that is non-negative.
    return_history : also return every iterate.

    Returns
    -------
    ``(n_truth,)`` the unfolded counts, normalised so that ``sum_i eps_i x_i`` equals the data in reco
    bins that any truth bin reaches; with ``return_history`` a ``(n_iterations + 1, n_truth)`` array
    whose row ``k`` is the result after ``k`` iterations.
    """
    r = _check_response(response)
    d = finite_array(data, "data", length=r.shape[0])
    x = finite_array(prior, "prior", length=r.shape[1])
    if np.any(d < 0) or np.any(x < 0):
        raise ValueError("data and prior must be non-negative")
    if int(n_iterations) != n_iterations or n_iterations < 0:
        raise ValueError(f"n_iterations must be a non-negative integer; got {n_iterations}")
    eff = r.sum(axis=0)
    reached = r.sum(axis=1) > 0
    folded = r @ x
    if not np.any(folded[reached] > 0):
        raise ValueError("the prior folded with the response is zero wherever the response reaches: nothing to update")
    # start from the prior scaled so that it folds to the data's total
    x = x * d[reached].sum() / folded[reached].sum()
    history = [x.copy()]
    for _ in range(int(n_iterations)):
        folded = r @ x
        ratio = np.divide(d, folded, out=np.zeros_like(d), where=folded > 0)
        x = np.divide(x * (r.T @ ratio), eff, out=np.zeros_like(x), where=eff > 0)
        history.append(x.copy())
    return np.array(history) if return_history else x


def bin_weights(values, edges, unfolded, simulated) -> np.ndarray:
    """A binned result as per-jet weights: ``unfolded[i] / simulated[i]`` for each jet in truth bin ``i``.

    Parameters
    ----------
    values : ``(n,)`` the simulation's particle-level observable.
    edges : the truth bin edges.
    unfolded : ``(n_bins,)`` the unfolded histogram (whatever prior the unfolding started from).
    simulated : ``(n_bins,)`` the histogram of ``values`` itself (its empty bins give weight 0).

    Returns
    -------
    ``(n,)`` weights: the simulation weighted with them has the unfolded histogram (up to the
    normalisation, which follows ``unfolded``) and, inside each bin, the simulation's shape.
    """
    e = _edges(edges)
    unfolded, simulated = finite_array(unfolded, "unfolded", length=len(e) - 1), finite_array(simulated, "simulated", length=len(e) - 1)
    factor = np.divide(unfolded, simulated, out=np.zeros_like(unfolded), where=simulated > 0)
    return factor[bin_index(values, e)]


# --- the likelihood-ratio trick ---------------------------------------------------------------
def make_classifier(seed: int = 0, max_iter: int = 100, learning_rate: float = 0.1, max_leaf_nodes: int = 31,
                    min_samples_leaf: int = 100, early_stopping: bool = True):
    """The boosted-tree classifier of :func:`classifier_weights`: scikit-learn's
    ``HistGradientBoostingClassifier`` with early stopping on an internal 10 % validation split."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=max_iter, learning_rate=learning_rate, max_leaf_nodes=max_leaf_nodes,
                                          min_samples_leaf=min_samples_leaf, early_stopping=early_stopping,
                                          validation_fraction=0.1, n_iter_no_change=10, random_state=seed)


def _folds(n: int, n_folds: int, rng) -> np.ndarray:
    return rng.permutation(n) % n_folds


def quantile_codes(x, n_bins: int = 255) -> np.ndarray:
    """Each column of ``x`` ``(n, d)`` replaced by the index of its quantile bin (at most ``n_bins`` values).

    A monotonic map, so a tree classifier learns the same kind of function of the jets (up to where the
    bin edges fall); scikit-learn's boosted trees bin every feature into 255 values anyway, and with
    sample weights they find those bins with weighted percentiles, which costs seconds per fit. Coded
    features skip that.  The quantiles are
    of ``x`` itself, unweighted, so they know nothing of the labels.
    """
    x = finite_array(x, "x", ndim=2, columns=True)
    if n_bins < 2:
        raise ValueError(f"n_bins must be at least 2; got {n_bins}")
    out = np.empty_like(x)
    for j in range(x.shape[1]):
        inner = np.unique(np.quantile(x[:, j], np.linspace(0, 1, n_bins + 1)[1:-1]))
        out[:, j] = np.searchsorted(inner, x[:, j], side="right")
    return out


def classifier_weights(x_from, x_to=None, w_from=None, w_to=None, n_folds: int = 2, seed: int = 0,
                       clip: float = 20.0, classifier=None, n_codes: int | None = 255) -> np.ndarray:
    """Density ratio ``p_to(x) / p_from(x)`` at the points of ``x_from``, from a classifier (k-fold).

    A classifier trained to tell ``x_to`` (label 1, weights ``w_to``) from ``x_from`` (label 0, weights
    ``w_from``), each class with the same total weight, outputs ``p(x) = p_to / (p_to + p_from)``, so
    ``p / (1 - p)`` is the density ratio (the likelihood-ratio trick).  The points of ``x_from`` are
    split into ``n_folds`` folds, and each is weighted by a classifier trained on the other folds, so
    that no weight comes from a classifier that saw the jet.

    Parameters
    ----------
    x_from : ``(n, d)`` or ``(n,)`` the sample to reweight.
    x_to : ``(m, d)`` the target sample; None means the *same points* as ``x_from`` with weights ``w_to``
        (OmniFold's step 2): then both copies of a jet share a fold, so a classifier never sees a jet
        it weights, in either class.
    w_from, w_to : ``(n,)``, ``(m,)`` non-negative weights (default ones).
    n_folds : >= 2.
    seed : seeds the folds and the classifiers.
    clip : the ratio is clipped into ``[1/clip, clip]`` (a classifier that is sure is not a measurement).
    classifier : a function ``seed -> unfitted scikit-learn classifier`` (default :func:`make_classifier`).
    n_codes : the features are replaced by their :func:`quantile_codes` in the pooled sample (for trees:
        the same classifier, faster); None passes them as they are (for a classifier that is not a tree).

    Returns
    -------
    ``(n,)`` ratios, normalised so that ``sum(w_from * ratio) = sum(w_from)``: multiplying ``w_from``
    by them moves the weighted ``x_from`` onto ``x_to`` and keeps its total.
    """
    xf = finite_array(x_from, "x_from", ndim=2, columns=True)
    same = x_to is None
    xt = xf if same else finite_array(x_to, "x_to", ndim=2, columns=True)
    if xt.shape[1] != xf.shape[1]:
        raise ValueError(f"x_from and x_to need the same number of features; got {xf.shape[1]} and {xt.shape[1]}")
    if same and w_to is None:
        raise ValueError("with x_to=None (the same points) give the target weights w_to")
    wf, wt = _weights(w_from, len(xf), "w_from"), _weights(w_to, len(xt), "w_to")
    if int(n_folds) != n_folds or n_folds < 2:
        raise ValueError(f"n_folds must be an integer >= 2; got {n_folds}")
    if clip <= 1:
        raise ValueError(f"clip must be > 1; got {clip}")
    classifier = classifier or make_classifier
    if n_codes is not None:
        codes = quantile_codes(xf if same else np.concatenate([xf, xt]), n_codes)
        xf, xt = (codes, codes) if same else (codes[:len(xf)], codes[len(xf):])
    rng = np.random.default_rng(seed)
    fold_from = _folds(len(xf), n_folds, rng)
    fold_to = fold_from if same else _folds(len(xt), n_folds, rng)
    ratio = np.ones(len(xf))
    for k in range(n_folds):
        train_f, train_t = fold_from != k, fold_to != k
        wf_k, wt_k = wf[train_f], wt[train_t]
        n_train = train_f.sum() + train_t.sum()
        # both classes the same total weight (mean weight one over the training set): then p / (1 - p)
        # is the ratio of the normalised densities
        sw = np.concatenate([wf_k * (0.5 * n_train / wf_k.sum()), wt_k * (0.5 * n_train / wt_k.sum())])
        x = np.concatenate([xf[train_f], xt[train_t]])
        y = np.concatenate([np.zeros(train_f.sum()), np.ones(train_t.sum())])
        model = classifier(int(rng.integers(2**31)))
        model.fit(x, y, sample_weight=sw)
        p = model.predict_proba(xf[fold_from == k])[:, 1]
        with np.errstate(divide="ignore"):
            ratio[fold_from == k] = p / (1.0 - p)
    ratio = np.clip(ratio, 1.0 / clip, clip)
    return ratio * wf.sum() / (wf * ratio).sum()


def histogram_weights(x_from, x_to=None, w_from=None, w_to=None, edges=None, seed: int = 0) -> np.ndarray:
    """Density ratio ``p_to / p_from`` at the points of ``x_from`` from histograms of one observable.

    The binned counterpart of :func:`classifier_weights` (same arguments; ``edges`` are the bins, under-
    and overflow in the end bins; ``seed`` is accepted and unused: nothing is random): the ratio of the normalised weighted histograms in each point's bin
    (zero where ``x_from`` has no weight).  With it, :func:`omnifold` is iterative Bayesian unfolding.
    """
    xf = finite_array(x_from, "x_from", ndim=2, columns=True)
    if xf.shape[1] != 1:
        raise ValueError(f"histogram_weights handles one observable; got {xf.shape[1]}")
    if edges is None:
        raise ValueError("histogram_weights needs the bin edges")
    xt = xf if x_to is None else finite_array(x_to, "x_to", ndim=2, columns=True)
    wf, wt = _weights(w_from, len(xf), "w_from"), _weights(w_to, len(xt), "w_to")
    h_from = histogram(xf[:, 0], edges, wf) / wf.sum()
    h_to = histogram(xt[:, 0], edges, wt) / wt.sum()
    ratio = np.divide(h_to, h_from, out=np.zeros_like(h_to), where=h_from > 0)
    return ratio[bin_index(xf[:, 0], edges)]


def omnifold(truth, reco, data, n_iterations: int, data_weights=None, prior_weights=None, reweight=None,
             seed: int = 0, **reweight_options) -> dict:
    """OmniFold (Andreassen, Komiske, Metodiev, Nachman, Thaler, arXiv:1911.09107), with ``nu_0 = prior_weights``:

    - step 1, detector level: ``omega_n = nu_{n-1} * L[(data, data_weights) / (reco, nu_{n-1})](reco)``:
      the simulation, weighted with the current particle-level weights, is reweighted to the data;
    - step 2, particle level: ``nu_n = nu_{n-1} * L[(truth, omega_n) / (truth, nu_{n-1})](truth)``: the
      per-jet weights ``omega_n`` (functions of the detector level, through its random smearing) are
      turned into a function of the particle level.

    ``L`` is the density ratio of :func:`classifier_weights` (or ``reweight``).  The simulation's jets
    carry both levels, so "pushing" weights to the detector level and "pulling" them back is keeping the
    same per-jet weight.  Every jet is measured here (no efficiency or fake terms).

    Parameters
    ----------
    truth, reco : ``(n, d)`` the simulation's observables at particle and detector level (same jets).
    data : ``(m, d)`` the measured observables.
    n_iterations : >= 1.
    data_weights : ``(m,)`` e.g. Poisson bootstrap weights (default ones).
    prior_weights : ``(n,)`` the simulation's starting weights (default ones).
    reweight : function with the signature of :func:`classifier_weights` (default it).
    seed : each step of each iteration gets its own seed from it.
    reweight_options : passed on to ``reweight`` (``n_folds``, ``clip``, ``classifier``, ``edges``).

    Returns
    -------
    dict with ``"step1"`` and ``"step2"``: ``(n_iterations, n)`` arrays, the weights ``omega_n`` and
    ``nu_n`` of every iteration; ``nu_n`` weighting ``truth`` is the unfolded result after ``n`` iterations,
    normalised to the simulation's total (the data's shape, not its count).
    """
    truth, reco, data = (finite_array(a, name, ndim=2, columns=True) for a, name in ((truth, "truth"), (reco, "reco"), (data, "data")))
    if len(truth) != len(reco) or truth.shape[1] != reco.shape[1] or reco.shape[1] != data.shape[1]:
        raise ValueError(f"truth and reco must be the same jets with the same observables as data; got "
                         f"{truth.shape}, {reco.shape}, {data.shape}")
    if int(n_iterations) != n_iterations or n_iterations < 1:
        raise ValueError(f"n_iterations must be a positive integer; got {n_iterations}")
    reweight = reweight or classifier_weights
    nu = _weights(prior_weights, len(truth), "prior_weights")
    dw = _weights(data_weights, len(data), "data_weights")
    steps = {"step1": [], "step2": []}
    for n in range(int(n_iterations)):
        omega = nu * reweight(reco, data, nu, dw, seed=seed + 2 * n, **reweight_options)
        nu = nu * reweight(truth, None, nu, omega, seed=seed + 2 * n + 1, **reweight_options)
        steps["step1"].append(omega)
        steps["step2"].append(nu)
    return {k: np.array(v) for k, v in steps.items()}


# --- checks ------------------------------------------------------------------------------------
def poisson_weights(n: int, n_replicas: int, seed: int) -> np.ndarray:
    """``(n_replicas, n)`` integer weights drawn from Poisson(1): each row is a bootstrap replica of a
    data set of ``n`` events (the Poisson bootstrap: events repeat or drop out, the total varies as data do)."""
    if n < 1 or n_replicas < 1:
        raise ValueError(f"n and n_replicas must be positive; got {n}, {n_replicas}")
    return np.random.default_rng(seed).poisson(1.0, size=(n_replicas, n)).astype(np.float64)


def scaled_wasserstein(values, reference, weights=None, reference_weights=None, scale: float | None = None) -> float:
    """Wasserstein-1 distance between two weighted 1D samples, in units of ``scale``.

    ``scipy.stats.wasserstein_distance`` (the area between the two cumulative distributions, each
    normalised to one) divided by ``scale`` (default: the weighted standard deviation of
    ``reference``), so that distances of observables with different units can be compared and averaged.
    """
    from scipy.stats import wasserstein_distance

    u, v = finite_array(values, "values"), finite_array(reference, "reference")
    uw, vw = _weights(weights, len(u), "weights"), _weights(reference_weights, len(v), "reference_weights")
    if scale is None:
        mean = np.average(v, weights=vw)
        scale = float(np.sqrt(np.average((v - mean) ** 2, weights=vw)))
    if not scale > 0:
        raise ValueError(f"scale must be positive; got {scale}")
    return float(wasserstein_distance(u, v, uw, vw)) / scale


def two_sample_floor(values, n_a: int, n_b: int, n_splits: int = 20, seed: int = 0, scale: float | None = None) -> dict:
    """The distance two independent samples of one distribution show: the noise floor of a comparison.

    Draws ``n_splits`` times two disjoint random subsets of ``values`` ``(n,)``, of sizes ``n_a`` and
    ``n_b`` (``n_a + n_b <= n``), and measures :func:`scaled_wasserstein` between them.

    Returns
    -------
    dict with ``mean``, ``std`` and ``samples`` ``(n_splits,)``.
    """
    v = finite_array(values, "values")
    if n_a < 1 or n_b < 1 or n_a + n_b > len(v):
        raise ValueError(f"need 1 <= n_a, n_b and n_a + n_b <= {len(v)}; got {n_a}, {n_b}")
    if n_splits < 2:
        raise ValueError(f"n_splits must be at least 2; got {n_splits}")
    rng = np.random.default_rng(seed)
    out = np.empty(n_splits)
    for k in range(n_splits):
        order = rng.permutation(len(v))
        out[k] = scaled_wasserstein(v[order[:n_a]], v[order[n_a:n_a + n_b]], scale=scale)
    return {"mean": float(out.mean()), "std": float(out.std(ddof=1)), "samples": out}
