"""Tests of utils.graphs: four-vectors, Lorentz transformations, and the symmetries of the networks."""
import numpy as np
import pytest
import torch

from utils import graphs
from utils.jets import jet_four_momentum


def _jets(n_jets=6, n=12, seed=0, n_real=None):
    """Random jets of massless constituents (pt, deta, dphi), zero-padded; the jets' eta and phi."""
    rng = np.random.default_rng(seed)
    c = np.zeros((n_jets, n, 3))
    for j in range(n_jets):
        m = n if n_real is None else n_real[j]
        c[j, :m, 0] = np.sort(rng.exponential(30.0, m))[::-1] + 0.5
        c[j, :m, 1:] = rng.normal(0.0, 0.2, (m, 2))
    return c, rng.uniform(-1.5, 1.5, n_jets), rng.uniform(-np.pi, np.pi, n_jets)


def _t(a):
    return torch.as_tensor(np.asarray(a), dtype=torch.float64)


# --- four-vectors and transformations ---------------------------------------------------------
def test_four_vectors_are_massless_and_sum_to_the_jet():
    c, eta, phi = _jets(n_real=[12, 7, 3, 12, 1, 9])
    p4 = graphs.constituent_four_vectors(c, eta, phi)
    assert p4.shape == (6, 12, 4)
    np.testing.assert_allclose(graphs.minkowski_dot(p4, p4), 0.0, atol=1e-9)
    assert np.all(p4[c[..., 0] == 0] == 0)
    np.testing.assert_allclose(p4.sum(1), jet_four_momentum(c, eta, phi), rtol=1e-12, atol=1e-9)
    # the jet mass does not depend on where the jet points
    frame = graphs.constituent_four_vectors(c).sum(1)
    lab = p4.sum(1)
    np.testing.assert_allclose(graphs.minkowski_dot(lab, lab), graphs.minkowski_dot(frame, frame), rtol=1e-10, atol=1e-6)


def test_lorentz_matrices_preserve_the_metric():
    rng = np.random.default_rng(1)
    g = np.diag(graphs.METRIC)
    for beam_only in (False, True):
        for _ in range(5):
            lam = graphs.random_lorentz(rng, max_rapidity=2.0, beam_only=beam_only)
            np.testing.assert_allclose(lam.T @ g @ lam, g, atol=1e-12)
            assert np.linalg.det(lam) == pytest.approx(1.0) and lam[0, 0] >= 1.0
    lam = graphs.random_lorentz(rng, 2.0, beam_only=True)  # keeps the beam axis: (1, 0, 0, 1) stays along it
    out = lam @ np.array([1.0, 0, 0, 1])
    assert out[1] == pytest.approx(0, abs=1e-12) and out[2] == pytest.approx(0, abs=1e-12) and out[0] == pytest.approx(out[3])


def test_boost_matrix_known_values():
    lam = graphs.boost_matrix([0.6, 0.0, 0.0])  # gamma = 1.25
    np.testing.assert_allclose(lam @ [1.0, 0, 0, 0], [1.25, 0.75, 0, 0])
    np.testing.assert_allclose(graphs.rotation_matrix([0, 0, 1], np.pi / 2) @ [1.0, 1, 0, 0], [1, 0, 1, 0], atol=1e-15)
    with pytest.raises(ValueError, match="below 1"):
        graphs.boost_matrix([0.8, 0.7, 0.0])
    with pytest.raises(ValueError, match="non-zero"):
        graphs.rotation_matrix([0, 0, 0], 1.0)


def test_beam_references_transform_with_the_particles_along_the_beam_only():
    rng = np.random.default_rng(2)
    c, eta, phi = _jets()
    p4 = graphs.constituent_four_vectors(c, eta, phi)
    mask = _t(c[..., 0] > 0)
    refs = graphs.beam_references(_t(p4), mask).numpy()
    jet = p4.sum(1)
    np.testing.assert_allclose(refs.sum(1), jet * [1, 0, 0, 1], rtol=1e-12)  # n+ + n- = (E, 0, 0, pz)
    lam = graphs.random_lorentz(rng, 2.0, beam_only=True)
    moved = graphs.beam_references(_t(graphs.transform_four_vectors(p4, lam)), mask).numpy()
    np.testing.assert_allclose(moved, graphs.transform_four_vectors(refs, lam), rtol=1e-10, atol=1e-9)
    lam = graphs.boost_matrix([0.5, 0.0, 0.0])  # transverse: the beams do not follow
    moved = graphs.beam_references(_t(graphs.transform_four_vectors(p4, lam)), mask).numpy()
    assert np.abs(moved - graphs.transform_four_vectors(refs, lam)).max() > 1.0


