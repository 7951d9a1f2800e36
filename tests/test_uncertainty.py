import numpy as np
import pytest
import torch
from scipy.special import expit

from utils import uncertainty as U


# --- the Bayesian layer ------------------------------------------------------------------------------
def test_bayes_linear_shapes_and_the_mean_network():
    torch.manual_seed(0)
    layer = U.BayesLinear(3, 4)
    x = torch.randn(10, 3)
    assert layer(x).shape == (10, 4)
    assert layer(torch.randn(2, 5, 3)).shape == (2, 5, 4)
    U.set_mode(torch.nn.Sequential(layer), "mean")
    assert torch.equal(layer(x), x @ layer.weight_mu.T + layer.bias_mu)
    with pytest.raises(ValueError, match="inputs"):
        layer(torch.randn(10, 2))


@pytest.mark.parametrize("mode", ["local", "weights"])
def test_both_reparametrisations_draw_the_outputs_of_gaussian_weights(mode):
    # for one input row the output is Gaussian with mean x.mu + mu_b and variance x^2.sigma^2 + sigma_b^2
    torch.manual_seed(1)
    layer = U.BayesLinear(3, 2, mode=mode, init_sigma=0.3)
    x = torch.tensor([[1.0, -2.0, 0.5]])
    n = 20_000 if mode == "local" else 2000
    with torch.no_grad():
        # local: every row its own weights, so one pass over n copies of the row; weights: n passes
        draws = layer(x.expand(n, 3)) if mode == "local" else torch.cat([layer(x) for _ in range(n)])
        mean = x @ layer.weight_mu.T + layer.bias_mu
        std = torch.sqrt(x ** 2 @ (layer.weight_sigma ** 2).T + layer.bias_sigma ** 2)
    assert torch.allclose(draws.mean(0), mean[0], atol=4 * std.max().item() / np.sqrt(n))
    assert torch.allclose(draws.std(0), std[0], rtol=4 / np.sqrt(2 * n))  # 4 standard errors of a standard deviation


def test_local_reparametrisation_draws_each_row_independently_and_weights_mode_shares_one_draw():
    torch.manual_seed(2)
    layer = U.BayesLinear(2, 1, init_sigma=0.5, mode="local")
    x = torch.ones(2000, 2)
    with torch.no_grad():
        assert layer(x).std() > 0.3  # identical rows, different outputs
        layer.mode = "weights"
        assert layer(x).std() == 0  # one network for all rows


def test_kl_is_the_closed_form_and_vanishes_at_the_prior():
    layer = U.BayesLinear(2, 3, prior_sigma=0.7)
    with torch.no_grad():
        layer.weight_mu.zero_()
        layer.bias_mu.zero_()
        rho = np.log(np.expm1(0.7))
        layer.weight_rho.fill_(rho)
        layer.bias_rho.fill_(rho)
    assert abs(layer.kl().item()) < 1e-5
    # one weight against a Monte Carlo estimate of E_q[log q - log p]
    mu, sigma, s = 0.4, 0.2, 0.7
    with torch.no_grad():
        layer.weight_mu.fill_(mu)
        layer.weight_rho.fill_(float(np.log(np.expm1(sigma))))
    per_weight = (layer.kl().item()) / 6  # the biases are still at the prior: KL 0
    w = np.random.default_rng(0).normal(mu, sigma, 1_000_000)
    mc = np.mean(-np.log(sigma) - (w - mu) ** 2 / (2 * sigma ** 2) + np.log(s) + w ** 2 / (2 * s ** 2))
    assert abs(per_weight - mc) < 2e-3


def test_bayes_mlp_trains_with_gradients_to_means_and_widths():
    torch.manual_seed(3)
    model = U.bayes_mlp(4, (8,), 1)
    x, y = torch.randn(64, 4), torch.randint(0, 2, (64, 1)).float()
    loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y) + U.kl_divergence(model) / 64
    loss.backward()
    layer = model[0]
    assert layer.weight_mu.grad.abs().sum() > 0 and layer.weight_rho.grad.abs().sum() > 0
    assert U.kl_divergence(model).ndim == 0
    with pytest.raises(ValueError, match="no BayesLinear"):
        U.kl_divergence(U.mlp(4, (8,), 1))


