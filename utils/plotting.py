"""One plotting style for the whole course, and the plots every notebook needs.

Call :func:`use_style` once in a notebook's setup cell.  Functions take an optional
``ax`` and return it (or the figure), so they compose with plain matplotlib.
"""
from __future__ import annotations

import numpy as np

__all__ = ["use_style", "COLORS", "plot_roc", "plot_rejection", "hist_compare", "plot_history"]

# Colour-blind-safe palette (Okabe & Ito), in a fixed order so that a method keeps its colour.
COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]

STYLE = {
    "figure.figsize": (6.0, 4.0),  # fits a book column at 100 dpi
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.8,
    "image.cmap": "viridis",
    "figure.constrained_layout.use": True,
}


def use_style() -> None:
    """Apply the course's matplotlib style (sizes, fonts, colour cycle) for this session."""
    import matplotlib as mpl
    from cycler import cycler

    mpl.rcParams.update(STYLE)
    mpl.rcParams["axes.prop_cycle"] = cycler(color=COLORS)


def _axes(ax):
    import matplotlib.pyplot as plt

    return ax if ax is not None else plt.subplots()[1]


def plot_roc(curves: dict, ax=None, random_guess: bool = True):
    """Plot ROC curves ``eps_b`` against ``eps_s``.

    Parameters
    ----------
    curves : ``{label: (labels, scores)}``; the legend shows each curve's AUC.
    ax : matplotlib axes, or None for a new figure.
    """
    from .metrics import auc, roc_curve

    ax = _axes(ax)
    for name, (labels, scores) in curves.items():
        eps_s, eps_b, _ = roc_curve(labels, scores)
        ax.plot(eps_s, eps_b, label=f"{name} (AUC = {auc(labels, scores):.3f})")
    if random_guess:
        ax.plot([0, 1], [0, 1], ls=":", color="grey", label="random guess")
    ax.set(xlabel=r"signal efficiency $\epsilon_S$", ylabel=r"background efficiency $\epsilon_B$",
           xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left")
    return ax


def plot_rejection(curves: dict, ax=None, eps_s_range=(0.1, 1.0), mark: float | None = 0.3):
    """Background rejection ``1/eps_b`` (log scale) against ``eps_s``, as in arXiv:1902.09914.

    ``curves`` is ``{label: (labels, scores)}``; the legend shows the rejection at
    ``eps_s = mark``.
    """
    from .metrics import rejection_at, roc_curve

    ax = _axes(ax)
    for name, (labels, scores) in curves.items():
        eps_s, eps_b, _ = roc_curve(labels, scores)
        keep = (eps_b > 0) & (eps_s >= eps_s_range[0]) & (eps_s <= eps_s_range[1])
        label = name if mark is None else f"{name} ($1/\\epsilon_B$ = {rejection_at(labels, scores, mark):.0f} at {mark})"
        ax.plot(eps_s[keep], 1 / eps_b[keep], label=label)
    if mark is not None:
        ax.axvline(mark, ls=":", color="grey")
    ax.set(yscale="log", xlabel=r"signal efficiency $\epsilon_S$",
           ylabel=r"background rejection $1/\epsilon_B$", xlim=eps_s_range)
    ax.legend(loc="upper right")
    return ax


def hist_compare(samples: dict, bins=50, range=None, xlabel: str = "", reference: str | None = None,
                 density: bool = True, logy: bool = False, fig=None):
    """Step histograms of several samples, with a ratio panel to ``reference`` below.

    Parameters
    ----------
    samples : ``{label: values}`` (1D arrays) or ``{label: (values, weights)}``.
    bins, range : as in ``numpy.histogram`` (shared by all samples).
    reference : label of the sample in the ratio's denominator; None draws no ratio panel.
    density : normalise each histogram to unit area.

    Returns
    -------
    the figure; ``fig.axes[0]`` is the main panel, ``fig.axes[1]`` the ratio panel (if any).
    Statistical errors (sqrt of the sum of squared weights) are shaded in the ratio panel.
    """
    import matplotlib.pyplot as plt

    if reference is not None and reference not in samples:
        raise ValueError(f"reference {reference!r} is not one of the samples {list(samples)}")
    first = next(iter(samples.values()))
    first = first[0] if isinstance(first, tuple) else first
    edges = np.histogram_bin_edges(np.asarray(first), bins=bins, range=range)
    hists = {}
    for name, values in samples.items():
        values, weights = values if isinstance(values, tuple) else (values, None)
        values = np.asarray(values)
        weights = np.ones_like(values, dtype=float) if weights is None else np.asarray(weights, dtype=float)
        h, _ = np.histogram(values, bins=edges, weights=weights)
        err = np.sqrt(np.histogram(values, bins=edges, weights=weights**2)[0])
        if density:
            norm = h.sum() * np.diff(edges)
            h, err = h / norm, err / norm
        hists[name] = (h, err)

    if fig is None:
        if reference is None:
            fig, ax = plt.subplots()
            axes = [ax]
        else:
            fig, axes = plt.subplots(2, 1, sharex=True, height_ratios=(3, 1), figsize=(6.0, 5.0))
    else:
        axes = fig.axes
    for name, (h, _) in hists.items():
        axes[0].stairs(h, edges, label=name)
    axes[0].set(ylabel="density" if density else "entries", yscale="log" if logy else "linear")
    axes[0].legend()
    if reference is not None:
        ref, _ = hists[reference]
        with np.errstate(divide="ignore", invalid="ignore"):
            for i, (h, err) in enumerate(hists.values()):
                ratio = np.where(ref > 0, h / ref, np.nan)
                line = axes[1].stairs(ratio, edges, color=f"C{i}")
                axes[1].stairs(np.where(ref > 0, (h + err) / ref, np.nan), edges,
                               baseline=np.where(ref > 0, (h - err) / ref, np.nan), fill=True, alpha=0.2,
                               color=line.get_edgecolor())
        axes[1].axhline(1, color="grey", lw=1)
        axes[1].set(ylabel=f"ratio to\n{reference}", ylim=(0.5, 1.5))
    axes[-1].set_xlabel(xlabel)
    return fig


def plot_history(history: dict, ax=None, logy: bool = True):
    """Training and validation loss per epoch, from :func:`utils.training.fit`'s history."""
    ax = _axes(ax)
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    ax.plot(epochs, history["train_loss"], label="training")
    if history.get("val_loss"):
        ax.plot(epochs, history["val_loss"], label="validation")
        if history.get("best_epoch"):
            ax.axvline(history["best_epoch"], ls=":", color="grey", label="best epoch")
    ax.set(xlabel="epoch", ylabel="loss", yscale="log" if logy else "linear")
    ax.legend()
    return ax
