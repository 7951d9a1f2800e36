import numpy as np
import pytest
import torch

from utils import inference


# --- binned templates: a model whose bin probabilities are exactly linear in theta ---------------
def linear_templates(theta):
    # three bins: p = (0.3 + theta, 0.4, 0.3 - theta), theta in [-0.1, 0.1]
    return np.array([0.3 + theta, 0.4, 0.3 - theta])


def sample_bins(theta, n, rng):
    # jets whose observable is the bin centre 0, 1, 2 of the three bins
    return rng.choice(3, size=n, p=linear_templates(theta)).astype(float)


def fitted_linear_model(seed=0, n_per_value=40_000, degree=1):
    rng = np.random.default_rng(seed)
    grid = np.linspace(-0.1, 0.1, 5)
    values = np.concatenate([sample_bins(t, n_per_value, rng) for t in grid])
    theta = np.repeat(grid, n_per_value)
    return inference.TemplateModel([-0.5, 0.5, 1.5, 2.5], degree=degree).fit(values, theta)


def test_bin_index_keeps_under_and_overflow_and_integer_edges_fall_between_values():
    edges = np.array([0.0, 1.0, 2.0, 3.0])
    assert inference.bin_index([-5.0, 0.0, 0.99, 1.0, 2.5, 3.0, 99.0], edges).tolist() == [0, 0, 0, 1, 2, 2, 2]
    mult = np.random.default_rng(1).poisson(30, 10_000).astype(float)
    e = inference.quantile_edges(mult, 10, integer=True)
    assert np.all(np.abs(e - np.round(e)) == 0.5)  # half-integers: no value sits on an edge
    counts = np.bincount(inference.bin_index(mult, e))
    assert len(counts) == len(e) - 1 and counts.min() > 0.03 * len(mult)
    cont = inference.quantile_edges(np.random.default_rng(2).normal(size=5000), 5)
    assert np.allclose(np.bincount(inference.bin_index(np.random.default_rng(2).normal(size=5000), cont)), 1000, atol=1)
    with pytest.raises(ValueError, match="increasing"):
        inference.bin_index([1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="constant"):
        inference.quantile_edges(np.ones(10), 3)


def test_template_model_recovers_linear_probabilities_and_checks_itself():
    model = fitted_linear_model()
    for t in (-0.1, -0.03, 0.0, 0.07):
        assert np.allclose(model.probabilities(t), linear_templates(t), atol=0.005)
    assert model.probabilities(np.array([0.0, 0.05])).shape == (2, 3)
    # validation histograms from the same model: chi2 per degree of freedom about one
    rng = np.random.default_rng(5)
    grid = np.linspace(-0.1, 0.1, 5)
    chi2, ndf = model.chi2(np.concatenate([sample_bins(t, 20_000, rng) for t in grid]), np.repeat(grid, 20_000))
    assert ndf == 10 and chi2 / ndf < 3
    # Fisher information of the exact model: sum (dp/dtheta)^2 / p = 1/(0.3 + t) + 1/(0.3 - t)
    assert model.fisher_information(0.0) == pytest.approx(2 / 0.3, rel=0.05)
    with pytest.raises(ValueError, match="not fitted"):
        inference.TemplateModel([0, 1, 2]).probabilities(0.0)
    with pytest.raises(ValueError, match="at least 3 values"):
        inference.TemplateModel([0, 1, 2], degree=2).fit([0.5, 1.5], [0.0, 1.0])


def test_poisson_nll():
    assert inference.poisson_nll([2.0, 0.0], [1.0, 3.0]) == pytest.approx(1.0 + 3.0 - 2.0 * np.log(1.0))
    with pytest.raises(ValueError, match="shape"):
        inference.poisson_nll([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        inference.poisson_nll([1.0], [0.0])


def test_template_fit_of_the_expected_histogram_returns_the_truth_with_the_fisher_error():
    model = fitted_linear_model()
    n = 10_000
    asimov = model.expected(0.04, n)  # the expected counts themselves: the fit must land on 0.04
    fit = inference.fit_template(model, asimov, minos=True)
    assert fit["valid"] and fit["value"] == pytest.approx(0.04, abs=1e-4)
    assert fit["error"] == pytest.approx(1 / np.sqrt(n * model.fisher_information(0.04)), rel=0.02)
    assert fit["lower"] < 0.04 < fit["upper"]
    assert (fit["upper"] - fit["lower"]) / 2 == pytest.approx(fit["error"], rel=0.05)
    with pytest.raises(ValueError, match="one per bin"):
        inference.fit_template(model, np.ones(4))


def test_template_fit_pulls_are_standard_normal_on_poisson_pseudo_data():
    model = fitted_linear_model(n_per_value=200_000)
    rng = np.random.default_rng(3)
    pulls = []
    for _ in range(300):
        counts = rng.poisson(model.expected(0.02, 2000))
        fit = inference.fit_template(model, counts)
        pulls.append((fit["value"] - 0.02) / fit["error"])
    pulls = np.array(pulls)
    assert abs(pulls.mean()) < 0.2 and abs(pulls.std() - 1) < 0.12
    f, err = inference.coverage(0.02 - 0 * pulls - 1, 0.02 + 0 * pulls + 1, 0.02)
    assert f == 1.0 and err > 0


# --- intervals, posteriors, calibration ------------------------------------------------------
def test_profile_interval_of_a_parabola_is_plus_minus_sigma():
    thetas = np.linspace(0.0, 1.0, 41)
    mu, sigma = np.array([0.40, 0.55]), np.array([0.05, 0.1])
    nll = (thetas[None, :] - mu[:, None]) ** 2 / (2 * sigma[:, None] ** 2) + 7.0
    out = inference.profile_interval(thetas, nll)
    assert np.allclose(out["value"], mu, atol=1e-3)
    assert np.allclose(out["lower"], mu - sigma, atol=1e-3) and np.allclose(out["upper"], mu + sigma, atol=1e-3)
    assert out["closed"].all()
    two = inference.profile_interval(thetas, nll[0], delta=2.0)  # 95 %: two sigma
    assert two["upper"] - two["lower"] == pytest.approx(4 * 0.05, abs=2e-3)
    edge = inference.profile_interval(thetas, (thetas - 0.02) ** 2 / (2 * 0.05**2))
    assert not edge["closed"] and edge["lower"] == 0.0
    with pytest.raises(ValueError, match="one column per theta"):
        inference.profile_interval(thetas, np.zeros((2, 5)))


def test_grid_posterior_and_central_interval_of_a_gaussian():
    thetas = np.linspace(-1.0, 1.0, 401)
    logd = -0.5 * ((thetas - 0.1) / 0.1) ** 2
    dens = inference.grid_posterior(thetas, logd)
    assert np.trapezoid(dens, thetas) == pytest.approx(1.0)
    out = inference.central_interval(thetas, dens, truth=0.1)
    assert out["lower"] == pytest.approx(0.0, abs=2e-3) and out["upper"] == pytest.approx(0.2, abs=2e-3)
    assert out["median"] == pytest.approx(0.1, abs=1e-3) and out["mean"] == pytest.approx(0.1, abs=1e-4)
    assert out["cdf_at_truth"] == pytest.approx(0.5, abs=1e-3) and out["covered"]
    many = inference.central_interval(thetas, np.stack([dens, dens]), truth=np.array([0.1, 0.3]))
    assert many["covered"].tolist() == [True, False] and many["cdf_at_truth"][1] == pytest.approx(0.977, abs=2e-3)
    with pytest.raises(ValueError, match="level"):
        inference.central_interval(thetas, dens, level=1.5)


def test_expected_coverage_is_the_diagonal_for_calibrated_ranks_and_below_it_for_overconfident_ones():
    rng = np.random.default_rng(0)
    levels, cov = inference.expected_coverage(rng.random(20_000))
    assert np.max(np.abs(cov - levels)) < 0.02
    # posteriors half as wide as they should be: the truth falls in the tails too often
    z = rng.normal(size=20_000) * 2.0
    from scipy.stats import norm
    _, cov_over = inference.expected_coverage(norm.cdf(z), levels=[0.6827])
    assert cov_over[0] == pytest.approx(0.383, abs=0.02)


# --- pseudo-experiments --------------------------------------------------------------------------
def test_pseudo_experiments_draw_without_replacement_within_an_experiment_and_report_overlap():
    theta = np.repeat([0.1, 0.2, 0.3], 500)
    index, truth = inference.pseudo_experiments(theta, 100, 30, values=[0.1, 0.3], seed=1)
    assert index.shape == (60, 100) and np.all(theta[index] == truth[:, None])
    assert all(len(np.unique(row)) == 100 for row in index)
    # two random 100-jet subsets of 500 jets share 100/500 = 20 % on average
    assert inference.overlap_fraction(index, truth) == pytest.approx(0.2, abs=0.02)
    again, _ = inference.pseudo_experiments(theta, 100, 30, values=[0.1, 0.3], seed=1)
    assert np.array_equal(index, again)
    with pytest.raises(ValueError, match="fewer than n_jets"):
        inference.pseudo_experiments(theta, 600, 1)


def test_window_pseudo_datasets_take_the_nearest_chunks_and_label_them_by_their_mean():
    rng = np.random.default_rng(0)
    values = rng.uniform(0.10, 0.17, 200)
    alpha = np.repeat(values, rng.integers(150, 230, 200))
    index, label, spread = inference.window_pseudo_datasets(alpha, 1000, 300, seed=2)
    assert index.shape == (300, 1000) and all(len(np.unique(r)) == 1000 for r in index[:20])
    assert np.allclose(label, alpha[index].mean(axis=1))
    # about 5-7 chunks of 200 values in a range of 0.07: a window spans a few times 0.07/200
    assert np.median(spread) < 4 * 0.07 / 200 and np.all(spread > 0)
    wide, label_wide, spread_wide = inference.window_pseudo_datasets(alpha, 1000, 300, pool_factor=4, seed=2)
    assert np.median(spread_wide) > 2 * np.median(spread)  # a wider pool: a larger spread of values
    with pytest.raises(ValueError, match="pool_factor"):
        inference.window_pseudo_datasets(alpha, 1000, 3, pool_factor=0.5)
    means = inference.dataset_means(np.c_[alpha, 2 * alpha], index, block=64)
    assert np.allclose(means[:, 0], label) and np.allclose(means[:, 1], 2 * label)
    with pytest.raises(ValueError, match="rows into"):
        inference.dataset_means(alpha, index + len(alpha))


# --- neural ratio estimation on a Gaussian toy: x ~ N(theta, 1), so log r(x, theta) = x theta - theta^2/2 + c(x)
def gaussian_toy(n, grid, rng):
    theta = rng.choice(grid, n)
    return (theta + rng.normal(size=n))[:, None], theta


@pytest.mark.parametrize("degree, negatives", [(2, "all"), (None, "shuffle")], ids=["polynomial-all", "input-shuffle"])
def test_ratio_estimator_learns_the_gaussian_log_likelihood_ratio(degree, negatives):
    rng = np.random.default_rng(0)
    grid = np.linspace(-1.0, 1.0, 5)
    x, theta = gaussian_toy(10_000, grid, rng)
    xv, tv = gaussian_toy(3_000, grid, rng)
    model = inference.RatioEstimator.for_data(x, theta, hidden=(32, 32), degree=degree, seed=0)
    hist = inference.train_ratio_estimator(model, x, theta, xv, tv, epochs=8, batch_size=256, lr=3e-3,
                                           negatives=negatives, seed=0)
    assert hist["val"][hist["best_epoch"]] < np.log(2) - 0.03  # it learned something
    xs = np.linspace(-1.5, 1.5, 7)
    table = inference.log_ratio_table(model, xs, grid)  # (7 x values, 5 thetas)
    exact = xs[:, None] * grid[None, :] - grid[None, :] ** 2 / 2
    # compare the dependence on theta (the theta-independent part c(x) is not fixed by a ratio)
    diff = (table - table[:, [2]]) - (exact - exact[:, [2]])
    assert np.max(np.abs(diff)) < 0.15, diff
    # logits_at gives the same numbers as the forward pass at each value
    with torch.no_grad():
        at = model.logits_at(torch.tensor(xs[:, None], dtype=torch.float32), torch.tensor(grid, dtype=torch.float32))
    assert np.allclose(at.numpy(), table, atol=1e-5)
    if degree is not None:  # the polynomial's coefficients reproduce the table, and one pass gives both outputs
        c = model.coefficients(xs[:, None])
        t = (grid - float(model.theta_scale[0])) / float(model.theta_scale[1])
        assert np.allclose(c @ np.vander(t, degree + 1, increasing=True).T, table, atol=1e-4)
        with torch.no_grad():
            pos, at_grid = model.logits_with_grid(torch.tensor(xs[:, None], dtype=torch.float32),
                                                  torch.full((7,), 0.5), torch.tensor(grid, dtype=torch.float32))
        assert np.allclose(at_grid.numpy(), table, atol=1e-5) and np.allclose(pos.numpy(), table[:, 3], atol=1e-5)
    else:
        with pytest.raises(ValueError, match="polynomial"):
            model.coefficients(xs[:, None])
    # the sum over a dataset's jets gives the likelihood: the estimate from 400 jets at theta = 0.5
    xd = 0.5 + rng.normal(size=400)
    thetas = np.linspace(-1.0, 1.0, 41)
    nll = -inference.log_ratio_table([model, model], xd, thetas).sum(axis=0)
    fit = inference.profile_interval(thetas, nll)
    assert abs(fit["value"] - xd.mean()) < 0.05
    assert (fit["upper"] - fit["lower"]) / 2 == pytest.approx(1 / np.sqrt(400), rel=0.2)


def test_ratio_estimator_checks_its_input():
    x = np.zeros((10, 2))
    with pytest.raises(ValueError, match="standard deviations"):
        inference.RatioEstimator([0.0, 0.0], [1.0, 0.0], 0.0, 1.0)
    model = inference.RatioEstimator.for_data(np.random.default_rng(0).normal(size=(10, 2)), np.arange(10.0))
    with pytest.raises(ValueError, match="expects 2 features"):
        inference.train_ratio_estimator(model, np.zeros((10, 3)), np.zeros(10), x, np.zeros(10))
    with pytest.raises(ValueError, match="same number of jets"):
        inference.train_ratio_estimator(model, x, np.zeros(9), x, np.zeros(10))
    with pytest.raises(ValueError, match="a grid of a few values"):
        inference.train_ratio_estimator(model, np.zeros((100, 2)), np.arange(100.0), x, np.zeros(10), negatives="all")
    with pytest.raises(ValueError, match="degree"):
        inference.RatioEstimator([0.0], [1.0], 0.0, 1.0, degree=0)
    assert model(torch.zeros(3, 2), torch.zeros(3)).shape == (3,)


# --- neural posterior estimation on a Gaussian toy: s = mean of 100 draws of N(theta, 1), theta ~ U(0, 1)
def test_posterior_estimator_learns_a_gaussian_posterior():
    rng = np.random.default_rng(0)

    def simulate(n):
        theta = rng.uniform(0.0, 1.0, n)
        return theta, (theta + rng.normal(size=n) / 10)[:, None]

    theta, s = simulate(8000)
    tv, sv = simulate(2000)
    npe = inference.PosteriorEstimator(1, 0.0, 1.0, transforms=1, hidden=(32, 32), seed=0)
    hist = npe.fit(theta, s, tv, sv, epochs=8, batch_size=256, lr=5e-3, seed=0)
    assert hist["val"][-1] < hist["val"][0]
    thetas = np.linspace(0.002, 0.998, 499)
    dens = inference.grid_posterior(thetas, npe.log_density([[0.4], [0.6]], thetas))
    out = inference.central_interval(thetas, dens)
    assert np.allclose(out["mean"], [0.4, 0.6], atol=0.02)
    assert np.allclose((out["upper"] - out["lower"]) / 2, 0.1, rtol=0.2)
    draws = npe.sample([[0.5]], 2000)
    assert draws.shape == (1, 2000) and np.all((draws > 0) & (draws < 1)) and abs(draws.mean() - 0.5) < 0.02
    with pytest.raises(ValueError, match="inside the prior"):
        npe.log_density([[0.5]], [1.2])
    with pytest.raises(ValueError, match="not trained"):
        inference.PosteriorEstimator(1, 0.0, 1.0).log_density([[0.5]], [0.5])
    with pytest.raises(ValueError, match="flow must be"):
        inference.PosteriorEstimator(1, 0.0, 1.0, flow="gan")


def test_affine_posterior_flow_is_a_logit_normal():
    # with flow="maf" in one dimension the posterior is a Gaussian in z = logit(theta): check its shape
    npe = inference.PosteriorEstimator(1, 0.0, 1.0, transforms=1, hidden=(8,), flow="maf", seed=0)
    npe.s_mean, npe.s_std = np.zeros(1), np.ones(1)  # untrained but usable: any normalised density in z
    thetas = np.linspace(0.01, 0.99, 99)
    logd = npe.log_density([[0.3]], thetas)[0]
    z = np.log(thetas / (1 - thetas))
    logq_z = logd + np.log(thetas * (1 - thetas))  # back to the density in z
    quad = np.polyfit(z, logq_z, 2)
    assert np.max(np.abs(np.polyval(quad, z) - logq_z)) < 1e-4 and quad[0] < 0
    assert np.trapezoid(np.exp(logd), thetas) == pytest.approx(1.0, abs=0.02)