def test_constructors_reject_bad_settings():
    with pytest.raises(ValueError, match="prior_sigma"):
        U.BayesLinear(2, 2, prior_sigma=0.0)
    with pytest.raises(ValueError, match="mode"):
        U.BayesLinear(2, 2, mode="sometimes")
    with pytest.raises(ValueError, match="widths"):
        U.mlp(3, (0,), 1)
    with pytest.raises(ValueError, match="mode"):
        U.set_mode(U.bayes_mlp(2, (3,)), "random")


def test_sample_predictions_is_reproducible_and_independent_of_the_batching():
    torch.manual_seed(4)
    model = U.bayes_mlp(3, (16,), 1, init_sigma=0.2)
    x = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32)
    a = U.sample_predictions(model, x, n_samples=5, seed=7)
    b = U.sample_predictions(model, x, n_samples=5, seed=7, batch_size=17)  # the same networks, batch by batch
    assert a.shape == (5, 100, 1)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(a[0], a[1])  # different draws of the weights
    assert model[0].mode == "local"  # the training mode is restored
    state = torch.get_rng_state()
    U.sample_predictions(model, x, n_samples=2, seed=1)
    assert torch.equal(state, torch.get_rng_state())  # the global generator is left alone
    with pytest.raises(ValueError, match="n_samples"):
        U.sample_predictions(model, x, n_samples=0)


# --- regression ----------------------------------------------------------------------------------------
def test_gaussian_nll_matches_torch_and_is_minimal_at_the_true_width():
    torch.manual_seed(5)
    mean, target = torch.randn(1000), torch.randn(1000) * 2.0
    log_sigma = torch.full((1000,), 0.3)
    reference = torch.nn.GaussianNLLLoss()(mean, target, torch.exp(2 * log_sigma))
    assert torch.allclose(U.gaussian_nll(mean, log_sigma, target), reference, atol=1e-6)
    # over a constant width, the loss is smallest where sigma^2 = mean squared residual
    widths = torch.linspace(0.5, 4.0, 351)
    losses = torch.stack([U.gaussian_nll(torch.zeros(1000), torch.full((1000,), float(np.log(float(w)))), target)
                          for w in widths])
    best = widths[losses.argmin()]
    assert abs(best - target.pow(2).mean().sqrt()) < 0.02
    with pytest.raises(ValueError, match="one shape"):
        U.gaussian_nll(mean, log_sigma[:10], target)


def test_combine_gaussians_is_the_mixture_mean_and_variance():
    means = np.array([[0.0, 1.0], [2.0, 1.0]])
    sigmas = np.array([[1.0, 3.0], [1.0, 4.0]])
    c = U.combine_gaussians(means, sigmas)
    np.testing.assert_allclose(c["mean"], [1.0, 1.0])
    np.testing.assert_allclose(c["epistemic"], [1.0, 0.0])
    np.testing.assert_allclose(c["aleatoric"], [1.0, np.sqrt(12.5)])
    np.testing.assert_allclose(c["total"], [np.sqrt(2.0), np.sqrt(12.5)])
    # the total is the standard deviation of draws from the equal mixture
    rng = np.random.default_rng(0)
    member = rng.integers(0, 2, 400_000)
    draws = rng.normal(means[member, 0], sigmas[member, 0])
    assert abs(draws.std() - c["total"][0]) < 0.01
    with pytest.raises(ValueError, match="one shape"):
        U.combine_gaussians(means, sigmas[:1])


