"""Helpers for the course *Machine Learning in Particle Physics*, in the order the notebooks meet them.

Importing ``utils`` has no side effects: nothing is seeded, downloaded or plotted.
The submodules load on first use (``utils.metrics``, ``utils.plotting``, ...), so
``import utils`` is quick and does not import torch.

Every notebook:

- :mod:`utils.config`: ``set_seed``, ``get_device``, ``configure_threads``, ``fast_mode``, ``pick``
- :mod:`utils.results`: ``record_result`` for the closing checks and ``make benchmark``
- :mod:`utils.plotting`: the course style, ROC/rejection plots, histograms with ratio panels

The data (00):

- :mod:`utils.data`: the datasets (``load``, ``iterate``), their registry and splits, the reference-data setting
- :mod:`utils.jets`: four-vectors, jet images, constituent features, N-subjettiness
- :mod:`utils.storage`: checked files: the data folder, the sha256 manifest, bit-reproducible npz
- :mod:`utils.reference`: the public reference datasets (top tagging, LHC Olympics), streamed into the course's format

Part I, foundations (01-03):

- :mod:`utils.metrics`: ROC/AUC, rejection at fixed efficiency, SIC, JSD, bootstrap, classifier two-sample test
- :mod:`utils.checks`: the input check that the later modules share (a finite array of the expected shape)
- :mod:`utils.training`: a short fit loop for torch models with early stopping
- :mod:`utils.tagging`: the boosted-tree baseline of the top-tagging notebooks, a tagger's summary with uncertainties

Part II, top tagging (04-06):

- :mod:`utils.images`: jet-image symmetries (augmentation), one-cycle learning rates, saliency (04)
- :mod:`utils.sequences`: constituents as padded sequences: orders, packing (05)
- :mod:`utils.sets`: masked standardisation, particle flow and energy flow networks, a small set transformer (05, 06)

Parts III-VI:

- :mod:`utils.anomaly`: k-fold scoring, SIC curves with bands, the dijet fit and bump-hunt significance (07, 08)
- :mod:`utils.generative`: dimuon coordinates and the judging of generated events (09, 10)
- :mod:`utils.decorrelation`: distance correlation, mass sculpting and its noise floor (11)
- :mod:`utils.solvers`: networks as trial solutions of differential equations, the shooting method (12, 13)

Part VII, measuring with machine learning (14-16):

- :mod:`utils.detector`: a toy detector that smears, loses and thresholds jet constituents (14, 15)
- :mod:`utils.uncertainty`: Bayesian layers, deep ensembles, calibration error and temperature scaling, Gaussian regression (14)
- :mod:`utils.unfolding`: response matrices, iterative Bayesian unfolding, OmniFold, distances between distributions (15)
- :mod:`utils.inference`: template fits, parametrised classifiers as likelihood ratios, coverage and calibration of posteriors (16)

Parts VIII-IX, modern generators and the field's current tools (17-21):

- :mod:`utils.topdecays`: top-pair decays to six quarks, decay coordinates with Breit-Wigner maps (17)
- :mod:`utils.lattice`: phi^4 on a lattice: action, local Metropolis, hybrid Monte Carlo, coupling flows (18)
- :mod:`utils.graphs`: EdgeConv and a Lorentz-equivariant network, Lorentz transformations for tests (19)
- :mod:`utils.cathode`: a conditional flow as the background model of a weakly supervised search (20)
- :mod:`utils.scans`: a two-Higgs-doublet model's constraints and samplers of its valid region (21)

The machinery that builds the course (the command line ``python -m utils``, the book, the student
edition, the benchmark, the generation of the shipped samples) is in :mod:`utils.tooling`; no
notebook needs it.
"""
from __future__ import annotations

import importlib

from .config import configure_threads, fast_mode, get_device, pick, set_seed
from .results import record_result

__all__ = ["set_seed", "get_device", "fast_mode", "pick", "configure_threads", "record_result",
           "config", "data", "jets", "metrics", "checks", "plotting", "training", "results", "solvers", "tagging",
           "storage", "reference", "images", "sequences", "sets", "anomaly", "generative", "decorrelation",
           "detector", "uncertainty", "unfolding", "inference", "topdecays", "lattice", "graphs", "cathode", "scans"]
__version__ = "0.1.0"

_SUBMODULES = {"config", "data", "jets", "metrics", "checks", "plotting", "training", "results", "solvers", "tooling",
               "tagging", "storage", "reference", "images", "sequences", "sets", "anomaly", "generative",
               "decorrelation", "detector", "uncertainty", "unfolding", "inference", "topdecays", "lattice", "graphs", "cathode", "scans"}


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'utils' has no attribute {name!r}; its modules are {sorted(_SUBMODULES)}")
