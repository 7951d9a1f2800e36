"""Uncertainties of network outputs: Bayesian layers, ensembles, calibration and Gaussian regression (14).

A network's prediction has two kinds of uncertainty (Kendall and Gal, arXiv:1703.04977; for jets
Bollweg et al. arXiv:1904.10004 and Kasieczka et al. arXiv:2003.11099):

- **epistemic**: the weights are only known as well as the training data fix them.  A Bayesian
  network (:class:`BayesLinear`, trained by *Bayes by backprop*, Blundell et al. arXiv:1505.05424)
  learns a Gaussian distribution of every weight; a deep ensemble (Lakshminarayanan et al.
  arXiv:1612.01474) trains several networks from different random starts.  The spread of their
  predictions shrinks as the training set grows, and grows away from the training data.
- **aleatoric**: the inputs do not fix the answer (a detector that loses a particle): a
  regression network that predicts a mean *and* a width, trained with the Gaussian likelihood
  (:func:`gaussian_nll`), learns it; it does not shrink with more data.

And whether a classifier's output can be read as a probability at all: the reliability curve, the
expected calibration error and temperature scaling (Guo et al. arXiv:1706.04599).

Everything here is a plain function or a small ``torch.nn.Module``; the notebooks write the
training loops.  Arrays are numpy unless a docstring says torch.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["BayesLinear", "bayes_mlp", "mlp", "kl_divergence", "set_mode", "sample_predictions",
           "gaussian_nll", "combine_gaussians", "pulls", "interval_coverage",
           "reliability_curve", "expected_calibration_error", "ece_noise_floor", "fit_temperature",
           "binned_spread"]

MODES = ("local", "weights", "mean")


# --- Bayesian layers --------------------------------------------------------------------------------
class BayesLinear(nn.Module):
    """A linear layer whose weights and biases are independent Gaussians (mean-field variational).

    Every weight ``w`` has a learned mean ``mu`` and width ``sigma = softplus(rho)``; the prior is
    ``N(0, prior_sigma^2)`` for every weight and bias (Blundell et al. arXiv:1505.05424; Bollweg et al.
    arXiv:1904.10004 use ``prior_sigma = 1``).  Input ``(..., in_features)``, output ``(..., out_features)``.

    ``mode`` sets how the forward pass draws the weights (change it with :func:`set_mode`):

    - ``"local"`` (training default): the *local reparametrisation* of Kingma, Salimans and Welling
      (arXiv:1506.02557).  For fixed inputs a layer's outputs are Gaussian with mean
      ``x @ mu.T + mu_b`` and variance ``x**2 @ (sigma**2).T + sigma_b**2``, so those are drawn directly:
      every row of a batch sees its own independent weights, and the gradient is less noisy than
      with one weight draw for the whole batch, at the cost of two matrix products.
    - ``"weights"``: the plain reparametrisation ``w = mu + sigma * eps``, one draw of all weights per
      forward pass, shared by every row: each pass is one network drawn from the posterior.
    - ``"mean"``: the weights' means, a deterministic network.

    ``init_sigma`` is the width every weight starts with (the means start as ``nn.Linear``'s weights).
    """

    def __init__(self, in_features: int, out_features: int, prior_sigma: float = 1.0, mode: str = "local",
                 init_sigma: float = 0.05):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"in_features and out_features must be >= 1; got {in_features}, {out_features}")
        if not prior_sigma > 0:
            raise ValueError(f"prior_sigma must be positive; got {prior_sigma}")
        if not init_sigma > 0:
            raise ValueError(f"init_sigma must be positive; got {init_sigma}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
        self.in_features, self.out_features = in_features, out_features
        self.prior_sigma, self.mode = float(prior_sigma), mode
        bound = 1.0 / math.sqrt(in_features)  # torch's default initialisation of nn.Linear's means
        self.weight_mu = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        self.bias_mu = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        rho = math.log(math.expm1(init_sigma))  # softplus(rho) = init_sigma
        self.weight_rho = nn.Parameter(torch.full((out_features, in_features), rho))
        self.bias_rho = nn.Parameter(torch.full((out_features,), rho))

    @property
    def weight_sigma(self):
        return F.softplus(self.weight_rho)

    @property
    def bias_sigma(self):
        return F.softplus(self.bias_rho)

    def forward(self, x):
        if x.shape[-1] != self.in_features:
            raise ValueError(f"BayesLinear expects inputs (..., {self.in_features}); got {tuple(x.shape)}")
        if self.mode == "mean":
            return F.linear(x, self.weight_mu, self.bias_mu)
        if self.mode == "weights":
            w = self.weight_mu + self.weight_sigma * torch.randn_like(self.weight_mu)
            b = self.bias_mu + self.bias_sigma * torch.randn_like(self.bias_mu)
            return F.linear(x, w, b)
        mean = F.linear(x, self.weight_mu, self.bias_mu)
        var = F.linear(x * x, self.weight_sigma ** 2, self.bias_sigma ** 2)
        return mean + var.sqrt() * torch.randn_like(mean)

    def kl(self):
        """``KL(q || prior)`` summed over the layer's weights and biases (a 0-d tensor).

        For ``q = N(mu, sigma^2)`` and ``p = N(0, s^2)``:
        ``log(s / sigma) + (sigma^2 + mu^2) / (2 s^2) - 1/2`` per weight.
        """
        total = 0.0
        for mu, sigma in ((self.weight_mu, self.weight_sigma), (self.bias_mu, self.bias_sigma)):
            total = total + (math.log(self.prior_sigma) - torch.log(sigma)
                             + (sigma ** 2 + mu ** 2) / (2 * self.prior_sigma ** 2) - 0.5).sum()
        return total

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"prior_sigma={self.prior_sigma}, mode={self.mode!r}")


def _check_hidden(n_in, hidden, n_out):
    hidden = tuple(int(h) for h in hidden)
    if n_in < 1 or n_out < 1 or any(h < 1 for h in hidden):
        raise ValueError(f"layer widths must be >= 1; got n_in={n_in}, hidden={hidden}, n_out={n_out}")
    return (n_in, *hidden, n_out)


def mlp(n_in: int, hidden=(64, 64), n_out: int = 1):
    """A deterministic ReLU network ``n_in -> hidden... -> n_out`` (``torch.nn.Sequential``)."""
    widths = _check_hidden(n_in, hidden, n_out)
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def bayes_mlp(n_in: int, hidden=(64, 64), n_out: int = 1, prior_sigma: float = 1.0, mode: str = "local",
              init_sigma: float = 0.05):
    """The same network as :func:`mlp` with every ``nn.Linear`` replaced by a :class:`BayesLinear`."""
    widths = _check_hidden(n_in, hidden, n_out)
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [BayesLinear(a, b, prior_sigma=prior_sigma, mode=mode, init_sigma=init_sigma), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def _bayes_layers(model):
    found = [m for m in model.modules() if isinstance(m, BayesLinear)]
    if not found:
        raise ValueError("the model has no BayesLinear layer: build it with bayes_mlp or BayesLinear")
    return found


def kl_divergence(model):
    """``KL(q(w) || p(w))`` summed over all :class:`BayesLinear` layers of ``model`` (a 0-d torch tensor).

    The loss of Bayes by backprop (the negative evidence lower bound, per training example) is
    ``mean negative log-likelihood of a batch + kl_divergence(model) / n_train``.
    """
    return sum(layer.kl() for layer in _bayes_layers(model))


def set_mode(model, mode: str) -> str:
    """Set the sampling ``mode`` (``"local"``, ``"weights"`` or ``"mean"``) of every :class:`BayesLinear`
    in ``model``; returns the previous mode (of the first layer)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
    layers = _bayes_layers(model)
    previous = layers[0].mode
    for layer in layers:
        layer.mode = mode
    return previous


def sample_predictions(model, x, n_samples: int = 50, seed: int = 0, batch_size: int = 65536,
                       mode: str = "weights") -> np.ndarray:
    """Outputs of a Bayesian network for ``n_samples`` draws of its weights.

    Parameters
    ----------
    model : a network with :class:`BayesLinear` layers.
    x : ``(n, n_in)`` array (numpy or torch) of inputs.
    n_samples : weight draws.
    seed : seeds torch's generator inside (the global state is restored afterwards).
    mode : ``"weights"`` (default): each draw is one network, shared by all rows;
        ``"local"``: independent draws per row (the same distribution for each row).

    Returns
    -------
    ``(n_samples, n, n_out)`` float32 numpy array of raw outputs (logits for a classifier).
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1; got {n_samples}")
    if mode not in ("weights", "local"):
        raise ValueError(f"mode must be 'weights' or 'local' to draw samples; got {mode!r}")
    x = x.float() if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x, dtype=np.float32))
    if x.ndim != 2:
        raise ValueError(f"x must have shape (n, n_in); got {tuple(x.shape)}")
    device = next(model.parameters()).device
    previous = set_mode(model, mode)
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.random.fork_rng(devices=[] if device.type == "cpu" else [device]), torch.no_grad():
            for k in range(n_samples):
                parts = []
                seed_k = int(np.random.SeedSequence([seed, k]).generate_state(1)[0])
                torch.manual_seed(seed_k)
                for start in range(0, len(x), batch_size):
                    if mode == "weights":
                        torch.manual_seed(seed_k)  # the same draw of the weights for every batch of rows
                    parts.append(model(x[start:start + batch_size].to(device)).cpu())
                out.append(torch.cat(parts))
    finally:
        set_mode(model, previous)
        model.train(was_training)
    return torch.stack(out).numpy()


# --- regression with a Gaussian likelihood ----------------------------------------------------------
def gaussian_nll(mean, log_sigma, target):
    """Mean Gaussian negative log-likelihood (torch tensors of one shape), without the constant:

    ``mean over rows of (target - mean)^2 / (2 sigma^2) + log sigma``, with ``sigma = exp(log_sigma)``.

    Minimised over ``sigma`` at ``sigma^2 = E[(target - mean)^2]`` for inputs that look alike: the
    network learns the spread of the target that its inputs cannot resolve (the aleatoric width).
    """
    if not (mean.shape == log_sigma.shape == target.shape):
        raise ValueError(f"mean, log_sigma and target need one shape; got {tuple(mean.shape)}, "
                         f"{tuple(log_sigma.shape)}, {tuple(target.shape)}")
    return (0.5 * ((target - mean) * (-log_sigma).exp()) ** 2 + log_sigma).mean()


def combine_gaussians(means, sigmas) -> dict:
    """Combine the Gaussian predictions of ensemble members (or of weight samples of a Bayesian network).

    Parameters
    ----------
    means, sigmas : ``(n_members, n)`` arrays: each member's mean and aleatoric width per row.

    Returns
    -------
    dict of ``(n,)`` arrays: ``mean`` (the members' average), ``aleatoric`` (the root mean square of
    their widths), ``epistemic`` (the standard deviation of their means, ``ddof=0``) and ``total``
    ``= sqrt(aleatoric^2 + epistemic^2)``: the mean and standard deviation of the equal mixture of the
    members' Gaussians (Lakshminarayanan et al. arXiv:1612.01474).
    """
    means, sigmas = np.asarray(means, dtype=np.float64), np.asarray(sigmas, dtype=np.float64)
    if means.ndim != 2 or means.shape != sigmas.shape:
        raise ValueError(f"means and sigmas need one shape (n_members, n); got {means.shape} and {sigmas.shape}")
    if np.any(sigmas < 0):
        raise ValueError("sigmas must be >= 0")
    aleatoric = np.sqrt(np.mean(sigmas ** 2, axis=0))
    epistemic = np.std(means, axis=0)
    return {"mean": means.mean(axis=0), "aleatoric": aleatoric, "epistemic": epistemic,
            "total": np.hypot(aleatoric, epistemic)}


def _check_truth_prediction(truth, mean, sigma):
    truth, mean, sigma = (np.asarray(a, dtype=np.float64) for a in (truth, mean, sigma))
    if not (truth.shape == mean.shape == sigma.shape) or truth.ndim != 1:
        raise ValueError(f"truth, mean and sigma need one shape (n,); got {truth.shape}, {mean.shape}, {sigma.shape}")
    if np.any(sigma <= 0):
        raise ValueError("sigma must be positive")
    return truth, mean, sigma


def pulls(truth, mean, sigma) -> np.ndarray:
    """``(truth - mean) / sigma`` for ``(n,)`` arrays: standard normal if the widths are right."""
    truth, mean, sigma = _check_truth_prediction(truth, mean, sigma)
    return (truth - mean) / sigma


def interval_coverage(truth, mean, sigma, level: float = 0.68) -> float:
    """Fraction of rows whose truth lies in the central Gaussian interval of probability ``level``,
    ``|truth - mean| <= z sigma`` with ``z = Phi^-1((1 + level) / 2)`` (0.994 for 68 %)."""
    from scipy.special import ndtri  # the inverse of the standard normal's distribution function

    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1); got {level}")
    truth, mean, sigma = _check_truth_prediction(truth, mean, sigma)
    z = ndtri(0.5 + level / 2)
    return float(np.mean(np.abs(truth - mean) <= z * sigma))


# --- calibration of classifiers ---------------------------------------------------------------------
def _check_labels_probs(labels, probs):
    labels, probs = np.asarray(labels), np.asarray(probs, dtype=np.float64)
    if labels.ndim != 1 or labels.shape != probs.shape:
        raise ValueError(f"labels and probs need one shape (n,); got {labels.shape} and {probs.shape}")
    if len(labels) == 0:
        raise ValueError("labels and probs are empty")
    if not np.all((labels == 0) | (labels == 1)):
        raise ValueError("labels must be 0 or 1")
    if not np.all((probs >= 0) & (probs <= 1)):
        raise ValueError("probs must lie in [0, 1]: pass probabilities (e.g. scipy.special.expit(logits)), not logits")
    return labels.astype(np.float64), probs


def reliability_curve(labels, probs, n_bins: int = 10) -> dict:
    """The reliability diagram of a binary classifier: in bins of its output, how often is the class 1?

    Parameters
    ----------
    labels : ``(n,)`` 0 or 1.
    probs : ``(n,)`` the predicted probability of class 1.
    n_bins : equal-width bins of ``probs`` in [0, 1].

    Returns
    -------
    dict with ``edges`` ``(n_bins + 1,)``, and per bin ``counts``, ``confidence`` (mean predicted
    probability) and ``frequency`` (fraction of class 1), NaN in empty bins. A calibrated classifier
    has ``frequency == confidence``.
    """
    labels, probs = _check_labels_probs(labels, probs)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1; got {n_bins}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.searchsorted(edges, probs, side="right") - 1, 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.bincount(index, probs, minlength=n_bins) / counts
        frequency = np.bincount(index, labels, minlength=n_bins) / counts
    return {"edges": edges, "counts": counts, "confidence": confidence, "frequency": frequency}


def expected_calibration_error(labels, probs, n_bins: int = 10) -> float:
    """Expected calibration error ``sum_b (n_b / n) |frequency_b - confidence_b|`` over equal-width bins.

    With two classes and bins symmetric about 0.5 this is the ECE of Guo et al. (arXiv:1706.04599),
    which bins the confidence of the predicted class.  A finite test set gives a perfectly calibrated
    classifier a positive ECE too: compare with :func:`ece_noise_floor`.
    """
    curve = reliability_curve(labels, probs, n_bins)
    filled = curve["counts"] > 0
    gap = np.abs(curve["frequency"][filled] - curve["confidence"][filled])
    return float(np.sum(curve["counts"][filled] * gap) / np.sum(curve["counts"]))


def ece_noise_floor(probs, n_bins: int = 10, n_resamples: int = 100, seed: int = 0) -> dict:
    """The ECE that a perfectly calibrated classifier with these outputs shows on this many rows.

    Draws labels ``~ Bernoulli(probs)`` (so the classifier is calibrated by construction)
    ``n_resamples`` times and returns ``{"mean", "std"}`` of their ECE: an ECE measured near this value is
    as good as the test set can tell.
    """
    probs = np.asarray(probs, dtype=np.float64)
    _check_labels_probs(np.zeros(len(probs)) if probs.ndim == 1 else probs, probs)
    if n_resamples < 2:
        raise ValueError(f"n_resamples must be >= 2; got {n_resamples}")
    rng = np.random.default_rng(seed)
    values = [expected_calibration_error((rng.random(len(probs)) < probs).astype(int), probs, n_bins)
              for _ in range(n_resamples)]
    return {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1))}


def fit_temperature(logits, labels, bounds=(0.05, 20.0)) -> float:
    """Temperature scaling (Guo et al. arXiv:1706.04599): the ``T`` that minimises the binary
    cross-entropy of ``sigmoid(logits / T)`` on held-out (validation) rows.

    ``T > 1`` softens an overconfident classifier, ``T < 1`` sharpens an underconfident one; the
    order of the outputs, and so the ROC curve, does not change.

    Parameters
    ----------
    logits : ``(n,)`` the classifier's raw outputs (before the sigmoid).
    labels : ``(n,)`` 0 or 1.
    bounds : the range searched for ``T``.

    Returns
    -------
    the temperature, a float.
    """
    from scipy.optimize import minimize_scalar

    logits = np.asarray(logits, dtype=np.float64)
    labels, _ = _check_labels_probs(labels, np.full(len(np.asarray(labels)), 0.5))
    if logits.shape != labels.shape:
        raise ValueError(f"logits and labels need one shape (n,); got {logits.shape} and {labels.shape}")
    if not np.all(np.isfinite(logits)):
        raise ValueError("logits must be finite")
    if not 0 < bounds[0] < bounds[1]:
        raise ValueError(f"bounds must be 0 < low < high; got {bounds}")
    sign = 2 * labels - 1

    def nll(log_t):
        return np.mean(np.logaddexp(0.0, -sign * logits / np.exp(log_t)))  # -log sigmoid(+-z / T)

    result = minimize_scalar(nll, bounds=np.log(bounds), method="bounded", options={"xatol": 1e-6})
    return float(np.exp(result.x))


# --- binned summaries ---------------------------------------------------------------------------------
def binned_spread(x, y, edges) -> dict:
    """Mean and standard deviation of ``y`` in bins of ``x`` (``(n,)`` arrays, ``edges`` increasing).

    Returns a dict with ``centers``, ``counts``, ``mean``, ``std`` (``ddof=1``; NaN in bins with fewer
    than two rows) and ``std_err`` (its standard error for a Gaussian ``y``, ``std / sqrt(2 (n - 1))``).
    Used for a detector's resolution (detector value in bins of the true value) and for the spread
    of the true value in bins of the measured one.
    """
    x, y, edges = (np.asarray(a, dtype=np.float64) for a in (x, y, edges))
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y need one shape (n,); got {x.shape} and {y.shape}")
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError("edges must be an increasing 1D array of at least two values")
    index = np.searchsorted(edges, x, side="right") - 1
    inside = (index >= 0) & (index < len(edges) - 1)
    n_bins = len(edges) - 1
    counts = np.bincount(index[inside], minlength=n_bins)
    sums = np.bincount(index[inside], y[inside], minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counts
        resid = y[inside] - mean[index[inside]]
        var = np.bincount(index[inside], resid ** 2, minlength=n_bins) / (counts - 1)
        std = np.where(counts > 1, np.sqrt(var), np.nan)
        std_err = std / np.sqrt(2 * (counts - 1))
    return {"centers": 0.5 * (edges[1:] + edges[:-1]), "counts": counts, "mean": mean, "std": std,
            "std_err": std_err}
