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


def test_constituent_features_divide_by_the_jet_pt_and_use_the_jet_eta_for_the_energy():
    c = _random_jets()
    real = c[..., 0] > 0
    jet_pt = c[..., 0].sum(axis=1) * 1.25  # as if the constituents passed carried 80 % of each jet's pT
    jet_eta = np.linspace(-2, 2, len(c))
    f = jets.constituent_features(c, jet_pt=jet_pt, jet_eta=jet_eta)
    np.testing.assert_allclose(f[..., 4].sum(axis=1), 0.8, rtol=1e-5)
    energy = c[..., 0] * np.cosh(jet_eta[:, None] + c[..., 1])  # a massless constituent's energy
    np.testing.assert_allclose(f[..., 3][real], np.log(energy[real]), rtol=1e-5)
    with pytest.raises(ValueError, match="one value per jet"):
        jets.constituent_features(c, jet_pt=jet_pt[:-1])
    with pytest.raises(ValueError, match="jet_eta"):
        jets.constituent_features(c, jet_eta=jet_eta[:2])


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
    import fastjet
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


def test_massless_approximation_is_stated_with_the_right_numbers():
    # (E - |p|) / |p| for a pion: 0.97 % at 1 GeV, a per mille only from 3.1 GeV on (not "always")
    m_pi, m_k = 0.1396, 0.494

    def excess(p, m):
        return np.sqrt(p**2 + m**2) / p - 1

    assert excess(1.0, m_pi) == pytest.approx(0.0097, abs=5e-5)
    assert excess(3.1, m_pi) > 1e-3 > excess(3.13, m_pi)
    assert excess(10.0, m_pi) < 1e-4 < excess(9.8, m_pi)
    assert excess(1.0, m_k) == pytest.approx(0.12, abs=0.006)
    doc = " ".join(jets.__doc__.replace("``", "").split())  # the text as the book shows it
    assert "better than a per mille" not in doc
    for stated in ("0.97 % at |p| = 1 GeV", "0.1 % only above |p| = 3.1 GeV", "0.01 % above 10 GeV", "12 % at 1 GeV"):
        assert stated in doc, stated


def _pseudo_jets(n_jets=40, seed=3):
    """Jets with a few hard prongs and soft radiation, pt-ordered and zero-padded to 60 slots."""
    rng = np.random.default_rng(seed)
    c = np.zeros((n_jets, 60, 3))
    for j in range(n_jets):
        n_prongs, k = rng.integers(1, 4), rng.integers(2, 60)
        centres = rng.normal(0, 0.3, (n_prongs, 2))
        which = rng.integers(0, n_prongs, k)
        pt = np.sort(rng.exponential(15, k))[::-1] + 0.5
        c[j, :k, 0] = pt
        c[j, :k, 1:] = centres[which] + rng.normal(0, 0.05, (k, 2))
    c[0, 1:] = 0.0  # one single-constituent jet
    c[1, 2:] = 0.0  # and one with two
    return c


def test_fastjet_and_numpy_nsubjettiness_agree():
    c = _pseudo_jets()
    fast = jets.nsubjettiness_taus(c, r0=0.8, backend="fastjet")
    slow = jets.nsubjettiness_taus(c, r0=0.8, backend="numpy")
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-12)
    # N >= number of constituents: each constituent is an axis, tau_N = 0
    assert np.all(np.abs(fast[0]) < 1e-12) and abs(fast[1, 1]) < 1e-12 and fast[1, 0] > 0.01
    assert np.all(fast[2:, 0] > 0)
    for n in (1, 2, 3):
        a, b = jets.exclusive_kt_axes_fastjet(c, n), jets.exclusive_kt_axes(c, n)
        for j in range(len(c)):
            np.testing.assert_allclose(sorted(map(tuple, a[j])), sorted(map(tuple, b[j])), atol=1e-9)
    # chunked calls give the same numbers as one call
    np.testing.assert_array_equal(jets.nsubjettiness_taus(c, 0.8, backend="fastjet", chunk_size=7), fast)
    with pytest.raises(ValueError, match="backend"):
        jets.nsubjettiness_taus(c, 0.8, backend="pyjet")


def test_axes_and_constituents_share_one_coordinate():
    # a jet of two massless prongs far apart in eta: the axes must sit on the prongs, so tau2 = 0
    # (axes at rapidity and constituents at pseudorapidity would not coincide for massive subjets)
    c = np.zeros((1, 4, 3))
    c[0, :, 0] = [200.0, 150.0, 100.0, 80.0]
    c[0, :, 1] = [0.4, 0.4, -0.5, -0.5]
    c[0, :, 2] = [0.1, 0.1, -0.2, -0.2]
    axes = jets.exclusive_kt_axes(c, 2)
    assert jets.nsubjettiness(c, axes, 0.8)[0] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(sorted(axes[0, :, 0]), [-0.5, 0.4], atol=1e-12)


def test_cluster_order_walks_the_harder_branch_first():
    # two pairs of nearby particles: A = (a1 100 GeV, a2 20 GeV), B = (b1 90 GeV, b2 50 GeV).
    # Stored by pt: 0 = a1, 1 = b1, 2 = b2, 3 = a2, then two padding slots.
    c = np.zeros((1, 6, 3))
    c[0, :4, 0] = [100.0, 90.0, 50.0, 20.0]
    c[0, :4, 1] = [0.30, -0.30, -0.32, 0.31]
    c[0, :4, 2] = [0.00, 0.05, 0.06, 0.01]
    order = jets.cluster_order(c)
    # C/A merges within A and within B first; B (140 GeV) is harder than A (120 GeV), so the walk
    # visits b1, b2, then a1, a2, then the padding in ascending order
    np.testing.assert_array_equal(order, [[1, 2, 0, 3, 4, 5]])
    reordered = np.take_along_axis(c, order[..., None], axis=1)
    np.testing.assert_array_equal(reordered[0, :, 0], [90, 50, 100, 20, 0, 0])