def test_pulls_and_coverage_of_correct_and_wrong_widths():
    rng = np.random.default_rng(1)
    mean = rng.normal(size=100_000)
    sigma = rng.uniform(0.5, 2.0, 100_000)
    truth = mean + sigma * rng.normal(size=100_000)
    p = U.pulls(truth, mean, sigma)
    assert abs(p.std() - 1) < 0.01 and abs(p.mean()) < 0.01
    assert abs(U.interval_coverage(truth, mean, sigma) - 0.68) < 0.005
    assert abs(U.interval_coverage(truth, mean, sigma, level=0.95) - 0.95) < 0.005
    assert U.interval_coverage(truth, mean, 0.5 * sigma) < 0.45  # widths too small: under-coverage
    with pytest.raises(ValueError, match="positive"):
        U.pulls(truth, mean, np.zeros_like(sigma))
    with pytest.raises(ValueError, match="level"):
        U.interval_coverage(truth, mean, sigma, level=1.0)


# --- calibration ---------------------------------------------------------------------------------------
def test_ece_of_a_known_miscalibration_and_of_a_calibrated_classifier():
    labels = np.array([1, 0] * 500)
    assert U.expected_calibration_error(labels, np.full(1000, 0.8)) == pytest.approx(0.3)
    rng = np.random.default_rng(2)
    probs = rng.uniform(size=200_000)
    calibrated = (rng.uniform(size=200_000) < probs).astype(int)
    assert U.expected_calibration_error(calibrated, probs) < 0.005
    floor = U.ece_noise_floor(probs[:2000], n_resamples=50)
    assert 0.005 < floor["mean"] < 0.05 and floor["std"] > 0  # a small sample: a visible floor
    curve = U.reliability_curve(calibrated, probs, n_bins=5)
    assert curve["counts"].sum() == 200_000 and len(curve["edges"]) == 6
    np.testing.assert_allclose(curve["frequency"], curve["confidence"], atol=0.01)
    # p = 1 falls into the last bin, not past it
    assert U.reliability_curve([1], [1.0], n_bins=4)["counts"][-1] == 1


def test_calibration_inputs_are_checked():
    with pytest.raises(ValueError, match="logits"):
        U.expected_calibration_error([0, 1], [-2.0, 3.0])
    with pytest.raises(ValueError, match="0 or 1"):
        U.expected_calibration_error([0, 2], [0.1, 0.9])
    with pytest.raises(ValueError, match="one shape"):
        U.reliability_curve([0, 1, 1], [0.1, 0.9])


def test_temperature_scaling_recovers_a_known_temperature_and_fixes_the_ece():
    rng = np.random.default_rng(3)
    z = rng.normal(0.0, 3.0, 50_000)
    labels = (rng.uniform(size=z.size) < expit(z)).astype(int)
    overconfident = 2.5 * z
    t = U.fit_temperature(overconfident, labels)
    assert abs(t - 2.5) < 0.1
    before = U.expected_calibration_error(labels, expit(overconfident))
    after = U.expected_calibration_error(labels, expit(overconfident / t))
    assert before > 0.05 and after < 0.01
    assert abs(U.fit_temperature(0.5 * z, labels) - 0.5) < 0.03  # underconfident: T < 1
    with pytest.raises(ValueError, match="finite"):
        U.fit_temperature(np.array([np.inf, 0.0]), [1, 0])


# --- binned summaries ----------------------------------------------------------------------------------
def test_binned_spread_of_a_known_resolution():
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 10, 200_000)
    y = x + rng.normal(0, 0.1 + 0.1 * x)  # resolution grows with x
    b = U.binned_spread(x, y, np.arange(0.0, 11.0, 2.0))
    np.testing.assert_allclose(b["centers"], [1, 3, 5, 7, 9])
    assert b["counts"].sum() == 200_000
    np.testing.assert_allclose(b["mean"], b["centers"], atol=0.02)
    expected = np.sqrt((0.1 + 0.1 * b["centers"]) ** 2 + 4 / 12)  # the noise and the x-spread inside a bin
    np.testing.assert_allclose(b["std"], expected, rtol=0.05)
    out = U.binned_spread([0.5, 20.0], [1.0, 2.0], [0.0, 1.0, 2.0])  # rows outside the edges are left out
    assert out["counts"].tolist() == [1, 0] and np.all(np.isnan(out["std"]))
    with pytest.raises(ValueError, match="increasing"):
        U.binned_spread(x, y, [2.0, 1.0])
