"""Jet images for convolutional networks: symmetries of the pixel grid, a one-cycle learning
rate for :func:`utils.training.fit`, and saliency maps.

The images themselves come from :func:`utils.jets.jet_images`; this module holds what a
convolutional tagger needs around them (notebook 04):

- :func:`dihedral` and :func:`augment_dihedral`: the eight symmetries of a square image
  (flips and quarter turns), for a symmetry test and for data augmentation;
- :func:`one_cycle`: Adam (or any optimizer) with a one-cycle learning-rate schedule
  (Smith & Topin, arXiv:1708.07120) that :func:`utils.training.fit` drives batch by batch;
- :func:`saliency`: the gradient of a network's output with respect to each pixel.

Torch is imported inside the functions, so ``import utils.images`` stays light.
"""
from __future__ import annotations

import numpy as np

__all__ = ["dihedral", "augment_dihedral", "one_cycle", "ScheduledOptimizer", "saliency", "count_parameters"]

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


class ScheduledOptimizer:
    """An optimizer whose ``step()`` also advances a learning-rate schedule by one batch.

    :func:`utils.training.fit` calls ``optimizer.zero_grad()`` and ``optimizer.step()`` once
    per batch; wrapping the optimizer is all it takes to give ``fit`` a per-batch schedule.
    ``lrs`` records the learning rate used at each step (for plotting the schedule).
    """

    def __init__(self, optimizer, scheduler):
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.lrs: list[float] = []

    @property
    def param_groups(self):
        return self.optimizer.param_groups

    def zero_grad(self, set_to_none: bool = True):
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self):
        self.lrs.append(float(self.optimizer.param_groups[0]["lr"]))
        self.optimizer.step()
        if self.scheduler.last_epoch + 1 < self.scheduler.total_steps:  # fit may run a partial last epoch
            self.scheduler.step()

    def state_dict(self):
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}


def one_cycle(optimizer, max_lr: float, epochs: int, steps_per_epoch: int, pct_start: float = 0.3,
              div_factor: float = 25.0, final_div_factor: float = 1e3) -> ScheduledOptimizer:
    """Wrap ``optimizer`` with a one-cycle learning rate (``torch.optim.lr_scheduler.OneCycleLR``).

    The learning rate rises from ``max_lr / div_factor`` to ``max_lr`` over the first
    ``pct_start`` of the ``epochs * steps_per_epoch`` steps, then falls (cosine) to
    ``max_lr / (div_factor * final_div_factor)``.  The warm-up lets a large peak rate be
    used safely; the long decay ends training in a sharp minimum without tuning a decay by
    hand (Smith & Topin, arXiv:1708.07120).  Adam's momentum is cycled as well.

    Parameters
    ----------
    optimizer : a torch optimizer (e.g. ``torch.optim.Adam(model.parameters())``).
    max_lr : the peak learning rate.
    epochs, steps_per_epoch : the planned length of training, e.g. ``len(train_loader)``
        batches per epoch.  If early stopping ends training sooner, the rate simply had
        not decayed all the way.

    Returns
    -------
    a :class:`ScheduledOptimizer` to hand to :func:`utils.training.fit` as its optimizer.
    """
    from torch.optim.lr_scheduler import OneCycleLR

    if epochs < 1 or steps_per_epoch < 1:
        raise ValueError(f"need epochs >= 1 and steps_per_epoch >= 1; got {epochs}, {steps_per_epoch}")
    if max_lr <= 0:
        raise ValueError(f"max_lr must be positive; got {max_lr}")
    scheduler = OneCycleLR(optimizer, max_lr=max_lr, epochs=epochs, steps_per_epoch=steps_per_epoch,
                           pct_start=pct_start, div_factor=div_factor, final_div_factor=final_div_factor)
    return ScheduledOptimizer(optimizer, scheduler)


def saliency(model, images, batch_size: int = 1024, device=None) -> np.ndarray:
    """Gradient of the model's output (e.g. the logit) with respect to every input pixel.

    Parameters
    ----------
    model : a torch module mapping ``(n, 1, m, m)`` (or ``(n, m, m)``, as ``images`` is
        given) to ``(n,)`` or ``(n, 1)`` outputs.
    images : numpy array of the network's inputs, as it was trained on them.

    Returns
    -------
    numpy array of ``images``' shape: ``d output / d pixel`` for each image.  Positive
    means that more intensity in this pixel makes the jet look more top-like to the model.
    """
    import torch

    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    try:
        for start in range(0, len(images), batch_size):
            x = torch.as_tensor(np.asarray(images[start:start + batch_size]), dtype=torch.float32,
                                device=device).requires_grad_(True)
            model(x).sum().backward()  # outputs are independent per image: one backward gives all gradients
            out.append(x.grad.detach().cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(out)


def count_parameters(model) -> int:
    """Number of trainable parameters of a torch module."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))
