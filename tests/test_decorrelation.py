import numpy as np
import pytest
import torch

from utils import decorrelation as dc  # noqa: E402


def _dcorr2_direct(x, y, w=None):
    """Squared distance correlation written out with explicit sums (the definition of Szekely et al.)."""
    n = len(x)
    w = np.full(n, 1.0 / n) if w is None else np.asarray(w, dtype=float) / np.sum(w)
    a = np.abs(x[:, None] - x[None, :])
    b = np.abs(y[:, None] - y[None, :])

    def centre(d):
        out = np.empty_like(d)
        row = np.array([sum(w[k] * d[i, k] for k in range(n)) for i in range(n)])
        grand = sum(w[i] * row[i] for i in range(n))
        for i in range(n):
            for j in range(n):
                out[i, j] = d[i, j] - row[i] - row[j] + grand
        return out

    A, B = centre(a), centre(b)
    ww = np.outer(w, w)
    return np.sum(A * B * ww) / np.sqrt(np.sum(A * A * ww) * np.sum(B * B * ww))


def test_distance_correlation_matches_the_direct_computation():
    rng = np.random.default_rng(1)
    x = rng.normal(size=40)
    y = x**2 + 0.3 * rng.normal(size=40)
    w = rng.uniform(0.5, 2.0, size=40)
    assert dc.distance_correlation(x, y) == pytest.approx(_dcorr2_direct(x, y), rel=1e-10)
    assert dc.distance_correlation(x, y, weights=w) == pytest.approx(_dcorr2_direct(x, y, w), rel=1e-10)


def test_distance_correlation_known_cases():
    rng = np.random.default_rng(2)
    x = rng.normal(size=2000)
    assert dc.distance_correlation(x, x) == pytest.approx(1.0, abs=1e-12)
    assert dc.distance_correlation(x, -3 * x + 7) == pytest.approx(1.0, abs=1e-12)  # any linear map
    assert dc.distance_correlation(x, rng.normal(size=2000)) < 0.01  # independent: zero up to O(1/n)
    # a dependence that Pearson's correlation misses entirely
    assert abs(np.corrcoef(x, x**2)[0, 1]) < 0.1 and dc.distance_correlation(x, x**2) > 0.1


def test_distance_correlation_of_a_bivariate_gaussian():
    # Szekely, Rizzo and Bakirov (2007), eq. (2.17): dCor^2 of a bivariate normal with correlation rho
    rho = 0.6
    expected = ((rho * np.arcsin(rho) + np.sqrt(1 - rho**2) - rho * np.arcsin(rho / 2) - np.sqrt(4 - rho**2) + 1)
                / (1 + np.pi / 3 - np.sqrt(3)))
    rng = np.random.default_rng(3)
    xy = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=3000)
    assert dc.distance_correlation(xy[:, 0], xy[:, 1]) == pytest.approx(expected, abs=0.02)


