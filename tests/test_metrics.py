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


@pytest.mark.parametrize("n, levels", [(7, None), (500, None), (500, 4), (20_000, None), (20_000, 50)])
def test_auc_from_ranks_is_scikit_learns(n, levels):
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(n)
    labels = (rng.random(n) < 0.3).astype(int)
    labels[:2] = [0, 1]
    scores = rng.normal(labels * 0.7, 1.0)
    if levels:  # many tied scores, shared by both classes
        scores = np.round(scores * levels / 8)
    assert metrics.auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    weights = rng.random(n)  # with weights: scikit-learn's own
    assert metrics.auc(labels, scores, weights) == roc_auc_score(labels, scores, sample_weight=weights)


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
    # background uniform on [0, 1], signal on [0.5, 1.5]: a cut at c keeps eps_s = 1.5 - c and
    # eps_b = 1 - c; SIC = (0.5 + u)/sqrt(u) with u = eps_b falls with u, so the maximum sits at
    # the tightest cut that keeps 10 of 1000 background events: u = 0.01, SIC = 0.51 / 0.1 = 5.1
    assert metrics.max_significance_improvement(labels, scores, min_background=10) == pytest.approx(5.1, rel=0.01)
    # by default a cut must keep 20 background events (MIN_BACKGROUND): u = 0.02, SIC = 0.52 / sqrt(0.02)
    assert metrics.MIN_BACKGROUND == 20
    assert metrics.max_significance_improvement(labels, scores) == pytest.approx(0.52 / np.sqrt(0.02), rel=0.01)


def test_max_significance_improvement_with_its_bootstrap_error_and_the_sic_curve():
    rng = np.random.default_rng(6)
    labels = np.r_[np.zeros(10_000), np.ones(1_000)]
    scores = np.r_[rng.normal(0, 1, 10_000), rng.normal(3, 1, 1_000)]
    value = metrics.max_significance_improvement(labels, scores)
    result = metrics.max_significance_improvement(labels, scores, n_resamples=50, seed=1)
    assert result["value"] == value and 0 < result["std"] < 0.3 * value
    assert result["n_background_pass"] >= metrics.MIN_BACKGROUND
    assert result["value"] == pytest.approx(result["eps_s"] / np.sqrt(result["eps_b"]))
    assert result == metrics.max_significance_improvement(labels, scores, n_resamples=50, seed=1)  # reproducible
    # unit weights change nothing; the rule counts background events, not their weights
    weighted = metrics.max_significance_improvement(labels, scores, weights=np.full(len(labels), 0.1))
    assert weighted == pytest.approx(value)
    # the SIC curve follows the same rule: at the efficiencies of every cut, its maximum is the same number
    eps_s, _, _ = metrics.roc_curve(labels, scores)
    curve = metrics.sic_curve(labels, scores, np.unique(eps_s[eps_s > 0]), n_resamples=2)
    assert np.nanmax(curve["sic"]) == pytest.approx(value)
    with pytest.raises(ValueError, match="no cut keeps"):
        metrics.max_significance_improvement(labels, scores, min_background=10_001)
    with pytest.raises(ValueError, match="n_resamples"):
        metrics.max_significance_improvement(labels, scores, n_resamples=1)


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


def test_rejection_at_takes_the_lower_end_of_a_step_from_tied_scores():
    # 4 signal, 4 background; one signal and two backgrounds share the score 0.5
    labels = np.r_[1, 1, 1, 1, 0, 0, 0, 0]
    scores = np.r_[0.9, 0.8, 0.5, 0.1, 0.5, 0.5, 0.2, 0.05]
    # cut at 0.8 keeps eps_s = 0.5 with no background: rejection infinite
    assert metrics.rejection_at(labels, scores, 0.5) == float("inf")
    # eps_s = 0.75 needs the cut at 0.5: eps_b = 2/4
    assert metrics.rejection_at(labels, scores, 0.75) == pytest.approx(2.0)
    # between ROC points (eps_s 0.5 -> 0.75, eps_b 0 -> 0.5): linear interpolation
    assert metrics.rejection_at(labels, scores, 0.625) == pytest.approx(1 / 0.25)
    # a vertical step: all backgrounds tie with the lowest signal; eps_s = 1 costs eps_b = 1
    assert metrics.rejection_at(np.r_[1, 1, 0, 0], np.r_[0.9, 0.1, 0.1, 0.1], 1.0) == pytest.approx(1.0)
    # ties over the whole sample: a score that tells nothing gives rejection 1 at any eps_s
    assert metrics.rejection_at(np.r_[np.ones(50), np.zeros(50)], np.zeros(100), 0.3) == pytest.approx(1 / 0.3)


