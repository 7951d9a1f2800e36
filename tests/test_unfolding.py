import numpy as np
import pytest

from utils import unfolding


def smeared_sample(n=20_000, shift=0.0, seed=0):
    # a particle-level observable and its detector-level copy (Gaussian resolution 0.5)
    rng = np.random.default_rng(seed)
    truth = rng.normal(shift, 1.0, n)
    return truth, truth + rng.normal(0.0, 0.5, n)


def random_response(n=8, seed=0):
    # a banded response with most probability on the diagonal, columns summing to one
    rng = np.random.default_rng(seed)
    r = np.eye(n) * 3.0 + np.eye(n, k=1) + np.eye(n, k=-1) + 0.1 * rng.random((n, n))
    return r / r.sum(axis=0)


# --- binned -----------------------------------------------------------------------------------
def test_histogram_folds_under_and_overflow_into_the_end_bins():
    edges = [0.0, 1.0, 2.0, 3.0]
    h = unfolding.histogram([-5.0, 0.5, 1.0, 2.5, 3.0, 9.0], edges)
    assert h.tolist() == [2.0, 1.0, 3.0]
    assert unfolding.histogram([0.5, 2.5], edges, weights=[2.0, 0.5]).tolist() == [2.0, 0.0, 0.5]
    with pytest.raises(ValueError, match="increasing"):
        unfolding.histogram([1.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="NaN"):
        unfolding.histogram([np.nan], edges)


def test_response_matrix_columns_are_probabilities_and_fold_the_truth():
    truth, reco = smeared_sample()
    edges = np.linspace(-3, 3, 13)
    r = unfolding.response_matrix(truth, reco, edges, edges)
    assert r.shape == (12, 12)
    assert np.allclose(r.sum(axis=0), 1.0)
    # the response folds the truth histogram into the reco histogram exactly (same jets)
    assert np.allclose(r @ unfolding.histogram(truth, edges), unfolding.histogram(reco, edges))
    counts = unfolding.response_matrix(truth, reco, edges, edges, normalize=False)
    assert counts.sum() == len(truth)
    with pytest.raises(ValueError, match="length"):
        unfolding.response_matrix(truth, reco[:10], edges, edges)


def test_ibu_with_a_diagonal_response_returns_the_data():
    data = np.array([5.0, 40.0, 100.0, 3.0, 0.0])
    for prior in (np.ones(5), np.array([1.0, 2.0, 3.0, 4.0, 5.0])):
        result = unfolding.iterative_bayesian_unfolding(data, np.eye(5), prior, n_iterations=1)
        assert np.allclose(result, data)


def test_ibu_converges_to_the_inversion_where_that_is_positive():
    r = random_response()
    x_true = np.array([100.0, 300.0, 800.0, 1000.0, 700.0, 400.0, 150.0, 50.0])
    rng = np.random.default_rng(1)
    for data in (r @ x_true, rng.poisson(r @ x_true).astype(float)):  # exact and with Poisson noise
        inverted, _ = unfolding.matrix_inversion(r, data)
        assert np.all(inverted > 0)
        history = unfolding.iterative_bayesian_unfolding(data, r, np.ones(8), 3000, return_history=True)
        distance = np.abs(history - inverted).max(axis=1)
        assert distance[-1] < 1e-3 * inverted.max()
        assert distance[-1] < distance[10] < distance[1]  # it approaches step by step
    # noise-free data: the inversion is the truth itself
    assert np.allclose(unfolding.matrix_inversion(r, r @ x_true)[0], x_true)


def test_ibu_conserves_the_normalisation_and_starts_from_the_prior():
    r = random_response(6, seed=3)[:, :]
    r[:, 2] *= 0.8  # an inefficient truth bin: 20 % of its jets are not measured
    data = np.array([30.0, 50.0, 80.0, 60.0, 20.0, 10.0])
    prior = np.array([1.0, 1.0, 2.0, 2.0, 1.0, 1.0])
    history = unfolding.iterative_bayesian_unfolding(data, r, prior, 20, return_history=True)
    eff = r.sum(axis=0)
    assert np.allclose(history @ eff, data.sum())  # every iterate folds to the data's total
    assert np.allclose(history[0], prior * data.sum() / (r @ prior).sum())  # 0 iterations: the scaled prior
    assert np.all(history >= 0)


def test_ibu_and_inversion_check_their_input():
    r = random_response(4)
    with pytest.raises(ValueError, match="length 4"):
        unfolding.iterative_bayesian_unfolding(np.ones(3), r, np.ones(4), 2)
    with pytest.raises(ValueError, match="non-negative integer"):
        unfolding.iterative_bayesian_unfolding(np.ones(4), r, np.ones(4), -1)
    with pytest.raises(ValueError, match="non-negative"):
        unfolding.iterative_bayesian_unfolding(-np.ones(4), r, np.ones(4), 2)
    with pytest.raises(ValueError, match="sum to at most 1"):
        unfolding.iterative_bayesian_unfolding(np.ones(4), 2 * r, np.ones(4), 2)
    singular = r.copy()
    singular[:, 1] = 0.0
    with pytest.raises(ValueError, match="singular"):
        unfolding.matrix_inversion(singular, np.ones(4))


def test_inversion_covariance_of_a_diagonal_response_is_poisson():
    data = np.array([4.0, 9.0, 16.0])
    x, cov = unfolding.matrix_inversion(np.eye(3), data)
    assert np.allclose(x, data) and np.allclose(cov, np.diag(data))


def test_bin_weights_give_the_simulation_the_unfolded_histogram():
    truth, _ = smeared_sample(5000)
    edges = np.linspace(-3, 3, 7)
    prior = unfolding.histogram(truth, edges)
    unfolded = prior * np.linspace(0.5, 1.5, 6)
    w = unfolding.bin_weights(truth, edges, unfolded, prior)
    assert np.allclose(unfolding.histogram(truth, edges, w), unfolded)


# --- unbinned ---------------------------------------------------------------------------------
def test_quantile_codes_are_a_monotonic_map_onto_few_values():
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.exponential(1.0, 5000), rng.integers(0, 7, 5000)])
    codes = unfolding.quantile_codes(x, n_bins=50)
    assert len(np.unique(codes[:, 0])) <= 50 and len(np.unique(codes[:, 1])) <= 7
    for j in range(2):  # the order of the values is kept
        order = np.argsort(x[:, j], kind="stable")
        assert np.all(np.diff(codes[order, j]) >= 0)
    with pytest.raises(ValueError, match="n_bins"):
        unfolding.quantile_codes(x, n_bins=1)


