import numpy as np
import pytest
from scipy import stats

from utils import cathode
from utils.metrics import auc, max_significance_improvement


# --- the gaussianizing map ----------------------------------------------------------------------
def skewed_sample(n=20_000, seed=0):
    # a long-tailed mass, a bounded ratio with point masses (as tau21 of few-particle jets), a normal
    rng = np.random.default_rng(seed)
    mass = rng.exponential(100.0, n)
    ratio = np.where(rng.random(n) < 0.05, rng.choice([0.5, 1.0], n), rng.beta(2, 3, n))
    return np.column_stack([mass, ratio, rng.normal(3.0, 2.0, n)])


def test_gaussianizer_makes_each_marginal_standard_normal_and_inverts_exactly():
    x = skewed_sample()
    g = cathode.MarginalGaussianizer(1000).fit(x)
    z = g.transform(x)
    for j in (0, 2):  # continuous features: a standard normal by construction
        assert abs(z[:, j].mean()) < 0.01 and abs(z[:, j].std() - 1) < 0.01
        assert stats.kstest(z[:, j], "norm").statistic < 0.01
    # the map is monotonic, so it keeps the order of the events
    assert np.all(np.diff(z[np.argsort(x[:, 0]), 0]) >= 0)
    # exactly invertible on the fitted range (point masses included)
    assert np.max(np.abs(g.inverse(z) - x)) < 1e-9
    # beyond the fitted range: clamped to the extreme values, never outside the data's range
    back = g.inverse(np.full((3, 3), 50.0))
    assert np.allclose(back, x.max(0))
    assert np.allclose(g.inverse(np.full((1, 3), -50.0)), x.min(0))


def test_gaussianizer_checks_its_input():
    g = cathode.MarginalGaussianizer(100)
    with pytest.raises(ValueError, match="fit"):
        g.transform(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="constant"):
        g.fit(np.column_stack([np.arange(50.0), np.ones(50)]))
    g.fit(skewed_sample(500))
    with pytest.raises(ValueError, match="expected 3 features"):
        g.transform(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="NaN"):
        g.transform(np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match="at least 10"):
        cathode.MarginalGaussianizer(5)


def test_mjj_context_is_standardised_log_mass():
    reference = np.array([3000.0, 3100.0, 3800.0, 4000.0])
    c = cathode.mjj_context(reference, reference)
    assert c.shape == (4, 1) and abs(c.mean()) < 1e-12 and abs(c.std() - 1) < 1e-12
    # a mass between the references maps between their contexts (monotonic in m_jj)
    mid = cathode.mjj_context([3500.0], reference)[0, 0]
    assert c[1, 0] < mid < c[2, 0]
    with pytest.raises(ValueError, match="positive"):
        cathode.mjj_context([-1.0], reference)


# --- the flow: it must interpolate ----------------------------------------------------------------
def toy_sidebands(n, rng, lo=(3000.0, 3300.0), hi=(3700.0, 4100.0)):
    # features whose mean rises linearly with log m_jj, with a correlation between them
    mjj = np.where(rng.random(n) < 0.6, rng.uniform(*lo, n), rng.uniform(*hi, n))
    t = np.log(mjj / 3500.0) / 0.1  # about -1.5 ... +1.6
    a = 2.0 * t + rng.normal(0, 1, n)
    b = 0.5 * a + rng.normal(0, 0.5, n)
    return np.column_stack([a, b]), mjj


def test_conditional_flow_interpolates_into_the_signal_region():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _interpolates_into_the_signal_region()
    finally:
        torch.set_num_threads(threads)  # a test never changes the process's thread settings for later tests


def _interpolates_into_the_signal_region():
    rng = np.random.default_rng(1)
    x, mjj = toy_sidebands(4000, rng)
    g = cathode.MarginalGaussianizer(200).fit(x)
    context = cathode.mjj_context(mjj, mjj)
    flow = cathode.make_flow(2, transforms=2, hidden=(16, 16), seed=0)
    history = cathode.train_flow(flow, g.transform(x), context, epochs=15, batch_size=128, lr=5e-3, seed=0)
    assert history["val"][-1] < history["val"][0]  # it learned
    model = cathode.BackgroundModel(g, mjj, [flow])
    # in the middle of the signal region (never trained on) the truth of feature a is N(0, 1); the
    # sidebands pooled have a spread above 2 (their means differ): the flow must learn the trend
    synthetic, masses = model.sample(np.full(3000, 3500.0), oversample=2, seed=0)
    assert synthetic.shape == (6000, 2) and np.all(masses == 3500.0)
    assert np.all(np.abs(synthetic.mean(0)) < 0.3), synthetic.mean(0)
    assert x[:, 0].std() > 2.0 and synthetic[:, 0].std() < 1.6, (x[:, 0].std(), synthetic[:, 0].std())
    # and it follows the trend: at a higher mass, the mean moves by 2 log(4000/3500) / 0.1 = 2.67
    high, _ = model.sample(np.full(3000, 4000.0), seed=1)
    assert abs(high[:, 0].mean() - synthetic[:, 0].mean() - 2.67) < 0.5


