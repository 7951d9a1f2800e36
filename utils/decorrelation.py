"""Decorrelating a tagger from the jet mass: the measures and the pieces of the adversary.

Used by notebook ``11_adversarial_decorrelation``:

- :func:`distance_correlation`: the (squared) distance correlation of two variables, a
  differentiable torch function: the DisCo penalty (Kasieczka and Shih, arXiv:2001.05310);
- :func:`threshold_at_efficiency`, :func:`sculpting_jsd`, :func:`inv_jsd_at`,
  :func:`inv_jsd_with_error`: how much a cut sculpts the background mass, measured as DisCo
  does, by ``1/JSD`` between the mass histograms of the background that passes and fails a cut
  at a fixed signal efficiency, with a bootstrap uncertainty;
- :func:`random_cut_inv_jsd`: the same measure for a cut that ignores the jet entirely (it keeps
  a random fraction of the background): the noise floor that a finite sample allows;
- :func:`mdn_log_prob`: the log-density of a Gaussian mixture whose parameters a network
  predicts, the mixture-density-network adversary of learning to pivot (Louppe, Kagan and
  Cranmer, arXiv:1611.01046); :func:`binned_entropy`: the entropy bound of a binned adversary.

Plain functions; torch is imported inside them so that ``import utils`` stays quick.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["distance_correlation", "threshold_at_efficiency", "sculpting_jsd", "inv_jsd_at",
           "inv_jsd_with_error", "random_cut_inv_jsd", "mdn_log_prob", "binned_entropy", "MASS_BINS"]

MASS_BINS = np.linspace(0.0, 300.0, 16)  # GeV: 15 bins of 20 GeV, the binning of the sculpting measure


def distance_correlation(x, y, weights=None):
    """Squared distance correlation ``dCorr^2(x, y)`` of two 1D samples (Szekely et al. 2007).

    Zero if and only if ``x`` and ``y`` are independent (in the limit of many events), one if
    one is a linear function of the other; unlike Pearson's correlation it also sees non-linear
    dependence (``y = x^2``).  DisCo (arXiv:2001.05310) adds ``alpha * dCorr^2(score, mass)``
    over the background events of a batch to the classifier's loss.

    Parameters
    ----------
    x, y : ``(n,)`` torch tensors (the result is differentiable with respect to both) or numpy arrays.
    weights : optional ``(n,)`` non-negative event weights (normalised here).

    Returns
    -------
    a 0-d torch tensor for torch inputs, a float for numpy inputs.  Costs ``O(n^2)`` memory:
    use it on batches of at most a few thousand events.
    """
    import torch

    as_float = not isinstance(x, torch.Tensor)
    x = torch.as_tensor(np.asarray(x, dtype=np.float64)) if as_float else x
    y = torch.as_tensor(np.asarray(y, dtype=np.float64)) if not isinstance(y, torch.Tensor) else y
    x, y = x.reshape(-1), y.reshape(-1).to(x.dtype)
    n = x.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"x and y need the same length; got {n} and {y.shape[0]}")
    if n < 2:
        raise ValueError(f"the distance correlation needs at least 2 events; got {n}")
    if weights is None:
        w = torch.full((n,), 1.0 / n, dtype=x.dtype, device=x.device)
    else:
        w = torch.as_tensor(weights, dtype=x.dtype, device=x.device).reshape(-1)
        if w.shape[0] != n or bool(torch.any(w < 0)) or float(w.sum()) <= 0:
            raise ValueError("weights must be non-negative, not all zero, with one weight per event")
        w = w / w.sum()

    def centred(v):  # the doubly centred distance matrix A_ij = a_ij - a_i. - a_.j + a_..
        a = torch.abs(v[:, None] - v[None, :])
        row = a @ w  # weighted mean over j for each i
        return a - row[:, None] - row[None, :] + row @ w

    a, b = centred(x), centred(y)
    ww = w[:, None] * w[None, :]
    dcov_xy = torch.sum(a * b * ww)
    dcov_xx = torch.sum(a * a * ww)
    dcov_yy = torch.sum(b * b * ww)
    denom = torch.sqrt(dcov_xx * dcov_yy)
    if float(denom.detach()) <= 0:
        raise ValueError("one of the samples is constant: its distance correlation is undefined")
    value = dcov_xy / denom
    return float(value) if as_float else value


def threshold_at_efficiency(scores_signal, eps_s: float) -> float:
    """The cut ``score > threshold`` that keeps a fraction ``eps_s`` of the signal scores given."""
    if not 0 < eps_s < 1:
        raise ValueError(f"eps_s must be in (0, 1); got {eps_s}")
    scores_signal = np.asarray(scores_signal, dtype=np.float64).ravel()
    if len(scores_signal) < 2:
        raise ValueError("need at least two signal scores to place a cut")
    return float(np.quantile(scores_signal, 1.0 - eps_s))


def sculpting_jsd(mass, passed, bins=MASS_BINS) -> float:
    """Jensen-Shannon divergence (bits) between the mass histograms of events that pass and fail a cut.

    Parameters
    ----------
    mass : ``(n,)`` background jet masses (GeV).
    passed : ``(n,)`` booleans, the cut's decision.
    bins : bin edges (GeV) or a number of bins; default :data:`MASS_BINS` (15 bins over 0-300 GeV).

    Returns
    -------
    JSD in bits (0: the cut leaves the mass shape alone; 1: passing and failing masses do not overlap),
    from :func:`utils.metrics.js_divergence`.
    """
    from .metrics import js_divergence

    mass, passed = np.asarray(mass, dtype=np.float64).ravel(), np.asarray(passed, dtype=bool).ravel()
    if mass.shape != passed.shape:
        raise ValueError(f"mass and passed need the same length; got {mass.shape[0]} and {passed.shape[0]}")
    if passed.all() or not passed.any():
        raise ValueError("the cut passes all or none of the events: nothing to compare")
    edges = np.histogram_bin_edges(mass, bins=bins)
    return js_divergence(np.histogram(mass[passed], bins=edges)[0], np.histogram(mass[~passed], bins=edges)[0])


def inv_jsd_at(labels, scores, mass, eps_s: float = 0.5, bins=MASS_BINS) -> float:
    """DisCo's figure of merit ``1/JSD``: place the cut that keeps ``eps_s`` of the signal, then
    compare the background's mass histograms that pass and fail it.  Large is good (no sculpting).

    Parameters
    ----------
    labels : ``(n,)`` 1 = signal, 0 = background.
    scores : ``(n,)`` the tagger's output, larger means more signal-like.
    mass : ``(n,)`` jet masses (GeV); only the background's are histogrammed.
    eps_s, bins : working point and mass binning.
    """
    labels = np.asarray(labels).ravel().astype(int)
    scores = np.asarray(scores, dtype=np.float64).ravel()
    mass = np.asarray(mass, dtype=np.float64).ravel()
    if not labels.shape == scores.shape == mass.shape:
        raise ValueError(f"labels, scores and mass need the same length; got {labels.shape[0]}, "
                         f"{scores.shape[0]}, {mass.shape[0]}")
    cut = threshold_at_efficiency(scores[labels == 1], eps_s)
    background = labels == 0
    jsd = sculpting_jsd(mass[background], scores[background] > cut, bins)
    return float("inf") if jsd <= 0 else 1.0 / jsd


def inv_jsd_with_error(labels, scores, mass, eps_s: float = 0.5, bins=MASS_BINS, n_resamples: int = 200,
                       seed: int = 0) -> tuple[float, float]:
    """:func:`inv_jsd_at` and its bootstrap standard deviation (:func:`utils.metrics.bootstrap`,
    signal and background resampled separately; the cut is placed anew in every resample).

    The spread reflects the finite number of background events that pass: ``1/JSD`` of a cut
    that keeps a few hundred jets is uncertain by tens of percent.
    """
    from .metrics import bootstrap

    labels = np.asarray(labels).ravel().astype(int)
    result = bootstrap(lambda y, s, m: inv_jsd_at(y, s, m, eps_s, bins), labels, scores, mass,
                       n_resamples=n_resamples, seed=seed, stratify=labels)
    return result["value"], result["std"]


def random_cut_inv_jsd(mass, eps_b: float, bins=MASS_BINS, n_trials: int = 200, seed: int = 0) -> dict:
    """The noise floor of ``1/JSD``: cuts that keep a random fraction ``eps_b`` of the background.

    Such a cut cannot sculpt the mass, so its JSD is not zero only because the passing sample is
    finite: about ``(k - 1) * (1/n_pass + 1/n_fail) / (8 ln 2)`` bits for ``k`` populated bins
    (the leading term of an expansion of the logarithms; it underestimates the JSD by some 10 %
    when the passing events are few per bin).  A tagger whose ``1/JSD`` reaches this floor is as
    decorrelated as the sample can tell.

    Parameters
    ----------
    mass : ``(n,)`` background jet masses (GeV).
    eps_b : fraction of the background the cut keeps (``1/rejection``).
    bins : mass binning, as in :func:`sculpting_jsd`.
    n_trials : number of random cuts.
    seed : seed of the random cuts.

    Returns
    -------
    dict with ``value`` (``1/JSD`` of the mean JSD), ``low`` and ``high`` (16 and 84 % quantiles
    of ``1/JSD`` over the trials) and ``n_pass`` (events each random cut keeps).
    """
    mass = np.asarray(mass, dtype=np.float64).ravel()
    n_pass = int(round(eps_b * len(mass)))
    if not 0 < n_pass < len(mass):
        raise ValueError(f"eps_b = {eps_b} keeps {n_pass} of {len(mass)} events: choose 0 < eps_b < 1 "
                         "so that at least one event passes and one fails")
    if n_trials < 2:
        raise ValueError(f"n_trials must be at least 2; got {n_trials}")
    rng = np.random.default_rng(seed)
    jsd = np.empty(n_trials)
    passed = np.zeros(len(mass), dtype=bool)
    for k in range(n_trials):
        passed[:] = False
        passed[rng.choice(len(mass), n_pass, replace=False)] = True
        jsd[k] = sculpting_jsd(mass, passed, bins)
    inv = 1.0 / jsd
    low, high = np.percentile(inv, [16, 84])
    return {"value": float(1.0 / jsd.mean()), "low": float(low), "high": float(high), "n_pass": n_pass}


def mdn_log_prob(outputs, target):
    """Log-density of ``target`` under the Gaussian mixture that a network's ``outputs`` describe.

    A mixture-density network (Bishop 1994) predicts, for each event, a mixture of ``K``
    Gaussians: ``outputs`` holds ``K`` mixture logits, ``K`` means and ``K`` log standard
    deviations, in that order.  The adversary of learning to pivot minimises
    ``-mean(mdn_log_prob(net(f), z))``: the cross-entropy of the nuisance ``z`` given the
    classifier's output ``f``, which can never fall below the entropy ``H(z)`` when ``f``
    carries no information about ``z``.

    Parameters
    ----------
    outputs : ``(n, 3K)`` torch tensor, the network's raw outputs.
    target : ``(n,)`` torch tensor, the values whose density is wanted.

    Returns
    -------
    ``(n,)`` torch tensor of log-densities (natural log), differentiable.
    """
    import torch

    if outputs.ndim != 2 or outputs.shape[1] % 3:
        raise ValueError(f"outputs must have shape (n, 3K); got {tuple(outputs.shape)}")
    target = target.reshape(-1, 1)
    if target.shape[0] != outputs.shape[0]:
        raise ValueError(f"outputs and target need the same number of events; got {outputs.shape[0]} and {target.shape[0]}")
    logits, means, log_sigmas = torch.chunk(outputs, 3, dim=1)
    log_sigmas = log_sigmas.clamp(-7.0, 7.0)  # keeps the density finite while the adversary is young
    log_weights = torch.log_softmax(logits, dim=1)
    log_gauss = -0.5 * ((target - means) / torch.exp(log_sigmas)) ** 2 - log_sigmas - 0.5 * math.log(2 * math.pi)
    return torch.logsumexp(log_weights + log_gauss, dim=1)


def binned_entropy(counts) -> float:
    """Entropy (nats) of the distribution with these bin counts: ``-sum p log p``.

    The bound of a binned adversary: a classifier of the mass bin that sees nothing useful can
    do no better than predict the bins' frequencies, so its cross-entropy is at least this.
    """
    counts = np.asarray(counts, dtype=np.float64).ravel()
    if np.any(counts < 0) or counts.sum() <= 0:
        raise ValueError("counts must be non-negative and not all zero")
    p = counts[counts > 0] / counts.sum()
    return float(-np.sum(p * np.log(p)))