def test_bootstrap_error_of_a_mean_matches_the_standard_error():
    rng = np.random.default_rng(2)
    x = rng.normal(size=2000)
    result = metrics.bootstrap(np.mean, x, n_resamples=400, seed=1)
    assert result["value"] == pytest.approx(x.mean())
    assert result["std"] == pytest.approx(x.std() / np.sqrt(len(x)), rel=0.15)
    assert result["low"] < result["value"] < result["high"]
    with pytest.raises(ValueError, match="same length"):
        metrics.bootstrap(np.mean, x, x[:10])


@pytest.mark.slow
def test_rejection_error_follows_the_passing_background_count(gaussian_scores):
    from scipy.stats import norm

    labels, scores = gaussian_scores
    value, error = metrics.rejection_with_error(labels, scores, 0.5, n_resamples=200)
    eps_b = norm.sf(norm.ppf(0.5, loc=1))  # the cut at the signal median
    n_pass = eps_b * 20_000
    # the background that passes fluctuates (binomial), and so does the cut that keeps half the
    # signal: var(eps_b) = eps_b (1 - eps_b) / n_b + (f_b(c) / f_s(c))^2 eps_s (1 - eps_s) / n_s
    var = eps_b * (1 - eps_b) / 20_000 + (norm.pdf(1.0) / norm.pdf(0.0)) ** 2 * 0.25 / 20_000
    expected = np.sqrt(var) / eps_b**2
    assert value == pytest.approx(1 / eps_b, rel=0.05)
    assert error == pytest.approx(expected, rel=0.15), (error, expected, n_pass)
    auc_value, auc_error = metrics.auc_with_error(labels, scores)
    assert 0.001 < auc_error < 0.01 and auc_value == pytest.approx(metrics.auc(labels, scores))
    with pytest.raises(ValueError, match="no background passes"):
        metrics.rejection_with_error(np.r_[0, 0, 1, 1], np.r_[0.1, 0.2, 0.8, 0.9], 0.5)


@pytest.mark.parametrize("tied", [False, True])
def test_roc_bootstrap_draws_the_resamples_of_the_generic_bootstrap(tied):
    """One sort, multiplicities per resample: the same resamples, so the same spreads as bootstrap()
    with stratify=labels and the same seed, for the AUC and for rejections (ties included)."""
    rng = np.random.default_rng(3)
    labels = (rng.random(3000) < 0.3).astype(int)
    scores = rng.normal(labels * 1.5, 1.0)
    if tied:
        scores = np.round(scores, 1)  # many events share a score, signal and background alike
    fast = metrics.roc_bootstrap(labels, scores, (0.5, 0.3, 0.05), n_resamples=40, seed=7)
    slow = metrics.bootstrap(metrics.auc, labels, scores, n_resamples=40, seed=7, stratify=labels)
    np.testing.assert_allclose(fast["auc"]["samples"], slow["samples"], rtol=1e-12)
    assert fast["auc"]["value"] == slow["value"] and fast["auc"]["std"] == pytest.approx(slow["std"], rel=1e-9)
    for eps in (0.5, 0.3, 0.05):
        slow = metrics.bootstrap(lambda y, s, eps=eps: metrics.rejection_at(y, s, eps), labels, scores,
                                 n_resamples=40, seed=7, stratify=labels)
        np.testing.assert_allclose(fast[eps]["samples"], slow["samples"], rtol=1e-12)
        assert (fast[eps]["low"], fast[eps]["high"]) == pytest.approx((slow["low"], slow["high"]), rel=1e-9)


def test_roc_bootstrap_of_a_rejection_no_background_reaches():
    labels = np.r_[np.zeros(50), np.ones(50)].astype(int)
    out = metrics.roc_bootstrap(labels, labels + np.linspace(0, 0.1, 100), (0.5,), n_resamples=10)
    assert out[0.5]["value"] == float("inf") and np.isnan(out[0.5]["std"]) and out["auc"]["value"] == 1.0


