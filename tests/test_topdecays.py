"""utils.topdecays: exact, invertible decay coordinates for t tbar -> 6 quarks, and their physics."""
import numpy as np
import pytest

from utils import topdecays as td
from utils.jets import invariant_mass, to_cartesian, to_ptetaphim


def _events(n=500, seed=0):
    """Random top-pair events built from decay coordinates (Breit-Wigner masses, isotropic angles)."""
    rng = np.random.default_rng(seed)
    d = np.empty((n, 18))
    for k in (0, 9):
        d[:, k] = td.TOP_MASS + td.TOP_WIDTH / 2 * rng.standard_cauchy(n).clip(-20, 20)
        d[:, k + 1] = rng.exponential(120.0, n) + 1.0
        d[:, k + 2] = rng.normal(0, 1.5, n)
        d[:, k + 3] = rng.uniform(-np.pi, np.pi, n)
        d[:, k + 4] = td.W_MASS + td.W_WIDTH / 2 * rng.standard_cauchy(n).clip(-20, 20)
        d[:, k + 5] = rng.uniform(-1, 1, n)
        d[:, k + 6] = rng.uniform(-np.pi, np.pi, n)
        d[:, k + 7] = rng.uniform(-1, 1, n)
        d[:, k + 8] = rng.uniform(-np.pi, np.pi, n)
    return d, td.from_decay(d)


def _wrapped(a):
    return (a + np.pi) % (2 * np.pi) - np.pi


def test_from_decay_gives_the_requested_masses_and_top_kinematics():
    d, partons = _events()
    m = td.reconstructed_masses(partons)
    np.testing.assert_allclose(m[:, 0], d[:, 4], rtol=1e-9)
    np.testing.assert_allclose(m[:, 1], d[:, 13], rtol=1e-9)
    np.testing.assert_allclose(m[:, 2], d[:, 0], rtol=1e-9)
    np.testing.assert_allclose(m[:, 3], d[:, 9], rtol=1e-9)
    p4 = td.four_momenta(partons)
    pt, eta, phi, _ = to_ptetaphim(p4[:, 0] + p4[:, 1] + p4[:, 2])  # the first top's momentum is conserved
    np.testing.assert_allclose(pt, d[:, 1], rtol=1e-9)
    np.testing.assert_allclose(eta, d[:, 2], atol=1e-9)
    np.testing.assert_allclose(_wrapped(phi - d[:, 3]), 0, atol=1e-9)