def test_background_model_sampling_shares_and_log_prob():
    rng = np.random.default_rng(2)
    x, mjj = toy_sidebands(500, rng)
    g = cathode.MarginalGaussianizer(100).fit(x)
    flows = [cathode.make_flow(2, 1, (8,), seed=s) for s in (0, 0, 1)]
    model = cathode.BackgroundModel(g, mjj, flows)
    masses_in = np.array([3400.0, 3500.0, 3600.0])
    synthetic, masses = model.sample(masses_in, oversample=4, seed=3)
    assert synthetic.shape == (12, 2) and np.array_equal(np.sort(masses), np.sort(np.repeat(masses_in, 4)))
    again, masses_again = model.sample(masses_in, oversample=4, seed=3)
    assert np.array_equal(synthetic, again) and np.array_equal(masses, masses_again)  # reproducible
    # synthetic events stay within the fitted range of the features
    assert np.all(synthetic >= x.min(0) - 1e-9) and np.all(synthetic <= x.max(0) + 1e-9)
    # a mixture of two identical flows has the density of one of them
    lp_one = model.subset(1).log_prob(x[:20], mjj[:20])
    lp_two = model.subset(2).log_prob(x[:20], mjj[:20])
    assert np.allclose(lp_one, lp_two, atol=1e-5)
    z, context = model.flow_inputs(x[:20], mjj[:20])
    assert np.allclose(z, g.transform(x[:20])) and context.shape == (20, 1)
    with pytest.raises(ValueError, match="n_flows"):
        model.subset(4)
    with pytest.raises(ValueError, match="at least one flow"):
        cathode.BackgroundModel(g, mjj, [])
    with pytest.raises(ValueError, match="oversample"):
        model.sample(masses_in, oversample=0)


# --- the classifier and the paired SIC ------------------------------------------------------------
def make_trees(seed):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=30, random_state=seed)


def test_cathode_scores_find_an_excess_and_nothing_without_one():
    rng = np.random.default_rng(3)
    background = rng.normal(0, 1, (2000, 2))
    synthetic = rng.normal(0, 1, (4000, 2))
    signal_test = rng.normal(2.5, 0.3, (300, 2))
    # no signal: data and synthetic events alike, the scores cannot tell them apart
    null = cathode.cathode_scores(background, synthetic, make_trees, n_folds=3, seeds=(0,))
    labels = np.r_[np.ones(2000), np.zeros(4000)]
    assert abs(auc(labels, np.r_[null["data"], null["synthetic"]]) - 0.5) < 0.04
    # 5 % signal in the data: the signal test events score at the top
    data = np.concatenate([background, rng.normal(2.5, 0.3, (100, 2))])
    result = cathode.cathode_scores(data, synthetic, make_trees, n_folds=3, seeds=(0, 1), extra=signal_test)
    assert len(result["singles"]) == 2 and result["extra"].shape == (300,)
    assert np.median(result["extra"]) > 0.9
    assert np.allclose(result["data"], np.mean([s[0] for s in result["singles"]], axis=0))
    with pytest.raises(ValueError, match="same features"):
        cathode.cathode_scores(data, synthetic[:, :1], make_trees)


def test_paired_max_sic_agrees_with_the_metric_and_pairs_the_resamples():
    rng = np.random.default_rng(4)
    labels = np.r_[np.zeros(5000), np.ones(500)].astype(int)
    good = rng.normal(labels * 2.0, 1.0)
    worse = good + rng.normal(0, 1.0, len(labels))
    r = cathode.paired_max_sic(labels, {"good": good, "worse": worse, "same": good.copy()}, n_resamples=50, seed=0)
    for name, s in [("good", good), ("worse", worse)]:
        assert np.isclose(r["value"][name], max_significance_improvement(labels, s))
    assert r["value"]["good"] > r["value"]["worse"]
    # identical scores: identical resamples, the difference has no spread at all
    assert np.all(r["samples"]["good"] == r["samples"]["same"])
    # correlated methods: the paired spread of the difference is below the unpaired combination
    paired = np.std(r["samples"]["good"] - r["samples"]["worse"])
    assert paired < np.hypot(r["std"]["good"], r["std"]["worse"])
    with pytest.raises(ValueError, match="both classes"):
        cathode.paired_max_sic(np.zeros(10), {"a": np.arange(10.0)})
    with pytest.raises(ValueError, match="too small"):
        cathode.paired_max_sic(labels[-600:], {"a": good[-600:]}, min_background=200)

