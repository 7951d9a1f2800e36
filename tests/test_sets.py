import numpy as np
import pytest
import torch

from utils import sets


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks: one torch thread is fastest, and does not stall on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _jets(n_jets=6, n_slots=9, n_features=5, seed=0):
    """Random features with a random number (1..n_slots) of real constituents per jet, zero-padded."""
    rng = np.random.default_rng(seed)
    n_real = rng.integers(1, n_slots + 1, n_jets)
    n_real[0] = n_slots  # one full jet
    mask = np.arange(n_slots)[None, :] < n_real[:, None]
    features = rng.normal(2.0, 3.0, (n_jets, n_slots, n_features)).astype(np.float32)
    features[~mask] = 0.0
    return features, mask


def test_standardizer_uses_only_real_constituents():
    features, mask = _jets(n_jets=200, n_slots=12)
    features[..., 1] = np.where(mask, 7.0, 0.0)  # a feature constant over real constituents
    mean, std = sets.fit_standardizer(features, mask)
    real = features[mask].astype(np.float64)
    np.testing.assert_allclose(mean, real.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(std[[0, 2, 3, 4]], real.std(axis=0)[[0, 2, 3, 4]], rtol=1e-5)
    assert mean[1] == pytest.approx(7.0) and std[1] == 1.0
    out = sets.standardize(features, mask, mean, std)
    assert out.dtype == np.float32 and out.shape == features.shape
    assert np.all(out[~mask] == 0.0)
    np.testing.assert_allclose(out[mask].mean(axis=0), [0, 0, 0, 0, 0], atol=1e-5)
    np.testing.assert_allclose(out[mask][:, [0, 2, 3, 4]].std(axis=0), 1.0, rtol=1e-4)


def test_standardizer_rejects_bad_shapes():
    features, mask = _jets()
    with pytest.raises(ValueError, match="shape"):
        sets.fit_standardizer(features[0], mask[0])
    with pytest.raises(ValueError, match="no real constituent"):
        sets.fit_standardizer(features, np.zeros_like(mask))
    with pytest.raises(ValueError, match="mean and std"):
        sets.standardize(features, mask, np.zeros(3), np.ones(3))


def test_shuffle_permutes_real_constituents_only():
    features, mask = _jets(n_jets=50, n_slots=10)
    extra = features[..., 0] * 10
    shuffled, shuffled_extra = sets.shuffle_constituents(mask, features, extra, seed=3)
    assert np.all(shuffled[~mask] == 0.0)
    np.testing.assert_array_equal(shuffled_extra, shuffled[..., 0] * 10)  # both permuted the same way
    moved = 0
    for j in range(len(mask)):
        before = features[j][mask[j]]
        after = shuffled[j][mask[j]]
        np.testing.assert_array_equal(np.sort(before, axis=0), np.sort(after, axis=0))  # the same set
        moved += not np.array_equal(before, after)
    assert moved >= np.sum(mask.sum(axis=1) >= 5) - 1  # a jet of 5 or more keeps its order with p <= 1/120
    single = sets.shuffle_constituents(mask, features, seed=3)
    np.testing.assert_array_equal(single, shuffled)


def test_shuffle_needs_padding_at_the_end():
    features, mask = _jets()
    gap = mask.copy()
    gap[1] = False
    gap[1, -1] = True
    with pytest.raises(ValueError, match="first"):
        sets.shuffle_constituents(gap, features)
    with pytest.raises(ValueError, match="match"):
        sets.shuffle_constituents(mask, features[:, :-1])


def _as_torch(features, mask, dtype=torch.float64):
    return torch.as_tensor(features, dtype=dtype), torch.as_tensor(mask)


@pytest.mark.parametrize("make", [lambda: sets.ParticleFlowNetwork(5, (16, 16), (16,)),
                                  lambda: sets.ParticleTransformer(5, dim=8, heads=2, n_blocks=2, f_sizes=(8,)),
                                  lambda: sets.ParticleTransformer(5, dim=8, heads=2, n_blocks=1, fused=False),
                                  lambda: sets.ParticleTransformer(5, dim=8, heads=1, n_blocks=1, pooling="sum")],
                         ids=["pfn", "transformer", "transformer-unfused", "transformer-sum"])
def test_set_networks_are_permutation_invariant_and_ignore_padding(make):
    torch.manual_seed(0)
    model = make().double().eval()
    features, mask = _jets(n_jets=20, n_slots=11)
    with torch.no_grad():
        out = model(*_as_torch(features, mask))
        shuffled = sets.shuffle_constituents(mask, features, seed=1)
        out_shuffled = model(*_as_torch(shuffled, mask))
        garbage = features.copy()
        garbage[~mask] = 123.0  # whatever sits in padded slots must not matter
        out_garbage = model(*_as_torch(garbage, mask))
        wider = np.concatenate([features, np.full((20, 4, 5), -50.0)], axis=1)  # four more padded slots
        out_wider = model(*_as_torch(wider, np.concatenate([mask, np.zeros((20, 4), bool)], axis=1)))
    assert out.shape == (20,)
    np.testing.assert_allclose(out_shuffled.numpy(), out.numpy(), atol=1e-12)
    np.testing.assert_allclose(out_garbage.numpy(), out.numpy(), atol=1e-12)
    np.testing.assert_allclose(out_wider.numpy(), out.numpy(), atol=1e-12)
    # ... but the network does depend on the real constituents
    moved = features.copy()
    moved[mask] += 0.5
    with torch.no_grad():
        assert not np.allclose(model(*_as_torch(moved, mask)).numpy(), out.numpy())


def test_energy_flow_network_is_infrared_and_collinear_safe():
    torch.manual_seed(0)
    efn = sets.EnergyFlowNetwork((16, 16), (16,)).double().eval()
    rng = np.random.default_rng(1)
    z = rng.dirichlet(np.ones(6), size=4)             # momentum fractions of 6 particles, sum 1
    angles = rng.normal(0, 0.3, (4, 6, 2))
    with torch.no_grad():
        ref = efn(torch.tensor(z), torch.tensor(angles))
        # collinear split: particle 0 becomes two particles with half its z at the same angles
        z_split = np.concatenate([z, z[:, :1] / 2], axis=1)
        z_split[:, 0] /= 2
        split = efn(torch.tensor(z_split), torch.tensor(np.concatenate([angles, angles[:, :1]], axis=1)))
        # an infinitely soft particle anywhere changes nothing
        soft = efn(torch.tensor(np.concatenate([z, np.zeros((4, 1))], axis=1)),
                   torch.tensor(np.concatenate([angles, np.full((4, 1, 2), 0.7)], axis=1)))
    np.testing.assert_allclose(split.numpy(), ref.numpy(), atol=1e-12)
    np.testing.assert_allclose(soft.numpy(), ref.numpy(), atol=1e-12)
    assert efn.phi(torch.zeros(3, 2, dtype=torch.float64)).shape == (3, 16)


def test_masked_attention_matches_torch_and_ignores_padded_keys():
    torch.manual_seed(0)
    q, k, v = (torch.randn(3, 2, 7, 4, dtype=torch.float64) for _ in range(3))
    mask = torch.tensor([[True] * 7, [True] * 3 + [False] * 4, [True] + [False] * 6])
    out = sets.masked_attention(q, k, v, mask)
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(sets.masked_attention(q, k, v, mask, fused=True), expected)
    k2, v2 = k.clone(), v.clone()
    k2[1, :, 3:], v2[1, :, 3:] = 99.0, -99.0
    torch.testing.assert_close(sets.masked_attention(q, k2, v2, mask)[1], out[1])
    # the single real constituent of jet 2 attends only to itself
    torch.testing.assert_close(out[2, :, 0], v[2, :, 0])


def test_transformer_block_checks_heads_and_the_pfn_has_its_parameters():
    with pytest.raises(ValueError, match="multiple"):
        sets.TransformerBlock(10, heads=3)
    with pytest.raises(ValueError, match="pooling"):
        sets.ParticleTransformer(5, pooling="max")
    pfn = sets.ParticleFlowNetwork(5, (4,), (3,))
    from utils.training import count_parameters

    assert count_parameters(pfn) == (5 * 4 + 4) + (4 * 3 + 3) + (3 + 1)


def test_a_pfn_learns_a_set_property():
    # a toy set task: is the number of real constituents above 5? (the sum pooling counts them)
    torch.manual_seed(0)
    features, mask = _jets(n_jets=600, n_slots=10, n_features=2, seed=4)
    labels = (mask.sum(axis=1) > 5).astype(np.float32)
    from utils.training import fit, make_loader, one_cycle, predict

    model = sets.ParticleFlowNetwork(2, (16, 16), (16,))
    loader = make_loader(features, mask.astype(np.float32), labels, batch_size=64, shuffle=True, seed=0)
    optimizer = torch.optim.AdamW(model.parameters())
    history = fit(model, loader, torch.nn.BCEWithLogitsLoss(), optimizer, epochs=15, val_loader=loader, patience=None,
                  scheduler=one_cycle(optimizer, max_lr=1e-2, epochs=15, steps_per_epoch=len(loader)), keep="last",
                  progress=False)
    assert len(history["train_loss"]) == len(history["val_loss"]) == 15 and history["seconds"] > 0
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    scores = predict(model, features, mask.astype(np.float32))
    assert np.mean((scores > 0) == labels) > 0.95


# --- a jet with no real constituent -----------------------------------------------------------
@pytest.mark.parametrize("make", [lambda: sets.ParticleTransformer(5, dim=8, heads=2, n_blocks=2, f_sizes=(8,)),
                                  lambda: sets.ParticleTransformer(5, dim=8, heads=2, n_blocks=2, fused=False),
                                  lambda: sets.ParticleTransformer(5, dim=8, heads=1, n_blocks=1, pooling="sum",
                                                                   fused=False),
                                  lambda: sets.ParticleFlowNetwork(5, (16, 16), (16,))],
                         ids=["transformer-fused-as-in-notebook-06", "transformer-unfused", "transformer-unfused-sum",
                              "pfn"])
def test_an_empty_jet_gives_finite_gradients_and_changes_no_other_jet(make):
    # a jet whose mask is all False (no real constituent) in a batch: the softmax over no key at
    # all is 0/0; the forward pass must stay finite, the jet must pool to zeros, and the backward
    # pass must leave every parameter's gradient finite (one NaN there ruins the whole training)
    torch.manual_seed(0)
    model = make().double()
    features, mask = _jets(n_jets=5, n_slots=7)
    features[2], mask[2] = 0.0, False
    x, m = _as_torch(features, mask)
    out = model(x, m)
    assert torch.isfinite(out).all()
    out.sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    with torch.no_grad():
        pooled = model.pooled(x, m) if hasattr(model, "pooled") else model.latent(x, m)
        assert torch.equal(pooled[2], torch.zeros_like(pooled[2]))
        # the other jets get the same outputs as in a batch without the empty one
        others = [0, 1, 3, 4]
        torch.testing.assert_close(model(x[others], m[others]), out.detach()[others])


def test_masked_attention_of_an_empty_jet_is_zero_with_finite_gradients_on_both_paths():
    torch.manual_seed(1)
    mask = torch.tensor([[True] * 3 + [False] * 2, [False] * 5])
    results = {}
    for fused in (False, True):
        q, k, v = (torch.randn(2, 2, 5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(i))
                   .requires_grad_(True) for i in range(3))
        out = sets.masked_attention(q, k, v, mask, fused=fused)
        assert torch.equal(out[1], torch.zeros_like(out[1]))  # nothing to attend to: nothing comes back
        (out ** 2).sum().backward()
        for t in (q, k, v):
            assert torch.isfinite(t.grad).all() and torch.all(t.grad[1] == 0)
        results[fused] = out.detach(), [t.grad for t in (q, k, v)]
    torch.testing.assert_close(results[True][0], results[False][0])  # written out == fused
    for a, b in zip(results[True][1], results[False][1]):
        torch.testing.assert_close(a, b)


def test_energy_flow_network_of_an_empty_jet_is_finite():
    torch.manual_seed(0)
    efn = sets.EnergyFlowNetwork((8,), (8,)).double()
    z = torch.tensor([[0.7, 0.3, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)  # jet 1 has no particle
    angles = torch.zeros(2, 3, 2, dtype=torch.float64)
    out = efn(z, angles)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.equal(efn.latent(z, angles)[1], torch.zeros(8, dtype=torch.float64))
    assert all(torch.isfinite(p.grad).all() for p in efn.parameters())
