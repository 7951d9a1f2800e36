"""A short, readable fit loop for torch models, with validation and early stopping.

Every notebook first writes its own loop by hand (the loop *is* the method); once the
idea is clear, it calls :func:`fit` so that the interesting code stays on screen.
"""
from __future__ import annotations

import copy
import os
import time
import weakref
from pathlib import Path

import numpy as np

__all__ = ["make_loader", "stack_chunks", "fit", "one_cycle", "predict", "count_parameters"]


class _Batches:
    """Rows of numpy arrays (in memory or memory-mapped) gathered a whole batch at a time."""

    def __init__(self, arrays):
        self.arrays = arrays

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, rows):
        import torch

        out = []
        for a in self.arrays:
            t = a[rows] if isinstance(a, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(a[rows]))
            out.append(t.float() if t.is_floating_point() else t.long())
        return tuple(out)


def make_loader(*arrays, batch_size: int = 256, shuffle: bool = False, seed: int = 0):
    """A ``torch.utils.data.DataLoader`` over numpy arrays or tensors of equal length (first axis).

    Each batch is gathered at once (``array[rows]``) and converted: floats to float32 tensors,
    integers to int64.  Nothing is copied beforehand, so a memory-mapped array (``np.load(...,
    mmap_mode="r")``, or what :func:`stack_chunks` writes to disk) is read one batch at a time:
    a network can train on more rows than fit in memory.  With ``shuffle=True`` the order comes
    from a generator seeded with ``seed`` (``torch.randperm``), so runs are reproducible.  No
    worker processes: on 2 CPU cores they cost more than they save.
    """
    import torch
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

    if not arrays:
        raise ValueError("make_loader needs at least one array")
    lengths = {len(a) for a in arrays}
    if len(lengths) != 1:
        raise ValueError(f"all arrays need the same length (first axis); got lengths {sorted(lengths)}")
    rows = range(lengths.pop())
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    sampler = RandomSampler(rows, generator=generator) if shuffle else SequentialSampler(rows)
    # batch_size=None: the sampler hands out whole batches of row indices, the dataset gathers them.
    # The loader shares the sampler's generator, as DataLoader(shuffle=True, generator=...) does.
    return DataLoader(_Batches(arrays), sampler=BatchSampler(sampler, batch_size, drop_last=False), batch_size=None,
                      generator=generator)


def stack_chunks(chunks, memory_limit_gb: float | None = 2.0, folder=None) -> dict:
    """Concatenate an iterable of chunks (dicts of arrays, rows on the first axis) into one dict.

    Every chunk must have the same keys, and each key the same dtype and the same shape per row
    in every chunk, and all arrays of a chunk the same number of rows; otherwise a ValueError
    names the key and the chunk (counted from 1), so that rows can never end up misaligned.
    Arrays of one value per row stay in memory.  An array with more axes (images, constituents)
    also stays in memory while its total size is at most ``memory_limit_gb``; past that it is
    written to a ``.npy`` file in ``folder`` (default: ``utils.storage.cache_dir() / "stacked"``)
    chunk by chunk and returned memory-mapped (``np.memmap``, read-only, with the dtype it has in
    memory), so that stacking the 1.2M images of the public top-tagging files needs the memory
    of one chunk.  ``None``: never.  The files are temporary: their disk space is freed when the
    arrays are (on Windows, when the process ends at the latest), or at once on an error.
    """
    import tempfile

    from .storage import cache_dir

    limit = None if memory_limit_gb is None else memory_limit_gb * 1e9
    kept, files, counts, specs = {}, {}, {}, {}
    try:
        for number, chunk in enumerate(chunks, start=1):
            chunk = {key: np.asarray(value) for key, value in chunk.items()}
            if number == 1:
                specs = {key: (value.dtype, value.shape[1:]) for key, value in chunk.items()}
                counts = dict.fromkeys(specs, 0)
            _check_chunk(chunk, number, specs)
            for key, value in chunk.items():
                counts[key] += len(value)
                if key in files:
                    files[key].write(np.ascontiguousarray(value).tobytes())
                    continue
                kept.setdefault(key, []).append(value)
                if value.ndim > 1 and limit is not None and sum(v.nbytes for v in kept[key]) > limit:
                    target = Path(folder) if folder is not None else cache_dir() / "stacked"
                    target.mkdir(parents=True, exist_ok=True)
                    files[key] = tempfile.NamedTemporaryFile(dir=target, prefix=f"{key}-", suffix=".npy", delete=False)
                    files[key].write(_npy_header(specs[key][0], (0, *specs[key][1])))  # the row count comes at the end
                    for v in kept.pop(key):
                        files[key].write(np.ascontiguousarray(v).tobytes())
        if not counts:
            raise ValueError("stack_chunks got no chunks")
        for key, handle in files.items():
            header = _npy_header(specs[key][0], (counts[key], *specs[key][1]))
            if len(header) != len(_npy_header(specs[key][0], (0, *specs[key][1]))):
                raise RuntimeError(f"stack_chunks: the .npy header of {key!r} changed length; numpy >= 2 keeps it")
            handle.seek(0)
            handle.write(header)
            handle.close()
    except BaseException:  # an error while reading or writing: leave no file behind
        for handle in files.values():
            handle.close()
            _remove_quietly(handle.name)
        raise
    out = {key: np.concatenate(parts) for key, parts in kept.items()}
    for key, handle in files.items():
        out[key] = np.lib.format.open_memmap(handle.name, mode="r")
        try:  # the mapping keeps the data; the name goes now, the disk space with the array (POSIX)
            os.unlink(handle.name)
        except OSError:  # Windows cannot remove a mapped file: remove it when the array is collected
            weakref.finalize(out[key], _remove_quietly, handle.name)
    return {key: out[key] for key in specs}


