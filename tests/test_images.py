"""Tests of utils.images: symmetries of the square, saliency maps, statistics of image stacks."""
import numpy as np
import pytest
import torch

from utils import images


def _generic(shape=(2, 5, 5), seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def test_dihedral_gives_eight_distinct_symmetries():
    x = _generic()
    outs = [images.dihedral(x, k) for k in range(8)]
    assert np.array_equal(outs[0], x)
    assert np.array_equal(outs[1], x[:, ::-1, :])          # bit 0 flips the rows (eta)
    assert np.array_equal(outs[2], x[:, :, ::-1])          # bit 1 flips the columns (phi)
    assert np.array_equal(outs[4], np.swapaxes(x, 1, 2))   # bit 2 transposes
    assert np.array_equal(outs[6], np.rot90(x, 1, axes=(1, 2)))  # a quarter turn
    for i in range(8):
        assert np.isclose(outs[i].sum(), x.sum())
        for j in range(i):
            assert not np.array_equal(outs[i], outs[j]), (i, j)


def test_dihedral_numpy_and_torch_agree():
    x = _generic((3, 1, 6, 6))
    for k in range(8):
        assert np.array_equal(images.dihedral(torch.from_numpy(x), k).numpy(), images.dihedral(x, k))


def test_dihedral_rejects_bad_input():
    with pytest.raises(ValueError, match="0..7"):
        images.dihedral(_generic(), 8)
    with pytest.raises(ValueError, match="square"):
        images.dihedral(np.zeros((2, 4, 5)), 1)


def test_augment_dihedral_moves_pixels_and_is_reproducible():
    x = torch.from_numpy(_generic((64, 1, 5, 5)))
    a = images.augment_dihedral(x, torch.Generator().manual_seed(1))
    b = images.augment_dihedral(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == x.shape
    used = set()
    for i in range(len(x)):
        ks = [k for k in range(8) if torch.equal(a[i], images.dihedral(x[i], k))]
        assert len(ks) == 1, i  # each image is exactly one symmetry of its original
        used.add(ks[0])
    assert len(used) == 8  # 64 draws: every symmetry appears
    with pytest.raises(ValueError, match="torch"):
        images.augment_dihedral(_generic())


def test_saliency_of_a_linear_model_is_its_weight_map():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 1))
    x = _generic((5, 1, 4, 4))
    grad = images.saliency(model, x, batch_size=2)
    assert grad.shape == x.shape
    expected = model[1].weight.detach().numpy().reshape(1, 1, 4, 4)
    assert np.allclose(grad, np.broadcast_to(expected, x.shape), atol=1e-6)
    assert model.training  # the model's mode is restored


def test_saliency_leaves_the_models_parameter_gradients_alone():
    # saliency asks for d output / d pixel only: it must not leave d output / d weight in the
    # parameters' .grad, where the next optimizer step (or a gradient check) would find it
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, padding=1), torch.nn.Tanh(), torch.nn.Flatten(),
                                torch.nn.Linear(3 * 6 * 6, 1))
    x = _generic((7, 1, 6, 6), seed=1)
    grad = images.saliency(model, x, batch_size=3)
    assert all(p.grad is None for p in model.parameters())
    # the values are those of a backward pass, image by image
    for i in range(len(x)):
        xi = torch.as_tensor(x[i:i + 1]).requires_grad_(True)
        model(xi).sum().backward()
        np.testing.assert_allclose(grad[i:i + 1], xi.grad.numpy(), rtol=1e-5, atol=1e-7)
    # gradients already there (a training step in progress) are left as they were, also under no_grad
    before = [p.grad.clone() for p in model.parameters()]
    with torch.no_grad():
        again = images.saliency(model, x, batch_size=3)
    np.testing.assert_array_equal(again, grad)
    for p, b in zip(model.parameters(), before):
        assert torch.equal(p.grad, b)


def test_pixel_moments_and_per_image_work_slice_by_slice(tmp_path):
    rng = np.random.default_rng(3)
    pixels = (rng.exponential(1e-3, size=(1_001, 8, 8)) * (rng.random((1_001, 8, 8)) < 0.1)).astype(np.float32)
    mapped = np.lib.format.open_memmap(tmp_path / "images.npy", mode="w+", dtype=np.float32, shape=pixels.shape)
    mapped[:] = pixels
    mean, std = pixels.astype(np.float64).mean(), pixels.astype(np.float64).std()
    for stack in (pixels, mapped):
        got = images.pixel_moments(stack, chunk_size=100)
        np.testing.assert_allclose(got, (mean, std), rtol=1e-10)
        np.testing.assert_array_equal(images.per_image(lambda x: (x == 0).mean(axis=(1, 2)), stack, 300),
                                      (pixels == 0).mean(axis=(1, 2)))
    with pytest.raises(ValueError):
        images.pixel_moments(pixels[:0])