def test_distance_correlation_is_differentiable():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(12, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.randn(12, dtype=torch.float64, generator=g, requires_grad=True)
    value = dc.distance_correlation(x, y)
    assert isinstance(value, torch.Tensor) and value.ndim == 0
    assert torch.autograd.gradcheck(lambda a, b: dc.distance_correlation(a, b), (x, y))


def test_distance_correlation_rejects_bad_input():
    with pytest.raises(ValueError, match="same length"):
        dc.distance_correlation(np.arange(3.0), np.arange(4.0))
    with pytest.raises(ValueError, match="constant"):
        dc.distance_correlation(np.ones(5), np.arange(5.0))


def test_threshold_at_efficiency():
    scores = np.arange(1000.0)
    cut = dc.threshold_at_efficiency(scores, 0.3)
    assert np.mean(scores > cut) == pytest.approx(0.3, abs=0.002)
    with pytest.raises(ValueError, match="eps_s"):
        dc.threshold_at_efficiency(scores, 1.0)


def test_sculpting_jsd_extremes():
    rng = np.random.default_rng(4)
    mass = rng.uniform(0, 300, 50_000)
    # a cut on the mass itself at a bin edge: passing and failing histograms do not overlap
    assert dc.sculpting_jsd(mass, mass > 100) == pytest.approx(1.0)
    # a random cut: only the statistical noise of the passing sample is left
    assert dc.sculpting_jsd(mass, rng.uniform(size=mass.size) < 0.5) < 1e-3
    with pytest.raises(ValueError, match="all or none"):
        dc.sculpting_jsd(mass, np.ones(mass.size, bool))


def test_inv_jsd_at_and_its_error():
    rng = np.random.default_rng(5)
    n = 20_000
    labels = np.r_[np.zeros(n), np.ones(n)].astype(int)
    mass = np.r_[rng.exponential(60, n), rng.normal(175, 15, n)]
    signal = rng.normal(1.5, 1, n)
    sculpting = np.r_[mass[:n] / 60 - 1 + rng.normal(0, 1, n), signal]  # the background's score follows its mass
    blind = np.r_[rng.normal(0, 1, n), signal]                           # the same separation, no mass in it
    assert dc.inv_jsd_at(labels, sculpting, mass) < 10
    assert dc.inv_jsd_at(labels, blind, mass) > 100
    value, err = dc.inv_jsd_with_error(labels, sculpting, mass, n_resamples=30)
    assert value == dc.inv_jsd_at(labels, sculpting, mass) and 0 < err < value


def test_random_cut_noise_floor_follows_the_expected_scaling():
    rng = np.random.default_rng(6)
    mass = rng.exponential(60, 20_000)
    floor = dc.random_cut_inv_jsd(mass, eps_b=0.02, n_trials=300, seed=1)
    k = np.count_nonzero(np.histogram(mass, bins=dc.MASS_BINS)[0])
    n_pass, n_fail = floor["n_pass"], len(mass) - floor["n_pass"]
    expected_jsd = (k - 1) * (1 / n_pass + 1 / n_fail) / (8 * np.log(2))  # small-difference expansion
    assert n_pass == 400
    assert floor["value"] == pytest.approx(1 / expected_jsd, rel=0.15)
    assert floor["low"] < floor["value"] < floor["high"]
    with pytest.raises(ValueError, match="eps_b"):
        dc.random_cut_inv_jsd(mass, eps_b=0.0)


def test_mdn_log_prob_matches_scipy():
    from scipy.stats import norm

    rng = np.random.default_rng(7)
    n, k = 50, 3
    outputs = rng.normal(size=(n, 3 * k))
    target = rng.normal(size=n)
    logits, means, log_sigmas = outputs[:, :k], outputs[:, k:2 * k], outputs[:, 2 * k:]
    weights = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    expected = np.log(np.sum(weights * norm.pdf(target[:, None], means, np.exp(log_sigmas)), axis=1))
    got = dc.mdn_log_prob(torch.tensor(outputs), torch.tensor(target)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    with pytest.raises(ValueError, match="3K"):
        dc.mdn_log_prob(torch.zeros(4, 4), torch.zeros(4))


def test_mdn_learns_a_gaussian_down_to_its_entropy():
    # a one-component MDN with a constant input learns N(2, 0.5^2): its loss ends at the entropy
    torch.manual_seed(0)
    z = torch.randn(1000, dtype=torch.float64) * 0.5 + 2.0
    net = torch.nn.Linear(1, 3).double()
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    ones = torch.ones(len(z), 1, dtype=torch.float64)
    for _ in range(200):
        loss = -dc.mdn_log_prob(net(ones), z).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    entropy = 0.5 * np.log(2 * np.pi * np.e * 0.25)
    assert float(loss.detach()) == pytest.approx(entropy, abs=0.03)


def test_binned_entropy():
    assert dc.binned_entropy(np.full(10, 7)) == pytest.approx(np.log(10))
    assert dc.binned_entropy([5, 0, 0]) == 0.0
    with pytest.raises(ValueError):
        dc.binned_entropy([0, 0])
