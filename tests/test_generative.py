"""Tests of utils.generative: exact coordinate round trips and the evaluation panel."""
import numpy as np
import pytest

from utils import generative as g
from utils.jets import to_cartesian


@pytest.fixture(autouse=True)
def _one_thread():
    """The two-sample tests' boosted trees on one thread: quicker for these small samples, and
    far quicker on a busy machine (OpenMP threads otherwise spin while they wait)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def _toy_muons(n=2000, seed=0):
    """Random muon pairs spanning the Drell-Yan sample's ranges (not physical, but valid)."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(0.05, 300, n), rng.uniform(-8, 8, n), rng.uniform(-np.pi, np.pi, n),
                     rng.uniform(0.05, 300, n), rng.uniform(-8, 8, n), rng.uniform(-np.pi, np.pi, n)], axis=1)


def _wrapped_difference(a, b):
    d = a - b
    d[:, [2, 5]] = (d[:, [2, 5]] + np.pi) % (2 * np.pi) - np.pi
    return d


def _data_muons(n=5000):
    import utils

    return g.muons_from_data(utils.data.load("drell_yan", "test", max_events=n))


def test_physics_round_trip_is_exact():
    mu = _data_muons()
    back = g.from_physics(g.to_physics(mu))
    rel = np.abs(_wrapped_difference(back, mu)) / np.maximum(np.abs(mu), 1.0)
    assert rel.max() < 1e-9
    # also for random pairs far outside the sample (masses up to tens of TeV, boosts of 1000s)
    mu = _toy_muons()
    back = g.from_physics(g.to_physics(mu))
    rel = np.abs(_wrapped_difference(back, mu)) / np.maximum(np.abs(mu), 1.0)
    assert rel.max() < 1e-6


def test_physics_round_trip_the_other_way():
    rng = np.random.default_rng(1)
    n = 1000
    ph = np.stack([rng.uniform(5, 200, n), rng.uniform(-5, 5, n), rng.uniform(0.01, 300, n),
                   rng.uniform(-np.pi, np.pi, n), rng.uniform(-1, 1, n), rng.uniform(-np.pi, np.pi, n)], axis=1)
    back = g.to_physics(g.from_physics(ph))
    d = back - ph
    d[:, [3, 5]] = (d[:, [3, 5]] + np.pi) % (2 * np.pi) - np.pi
    # float64 round-off of E^2 - p^2 at |eta| up to 5 (E up to 15 TeV): relative to the value, not absolute
    assert (np.abs(d) / np.maximum(1.0, np.abs(ph))).max() < 1e-8


def test_physics_coordinates_are_the_dimuon_system():
    mu = _toy_muons(500)
    ph = g.to_physics(mu)
    p = to_cartesian(mu[:, 0], mu[:, 1], mu[:, 2], g.MUON_MASS) + to_cartesian(mu[:, 3], mu[:, 4], mu[:, 5], g.MUON_MASS)
    m = np.sqrt(p[:, 0] ** 2 - np.sum(p[:, 1:] ** 2, axis=1))
    np.testing.assert_allclose(ph[:, 0], m, rtol=1e-9)
    np.testing.assert_allclose(ph[:, 2], np.hypot(p[:, 1], p[:, 2]), rtol=1e-9)
    np.testing.assert_allclose(ph[:, 1], np.arctanh(p[:, 3] / p[:, 0]), atol=1e-8)
    np.testing.assert_allclose(g.dimuon_mass(mu), m, rtol=1e-9)


def test_collins_soper_angles_at_rest_are_the_lab_angles():
    # a dimuon at rest with no transverse momentum: the CS frame is the lab frame (x along +x by
    # the limit pt -> 0 along +x), so cos(theta) is the mu- direction's cos(theta) in the lab
    n = 200
    rng = np.random.default_rng(2)
    cos_t, phi_cs = rng.uniform(-0.99, 0.99, n), rng.uniform(-np.pi, np.pi, n)
    ph = np.stack([np.full(n, 91.0), np.zeros(n), np.full(n, 1e-6), np.zeros(n), cos_t, phi_cs], axis=1)
    mu = g.from_physics(ph)
    p_minus = to_cartesian(mu[:, 3], mu[:, 4], mu[:, 5], g.MUON_MASS)
    np.testing.assert_allclose(p_minus[:, 3] / np.linalg.norm(p_minus[:, 1:], axis=1), cos_t, atol=1e-6)
    np.testing.assert_allclose(np.cos(mu[:, 5] - phi_cs), 1.0, atol=1e-6)
    # the two muons are back to back with equal momenta
    np.testing.assert_allclose(mu[:, 0], mu[:, 3], rtol=1e-6)
    np.testing.assert_allclose(mu[:, 1], -mu[:, 4], atol=1e-6)