def test_cluster_order_is_a_permutation_with_real_constituents_first():
    c = _pseudo_jets()
    order = jets.cluster_order(c)
    assert order.shape == c.shape[:2]
    np.testing.assert_array_equal(np.sort(order, axis=1), np.broadcast_to(np.arange(60), order.shape))
    n_real = (c[..., 0] > 0).sum(axis=1)
    for j in range(len(c)):
        assert np.all(c[j, order[j, : n_real[j]], 0] > 0)
        np.testing.assert_array_equal(order[j, n_real[j]:], np.arange(n_real[j], 60))
    assert np.any(order[:, :5] != np.arange(5))  # not simply the pt order
    assert jets.cluster_order(c, n_out=64).shape == (len(c), 64)


def test_resolve_backend_names_what_auto_means():
    assert jets.resolve_backend("auto") == ("fastjet" if jets.have_fastjet() else "numpy")
    assert jets.resolve_backend("numpy") == "numpy" and jets.resolve_backend("fastjet") == "fastjet"
    with pytest.raises(ValueError, match="backend"):
        jets.resolve_backend("root")


# --- jet_shapes (Part VII) ---------------------------------------------------------------------
def _jets_for_shapes(n_jets=40, width=25, seed=0):
    rng = np.random.default_rng(seed)
    c = np.zeros((n_jets, width, 3))
    for j in range(n_jets):
        n = rng.integers(0, width + 1)
        c[j, :n, 0] = np.sort(rng.exponential(20.0, n))[::-1] + 0.5
        c[j, :n, 1:] = rng.normal(0, 0.25, (n, 2))
    return c


def _brute_force_ecf(jet):
    from itertools import combinations

    real = jet[jet[:, 0] > 0]
    z = real[:, 0] / real[:, 0].sum()
    dr = np.hypot(real[:, None, 1] - real[None, :, 1], real[:, None, 2] - real[None, :, 2])
    e2 = sum(z[i] * z[k] * dr[i, k] for i, k in combinations(range(len(z)), 2))
    e3 = sum(z[i] * z[k] * z[m] * dr[i, k] * dr[i, m] * dr[k, m] for i, k, m in combinations(range(len(z)), 3))
    return e2, e3


def test_jet_shapes_match_their_definitions():
    c = _jets_for_shapes()
    shapes = jets.jet_shapes(c, batch_size=7)
    assert set(shapes) == set(jets.JET_SHAPES)
    for j in range(len(c)):
        real = c[j][c[j][:, 0] > 0]
        assert shapes["multiplicity"][j] == len(real)
        if len(real) < 3:
            continue
        e2, e3 = _brute_force_ecf(c[j])
        assert shapes["c2"][j] == pytest.approx(e3 / e2 ** 2, rel=1e-9)
        assert shapes["d2"][j] == pytest.approx(e3 / e2 ** 3, rel=1e-9)
        pt = real[:, 0]
        assert shapes["width"][j] == pytest.approx((pt * np.hypot(real[:, 1], real[:, 2])).sum() / pt.sum())
        assert shapes["pt_d"][j] == pytest.approx(np.sqrt((pt ** 2).sum()) / pt.sum())
    m = jets.to_ptetaphim(jets.jet_four_momentum(c))[3]
    assert np.allclose(shapes["mass"], m)


def test_jet_shapes_limits_and_azimuth_wrapping():
    one = np.zeros((2, 5, 3))
    one[0, 0] = (100.0, 0.0, 0.0)  # one particle on the axis; the second jet is empty
    shapes = jets.jet_shapes(one)
    assert shapes["pt_d"][0] == 1.0 and shapes["width"][0] == 0.0 and shapes["c2"][0] == 0.0
    assert all(shapes[k][1] == 0.0 for k in jets.JET_SHAPES)
    # three equal prongs at the corners of a triangle of side R: e2 = R/3, e3 = R^3/27, so C2 = R/3 and D2 = 1
    r = 0.3 * np.sqrt(3.0)
    prongs = np.array([[(100, 0.3, 0.0), (100, -0.15, 0.15 * np.sqrt(3.0)), (100, -0.15, -0.15 * np.sqrt(3.0))]])
    shapes = jets.jet_shapes(prongs)
    assert shapes["c2"][0] == pytest.approx(r / 3) and shapes["d2"][0] == pytest.approx(1.0)
    # relative azimuths beyond pi/2 take the wrapped path: the same numbers for a rotated jet
    c = _jets_for_shapes(seed=1)
    shifted = c.copy()
    real = shifted[..., 0] > 0
    shifted[..., 2] = np.where(real, jets.delta_phi(shifted[..., 2] + 3.0, 0.0), 0.0)
    a, b = jets.jet_shapes(c), jets.jet_shapes(shifted)
    for key in ("c2", "d2", "pt_d", "multiplicity"):
        assert np.allclose(a[key], b[key], rtol=1e-9, atol=1e-9), key
    assert np.allclose(a["mass"], b["mass"], rtol=1e-9, atol=1e-3)  # (a one-particle jet's mass is float noise)
