import numpy as np
import pytest

from utils import sequences as sq


def _jets():
    # three jets, padded to 4 constituents of (pt, deta, dphi): 3, 1 and 4 real ones
    c = np.zeros((3, 4, 3), dtype=np.float32)
    c[0, :3] = [[30, 0.1, 0.0], [20, -0.1, 0.2], [10, 0.3, -0.1]]
    c[1, :1] = [[50, 0.0, 0.0]]
    c[2, :4] = [[40, 0.0, 0.1], [30, 0.2, 0.0], [20, -0.2, 0.1], [5, 0.0, -0.3]]
    return c


def test_sequence_lengths_count_real_constituents_and_cap():
    c = _jets()
    assert sq.sequence_lengths(c).tolist() == [3, 1, 4]
    assert sq.sequence_lengths(c, max_length=2).tolist() == [2, 1, 2]
    assert sq.sequence_lengths(c).dtype == np.int64
    bad = c.copy()
    bad[0, [2, 3]] = bad[0, [3, 2]]  # a gap: padding before a real constituent
    with pytest.raises(ValueError, match="real ones first"):
        sq.sequence_lengths(bad)
    with pytest.raises(ValueError, match="shape"):
        sq.sequence_lengths(c[..., 0])


def test_reorder_takes_entries_per_jet():
    c = _jets()
    order = np.array([[2, 1, 0, 3], [0, 1, 2, 3], [3, 2, 1, 0]], dtype=np.uint8)
    out = sq.reorder(c, order)
    assert out.shape == c.shape and out.dtype == c.dtype
    np.testing.assert_array_equal(out[0, 0], c[0, 2])
    np.testing.assert_array_equal(out[2], c[2, ::-1])
    np.testing.assert_array_equal(sq.reorder(c[..., 0], order)[0], c[0, [2, 1, 0, 3], 0])  # 2D works too
    with pytest.raises(ValueError, match="indexes entries"):
        sq.reorder(c, order.astype(int) + 1)
    with pytest.raises(ValueError, match="integer"):
        sq.reorder(c, order.astype(float))


def test_reverse_real_keeps_padding_at_the_end():
    c = _jets()
    lengths = sq.sequence_lengths(c)
    out = sq.reverse_real(c, lengths)
    np.testing.assert_array_equal(out[0, :3], c[0, 2::-1])
    np.testing.assert_array_equal(out[0, 3], 0)
    np.testing.assert_array_equal(out[1], c[1])
    np.testing.assert_array_equal(out[2], c[2, ::-1])
    np.testing.assert_array_equal(sq.reverse_real(out, lengths), c)  # an involution


def test_shuffle_real_permutes_only_real_entries():
    rng = np.random.default_rng(0)
    c = np.zeros((200, 10, 3), dtype=np.float32)
    lengths = rng.integers(1, 11, 200)
    mask = sq.real_mask(lengths, 10)
    c[mask] = rng.uniform(1, 100, (mask.sum(), 3))
    out = sq.shuffle_real(c, lengths, np.random.default_rng(1))
    np.testing.assert_array_equal(out[~mask], 0)  # padding stays padding, at the end
    for i in range(200):  # the same constituents, in another order
        np.testing.assert_array_equal(np.sort(out[i, :lengths[i], 0]), np.sort(c[i, :lengths[i], 0]))
    assert np.mean(np.any(out[lengths > 3] != c[lengths > 3], axis=(1, 2))) > 0.9
    np.testing.assert_array_equal(out, sq.shuffle_real(c, lengths, np.random.default_rng(1)))  # reproducible


