"""The toy detector of Part VII (utils.detector): resolution, efficiency, threshold, seeding."""
import numpy as np
import pytest

from utils import detector


def _single_particles(pt, n_jets, rng):
    """(n_jets, 1, 3) jets of one particle each at pT ``pt`` and a random small angle."""
    c = np.zeros((n_jets, 1, 3))
    c[:, 0, 0] = pt
    c[:, 0, 1:] = rng.normal(0, 0.1, (n_jets, 2))
    return c


@pytest.mark.parametrize("pt", [5.0, 20.0, 100.0, 400.0])
def test_relative_spread_matches_the_formula_in_bins_of_pt(pt):
    c = _single_particles(pt, 40_000, np.random.default_rng(0))
    out = detector.smear(c, seed=1, efficiency=1.0, pt_min=0.0)
    measured = out[:, 0, 0] / pt - 1.0
    expected = float(detector.relative_pt_resolution(pt))
    assert abs(measured.std() / expected - 1.0) < 0.02, (measured.std(), expected)
    assert abs(measured.mean()) < 3 * expected / np.sqrt(len(measured)) + 1e-3  # no scale offset


def test_resolution_formula():
    assert detector.relative_pt_resolution(100.0) == pytest.approx(np.hypot(0.05, 0.05))
    assert detector.relative_pt_resolution(1.0, constant=0.0, stochastic=0.5) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="pT > 0"):
        detector.relative_pt_resolution([1.0, 0.0])


def test_efficiency_threshold_and_angles():
    rng = np.random.default_rng(2)
    c = _single_particles(200.0, 50_000, rng)
    out = detector.smear(c, seed=3, efficiency=0.9, pt_min=1.0, angle_sigma=0.02)
    seen = out[:, 0, 0] > 0
    assert abs(seen.mean() - 0.9) < 4 * np.sqrt(0.09 / len(seen))
    d_angle = (out[seen, 0, 1:] - c[seen, 0, 1:]).ravel()
    assert abs(d_angle.std() / 0.02 - 1.0) < 0.02
    soft = detector.smear(_single_particles(0.8, 20_000, rng), seed=4, efficiency=1.0)
    kept = soft[:, 0, 0]
    assert np.all((kept == 0) | (kept >= 1.0))  # nothing below the threshold is recorded
    assert 0 < (kept > 0).mean() < 0.5


def test_output_is_pt_ordered_padded_and_traceable():
    rng = np.random.default_rng(5)
    c = np.zeros((200, 30, 3))
    n = rng.integers(0, 31, 200)
    for j in range(200):
        c[j, : n[j], 0] = np.sort(rng.exponential(10.0, n[j]))[::-1] + 0.1
        c[j, : n[j], 1:] = rng.normal(0, 0.2, (n[j], 2))
    out, index = detector.smear(c, seed=6, return_index=True)
    assert out.shape == c.shape and out.dtype == np.float32 and index.shape == c.shape[:2]
    assert np.all(np.diff(out[..., 0], axis=1) <= 0)  # pt-ordered, padding (0) last
    real = out[..., 0] > 0
    assert np.array_equal(real, index >= 0)
    assert np.all(out[~real] == 0)
    jets, slots = np.nonzero(real)
    origin = c[jets, index[jets, slots]]
    assert np.all(origin[:, 0] > 0)  # every detector constituent comes from a real particle
    assert np.allclose(out[jets, slots, 1], origin[:, 1], atol=0.1)


def test_seeded_and_independent_of_the_other_jets():
    rng = np.random.default_rng(7)
    c = np.abs(rng.normal(5, 3, (50, 20, 3)))
    a, b = detector.smear(c, seed=1), detector.smear(c, seed=1)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, detector.smear(c, seed=2))
    # one jet's result does not depend on how many real constituents another jet has
    d = c.copy()
    d[1:, 10:] = 0.0
    assert np.array_equal(detector.smear(d, seed=1)[0], a[0])


def test_bad_input_says_what_is_wrong():
    with pytest.raises(ValueError, match="shape"):
        detector.smear(np.zeros((3, 4)), seed=1)
    with pytest.raises(ValueError, match="efficiency"):
        detector.smear(np.zeros((3, 4, 3)), seed=1, efficiency=1.5)
    with pytest.raises(ValueError, match=">= 0"):
        detector.smear(np.zeros((3, 4, 3)), seed=1, angle_sigma=-1.0)
