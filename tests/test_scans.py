"""Tests of utils.scans: the 2HDM constraint formulas at known points, the budget, the box, seeds, coverage."""
import math

import numpy as np
import pytest

from utils import scans


def aligned_point(m_heavy=600.0, tan_beta=3.0, m_hpm=None, cos_beta_alpha=0.0):
    sb_cb = math.sin(math.atan(tan_beta)) * math.cos(math.atan(tan_beta))
    return scans.lambdas_from_physical(scans.M_H_OBS, m_heavy, m_heavy, m_heavy if m_hpm is None else m_hpm,
                                       tan_beta, cos_beta_alpha, m_heavy**2 * sb_cb)


def test_sm_like_alignment_point_is_valid_and_round_trips():
    p = aligned_point()
    v, spec = scans.violations(p)
    assert np.all(v == 0), v
    assert spec["m_h"][0] == pytest.approx(scans.M_H_OBS, abs=1e-9)
    for name in ("m_H", "m_A", "m_Hpm"):
        assert spec[name][0] == pytest.approx(600.0, rel=1e-12)
    assert abs(spec["cos_beta_alpha"][0]) < 1e-12
    # in exact alignment with degenerate heavy states: lambda1 = lambda2 = lambda3 = m_h^2/v^2, lambda4 = lambda5 = 0
    lam_sm = scans.M_H_OBS**2 / scans.V_EW**2
    np.testing.assert_allclose(p[0, :5], [lam_sm, lam_sm, lam_sm, 0, 0], atol=1e-12)


@pytest.mark.parametrize("cba", [-0.3, -0.05, 0.05, 0.3])
def test_round_trip_away_from_alignment(cba):
    p = scans.lambdas_from_physical(125.0, 450.0, 520.0, 480.0, 2.5, cba, 200.0**2)
    spec = scans.spectrum(p)
    np.testing.assert_allclose([spec["m_h"][0], spec["m_H"][0], spec["m_A"][0], spec["m_Hpm"][0]],
                               [125.0, 450.0, 520.0, 480.0], rtol=1e-10)
    assert abs(spec["cos_beta_alpha"][0]) == pytest.approx(abs(cba), abs=1e-10)
    # alignment fails above 0.1
    assert (scans.violations(p)[0][0, 4] > 0) == (abs(cba) > scans.COS_BETA_ALPHA_MAX)


def test_negative_lambda1_fails_boundedness():
    p = aligned_point()
    p[0, 0] = -0.5
    assert not scans.bounded_from_below(p)[0]
    v, _ = scans.violations(p)
    assert v[0, 0] == pytest.approx(0.5)
    # lambda3 too negative: the direction |Phi1| = |Phi2| falls
    q = aligned_point()
    q[0, 2] = -1.0
    assert not scans.bounded_from_below(q)[0]
    assert scans.bounded_from_below(aligned_point())[0]


def test_unitarity_eigenvalues_known_values():
    # lambda1 = lambda2 = l, others 0: eigenvalues 3l (twice), l (four times), 0 (six times)
    p = np.array([[2.0, 2.0, 0, 0, 0, 2.0, 100.0]])
    ev = np.sort(scans.unitarity_eigenvalues(p)[0])
    np.testing.assert_allclose(ev, np.sort([6, 6, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0]), atol=1e-12)
    # the largest, 3/2 (l1 + l2) + ..., crosses 8 pi between l = 8 and 9
    ok = np.array([[8.0, 8.0, 0, 0, 0, 2.0, 100.0]])
    bad = np.array([[9.0, 9.0, 0, 0, 0, 2.0, 100.0]])
    assert scans.violations(ok)[0][0, 1] == 0
    assert scans.violations(bad)[0][0, 1] == pytest.approx(2 * (27 - 8 * math.pi))  # both a+ and a- are 3 l
    # the eigenvalues do not depend on tan beta or m12, and the sign of lambda5 only permutes them
    q = np.array([[1.0, 2.0, 0.5, -1.5, 2.5, 5.0, 300.0]])
    r = q.copy()
    r[0, 4] *= -1
    np.testing.assert_allclose(np.sort(scans.unitarity_eigenvalues(q)), np.sort(scans.unitarity_eigenvalues(r)))


def test_large_splitting_breaks_unitarity():
    assert np.all(scans.violations(aligned_point(m_hpm=700.0))[0] == 0)
    v, _ = scans.violations(aligned_point(m_hpm=1500.0))
    assert v[0, 1] > 0


