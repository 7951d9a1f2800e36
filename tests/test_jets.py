import numpy as np
import pytest

from utils import jets


def _random_jets(n_jets=5, n_const=30, seed=0):
    rng = np.random.default_rng(seed)
    c = np.zeros((n_jets, n_const, 3))
    for j in range(n_jets):
        k = rng.integers(5, n_const)
        c[j, :k, 0] = np.sort(rng.exponential(20, k))[::-1] + 1
        c[j, :k, 1] = rng.normal(0, 0.2, k)
        c[j, :k, 2] = rng.normal(0, 0.2, k)
    return c


def test_four_vector_round_trip():
    pt, eta, phi, m = np.array([50.0, 600.0]), np.array([0.5, -2.0]), np.array([3.0, -1.0]), np.array([0.0, 172.5])
    back = jets.to_ptetaphim(jets.to_cartesian(pt, eta, phi, m))
    for a, b in zip(back, (pt, eta, phi, m)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-6)


def test_invariant_mass_of_a_two_body_decay():
    # Z -> mu mu at rest along x: each muon has p = sqrt((m/2)^2 - m_mu^2)
    m_z, m_mu = 91.19, 0.10566
    p = np.sqrt((m_z / 2) ** 2 - m_mu**2)
    mu1 = jets.to_cartesian(p, 0.0, 0.0, m_mu)
    mu2 = jets.to_cartesian(p, 0.0, np.pi, m_mu)
    assert jets.invariant_mass(mu1, mu2) == pytest.approx(m_z)


def test_delta_phi_wraps():
    assert jets.delta_phi(3.1, -3.1) == pytest.approx(6.2 - 2 * np.pi)
    assert jets.delta_r(0, 3.1, 0, -3.1) == pytest.approx(2 * np.pi - 6.2)


def test_jet_mass_from_constituents_is_frame_independent():
    c = _random_jets()
    m0 = jets.to_ptetaphim(jets.jet_four_momentum(c))[3]
    m1 = jets.to_ptetaphim(jets.jet_four_momentum(c, jet_eta=np.full(5, 1.3), jet_phi=np.full(5, 2.0)))[3]
    np.testing.assert_allclose(m0, m1, rtol=1e-6)


def test_constituent_features_shape_and_padding():
    c = _random_jets()
    f = jets.constituent_features(c)
    assert f.shape == c.shape[:2] + (5,) and f.dtype == np.float32
    assert np.all(f[c[..., 0] == 0] == 0)
    np.testing.assert_allclose(f[..., 4].sum(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="n_jets, n_constituents, 3"):
        jets.constituent_features(np.zeros((4, 3)))


def test_jet_images_are_normalised_centred_and_flipped():
    c = _random_jets(n_jets=20)
    img = jets.jet_images(c, n_pixels=32, half_width=2.0)
    assert img.shape == (20, 32, 32) and img.dtype == np.float32
    np.testing.assert_allclose(img.sum(axis=(1, 2)), 1.0, rtol=1e-5)
    # after the flips the harder half sits at positive phi (columns) and positive eta (rows)
    assert np.all(img[:, :, 16:].sum(axis=(1, 2)) >= img[:, :, :16].sum(axis=(1, 2)))
    assert np.all(img[:, 16:, :].sum(axis=(1, 2)) >= img[:, :16, :].sum(axis=(1, 2)))
    raw = jets.jet_images(c, n_pixels=10, preprocess=False)
    inside = (np.abs(c[..., 1]) < 1) & (np.abs(c[..., 2]) < 1)
    np.testing.assert_allclose(raw.sum(axis=(1, 2)), (c[..., 0] * inside).sum(1), rtol=1e-5)


def test_two_prong_jet_rotates_onto_the_vertical_axis():
    c = np.zeros((1, 2, 3))
    c[0, :, 0] = [100, 100]
    c[0, :, 2] = [0.3, -0.3]  # split along phi ...
    img = jets.jet_images(c, n_pixels=21, half_width=1.0)
    rows, cols = np.nonzero(img[0])
    assert set(cols) == {10} and len(set(rows)) == 2  # ... ends up along eta (rows) after the rotation


def test_nsubjettiness_of_an_n_prong_jet():
    # three pencil-like prongs: tau3 = 0 exactly, tau2 and tau1 clearly larger
    c = np.zeros((1, 6, 3))
    c[0, :, 0] = [100, 90, 80, 1e-3, 1e-3, 1e-3]
    c[0, :3, 1], c[0, :3, 2] = [0.3, -0.2, 0.0], [0.0, 0.2, -0.3]
    c[0, 3:, 1:] = c[0, :3, 1:]
    taus = [jets.nsubjettiness(c, jets.exclusive_kt_axes(c, n), r0=0.8)[0] for n in (1, 2, 3)]
    assert taus[2] == pytest.approx(0.0, abs=1e-4)
    assert taus[0] > taus[1] > taus[2]


def test_exclusive_kt_axes_agree_with_fastjet():
    fastjet = pytest.importorskip("fastjet")
    c = _random_jets(n_jets=3, n_const=25, seed=4)
    for n in (1, 2, 3):
        ours = jets.exclusive_kt_axes(c, n)
        for j in range(3):
            real = c[j][c[j, :, 0] > 0]
            p4 = jets.to_cartesian(real[:, 0], real[:, 1], real[:, 2])
            parts = [fastjet.PseudoJet(px, py, pz, e) for e, px, py, pz in p4]
            cs = fastjet.ClusterSequence(parts, fastjet.JetDefinition(fastjet.kt_algorithm, 1000.0))
            theirs = sorted((a.rap(), a.phi_std()) for a in cs.exclusive_jets(n))
            np.testing.assert_allclose(sorted(map(tuple, ours[j])), theirs, atol=1e-6)


def test_nsubjettiness_checks_shapes():
    with pytest.raises(ValueError, match="axes must have shape"):
        jets.nsubjettiness(_random_jets(), np.zeros((4, 2, 2)), r0=0.8)