def test_cs_angles_do_not_depend_on_the_azimuth():
    # rotating the whole event about the beam changes phi_mumu only
    mu = _toy_muons(300)
    rotated = mu.copy()
    rotated[:, [2, 5]] = (mu[:, [2, 5]] + 1.234 + np.pi) % (2 * np.pi) - np.pi
    a, b = g.to_physics(mu), g.to_physics(rotated)
    np.testing.assert_allclose(a[:, [0, 1, 2, 4]], b[:, [0, 1, 2, 4]], atol=1e-9)
    np.testing.assert_allclose(np.cos(a[:, 5] - b[:, 5]), 1.0, atol=1e-9)


def test_feature_round_trips():
    mu = _data_muons()
    back = g.muons_from_features(g.muon_features(mu), phi_plus=mu[:, 2])
    assert np.abs(_wrapped_difference(back, mu)).max() < 1e-9
    ph = g.to_physics(mu)
    back = g.physics_from_features(g.physics_features(ph), phi_mumu=ph[:, 3])
    d = back - ph
    d[:, 5] = (d[:, 5] + np.pi) % (2 * np.pi) - np.pi
    assert (np.abs(d) / np.maximum(np.abs(ph), 1)).max() < 1e-9
    # with a random azimuth the events are rotated, not changed
    rng = np.random.default_rng(0)
    np.testing.assert_allclose(g.evaluation_features(g.muons_from_features(g.muon_features(mu), rng)),
                               g.evaluation_features(mu), rtol=1e-8, atol=1e-8)


def test_mass_latent_is_monotonic_and_logistic_for_a_breit_wigner():
    m = np.linspace(0.5, 500, 2000)
    t = g.mass_to_latent(m)
    assert np.all(np.diff(t) > 0)
    np.testing.assert_allclose(g.latent_to_mass(t), m, rtol=1e-9)
    # a relativistic Breit-Wigner in m^2 (restricted to m > 0) maps to the logistic distribution
    rng = np.random.default_rng(0)
    u0 = np.arctan(-g.Z_MASS / g.Z_WIDTH)
    u = rng.uniform(u0, np.pi / 2, 100_000)
    t = g.mass_to_latent(np.sqrt(g.Z_MASS**2 + g.Z_MASS * g.Z_WIDTH * np.tan(u)))
    assert abs(np.median(t)) < 0.02 and abs(np.mean(np.abs(t) < 1) - 0.462) < 0.01  # logistic: P(|t|<1) = 0.462
    # every latent value is a mass
    assert np.all(g.latent_to_mass(np.array([-50.0, -20.0, 0.0, 20.0])) >= 2 * g.MUON_MASS)


def test_generator_output_is_mapped_into_the_physical_range():
    f = np.array([[-40.0, 0.0, 1.0, 9.0, 7.0], [0.0, 0.0, 1.0, -3.0, -4.0], [30.0, 1.0, -2.0, 0.0, 3.5]])
    ph = g.physics_from_features(f, phi_mumu=np.zeros(3))
    assert np.all(ph[:, 0] > 2 * g.MUON_MASS) and np.all(np.abs(ph[:, 4]) <= 1)
    assert np.all((ph[:, 5] >= -np.pi) & (ph[:, 5] < np.pi))
    assert np.all(np.isfinite(g.from_physics(ph)))


def test_feature_maps_and_their_jacobians():
    f_mu = g.muon_features(_data_muons(500))
    f_ph = g.muon_to_physics_features(f_mu)
    np.testing.assert_allclose(g.physics_to_muon_features(f_ph), f_mu, atol=1e-8)
    forward = g.log_abs_det_jacobian(g.muon_to_physics_features, f_mu, periodic=(4,))
    backward = g.log_abs_det_jacobian(g.physics_to_muon_features, f_ph, periodic=(4,))
    assert np.all(np.isfinite(forward))
    # J(F^-1) = J(F)^-1; finite differences are least precise next to cos(theta) = +-1, where
    # the decay angles become singular
    np.testing.assert_allclose(forward + backward, 0.0, atol=1e-3)
    assert np.median(np.abs(forward + backward)) < 1e-6
    # a linear map with a known determinant
    a = np.array([[2.0, 1.0], [0.5, 3.0]])
    x = np.random.default_rng(0).normal(size=(10, 2))
    np.testing.assert_allclose(g.log_abs_det_jacobian(lambda v: v @ a.T, x), np.log(5.5), atol=1e-8)
    with pytest.raises(ValueError, match="shape"):
        g.log_abs_det_jacobian(lambda v: v, np.zeros(3))