def _check_chunk(chunk: dict, number: int, specs: dict) -> None:
    """ValueError unless ``chunk`` (the ``number``-th) has the keys, dtypes and row shapes of ``specs``
    (those of the first chunk) and one number of rows in all its arrays."""
    for key in specs:
        if key not in chunk:
            raise ValueError(f"stack_chunks: chunk {number} has no {key!r}, which chunk 1 has; "
                             f"every chunk needs the same keys ({sorted(specs)})")
    for key, value in chunk.items():
        if key not in specs:
            raise ValueError(f"stack_chunks: chunk {number} has {key!r}, which chunk 1 has not; "
                             f"every chunk needs the same keys ({sorted(specs)})")
        dtype, shape = specs[key]
        if value.ndim == 0:
            raise ValueError(f"stack_chunks: {key!r} in chunk {number} is a single value, not an array of rows")
        if value.shape[1:] != shape:
            raise ValueError(f"stack_chunks: {key!r} has shape {value.shape[1:]} per row in chunk {number} "
                             f"and {shape} in chunk 1")
        if value.dtype != dtype:
            raise ValueError(f"stack_chunks: {key!r} is {value.dtype} in chunk {number} and {dtype} in chunk 1; "
                             f"give it one dtype in every chunk (e.g. .astype({str(dtype)!r}))")
    lengths = {key: len(value) for key, value in chunk.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"stack_chunks: the arrays of chunk {number} have different numbers of rows: {lengths}")


def _npy_header(dtype, shape) -> bytes:
    """The header of a ``.npy`` file of ``dtype`` and ``shape`` (C order).

    numpy pads it so that its length does not depend on the number of rows: the header of
    ``(0, ...)``, written before the rows are, is overwritten in place by the final one.
    """
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _run_epoch(model, loader, loss_fn, device, optimizer=None, scheduler=None, lrs=None):
    """One pass over ``loader``: trains when ``optimizer`` is given, else evaluates; returns the mean loss.

    ``scheduler`` (optional) is stepped after every optimizer step; the learning rate of each
    step is appended to the list ``lrs``.
    """
    import torch

    model.train(optimizer is not None)
    total, count = 0.0, 0
    with torch.set_grad_enabled(optimizer is not None):
        for batch in loader:
            *inputs, target = (t.to(device) for t in batch)
            loss = loss_fn(model(*inputs), target)
            if optimizer is not None:
                optimizer.zero_grad()
                loss.backward()
                if lrs is not None:
                    lrs.append(float(optimizer.param_groups[0]["lr"]))
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
            total += loss.item() * len(target)
            count += len(target)
    return total / count