def test_classifier_weights_recover_a_known_density_ratio():
    rng = np.random.default_rng(0)
    x_from, x_to = rng.normal(0.0, 1.0, 20_000), rng.normal(0.5, 1.0, 20_000)
    w = unfolding.classifier_weights(x_from, x_to, seed=0)
    exact = np.exp(0.5 * x_from - 0.125)  # N(0.5, 1) / N(0, 1)
    assert abs(np.average(x_from, weights=w) - np.mean(x_to)) < 0.03
    core = np.abs(x_from) < 1.5
    assert np.median(np.abs(w[core] / exact[core] - 1)) < 0.1
    assert np.isclose(w.sum(), len(x_from))  # the total is kept
    assert w.min() >= 1 / 20 - 1e-12  # clipped (up to the normalisation)


def test_classifier_weights_on_the_same_points_learn_a_function_of_them():
    # step 2 of OmniFold: the same points, target weights that are a noisy function of x;
    # the ratio is their mean at x
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 1.0, 10_000)
    target = (1.0 + 0.5 * np.tanh(x)) * rng.exponential(1.0, len(x))
    w = unfolding.classifier_weights(x, None, None, target, seed=2)
    expected = (1.0 + 0.5 * np.tanh(x)) / np.mean(1.0 + 0.5 * np.tanh(x))
    assert np.median(np.abs(w / expected - 1)) < 0.1
    with pytest.raises(ValueError, match="w_to"):
        unfolding.classifier_weights(x, None)
    with pytest.raises(ValueError, match="n_folds"):
        unfolding.classifier_weights(x, x, n_folds=1)


