"""The course's datasets: the registry, the splits, :func:`load`, derived features, :func:`feature_matrix`.

Datasets (``utils.data.DATASETS``) are made of sample files in ``data/`` (one ``.npz`` per
generated sample), each listed in ``data/manifest.json`` with its sha256, size, generator
settings and seed (:mod:`utils.storage` checks them).  :func:`load` returns plain numpy arrays.

**The reference datasets with one setting.**  If the environment variable of a dataset names a
folder (:data:`REFERENCE_VARIABLES`), :func:`load` and :func:`iterate` read the community's
public files from it instead of the course's samples, in the same format, so that no notebook
changes:

- ``COURSE_TOP_TAGGING_DIR``: a folder with ``train.h5``, ``val.h5``, ``test.h5`` of the
  top-tagging landscape (Zenodo record 2603256);
- ``COURSE_LHCO_DIR``: a folder with ``events_anomalydetection_v2.features.h5`` (Zenodo
  record 4536377) or ``events_anomalydetection_v2.h5`` (Zenodo record 6466204; its particles
  are clustered with FastJet).

Such files are large (1.2M training jets): train on them with :func:`iterate`, which streams.
The command line is ``python -m utils`` (:mod:`utils.tooling.cli`).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import reference
from .storage import checked_path, data_dir, load_npz, read_manifest, save_npz, sha256, verify

__all__ = ["DATASETS", "REFERENCE_VARIABLES", "data_dir", "reference_dir", "load", "iterate", "dataset_info",
           "list_datasets",
           "verify", "save_npz", "load_npz", "load_reference_top_tagging", "load_reference_lhco", "sha256",
           "feature_matrix", "TOP_HIGH_LEVEL", "read_manifest", "TTBAR_PARTON_MASSES"]

# Which sample files make up each dataset, and which splits it offers.
DATASETS: dict[str, dict] = {
    "top_tagging": {
        "files": {"top_jets": 1, "qcd_jets": 0},  # file -> label
        "splits": ("train", "val", "test"),
        "description": "top jets vs QCD jets, 14 TeV, anti-kT R=0.8, pT 550-650 GeV (as arXiv:1902.09914, particle level)",
    },
    "dijet_anomaly": {
        "files": {"dijet_wprime": 1, "dijet_qcd": 0},
        "splits": ("all", "background", "signal"),
        "description": "QCD dijets and W'(3.5 TeV) -> X(500) Y(100) events, 13 TeV, anti-kT R=1.0 (as the LHCO 2020 R&D set)",
    },
    "drell_yan": {
        "files": {"drell_yan": 1},
        "splits": ("train", "val", "test", "all"),
        "description": "pp -> Z/gamma* -> mu+ mu-, 13 TeV, muon (pt, eta, phi) per event",
    },
    "ttbar_partons": {
        "files": {"ttbar_partons": 1},
        "splits": ("train", "val", "test"),
        "description": "pp -> t tbar -> 6 quarks, 13 TeV, parton level with initial-state radiation, "
                       "the quarks' (pt, eta, phi) per event",
    },
    # Part VII: QCD jets as qcd_jets with the final-state shower's coupling (TimeShower:alphaSvalue) changed
    "shower_grid": {
        "files": {"shower_grid": None},
        "splits": ("train", "val", "test"),
        "description": "QCD jets as top_tagging's, final-state shower coupling alpha_s on a grid of 8 values "
                       "0.10-0.17 (per jet: alpha_s, the high-level features, the jet shapes)",
    },
    "shower_scan": {
        "files": {"shower_scan": None},
        "splits": ("all",),
        "description": "QCD jets as top_tagging's, shower alpha_s uniform in 0.10-0.17, one value per chunk of "
                       "250 events (per jet: alpha_s, the high-level features, the jet shapes)",
    },
    "shower_measured": {
        "files": {"shower_measured": None},
        "splits": ("all",),
        "description": "QCD jets as top_tagging's at one shower alpha_s (its own seed): notebook 16's 'measured' sample",
    },
    "shower_unfolding": {
        "files": {"shower_nature": None, "shower_pseudo_nature": None},
        "splits": ("nature", "pseudo_nature"),
        "description": "QCD jets as top_tagging's with constituents, shower alpha_s 0.118 ('nature') and 0.155 "
                       "('pseudo_nature'), for notebook 15's unfolding",
    },
}
SHOWER_DATASETS = ("shower_grid", "shower_scan", "shower_measured", "shower_unfolding")

# One environment variable per reference dataset: the folder that holds the public files.
REFERENCE_VARIABLES = {"top_tagging": "COURSE_TOP_TAGGING_DIR", "dijet_anomaly": "COURSE_LHCO_DIR"}

# Split fractions for datasets with train/val/test splits (deterministic, by position after a
# fixed shuffle, so every user gets the same jets in each split).
SPLIT_FRACTIONS = {"train": (0.0, 0.6), "val": (0.6, 0.8), "test": (0.8, 1.0)}
DRELL_YAN_FRACTIONS = {"train": (0.0, 0.6), "val": (0.6, 0.8), "test": (0.8, 1.0), "all": (0.0, 1.0)}
SHUFFLE_SEED = 20221  # fixed: the splits are part of the dataset's definition

# Leading constituents per top-tagging jet in the shipped files (the storage rule of the
# top_jets and qcd_jets samples, utils.tooling.generate.SAMPLES[...]["store"]) and in the reference path.
STORED_CONSTITUENTS = reference.TOP_TAGGING_CONSTITUENTS

_PER_CONSTITUENT = ("constituents", "cluster_order")

# The masses (GeV) the six quarks of a ttbar_partons event carry in the reconstructed masses: the b quarks
# Pythia's 4.8 GeV, the light quarks massless (utils.topdecays uses the same, for true and generated events).
TTBAR_PARTON_MASSES = (4.8, 0.0, 0.0, 4.8, 0.0, 0.0)


def _check_name(name: str) -> dict:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; the datasets are: {', '.join(DATASETS)}")
    return DATASETS[name]


def _check_split(name: str, split: str | None) -> str:
    spec = _check_name(name)
    split = split or spec["splits"][0]
    if split not in spec["splits"]:
        raise ValueError(f"dataset {name!r} has splits {spec['splits']}; got split={split!r}")
    return split


def reference_dir(name: str) -> Path | None:
    """The folder of the public reference files for dataset ``name``, or None.

    Set by the environment variable ``REFERENCE_VARIABLES[name]`` (``COURSE_TOP_TAGGING_DIR``,
    ``COURSE_LHCO_DIR``); None when it is unset or empty, or the dataset has no reference files.
    """
    _check_name(name)
    variable = REFERENCE_VARIABLES.get(name)
    value = os.environ.get(variable, "").strip() if variable else ""
    return Path(value).expanduser() if value else None


def list_datasets() -> None:
    """Print every dataset, its files (present or missing, with their rows) and, for those that have
    one, the folder of the public reference files (``python -m utils list`` prints the same)."""
    manifest = read_manifest()
    for name, spec in DATASETS.items():
        print(f"{name}: {spec['description']}")
        for f in spec["files"]:
            present = (data_dir() / f"{f}.npz").exists()
            rows = manifest.get(f"{f}.npz", {}).get("n_rows", "?")
            print(f"    {f}.npz  {'present' if present else 'MISSING'}  {rows} rows")
        variable = REFERENCE_VARIABLES.get(name)
        if variable:
            folder = reference_dir(name)
            print(f"    ${variable}: " + (f"{folder} (load() reads the public files)" if folder else "not set"))


def dataset_info(name: str) -> dict:
    """Registry entry of a dataset plus the manifest entries (settings, seed, counts, N-subjettiness
    convention) of its files, and the reference folder if one is set."""
    spec = _check_name(name)
    manifest = read_manifest()
    return {**spec, "manifest": {f: manifest.get(f"{f}.npz") for f in spec["files"]},
            "reference_dir": reference_dir(name)}


def _permuted_slice(n: int, lo_hi: tuple[float, float], salt: int) -> np.ndarray:
    order = np.random.default_rng([SHUFFLE_SEED, salt]).permutation(n)
    lo, hi = lo_hi
    return np.sort(order[int(round(lo * n)): int(round(hi * n))])


def _with_derived(name: str, out: dict) -> dict:
    if name == "top_tagging" or name in SHOWER_DATASETS:
        with np.errstate(divide="ignore", invalid="ignore"):
            out["tau21"] = np.where(out["tau1"] > 0, out["tau2"] / out["tau1"], 0.0).astype(np.float32)
            out["tau32"] = np.where(out["tau2"] > 0, out["tau3"] / out["tau2"], 0.0).astype(np.float32)
        if "cluster_order" in out:
            out["cluster_order"] = out["cluster_order"].astype(np.int64)
    elif name == "dijet_anomaly":
        light = out["jet1_mass"] <= out["jet2_mass"]  # CATHODE's ordering: j1 is the lighter jet
        for var in ("mass", "tau1", "tau2", "tau3"):
            a, b = out[f"jet1_{var}"], out[f"jet2_{var}"]
            out[f"j1_{var}"], out[f"j2_{var}"] = np.where(light, a, b), np.where(light, b, a)
        out["m_j1"], out["m_j2"] = out.pop("j1_mass"), out.pop("j2_mass")
        out["delta_m"] = out["m_j2"] - out["m_j1"]
        with np.errstate(divide="ignore", invalid="ignore"):
            for j in ("j1", "j2"):
                t1, t2, t3 = (out.pop(f"{j}_tau{i}") for i in (1, 2, 3))
                out[f"tau21_{j}"] = np.where(t1 > 0, t2 / t1, 0.0).astype(np.float32)
                out[f"tau32_{j}"] = np.where(t2 > 0, t3 / t2, 0.0).astype(np.float32)
    elif name == "drell_yan":
        from .jets import invariant_mass, to_cartesian, to_ptetaphim

        mu_p = to_cartesian(out["mu_plus_pt"], out["mu_plus_eta"], out["mu_plus_phi"], 0.10566)
        mu_m = to_cartesian(out["mu_minus_pt"], out["mu_minus_eta"], out["mu_minus_phi"], 0.10566)
        out["m_mumu"] = invariant_mass(mu_p, mu_m).astype(np.float32)
        out["pt_mumu"] = to_ptetaphim(mu_p + mu_m)[0].astype(np.float32)
    elif name == "ttbar_partons":
        from .jets import invariant_mass, to_cartesian

        q = out["partons"].astype(np.float64)
        p4 = to_cartesian(q[..., 0], q[..., 1], q[..., 2], np.asarray(TTBAR_PARTON_MASSES))
        for key, rows in (("m_w1", (1, 2)), ("m_w2", (4, 5)), ("m_t1", (0, 1, 2)), ("m_t2", (3, 4, 5))):
            out[key] = invariant_mass(*(p4[:, i] for i in rows)).astype(np.float32)
        out["pdg_id"] = out["pdg_id"].astype(np.int64)
    return out


def _float32(out: dict) -> dict:
    return {k: v.astype(np.float32) if v.dtype in (np.float16, np.float64) else v for k, v in out.items()}


# --- the reference files --------------------------------------------------------------------
def _top_tagging_file(folder: Path, split: str) -> Path:
    path = folder / reference.TOP_TAGGING_FILES[split]
    if not path.exists():
        raise FileNotFoundError(
            f"${REFERENCE_VARIABLES['top_tagging']} = {folder}, but {path.name} is not there: the folder must hold "
            f"{', '.join(reference.TOP_TAGGING_FILES.values())} from Zenodo record 2603256 (see book/data.md)")
    return path


def _iter_reference(name: str, split: str, chunk_size: int | None, max_events: int | None,
                    constituents: bool, cluster_order: bool):
    folder = reference_dir(name)
    if name == "top_tagging":
        yield from reference.iter_top_tagging(_top_tagging_file(folder, split), chunk_size or 2_000, max_events,
                                              constituents=constituents, cluster_order=cluster_order)
        return
    label = {"all": None, "background": 0, "signal": 1}[split]
    remaining = max_events
    for chunk in reference.iter_lhco(reference.lhco_file(folder), chunk_size, label=label):
        for var in ("jet1_phi", "jet2_phi"):
            chunk.pop(var, None)  # as the course's dijet files, which do not ship the azimuth
        if remaining is not None:
            chunk = {k: v[:remaining] for k, v in chunk.items()}
            remaining -= len(chunk["label"])
        if len(chunk["label"]):
            yield chunk
        if remaining is not None and remaining <= 0:
            return


def _load_reference(name: str, split: str, max_events: int | None, constituents: bool, cluster_order: bool) -> dict:
    if name == "top_tagging":
        out = reference.read_top_tagging(_top_tagging_file(reference_dir(name), split), max_events,
                                         constituents=constituents, cluster_order=cluster_order)
    else:
        chunks = list(_iter_reference(name, split, None, max_events, constituents, cluster_order))
        if not chunks:
            raise ValueError(f"the LHCO file in {reference_dir(name)} holds no events of split {split!r}")
        out = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    return _with_derived(name, out)


# --- loading --------------------------------------------------------------------------------
_SAMPLE_CACHE: dict[tuple, dict] = {}  # (path, mtime, size, skipped arrays) -> the file's arrays, read-only
_SAMPLE_CACHE_BYTES = 300_000_000      # at most this much decompressed data is kept (the oldest goes first)


def _read_sample(path: Path, skip: tuple = ()) -> dict:
    """A sample file's arrays, decompressed once per process: a notebook that loads three splits of a
    dataset reads its files once (0.4 s each for top_tagging).  The arrays are read-only; :func:`load`
    hands out copies of their rows, never the arrays themselves, so the cache cannot be changed."""
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size, tuple(skip))
    if key not in _SAMPLE_CACHE:
        arrays = load_npz(path, skip=skip)[0]
        for array in arrays.values():
            array.flags.writeable = False
        _SAMPLE_CACHE[key] = arrays
        while len(_SAMPLE_CACHE) > 1 and sum(a.nbytes for v in _SAMPLE_CACHE.values()
                                             for a in v.values()) > _SAMPLE_CACHE_BYTES:
            del _SAMPLE_CACHE[next(iter(_SAMPLE_CACHE))]
    return _SAMPLE_CACHE[key]


def load(name: str, split: str | None = None, max_events: int | None = None,
         constituents: bool = True, cluster_order: bool | None = None) -> dict:
    """Load a course dataset as a dict of numpy arrays (first axis: jets or events).

    Parameters
    ----------
    name : ``"top_tagging"``, ``"dijet_anomaly"``, ``"drell_yan"``, ``"ttbar_partons"``, or one of Part VII's
        ``"shower_grid"``, ``"shower_scan"``, ``"shower_measured"``, ``"shower_unfolding"`` (see ``DATASETS``).
    split : ``"train"``/``"val"``/``"test"`` for top_tagging (60/20/20 %, default
        ``"train"``); ``"all"``/``"background"``/``"signal"`` for dijet_anomaly (default
        ``"all"``); ``"train"``/``"val"``/``"test"``/``"all"`` for drell_yan (60/20/20 %, default
        ``"train"``); ``"train"``/``"val"``/``"test"`` for ttbar_partons and shower_grid (60/20/20 %, default
        ``"train"``); ``"all"`` for shower_scan and shower_measured; ``"nature"``/``"pseudo_nature"`` for
        shower_unfolding.
    max_events : keep only the first ``max_events`` rows (the course's rows are shuffled, so
        classes stay mixed; the reference files are read in file order); for fast mode.
    constituents : False skips the top-tagging constituents (most of the memory: 1.2 kB a
        jet as float32) and their ``cluster_order`` when only jet-level features are needed.
    cluster_order : the course's files always hold it (None or True); for the reference
        files it is computed (FastJet, a few ms a jet, cached on disk) only if True.

    Returns
    -------
    dict with, for **top_tagging**: ``constituents`` ``(n, 100, 3)`` float32 of
    (pt [GeV], deta, dphi) relative to the jet axis, pt-ordered, zero-padded;
    ``cluster_order`` ``(n, 100)`` int64, the Cambridge/Aachen clustering-history order of
    arXiv:1711.09059 (a permutation: real constituents first, in the order of a depth-first
    walk of the clustering tree into the harder branch first, then the padding), so that
    ``np.take_along_axis(constituents, cluster_order[..., None], axis=1)`` reorders the jets;
    ``label`` (1 = top); ``jet_pt``, ``jet_eta``, ``jet_phi``, ``jet_mass`` [GeV];
    ``n_constituents``; ``tau1``, ``tau2``, ``tau3``, ``tau21``, ``tau32``.
    For **dijet_anomaly**: ``mjj`` [GeV]; the two leading jets by pt as ``jet1_*``/``jet2_*``
    (``pt``, ``eta``, ``mass``, ``tau1..3``); CATHODE's features with j1 the lighter
    jet: ``m_j1``, ``m_j2``, ``delta_m``, ``tau21_j1``, ``tau21_j2``, ``tau32_j1``, ``tau32_j2``;
    ``label`` (1 = W' signal).
    For **drell_yan**: ``mu_plus_pt/eta/phi``, ``mu_minus_pt/eta/phi``, ``m_mumu``, ``pt_mumu``.
    For **ttbar_partons**: ``partons`` ``(n, 6, 3)`` float32, the (pt [GeV], eta, phi) of the top's
    b, q (up-type quark of the W decay), q' (down-type), then the antitop's
    (:data:`utils.topdecays.QUARK_NAMES`); ``pdg_id`` ``(n, 6)`` their PDG codes; the reconstructed
    masses ``m_w1``, ``m_w2``, ``m_t1``, ``m_t2`` [GeV] (quark masses :data:`TTBAR_PARTON_MASSES`: b quarks
    4.8 GeV, light quarks massless, as :func:`utils.topdecays.reconstructed_masses`).

    For the **shower_*** datasets (QCD jets as top_tagging's, with the final-state shower coupling changed;
    no ``label``): ``alpha_s`` (Pythia's ``TimeShower:alphaSvalue``), the top-tagging per-jet keys (``jet_pt``,
    ``jet_eta``, ``jet_phi``, ``jet_mass``, ``n_constituents``, ``tau1..3``, ``tau21``, ``tau32``) and the jet
    shapes of :func:`utils.jets.jet_shapes` at particle level as ``shape_mass``, ``shape_multiplicity``,
    ``shape_width``, ``shape_pt_d``, ``shape_c2``, ``shape_d2``; shower_unfolding also has ``constituents``
    ``(n, 100, 3)`` as top_tagging's.

    If the dataset's reference variable is set (:func:`reference_dir`), the same keys come
    from the public files (see the module's docstring).

    Raises
    ------
    ValueError for an unknown name or split, or a corrupted file; FileNotFoundError for a
    missing file. Both say which command restores it.
    """
    spec = _check_name(name)
    split = _check_split(name, split)
    if max_events is not None and max_events < 1:
        raise ValueError(f"max_events must be a positive integer or None; got {max_events}")
    if reference_dir(name) is not None:
        return _load_reference(name, split, max_events, constituents, bool(cluster_order))

    parts = []
    for salt, (sample, label) in enumerate(spec["files"].items()):
        if name == "dijet_anomaly" and split in ("background", "signal") and label != (split == "signal"):
            continue
        if name == "shower_unfolding" and sample != f"shower_{split}":
            continue
        arrays = dict(_read_sample(checked_path(sample), () if constituents else _PER_CONSTITUENT))
        arrays.pop("n_generated", None)
        if cluster_order is False:
            arrays.pop("cluster_order", None)
        n = len(next(iter(arrays.values())))
        if name == "top_tagging":
            rows = _permuted_slice(n, SPLIT_FRACTIONS[split], salt)
        elif name == "drell_yan":
            rows = _permuted_slice(n, DRELL_YAN_FRACTIONS[split], salt)
        elif name in ("ttbar_partons", "shower_grid"):
            rows = _permuted_slice(n, SPLIT_FRACTIONS[split], salt)
        else:
            rows = np.arange(n)
        part = {k: v[rows] for k, v in arrays.items()}
        if label is not None:
            part["label"] = np.full(len(rows), label, dtype=np.int64)
        parts.append(part)
    # (a key missing from one file, as while a sample is being regenerated, is left out)
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if all(k in p for p in parts)}
    order = np.random.default_rng([SHUFFLE_SEED, len(spec["splits"]), spec["splits"].index(split)]).permutation(
        len(next(iter(out.values()))))
    if max_events is not None:
        order = order[:max_events]
    out = _float32({k: v[order] for k, v in out.items()})
    return _with_derived(name, out)


def iterate(name: str, split: str | None = None, chunk_size: int = 10_000, max_events: int | None = None,
            constituents: bool = True, cluster_order: bool | None = None):
    """Yield a dataset in chunks of at most ``chunk_size`` rows: dicts with the keys of :func:`load`.

    For the reference files (:func:`reference_dir` set) the chunks are read from disk one at a
    time, so a notebook can train on 1.2M jets with the memory of one chunk; for the course's
    own files the split is loaded once and handed out in slices.  The rows come in the order
    of :func:`load` with the same ``max_events``.
    """
    _check_name(name)
    split = _check_split(name, split)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer; got {chunk_size}")
    if reference_dir(name) is None:
        data = load(name, split, max_events, constituents, cluster_order)
        n = len(data["label"]) if "label" in data else len(next(iter(data.values())))
        for start in range(0, n, chunk_size):
            yield {k: v[start:start + chunk_size] for k, v in data.items()}
        return
    if name == "top_tagging":
        for chunk in _iter_reference(name, split, chunk_size, max_events, constituents, bool(cluster_order)):
            yield _with_derived(name, chunk)
        return
    buffered, n_buffered = [], 0  # the LHCO readers' chunks are cut to chunk_size rows
    for chunk in _iter_reference(name, split, None, max_events, constituents, bool(cluster_order)):
        buffered.append(chunk)
        n_buffered += len(chunk["label"])
        while n_buffered >= chunk_size:
            joined = {k: np.concatenate([c[k] for c in buffered]) for k in buffered[0]}
            yield _with_derived(name, {k: v[:chunk_size] for k, v in joined.items()})
            buffered, n_buffered = [{k: v[chunk_size:] for k, v in joined.items()}], n_buffered - chunk_size
    if n_buffered:
        joined = {k: np.concatenate([c[k] for c in buffered]) for k in buffered[0]}
        yield _with_derived(name, joined)


TOP_HIGH_LEVEL = ("jet_mass", "jet_pt", "tau21", "tau32", "tau1", "tau2", "tau3", "n_constituents")


def feature_matrix(data: dict, names=TOP_HIGH_LEVEL) -> np.ndarray:
    """Stack the named per-jet (or per-event) arrays of ``data`` into a float32 matrix ``(n, len(names))``.

    Example: ``X = feature_matrix(load("top_tagging"), ["jet_mass", "tau32"])``.
    """
    names = list(names)
    unknown = [n for n in names if n not in data or np.ndim(data[n]) != 1]
    if unknown:
        usable = sorted(k for k, v in data.items() if np.ndim(v) == 1)
        raise ValueError(f"no per-row feature named {unknown}; available: {usable}")
    return np.stack([np.asarray(data[n], dtype=np.float32) for n in names], axis=1)


# --- reading a reference file by its path ---------------------------------------------------
def load_reference_top_tagging(path, max_jets: int | None = None, chunksize: int = 2_000,
                               taus: bool | None = None, cluster_order: bool = False) -> dict:
    """Read one file of the public top-tagging dataset (arXiv:1902.09914, Zenodo record 2603256).

    Streams it in chunks of ``chunksize`` jets (:func:`utils.reference.iter_top_tagging`) into
    the keys of ``load("top_tagging")``.  ``taus``: None computes N-subjettiness only where
    FastJet is installed (the numpy clustering takes about 30 ms a jet); True or False force it.
    ``load("top_tagging", split)`` with ``COURSE_TOP_TAGGING_DIR`` set reads the same files.
    """
    from .jets import have_fastjet

    taus = have_fastjet() if taus is None else taus
    out = reference.read_top_tagging(path, max_jets, chunksize, taus=taus, cluster_order=cluster_order)
    return _with_derived("top_tagging", out) if taus else out


LHCO_FEATURE_COLUMNS = reference.LHCO_FEATURE_COLUMNS


def load_reference_lhco(path, max_events: int | None = None, chunksize: int | None = None) -> dict:
    """Read an LHC Olympics 2020 R&D file (arXiv:2101.08320): the high-level features file
    ``events_anomalydetection_v2.features.h5`` (Zenodo record 4536377) or the events file
    ``events_anomalydetection_v2.h5`` (Zenodo record 6466204; its particles are clustered with
    FastJet).  Returns the keys of ``load("dijet_anomaly")``.
    """
    chunks = list(reference.iter_lhco(path, chunksize, max_events))
    if not chunks:
        raise ValueError(f"{path} holds no events")
    out = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0] if k not in ("jet1_phi", "jet2_phi")}
    return _with_derived("dijet_anomaly", out)