# --- EdgeConv -------------------------------------------------------------------------------
def test_knn_finds_the_nearest_real_neighbours():
    coords = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [0.1, 0.0], [5.0, 5.0], [0.0, 0.0]]])
    mask = torch.tensor([[True, True, True, True, False]])
    idx, valid = graphs.knn_indices(coords, mask, 2)
    assert sorted(idx[0, 0].tolist()) == [1, 2]   # not itself, not the padded slot at the same place
    assert valid[0, :4].all()
    idx, valid = graphs.knn_indices(coords[:, :3], mask[:, :3] & torch.tensor([[True, True, False]]), 2)
    assert valid[0, 0].sum() == 1 and idx[0, 0][valid[0, 0]].tolist() == [1]  # one real neighbour only
    with pytest.raises(ValueError, match="k must be"):
        graphs.knn_indices(coords, mask, 5)


def test_edgeconv_is_permutation_invariant_and_ignores_padding():
    torch.manual_seed(0)
    c, _, _ = _jets(n_jets=8, n=15, n_real=[15, 9, 4, 15, 2, 12, 7, 15])
    mask = c[..., 0] > 0
    x = np.concatenate([c, np.log(np.where(mask[..., None], c[..., :1], 1.0)), mask[..., None] * 0.3], -1)
    coords = c[..., 1:]
    model = graphs.EdgeConvNet(n_features=5, k=5, blocks=((16, 16), (16, 16))).double()
    ref = model(_t(x), _t(coords), _t(mask))
    assert ref.shape == (8,) and torch.isfinite(ref).all() and ref.std() > 0
    rng = np.random.default_rng(3)
    for _ in range(3):
        order = np.stack([np.concatenate([rng.permutation(m), np.arange(m, 15)]) for m in mask.sum(1)])
        rows = np.arange(8)[:, None]
        out = model(_t(x[rows, order]), _t(coords[rows, order]), _t(mask[rows, order]))
        np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), atol=1e-12)
    # padding may sit anywhere and hold anything: it is never read
    x_pad = x.copy()
    x_pad[~mask] = 7.0
    np.testing.assert_allclose(model(_t(x_pad), _t(coords), _t(mask)).detach().numpy(), ref.detach().numpy(), atol=1e-12)
    dyn = graphs.EdgeConvNet(n_features=5, k=3, blocks=((8,), (8,)), dynamic=True).double()
    order = np.stack([np.concatenate([rng.permutation(m), np.arange(m, 15)]) for m in mask.sum(1)])
    np.testing.assert_allclose(dyn(_t(x[np.arange(8)[:, None], order]), _t(coords[np.arange(8)[:, None], order]),
                                   _t(mask[np.arange(8)[:, None], order])).detach().numpy(),
                               dyn(_t(x), _t(coords), _t(mask)).detach().numpy(), atol=1e-12)


def test_edgeconv_graph_ignores_slot_order_at_exact_ties():
    # particle 0 has two neighbours at exactly the same distance; k = 1 must pick the same one whatever their slots
    coords = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0]], [[0.0, 0.0], [-1.0, 0.0], [1.0, 0.0]]],
                          dtype=torch.float64)
    mask = torch.ones(2, 3, dtype=torch.bool)
    idx, _ = graphs.knn_indices(coords, mask, 1)
    assert coords[0, idx[0, 0, 0]].tolist() == coords[1, idx[1, 0, 0]].tolist()


# --- LorentzNet -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lorentz_inputs():
    c, eta, phi = _jets(n_jets=6, n=10, seed=4, n_real=[10, 6, 3, 10, 8, 2])
    return graphs.constituent_four_vectors(c, eta, phi), c[..., 0] > 0