def test_higgs_window_in_the_loss():
    p = scans.lambdas_from_physical(scans.M_H_OBS + 5.0, 600.0, 600.0, 600.0, 3.0, 0.0, 600.0**2 * 0.3)
    v, spec = scans.violations(p)
    assert spec["m_h"][0] == pytest.approx(scans.M_H_OBS + 5.0)
    assert v[0, 3] == pytest.approx(2 * scans.M_H_OBS * 2.0 / scans.V_EW**2)


def test_box_mapping_and_bad_input():
    u = np.random.default_rng(0).random((10, 7))
    np.testing.assert_allclose(scans.to_unit(scans.to_physical(u)), u)
    np.testing.assert_allclose(scans.to_physical(np.zeros(7))[0], scans.BOX[0])
    with pytest.raises(ValueError, match="shape"):
        scans.violations(np.zeros((3, 6)))
    with pytest.raises(ValueError, match="NaN"):
        scans.violations(np.full((1, 7), np.nan))


def test_evaluator_enforces_budget_and_box():
    ev = scans.Evaluator(10)
    ev(np.full((6, 7), 0.5))
    assert ev.n_calls == 6 and ev.remaining == 4
    with pytest.raises(ValueError, match="budget"):
        ev(np.full((5, 7), 0.5))
    with pytest.raises(ValueError, match="unit cube"):
        ev(np.full((1, 7), 1.5))
    with pytest.raises(ValueError, match="budget"):
        scans.Evaluator(0)


@pytest.mark.parametrize("scan", [
    lambda b, s: scans.random_scan(b, seed=s),
    lambda b, s: scans.cmaes_scan(b, seed=s),
    lambda b, s: scans.cmaes_scan(b, seed=s, novelty_weight=1.0),
    lambda b, s: scans.active_learning_scan(b, seed=s, n_init=60, batch=50, steps=20, n_candidates=500),
], ids=["random", "cmaes", "novelty", "active"])
def test_samplers_spend_exactly_the_budget_in_the_box_and_are_reproducible(scan):
    budget = 237  # not a multiple of any population or batch size
    a, b, c = scan(budget, 3), scan(budget, 3), scan(budget, 4)
    assert len(a) == budget and a.u.shape == (budget, 7)
    assert np.all((a.u >= 0) & (a.u <= 1))
    params = a.params
    assert np.all((params >= scans.BOX[0]) & (params <= scans.BOX[1]))
    np.testing.assert_array_equal(a.u, b.u)
    assert not np.array_equal(a.u, c.u)
    # the stored validity is the constraint function's
    np.testing.assert_array_equal(a.valid, scans.violations(params)[0].sum(axis=1) == 0)


def test_cmaes_beats_random_on_the_2hdm():
    # the physics test of the searches: at the same budget CMA-ES finds many valid points, random almost none
    cma = scans.cmaes_scan(1500, seed=0)
    rnd = scans.random_scan(1500, seed=0)
    assert cma.n_valid >= 10 and rnd.n_valid <= 3


def test_novelty():
    archive = np.array([[0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(scans.novelty([[0.0, 1.0]], archive, k=1), [1.0])
    np.testing.assert_allclose(scans.novelty([[0.0, 1.0]], archive, k=2), [(1 + math.sqrt(2)) / 2])
    np.testing.assert_allclose(scans.novelty([[0.0, 1.0]], np.empty((0, 2))), [0.0])
    with pytest.raises(ValueError, match="dimension"):
        scans.novelty([[0.0, 1.0, 2.0]], archive)


def test_coverage_on_a_ring():
    rng = np.random.default_rng(1)
    phi = rng.uniform(0, 2 * np.pi, 20_000)
    ring = np.c_[np.cos(phi), np.sin(phi)] * rng.uniform(0.8, 1.0, (20_000, 1))
    edges = (np.linspace(-1.2, 1.2, 13), np.linspace(-1.2, 1.2, 13))
    assert scans.coverage(ring, ring, edges) == 1.0
    upper = ring[ring[:, 1] > 0.2]  # the upper part of the ring: about half of the occupied bins
    c = scans.coverage(upper, ring, edges)
    assert 0.35 < c < 0.6
    # points off the ring (its hole) add nothing; points outside the edges are ignored
    assert scans.coverage(np.r_[upper, [[0.0, 0.0]], [[5.0, 5.0]]], ring, edges) == c
    assert scans.coverage(np.empty((0, 2)), ring, edges) == 0.0
    with pytest.raises(ValueError, match="reference"):
        scans.coverage(ring, np.empty((0, 2)), edges)


def test_per_thousand():
    value, err = scans.per_thousand(np.r_[np.ones(10, bool), np.zeros(990, bool)])
    assert value == pytest.approx(10.0) and err == pytest.approx(1000 * math.sqrt(0.01 * 0.99 / 1000))
    assert scans.per_thousand(np.zeros(100, bool))[1] > 0