def test_standardizer_uses_real_entries_only():
    rng = np.random.default_rng(2)
    lengths = rng.integers(1, 20, 500)
    x = np.zeros((500, 20, 2), dtype=np.float32)
    mask = sq.real_mask(lengths, 20)
    x[mask] = rng.normal([5.0, -3.0], [2.0, 0.5], (mask.sum(), 2))
    mean, std = sq.fit_standardizer(x, lengths)
    assert mean.shape == (2,) and mean.dtype == np.float32
    np.testing.assert_allclose(mean, [5.0, -3.0], atol=0.1)
    np.testing.assert_allclose(std, [2.0, 0.5], rtol=0.05)
    z = sq.standardize(x, lengths, mean, std)
    np.testing.assert_array_equal(z[~mask], 0)
    np.testing.assert_allclose(z[mask].mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(z[mask].std(0), 1, atol=1e-4)
    # a constant feature is not divided by zero
    const = np.ones((4, 3, 1), dtype=np.float32)
    assert sq.fit_standardizer(const, np.array([3, 3, 3, 3]))[1][0] == 1.0
    with pytest.raises(ValueError, match="feature shape"):
        sq.standardize(x, lengths, mean[:1], std[:1])
    with pytest.raises(ValueError, match="lengths must lie"):
        sq.fit_standardizer(x, lengths + 5)


def test_pack_lets_a_gru_stop_at_each_jets_last_real_entry():
    import torch
    torch.manual_seed(0)
    gru = torch.nn.GRU(3, 4, batch_first=True)
    x = torch.randn(3, 5, 3)
    lengths = np.array([2, 5, 3])
    _, h = gru(sq.pack(x, lengths))
    for i, n in enumerate(lengths):  # the same final state as running on the real entries alone
        _, h_i = gru(x[i:i + 1, :n])
        torch.testing.assert_close(h[0, i], h_i[0, 0])
    with pytest.raises(ValueError, match="at least one"):
        sq.pack(x, np.array([0, 5, 3]))


def test_shuffle_and_standardizer_are_those_of_utils_sets_with_the_lengths_mask():
    # one implementation (utils.sets, on a mask); the lengths-taking functions here only build the mask,
    # and give the same numbers as this module's own code did before it was merged
    from utils import sets

    rng = np.random.default_rng(5)
    lengths = rng.integers(0, 9, 300)
    lengths[0] = 8
    mask = sq.real_mask(lengths, 8)
    x = np.zeros((300, 8, 3), dtype=np.float32)
    x[mask] = rng.normal(2.0, 3.0, (mask.sum(), 3))
    out = sq.shuffle_real(x, lengths, np.random.default_rng(7))
    np.testing.assert_array_equal(out, sets.shuffle_constituents(mask, x, seed=np.random.default_rng(7)))
    keys = np.random.default_rng(7).random(x.shape[:2])  # the former algorithm, written out
    keys[~mask] = 2.0
    np.testing.assert_array_equal(out, sq.reorder(x, np.argsort(keys, axis=1, kind="stable")))
    generator = np.random.default_rng(7)  # a Generator advances: two calls, two different shuffles
    assert not np.array_equal(sq.shuffle_real(x, lengths, generator), sq.shuffle_real(x, lengths, generator))
    mean, std = sq.fit_standardizer(x, lengths)
    for a, b in zip((mean, std), sets.fit_standardizer(x, mask)):
        np.testing.assert_array_equal(a, b)
    real = x[mask].astype(np.float64)
    np.testing.assert_array_equal(mean, real.mean(axis=0).astype(np.float32))
    np.testing.assert_array_equal(std, real.std(axis=0).astype(np.float32))
    np.testing.assert_array_equal(sq.standardize(x, lengths, mean, std), sets.standardize(x, mask, mean, std))
    # trailing feature axes other than one work as before: (n_jets, n_max) with scalar mean and std
    flat = sq.standardize(x[..., 0], lengths, mean[0], std[0])
    np.testing.assert_array_equal(flat, sq.standardize(x, lengths, mean, std)[..., 0])
    with pytest.raises(ValueError, match="no real"):
        sq.fit_standardizer(x, np.zeros(300, dtype=np.int64))
