"""Jet images for convolutional networks: symmetries of the pixel grid and saliency maps.

The images themselves come from :func:`utils.jets.jet_images`; this module holds what a
convolutional tagger needs around them (notebook 04):

- :func:`dihedral` and :func:`augment_dihedral`: the eight symmetries of a square image
  (flips and quarter turns), for a symmetry test and for data augmentation;
- :func:`saliency`: the gradient of a network's output with respect to each pixel.

Torch is imported inside the functions, so ``import utils.images`` stays light.
"""
from __future__ import annotations

import numpy as np

__all__ = ["dihedral", "augment_dihedral", "saliency", "per_image", "pixel_moments"]

N_DIHEDRAL = 8  # the symmetries of a square: 4 rotations by quarter turns, each with or without a flip


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def dihedral(images, k: int):
    """The ``k``-th of the eight symmetries of the square applied to the last two axes.

    Parameters
    ----------
    images : numpy array or torch tensor ``(..., n, n)`` (square in the last two axes).
    k : 0-7.  Bit 0 flips the rows (axis -2, eta in :func:`utils.jets.jet_images`), bit 1
        flips the columns (axis -1, phi), bit 2 transposes (swaps eta and phi).  So ``k = 0``
        is the identity, 1, 2, 3 are the flips, and e.g. ``k = 6`` is a quarter turn.

    Returns
    -------
    the transformed images, same type and shape (a copy for numpy, a new tensor for torch).
    """
    if not 0 <= int(k) < N_DIHEDRAL:
        raise ValueError(f"k must be one of 0..7 (the symmetries of a square); got {k}")
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(f"images must be square in their last two axes; got shape {tuple(images.shape)}")
    k = int(k)
    if _is_torch(images):
        import torch

        dims = [d for bit, d in ((1, -2), (2, -1)) if k & bit]
        out = torch.flip(images, dims) if dims else images.clone()
        return out.transpose(-1, -2) if k & 4 else out
    out = np.asarray(images)
    if k & 1:
        out = out[..., ::-1, :]
    if k & 2:
        out = out[..., :, ::-1]
    if k & 4:
        out = np.swapaxes(out, -1, -2)
    return np.ascontiguousarray(out)


def augment_dihedral(images, generator=None):
    """Each image of a torch batch ``(n, ..., m, m)`` transformed by its own random symmetry
    of the square (one of :func:`dihedral`'s eight, drawn uniformly).

    For data augmentation during training: call it on each training batch (see the
    exercise of notebook 04).  ``generator`` is a ``torch.Generator`` for reproducible draws.
    Returns a new tensor; the pixel values are only moved, so each image keeps its sum.
    """
    import torch

    if not _is_torch(images):
        raise ValueError("augment_dihedral works on a torch tensor batch; use dihedral() for numpy arrays")
    choice = torch.randint(0, N_DIHEDRAL, (images.shape[0],), generator=generator, device="cpu").to(images.device)
    shape = (-1,) + (1,) * (images.ndim - 1)
    out = images
    for bit, dims in ((1, [-2]), (2, [-1])):
        mask = ((choice & bit) > 0).view(shape)
        out = torch.where(mask, torch.flip(out, dims), out)
    mask = ((choice & 4) > 0).view(shape)
    return torch.where(mask, out.transpose(-1, -2), out)


def saliency(model, images, batch_size: int = 1024, device=None) -> np.ndarray:
    """Gradient of the model's output (e.g. the logit) with respect to every input pixel.

    Parameters
    ----------
    model : a torch module mapping ``(n, 1, m, m)`` (or ``(n, m, m)``, as ``images`` is
        given) to ``(n,)`` or ``(n, 1)`` outputs.
    images : numpy array of the network's inputs, as it was trained on them.
    batch_size : images per forward and backward pass.
    device : where to compute (default: that of the model's parameters).

    Returns
    -------
    numpy array of ``images``' shape: ``d output / d pixel`` for each image.  Positive
    means that more intensity in this pixel makes the jet look more top-like to the model.
    The model is left as it was: its mode (train/eval) is restored and its parameters'
    ``.grad`` are not touched (the gradient is taken with respect to the input alone).
    """
    import torch

    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.enable_grad():  # works inside a caller's torch.no_grad() as well
            for start in range(0, len(images), batch_size):
                x = torch.as_tensor(np.asarray(images[start:start + batch_size]), dtype=torch.float32,
                                    device=device).requires_grad_(True)
                # outputs are independent per image: the gradient of their sum gives every image's
                # gradient at once; autograd.grad returns it for x only, instead of backward(), which
                # would also add d(sum)/d(weight) to every parameter's .grad
                (grad,) = torch.autograd.grad(model(x).sum(), x)
                out.append(grad.detach().cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(out)


def per_image(function, images, chunk_size: int = 20_000) -> np.ndarray:
    """``function`` applied to consecutive slices of ``chunk_size`` images, the results concatenated.

    For per-image statistics of a memory-mapped stack of images (:func:`utils.training.stack_chunks`):
    ``per_image(lambda x: (x == 0).mean(axis=(1, 2)), images)`` needs the memory of one slice.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive; got {chunk_size}")
    return np.concatenate([np.asarray(function(images[i:i + chunk_size])) for i in range(0, len(images), chunk_size)])


def pixel_moments(images, chunk_size: int = 20_000) -> tuple[float, float]:
    """Mean and standard deviation of all pixels of ``images`` (any shape, first axis: images).

    Accumulated in float64 slice by slice, so a memory-mapped stack is never read whole and
    the result does not suffer the rounding of a float32 sum over 10^9 pixels.
    """
    n, total, total_sq = 0, 0.0, 0.0
    for i in range(0, len(images), chunk_size):
        x = np.asarray(images[i:i + chunk_size], dtype=np.float64)
        n, total, total_sq = n + x.size, total + x.sum(), total_sq + np.square(x).sum()
    if n == 0:
        raise ValueError("pixel_moments needs at least one image")
    mean = total / n
    return float(mean), float(np.sqrt(max(total_sq / n - mean**2, 0.0)))