def test_bad_input_raises():
    with pytest.raises(ValueError, match="shape"):
        g.to_physics(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="out of range"):
        g.from_physics(np.array([[0.1, 0, 1, 0, 0, 0]]))
    with pytest.raises(ValueError, match="rng"):
        g.muons_from_features(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="lacks"):
        g.muons_from_data({"mu_plus_pt": np.ones(3)})


def test_two_sample_test_rows_match_the_held_out_events():
    from sklearn.base import BaseEstimator, ClassifierMixin

    import utils.metrics

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 2)), rng.normal(size=(200, 2))
    b[:, 1] = np.arange(len(b))  # column 1 of b is the row index; a's column 1 is negative
    a[:, 1] = -1 - np.arange(len(a))

    class RowClassifier(ClassifierMixin, BaseEstimator):  # P(generated) encodes the row index
        def fit(self, x, y):
            self.classes_ = np.array([0, 1])
            return self

        def predict_proba(self, x):
            p = np.where(x[:, 1] >= 0, 0.5 + (x[:, 1] + 1) / 1000, 0.1)
            return np.stack([1 - p, p], axis=1)

    result = g.two_sample_test(a, b, seed=3, classifier=RowClassifier())
    direct = utils.metrics.classifier_two_sample_test(a, b, classifier=RowClassifier(), seed=3)
    np.testing.assert_allclose(result["weights"], direct["weights"])
    # the weights recomputed from the returned rows are those the test returned for them
    p = 0.5 + (result["rows"] + 1) / 1000
    prior = (len(a) * 0.5) / (len(b) * 0.5)
    np.testing.assert_allclose(result["weights"], (1 - p) / p / prior, rtol=1e-9)
    assert len(result["rows"]) == len(result["weights"]) == 100 and len(set(result["rows"])) == 100


def test_evaluate_and_noise_floor():
    rng = np.random.default_rng(0)
    n = 3000
    ph = np.stack([g.Z_MASS + 0.5 * g.Z_WIDTH * np.tan(rng.uniform(-1.4, 1.4, n)), rng.normal(0, 2, n),
                   rng.exponential(15, n) + 0.1, rng.uniform(-np.pi, np.pi, n), rng.uniform(-1, 1, n),
                   rng.uniform(-np.pi, np.pi, n)], axis=1)
    ph[:, 0] = np.clip(ph[:, 0], 20, 200)
    mu = g.from_physics(ph)
    floor = g.noise_floor(mu, seed=0)
    for r in floor["c2st"].values():
        assert abs(r["auc"] - 0.5) < 4 * r["auc_std"] + 0.01
    assert abs(floor["peak"] - g.Z_MASS) < 0.5 and 1.5 < floor["fwhm"] < 4.0
    smeared = ph.copy()
    smeared[:, 0] += rng.normal(0, 3, n)  # a generator with a smeared line shape
    result = g.evaluate(mu[: n // 2], g.from_physics(smeared[n // 2:]), seed=0)
    assert result["c2st"]["features + m_mumu"]["auc"] > floor["c2st"]["features + m_mumu"]["auc"] + 0.05
    assert result["fwhm"] > floor["fwhm"] + 2
    assert set(result["wasserstein"]) == set(g.EVAL_NAMES)
    assert result["wasserstein"]["m_mumu"] > 3 * floor["wasserstein"]["m_mumu"]
    assert "AUC[features]" in g.format_evaluation("smeared", result)
    # the floor at the generator's own sample size: true events against independent true events
    same_size = g.noise_floor(mu[: n // 2], seed=0, other_true=mu[n // 2:])
    for r in same_size["c2st"].values():
        assert abs(r["auc"] - 0.5) < 4 * r["auc_std"] + 0.01
    with pytest.raises(ValueError, match="at least"):
        g.noise_floor(mu[: n // 2], other_true=mu[:10])


def test_plots_run(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mu = _toy_muons(1000)
    mu[:, 0] = np.abs(np.random.default_rng(0).normal(45, 10, len(mu)))
    true = g.evaluation_features(mu[:500])
    fig = g.plot_histograms({"true": true, "generated": g.evaluation_features(mu[500:])}, reference="true",
                            names=g.EVAL_NAMES[:3], ncols=2)
    assert len(fig.subfigs) == 4 and len(fig.subfigs[0].axes) == 2
    res = {"generated": g.evaluate(mu[:500], mu[500:], feature_sets={"all": g.EVAL_NAMES})}
    fig2 = g.plot_weights(res, bins={"m_mumu": np.linspace(0, 500, 11), "pt_mumu": np.linspace(0, 300, 11)})
    fig2.savefig(tmp_path / "w.png")
    plt.close("all")