def test_js_divergence_exact_values():
    # p = (1/2, 1/2), q = (1, 0): m = (3/4, 1/4); JSD = 1 - (3/4) log2(4/3) - ... computed by hand
    p, q = np.array([0.5, 0.5]), np.array([1.0, 0.0])
    m = (p + q) / 2
    expected = 0.5 * (0.5 * np.log2(0.5 / m[0]) + 0.5 * np.log2(0.5 / m[1])) + 0.5 * (1.0 * np.log2(1 / m[0]))
    assert metrics.js_divergence(p, q) == pytest.approx(expected)
    assert metrics.js_divergence(p, q) == pytest.approx(0.3112781244591328)  # bits, not nats, not the distance


def test_two_sample_weights_estimate_the_density_ratio_for_unequal_samples():
    # a ~ N(0, 1) with 3x more rows than b ~ N(0.5, 1): the density ratio p_a/p_b = exp(0.125 - 0.5 x)
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, (30_000, 1)), rng.normal(0.5, 1, (10_000, 1))
    result = metrics.classifier_two_sample_test(a, b, classifier=LogisticRegression(), seed=0)
    n_test_b = len(result["weights"])
    assert n_test_b == 5000
    # the reweighted b sample must have the mean of a (0) and the weights average to 1
    from sklearn.model_selection import train_test_split

    x = np.concatenate([a, b])
    y = np.r_[np.zeros(len(a)), np.ones(len(b))].astype(int)
    _, x_te, _, y_te = train_test_split(x, y, test_size=0.5, random_state=0, stratify=y)
    b_test = x_te[y_te == 1, 0]
    w = result["weights"]
    assert np.mean(w) == pytest.approx(1.0, abs=0.05)
    assert np.average(b_test, weights=w) == pytest.approx(0.0, abs=0.05)
    assert np.allclose(w, np.exp(0.125 - 0.5 * b_test), rtol=0.15)


def test_wasserstein_distances_of_shifted_samples():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(20_000, 2))
    b = a + np.array([0.3, 0.0])
    d = metrics.wasserstein_distances(a, b, names=["x", "y"])
    assert d["x"] == pytest.approx(0.3, rel=1e-6) and d["y"] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="names"):
        metrics.wasserstein_distances(a, b, names=["x"])


def test_peak_and_width_of_a_breit_wigner_and_a_gaussian():
    rng = np.random.default_rng(5)
    bw = 91.19 + 2.50 / 2 * np.tan(np.pi * (rng.random(400_000) - 0.5))  # Cauchy: FWHM = Gamma = 2.5
    out = metrics.peak_and_width(bw)
    assert out["peak"] == pytest.approx(91.19, abs=0.05)
    assert out["fwhm"] == pytest.approx(2.50, rel=0.05)
    g = rng.normal(90.0, 2.0, 200_000)  # FWHM = 2 sqrt(2 ln 2) sigma = 4.71
    out = metrics.peak_and_width(g)
    assert out["peak"] == pytest.approx(90.0, abs=0.05) and out["fwhm"] == pytest.approx(4.71, rel=0.04)
    with pytest.raises(ValueError, match="edge"):
        metrics.peak_and_width(rng.normal(79, 1, 10_000))
    # weights: a Gaussian of sigma 2 reweighted by N(90, 1)/N(90, 2) has the line shape of N(90, 1): FWHM 2.35
    w = np.exp(-0.5 * ((g - 90.0) ** 2) * (1 / 1.0 - 1 / 4.0))
    out = metrics.peak_and_width(g, weights=w)
    assert out["peak"] == pytest.approx(90.0, abs=0.05) and out["fwhm"] == pytest.approx(2.35, rel=0.06)
    with pytest.raises(ValueError, match="shape"):
        metrics.peak_and_width(g, weights=w[:10])


def test_finite_array_checks_shape_length_and_values_and_names_the_argument():
    from utils.checks import finite_array

    assert finite_array([1, 2, 3], "x").dtype == np.float64
    assert finite_array([1.0, 2.0], "x", ndim=2, columns=True).shape == (2, 1)
    assert finite_array(np.ones((4, 3)), "x", ndim=2, length=4).shape == (4, 3)
    for bad, kwargs, message in [
        (np.ones((2, 2)), {}, "theta must be a non-empty \\(n,\\) array"),
        ([], {}, "non-empty"),
        ([1.0, 2.0], {"ndim": 2}, "\\(n, d\\) array; got shape \\(2,\\)"),
        ([1.0, 2.0], {"length": 3}, "theta must have length 3; got 2"),
        ([1.0, np.nan, np.inf], {}, "theta contains 2 NaN or infinite values"),
    ]:
        with pytest.raises(ValueError, match=message):
            finite_array(bad, "theta", **kwargs)