def _lorentz(beams, seed=0):
    torch.manual_seed(seed)
    model = graphs.LorentzNet(width=16, n_blocks=2, beams=beams, c=0.05).double()
    with torch.no_grad():  # larger weights than at initialisation, so that every path matters
        for p in model.parameters():
            p.mul_(2.0)
    return model


def test_lorentz_net_without_beams_is_invariant_under_every_lorentz_transformation(lorentz_inputs):
    p4, mask = lorentz_inputs
    model = _lorentz(beams=False)
    ref = model(_t(p4), _t(mask)).detach().numpy()
    assert np.isfinite(ref).all() and ref.std() > 1e-3
    rng = np.random.default_rng(5)
    for _ in range(5):
        lam = graphs.random_lorentz(rng, max_rapidity=2.0)
        out = model(_t(graphs.transform_four_vectors(p4, lam)), _t(mask)).detach().numpy()
        np.testing.assert_allclose(out, ref, atol=1e-9)


def test_lorentz_net_with_beams_keeps_only_the_symmetry_of_the_beam_axis(lorentz_inputs):
    p4, mask = lorentz_inputs
    model = _lorentz(beams=True)
    ref = model(_t(p4), _t(mask)).detach().numpy()
    rng = np.random.default_rng(6)
    for _ in range(5):
        lam = graphs.random_lorentz(rng, max_rapidity=2.0, beam_only=True)
        out = model(_t(graphs.transform_four_vectors(p4, lam)), _t(mask)).detach().numpy()
        np.testing.assert_allclose(out, ref, atol=1e-9)
    transverse = graphs.boost_matrix([0.0, 0.6, 0.0])
    out = model(_t(graphs.transform_four_vectors(p4, transverse)), _t(mask)).detach().numpy()
    assert np.abs(out - ref).max() > 1e-3  # the beams see a transverse boost


def test_lorentz_net_ignores_padding_and_order(lorentz_inputs):
    p4, mask = lorentz_inputs
    for beams in (False, True):
        model = _lorentz(beams)
        ref = model(_t(p4), _t(mask)).detach().numpy()
        padded = np.concatenate([p4, np.zeros((len(p4), 3, 4))], 1)
        out = model(_t(padded), _t(np.concatenate([mask, np.zeros((len(p4), 3), bool)], 1))).detach().numpy()
        np.testing.assert_allclose(out, ref, atol=1e-12)
        order = np.argsort(np.random.default_rng(7).random(mask.shape) + ~mask, axis=1)  # real ones first, shuffled
        rows = np.arange(len(p4))[:, None]
        np.testing.assert_allclose(model(_t(p4[rows, order]), _t(mask[rows, order])).detach().numpy(), ref, atol=1e-12)


def test_lorentz_net_rejects_bad_shapes():
    with pytest.raises(ValueError, match="p4 must be"):
        graphs.LorentzNet(8, 1)(torch.zeros(2, 5, 3), torch.ones(2, 5))
    with pytest.raises(ValueError, match="length 4"):
        graphs.minkowski_dot(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="shape"):
        graphs.constituent_four_vectors(np.zeros((2, 3)))


def test_lorentz_standardizer_centres_the_invariants_and_keeps_the_symmetry(lorentz_inputs):
    p4, mask = lorentz_inputs
    model = _lorentz(beams=True)
    model.fit_standardizer(p4, mask)
    x, m, flag, scalars = model._inputs(_t(p4), _t(mask))
    real = (m * (1 - flag)).bool()
    standardised = (scalars[real] - model.scalar_shift) / model.scalar_scale
    np.testing.assert_allclose(standardised.mean(0).numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(standardised.std(0).numpy(), 1.0, atol=1e-5)
    assert model.blocks[0].inv_scale.min() > 0 and torch.equal(model.blocks[0].inv_shift, model.blocks[1].inv_shift)
    ref = model(_t(p4), _t(mask)).detach().numpy()
    lam = graphs.random_lorentz(np.random.default_rng(8), 2.0, beam_only=True)
    np.testing.assert_allclose(model(_t(graphs.transform_four_vectors(p4, lam)), _t(mask)).detach().numpy(), ref, atol=1e-9)