def fit(model, train_loader, loss_fn, optimizer, epochs: int, val_loader=None, patience: int | None = 5,
        scheduler=None, keep: str = "best", device=None, progress: bool = True) -> dict:
    """Train ``model`` and return its history.

    Parameters
    ----------
    model : ``torch.nn.Module``; called as ``model(*inputs)`` where each batch is
        ``(*inputs, target)``.
    train_loader, val_loader : DataLoaders yielding ``(*inputs, target)`` (see :func:`make_loader`).
    loss_fn : e.g. ``torch.nn.BCEWithLogitsLoss()``; called as ``loss_fn(output, target)``.
    optimizer : a torch optimizer over ``model.parameters()``.
    epochs : maximum number of passes over the training data.
    patience : stop after this many epochs without a better validation loss (None: never,
        the usual choice with a ``scheduler`` that plans for all ``epochs``).
    scheduler : a learning-rate schedule stepped after every batch, e.g. :func:`one_cycle`
        (None: the optimizer's constant rate).
    keep : ``"best"``: the model ends with the weights of the epoch of lowest validation loss;
        ``"last"``: with its final weights (the usual choice after a one-cycle schedule, whose
        small final rates settle the weights). Without ``val_loader`` the last weights are kept.
    device : where to train (default: the model's device).
    progress : show a ``tqdm`` bar over epochs with the current losses.

    Returns
    -------
    dict with ``train_loss`` and ``val_loss`` (lists, one value per epoch), ``lr`` (the learning
    rate of every optimizer step), ``best_epoch`` (1-based epoch of lowest validation loss; None
    without ``val_loader``), ``seconds`` (wall time) and ``stopped_early`` (bool).
    """
    from tqdm.auto import tqdm

    if epochs < 1:
        raise ValueError(f"epochs must be >= 1; got {epochs}")
    if keep not in ("best", "last"):
        raise ValueError(f"keep must be 'best' or 'last'; got {keep!r}")
    device = device or next(model.parameters()).device
    model.to(device)
    history = {"train_loss": [], "val_loss": [], "lr": [], "best_epoch": None, "stopped_early": False}
    best, best_state, since_best = np.inf, None, 0
    start = time.perf_counter()
    bar = tqdm(range(1, epochs + 1), desc="epochs", disable=not progress, leave=False)
    for epoch in bar:
        history["train_loss"].append(_run_epoch(model, train_loader, loss_fn, device, optimizer, scheduler,
                                                history["lr"]))
        if not np.isfinite(history["train_loss"][-1]):
            raise FloatingPointError(f"training loss became {history['train_loss'][-1]} in epoch {epoch}: "
                                     "lower the learning rate or check the inputs for NaNs")
        if val_loader is None:
            bar.set_postfix(train=f"{history['train_loss'][-1]:.4f}")
            continue
        val = _run_epoch(model, val_loader, loss_fn, device)
        history["val_loss"].append(val)
        if val < best:
            best, since_best, history["best_epoch"] = val, 0, epoch
            if keep == "best":
                best_state = copy.deepcopy(model.state_dict())
        else:
            since_best += 1
        bar.set_postfix(train=f"{history['train_loss'][-1]:.4f}", val=f"{val:.4f}")
        if patience is not None and since_best >= patience:
            history["stopped_early"] = True
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    history["seconds"] = time.perf_counter() - start
    model.eval()
    return history


def one_cycle(optimizer, max_lr: float, epochs: int, steps_per_epoch: int, pct_start: float = 0.3):
    """A one-cycle learning-rate schedule for :func:`fit` (``torch.optim.lr_scheduler.OneCycleLR``).

    The rate rises from ``max_lr / 25`` to ``max_lr`` over the first ``pct_start`` of the
    ``epochs * steps_per_epoch`` steps, then falls (cosine) to ``max_lr / 25 / 1e4``; Adam's
    first momentum coefficient is cycled the other way (Smith and Topin, arXiv:1708.07120). The
    warm-up makes a large peak rate safe, the large rate moves fast, and the long decay settles
    the weights, so a fixed, small number of epochs is planned in advance.

    Parameters
    ----------
    optimizer : e.g. ``torch.optim.Adam(model.parameters())`` (its own ``lr`` is overridden).
    max_lr : the peak learning rate.
    epochs, steps_per_epoch : the planned length of training, e.g. ``len(train_loader)`` batches
        per epoch. Early stopping may end training before the rate has fully decayed.

    Returns
    -------
    the scheduler, to pass as ``fit(..., scheduler=...)``.
    """
    from torch.optim.lr_scheduler import OneCycleLR

    if epochs < 1 or steps_per_epoch < 1:
        raise ValueError(f"need epochs >= 1 and steps_per_epoch >= 1; got {epochs}, {steps_per_epoch}")
    if max_lr <= 0:
        raise ValueError(f"max_lr must be positive; got {max_lr}")
    return OneCycleLR(optimizer, max_lr=max_lr, epochs=epochs, steps_per_epoch=steps_per_epoch, pct_start=pct_start)


def predict(model, *arrays, batch_size: int = 4096, device=None) -> np.ndarray:
    """``model(*inputs)`` over numpy arrays in batches, without gradients; returns a numpy array.

    For a classifier trained with ``BCEWithLogitsLoss`` this returns logits: apply
    ``scipy.special.expit`` (or use them as they are: ROC curves only need the order).
    """
    import torch

    device = device or next(model.parameters()).device
    model.eval()
    outputs = []
    loader = make_loader(*arrays, batch_size=batch_size)
    with torch.no_grad():
        for batch in loader:
            outputs.append(model(*(t.to(device) for t in batch)).cpu().numpy())
    return np.concatenate(outputs)


def count_parameters(model) -> int:
    """Number of trainable weights and biases of a torch module."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))
