import numpy as np
import pytest

from utils import metrics


@pytest.fixture
def gaussian_scores():
    rng = np.random.default_rng(0)
    n = 20_000
    labels = np.r_[np.zeros(n), np.ones(n)]
    scores = np.r_[rng.normal(0, 1, n), rng.normal(1, 1, n)]
    return labels, scores


def test_auc_matches_the_analytic_value(gaussian_scores):
    from scipy.stats import norm

    labels, scores = gaussian_scores
    # two unit Gaussians one sigma apart: AUC = Phi(1/sqrt(2))
    assert metrics.auc(labels, scores) == pytest.approx(norm.cdf(1 / np.sqrt(2)), abs=0.005)
    assert metrics.auc(labels, -scores) == pytest.approx(1 - metrics.auc(labels, scores))


def test_roc_curve_is_monotonic_and_spans_the_square(gaussian_scores):
    eps_s, eps_b, _ = metrics.roc_curve(*gaussian_scores)
    assert eps_s[0] == 0 and eps_b[0] == 0 and eps_s[-1] == 1 and eps_b[-1] == 1
    assert np.all(np.diff(eps_s) >= 0) and np.all(np.diff(eps_b) >= 0)


def test_rejection_at_fixed_signal_efficiency(gaussian_scores):
    from scipy.stats import norm

    labels, scores = gaussian_scores
    cut = norm.ppf(1 - 0.3, loc=1)  # keeps 30 % of signal
    expected = 1 / norm.sf(cut)
    assert metrics.rejection_at(labels, scores, 0.3) == pytest.approx(expected, rel=0.05)
    assert metrics.rejection_at(np.r_[0, 0, 1, 1], np.r_[0.1, 0.2, 0.8, 0.9], 0.5) == float("inf")
    with pytest.raises(ValueError, match="eps_s"):
        metrics.rejection_at(labels, scores, 0.0)


def test_significance_improvement():
    assert metrics.significance_improvement(0.5, 0.01) == pytest.approx(5.0)
    assert np.isnan(metrics.significance_improvement(0.5, 0.0))
    labels = np.r_[np.zeros(1000), np.ones(1000)]
    scores = np.r_[np.linspace(0, 1, 1000), np.linspace(0.5, 1.5, 1000)]
    assert metrics.max_significance_improvement(labels, scores) > 1


@pytest.mark.parametrize("labels,scores,match", [
    ([0, 1], [0.1], "same length"),
    ([1, 1], [0.1, 0.2], "both classes"),
    ([0, 2], [0.1, 0.2], "both classes"),
    ([0, 1], [0.1, np.nan], "NaN"),
])
def test_bad_inputs_say_what_is_wrong(labels, scores, match):
    with pytest.raises(ValueError, match=match):
        metrics.auc(labels, scores)


def test_js_divergence_bounds():
    p = np.array([1.0, 2.0, 3.0])
    assert metrics.js_divergence(p, 2 * p) == pytest.approx(0.0)
    assert metrics.js_divergence([1, 0], [0, 1]) == pytest.approx(1.0)
    assert 0 < metrics.js_divergence([1, 1], [1, 2]) < 1
    with pytest.raises(ValueError, match="same bins"):
        metrics.js_divergence([1, 2], [1, 2, 3])


def test_classifier_two_sample_test_tells_apart_only_different_samples():
    rng = np.random.default_rng(1)
    same = metrics.classifier_two_sample_test(rng.normal(size=(4000, 2)), rng.normal(size=(4000, 2)))
    shifted = metrics.classifier_two_sample_test(rng.normal(size=(4000, 2)), rng.normal(0.5, 1, size=(4000, 2)))
    assert abs(same["auc"] - 0.5) < 4 * same["auc_std"] + 0.01
    assert shifted["auc"] > 0.6
    # generated events where the truth is denser get weights above 1
    assert shifted["weights"].shape == (2000,)
    with pytest.raises(ValueError, match="same d"):
        metrics.classifier_two_sample_test(np.zeros((50, 2)), np.zeros((50, 3)))