def test_to_decay_inverts_from_decay_and_back():
    d, partons = _events()
    back = td.to_decay(partons)
    periodic = [3, 6, 8, 12, 15, 17]
    other = [i for i in range(18) if i not in periodic]
    np.testing.assert_allclose(back[:, other], d[:, other], rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(_wrapped(back[:, periodic] - d[:, periodic]), 0, atol=1e-8)
    again = td.from_decay(back)
    np.testing.assert_allclose(again[..., :2], partons[..., :2], rtol=1e-9, atol=1e-9)


def test_decay_features_round_trip_and_drop_only_the_overall_azimuth():
    d, partons = _events(300, seed=1)
    f = td.decay_features(partons)
    assert f.shape == (300, 17) and np.all(np.isfinite(f))
    back = td.partons_from_decay_features(f, phi_t1=d[:, 3])
    np.testing.assert_allclose(back[..., :2], partons[..., :2], rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(_wrapped(back[..., 2] - partons[..., 2]), 0, atol=1e-8)
    # rotating the whole event about the beam changes no feature
    rotated = partons.copy()
    rotated[..., 2] = _wrapped(rotated[..., 2] + 1.234)
    np.testing.assert_allclose(td.decay_features(rotated), f, atol=1e-8)


def test_rest_frame_angles_of_a_decay_at_rest_are_the_lab_angles():
    # a parent at rest along... nothing: give it a tiny momentum along +x, so z' = x_lab and x' points to the beam
    parent = np.array([[100.0, 1e-7, 0.0, 0.0]])
    parent[0, 0] = np.sqrt(100.0**2 + 1e-14)
    daughter = to_cartesian(np.array([30.0]), np.array([0.0]), np.array([0.0]), 0.0)  # along +x
    cos_theta, _ = td.rest_frame_angles(parent, daughter)
    assert cos_theta[0] == pytest.approx(1.0, abs=1e-6)
    beam_side = np.array([[30.0, 0.0, 0.0, 30.0]])  # along +z: the x' axis of the frame
    cos_theta, phi = td.rest_frame_angles(parent, beam_side)
    assert cos_theta[0] == pytest.approx(0.0, abs=1e-6) and phi[0] == pytest.approx(0.0, abs=1e-6)


def test_two_body_momentum_and_boost():
    # W -> two massless quarks: p* = m/2; t -> W b: the textbook value
    assert td.two_body_momentum(80.0, 0.0, 0.0) == pytest.approx(40.0)
    m_t, m_w, m_b = 173.0, 80.385, 4.8
    expected = np.sqrt((m_t**2 - (m_w + m_b) ** 2) * (m_t**2 - (m_w - m_b) ** 2)) / (2 * m_t)
    assert td.two_body_momentum(m_t, m_w, m_b) == pytest.approx(expected)
    assert td.two_body_momentum(10.0, 6.0, 6.0) == 0.0  # below threshold
    rng = np.random.default_rng(2)
    p4 = to_cartesian(rng.uniform(1, 100, 50), rng.normal(0, 2, 50), rng.uniform(-3, 3, 50), 5.0)
    beta = rng.uniform(-0.5, 0.5, (50, 3))
    boosted = td.boost(p4, beta)
    np.testing.assert_allclose(invariant_mass(boosted), 5.0, rtol=1e-9)  # the mass is invariant
    np.testing.assert_allclose(td.boost(boosted, -beta), p4, rtol=1e-9, atol=1e-9)
    at_rest = td.boost(p4, p4[:, 1:] / p4[:, :1])
    np.testing.assert_allclose(at_rest[:, 1:], 0, atol=1e-9)
    np.testing.assert_allclose(at_rest[:, 0], 5.0, rtol=1e-9)


def test_isotropic_decays_give_flat_cosines():
    # cos theta of an isotropic two-body decay is uniform on [-1, 1], in both rest frames
    _, partons = _events(4000, seed=3)
    d = td.to_decay(partons)
    for col in (5, 7, 14, 16):
        counts, _ = np.histogram(d[:, col], bins=4, range=(-1, 1))
        assert np.all(np.abs(counts - 1000) < 5 * np.sqrt(1000)), (col, counts)


def test_naive_features_round_trip_and_generated_outliers_stay_events():
    _, partons = _events(50, seed=4)
    back = td.partons_from_naive(td.naive_features(partons))
    np.testing.assert_allclose(back, partons, rtol=1e-12, atol=1e-12)
    wild = np.random.default_rng(5).normal(0, 40, (200, 17))  # what an untrained generator might output
    out = td.partons_from_decay_features(wild, rng=np.random.default_rng(0))
    assert out.shape == (200, 6, 3) and np.all(np.isfinite(out))
    assert np.all(np.isfinite(td.reconstructed_masses(out)))


def test_evaluation_features_hold_the_18_numbers_and_4_masses():
    _, partons = _events(20, seed=6)
    x = td.evaluation_features(partons)
    assert x.shape == (20, 22) and len(td.EVAL_NAMES) == 22
    np.testing.assert_allclose(x[:, :18], partons.reshape(20, 18))
    np.testing.assert_allclose(x[:, 18:], td.reconstructed_masses(partons))


def test_bad_shapes_are_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"\(n, 6, 3\).*reshape"):
        td.reconstructed_masses(np.zeros((5, 18)))
    with pytest.raises(ValueError, match=r"\(n, 18\)"):
        td.from_decay(np.zeros((5, 17)))
    with pytest.raises(ValueError, match=r"\(n, 17\)"):
        td.partons_from_decay_features(np.zeros((5, 18)))
    with pytest.raises(ValueError, match="below 1"):
        td.boost(np.zeros((1, 4)), np.array([[1.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match=r"\(n, 4\)"):
        td.rest_frame_angles(np.zeros((3, 3)), np.zeros((3, 4)))