def test_omnifold_with_histograms_is_iterative_bayesian_unfolding():
    truth, reco = smeared_sample(10_000)
    data_truth, data = smeared_sample(5000, shift=0.4, seed=1)
    edges = np.linspace(-3, 3, 13)
    result = unfolding.omnifold(truth, reco, data, 4, reweight=unfolding.histogram_weights, edges=edges)
    response = unfolding.response_matrix(truth, reco, edges, edges)
    prior = unfolding.histogram(truth, edges)
    ibu = unfolding.iterative_bayesian_unfolding(unfolding.histogram(data, edges), response, prior, 4,
                                                 return_history=True)
    for n in range(4):
        unfolded = unfolding.histogram(truth, edges, result["step2"][n])
        assert np.allclose(unfolded / unfolded.sum(), ibu[n + 1] / ibu[n + 1].sum())


def test_omnifold_moves_the_simulation_onto_the_data_truth():
    truth, reco = smeared_sample(10_000)
    data_truth, data = smeared_sample(5000, shift=0.5, seed=1)
    x, x_reco, x_data = (np.column_stack([a, a ** 2]) for a in (truth, reco, data))  # two correlated observables
    result = unfolding.omnifold(x, x_reco, x_data, 3, seed=0)
    assert result["step1"].shape == result["step2"].shape == (3, len(truth))
    before = unfolding.scaled_wasserstein(truth, data_truth)
    after = unfolding.scaled_wasserstein(truth, data_truth, weights=result["step2"][-1])
    assert after < 0.3 * before
    # a data set like the simulation leaves the weights near one
    same = unfolding.omnifold(x[:5000], x_reco[:5000], x_reco[5000:], 1, seed=0)
    assert np.std(same["step2"][0]) < 0.15
    with pytest.raises(ValueError, match="same jets"):
        unfolding.omnifold(x, x_reco[:10], x_data, 1)


# --- checks -----------------------------------------------------------------------------------
def test_poisson_weights_are_bootstrap_replicas():
    w = unfolding.poisson_weights(10_000, 3, seed=0)
    assert w.shape == (3, 10_000) and np.all(w == np.round(w)) and np.all(w >= 0)
    assert abs(w.mean() - 1) < 0.02 and abs(w.var() - 1) < 0.05
    assert np.array_equal(w, unfolding.poisson_weights(10_000, 3, seed=0))


def test_scaled_wasserstein_of_a_shift_is_the_shift_over_the_spread():
    x = np.random.default_rng(0).normal(0.0, 2.0, 5000)
    assert np.isclose(unfolding.scaled_wasserstein(x + 1.0, x, scale=2.0), 0.5)
    assert np.isclose(unfolding.scaled_wasserstein(x + 1.0, x), 1.0 / x.std(), rtol=1e-6)
    # weights count: doubling a point's weight is the same as repeating it
    assert np.isclose(unfolding.scaled_wasserstein([0.0, 1.0], [0.0], weights=[2.0, 1.0], scale=1.0),
                      unfolding.scaled_wasserstein([0.0, 0.0, 1.0], [0.0], scale=1.0))
    with pytest.raises(ValueError, match="non-negative"):
        unfolding.scaled_wasserstein([0.0, 1.0], [0.0], weights=[-1.0, 1.0])


def test_two_sample_floor_falls_as_one_over_root_n():
    x = np.random.default_rng(0).normal(0.0, 1.0, 40_000)
    small = unfolding.two_sample_floor(x, 1000, 1000, n_splits=30, scale=1.0)
    large = unfolding.two_sample_floor(x, 16_000, 16_000, n_splits=30, scale=1.0)
    assert 2.5 < small["mean"] / large["mean"] < 5.5  # sqrt(16) = 4
    assert small["samples"].shape == (30,)
    with pytest.raises(ValueError, match="n_a"):
        unfolding.two_sample_floor(x, 30_000, 20_000)
