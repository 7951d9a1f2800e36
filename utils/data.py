"""The course's datasets: registry, checked loading, and the generation command line.

Datasets (``utils.data.DATASETS``) are made of sample files in ``data/`` (one ``.npz`` per
generated sample), each listed in ``data/manifest.json`` with its sha256, size, generator
settings and seed.  :func:`load` checks a file against the manifest the first time a
process opens it and returns plain numpy arrays.

Command line (run from the course's root folder)::

    python -m utils.data list                      # datasets, files and whether they are present
    python -m utils.data verify                    # check every file against the manifest
    python -m utils.data generate SAMPLE --events N --seed S --workers W [--shard K/N]
    python -m utils.data merge SAMPLE --events N --seed S

Generation needs ``pip install -e ".[generate]"`` (Pythia 8 and FastJet); see
:mod:`utils.generate`.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["DATASETS", "data_dir", "load", "dataset_info", "verify", "save_npz", "load_npz",
           "load_reference_top_tagging", "load_reference_lhco", "sha256", "feature_matrix", "TOP_HIGH_LEVEL"]

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
}

# Split fractions for datasets with train/val/test splits (deterministic, by position after a
# fixed shuffle, so every user gets the same jets in each split).
SPLIT_FRACTIONS = {"train": (0.0, 0.6), "val": (0.6, 0.8), "test": (0.8, 1.0)}
DRELL_YAN_FRACTIONS = {"train": (0.0, 0.6), "val": (0.6, 0.8), "test": (0.8, 1.0), "all": (0.0, 1.0)}
SHUFFLE_SEED = 20221  # fixed: the splits are part of the dataset's definition

# How each sample is stored for shipping (dtypes chosen to keep the files small).
STORED_CONSTITUENTS = 100  # leading constituents kept per top-tagging jet


def data_dir() -> Path:
    """Folder with the data files: ``$COURSE_DATA_DIR`` if set, else ``data/`` beside ``utils/``."""
    return Path(os.environ.get("COURSE_DATA_DIR", Path(__file__).resolve().parent.parent / "data"))


def _manifest_path() -> Path:
    return data_dir() / "manifest.json"


def read_manifest() -> dict:
    """The manifest as a dict ``{file name: entry}``; empty if there is none yet."""
    path = _manifest_path()
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def sha256(path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- deterministic npz ----------------------------------------------------------------------
def save_npz(path, arrays: dict, metadata: dict) -> Path:
    """Write ``arrays`` and a JSON ``metadata`` dict as a compressed ``.npz``, bit-reproducibly.

    ``numpy.savez_compressed`` stamps the current time into the zip; this writes a fixed
    date, sorted names and no pickles, so the same arrays always give the same sha256.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    entries = {**arrays, "metadata": np.array(json.dumps(metadata, sort_keys=True))}
    with zipfile.ZipFile(tmp, "w") as zf:
        for name in sorted(entries):
            buf = io.BytesIO()
            array = np.asarray(entries[name])  # (np.ascontiguousarray would turn 0-d arrays into 1-d)
            np.lib.format.write_array(buf, array if array.flags.c_contiguous else array.copy(), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=6)
    os.replace(tmp, path)
    return path


def load_npz(path, skip=()) -> tuple[dict, dict]:
    """Read a file written by :func:`save_npz`: returns (arrays, metadata). Never unpickles.

    Arrays named in ``skip`` are not read (npz members are decompressed only on access).
    """
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files if k != "metadata" and k not in skip}
        metadata = json.loads(f["metadata"].item()) if "metadata" in f.files else {}
    return arrays, metadata


# --- checked loading ------------------------------------------------------------------------
_VERIFIED: set[Path] = set()


def _regenerate_hint(sample: str) -> str:
    entry = read_manifest().get(f"{sample}.npz")
    if entry:
        return (f"restore it with `git checkout -- data/{sample}.npz` (or `git lfs pull`), or regenerate it with "
                f"`python -m utils.data generate {sample} --events {entry['events_requested']} --seed {entry['seed']}` "
                f"after `pip install -e \".[generate]\"`")
    return f"generate it with `make data` (or `python -m utils.data generate {sample}`)"


def _checked_path(sample: str) -> Path:
    path = data_dir() / f"{sample}.npz"
    if not path.exists():
        raise FileNotFoundError(f"data file {path} is missing: {_regenerate_hint(sample)}")
    if path in _VERIFIED:
        return path
    entry = read_manifest().get(path.name)
    if entry is None:
        raise FileNotFoundError(
            f"{path.name} is not listed in {_manifest_path()}, so it cannot be checked; {_regenerate_hint(sample)}")
    if path.stat().st_size != entry["size"] or sha256(path) != entry["sha256"]:
        raise ValueError(
            f"data file {path} is corrupted or truncated: its size/sha256 ({path.stat().st_size} bytes) do not "
            f"match the manifest ({entry['size']} bytes, sha256 {entry['sha256'][:12]}...); {_regenerate_hint(sample)}")
    _VERIFIED.add(path)
    return path


def _read_sample(sample: str, skip: tuple = ()) -> dict:
    return load_npz(_checked_path(sample), skip=skip)[0]


def dataset_info(name: str) -> dict:
    """Registry entry of a dataset plus the manifest entries (settings, seed, counts) of its files."""
    spec = _check_name(name)
    manifest = read_manifest()
    return {**spec, "manifest": {f: manifest.get(f"{f}.npz") for f in spec["files"]}}


def _check_name(name: str) -> dict:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; the datasets are: {', '.join(DATASETS)}")
    return DATASETS[name]


def _permuted_slice(n: int, lo_hi: tuple[float, float], salt: int) -> np.ndarray:
    order = np.random.default_rng([SHUFFLE_SEED, salt]).permutation(n)
    lo, hi = lo_hi
    return np.sort(order[int(round(lo * n)): int(round(hi * n))])


def _with_derived(name: str, out: dict) -> dict:
    if name == "top_tagging":
        with np.errstate(divide="ignore", invalid="ignore"):
            out["tau21"] = np.where(out["tau1"] > 0, out["tau2"] / out["tau1"], 0.0).astype(np.float32)
            out["tau32"] = np.where(out["tau2"] > 0, out["tau3"] / out["tau2"], 0.0).astype(np.float32)
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
    return out


def load(name: str, split: str | None = None, max_events: int | None = None,
         constituents: bool = True) -> dict:
    """Load a course dataset as a dict of numpy arrays (first axis: jets or events).

    Parameters
    ----------
    name : ``"top_tagging"``, ``"dijet_anomaly"`` or ``"drell_yan"`` (see ``DATASETS``).
    split : ``"train"``/``"val"``/``"test"`` for top_tagging (60/20/20 %, default
        ``"train"``); ``"all"``/``"background"``/``"signal"`` for dijet_anomaly (default
        ``"all"``); ``"train"``/``"val"``/``"test"``/``"all"`` for drell_yan (60/20/20 %, default
        ``"train"``).
    max_events : keep only the first ``max_events`` rows (the rows are shuffled, so classes
        stay mixed); for fast mode.
    constituents : False skips the top-tagging constituents (most of the memory: 1.2 kB a
        jet as float32) when only jet-level features are needed.

    Returns
    -------
    dict with, for **top_tagging**: ``constituents`` ``(n, 100, 3)`` float32 of
    (pt [GeV], deta, dphi) relative to the jet axis, pt-ordered, zero-padded; ``label``
    (1 = top); ``jet_pt``, ``jet_eta``, ``jet_phi``, ``jet_mass`` [GeV]; ``n_constituents``;
    ``tau1``, ``tau2``, ``tau3``, ``tau21``, ``tau32``.
    For **dijet_anomaly**: ``mjj`` [GeV]; the two leading jets by pt as ``jet1_*``/``jet2_*``
    (``pt``, ``eta``, ``mass``, ``tau1..3``); CATHODE's features with j1 the lighter
    jet: ``m_j1``, ``m_j2``, ``delta_m``, ``tau21_j1``, ``tau21_j2``, ``tau32_j1``, ``tau32_j2``;
    ``label`` (1 = W' signal).
    For **drell_yan**: ``mu_plus_pt/eta/phi``, ``mu_minus_pt/eta/phi``, ``m_mumu``, ``pt_mumu``.

    Raises
    ------
    ValueError for an unknown name or split, or a corrupted file; FileNotFoundError for a
    missing file. Both say which command restores it.
    """
    spec = _check_name(name)
    split = split or spec["splits"][0]
    if split not in spec["splits"]:
        raise ValueError(f"dataset {name!r} has splits {spec['splits']}; got split={split!r}")
    if max_events is not None and max_events < 1:
        raise ValueError(f"max_events must be a positive integer or None; got {max_events}")

    parts = []
    for salt, (sample, label) in enumerate(spec["files"].items()):
        if name == "dijet_anomaly" and split in ("background", "signal") and label != (split == "signal"):
            continue
        arrays = _read_sample(sample, skip=() if constituents else ("constituents",))
        arrays.pop("n_generated", None)
        n = len(next(iter(arrays.values())))
        if name == "top_tagging":
            rows = _permuted_slice(n, SPLIT_FRACTIONS[split], salt)
        elif name == "drell_yan":
            rows = _permuted_slice(n, DRELL_YAN_FRACTIONS[split], salt)
        else:
            rows = np.arange(n)
        part = {k: v[rows] for k, v in arrays.items()}
        part["label"] = np.full(len(rows), label, dtype=np.int64)
        parts.append(part)
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.random.default_rng([SHUFFLE_SEED, len(spec["splits"]), spec["splits"].index(split)]).permutation(
        len(out["label"]))
    if max_events is not None:
        order = order[:max_events]
    out = {k: v[order] for k, v in out.items()}
    for k, v in out.items():
        if v.dtype in (np.float16, np.float64):
            out[k] = v.astype(np.float32)
    return _with_derived(name, out)


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


def verify(verbose: bool = True) -> bool:
    """Check every file of the manifest (size and sha256); True if all are present and intact."""
    ok = True
    for fname, entry in read_manifest().items():
        path = data_dir() / fname
        if not path.exists():
            status, ok = "MISSING", False
        elif path.stat().st_size != entry["size"] or sha256(path) != entry["sha256"]:
            status, ok = "CORRUPTED", False
        else:
            status = "ok"
        if verbose:
            print(f"{status:10s} {fname:20s} {entry['size'] / 1e6:7.1f} MB  {entry.get('n_rows', '?')} rows")
    return ok


# --- reference datasets ---------------------------------------------------------------------
def _hdf_chunks(path, chunksize: int, max_rows: int | None):
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"reference file {path} not found; download it yourself (see book/data.md) and pass its path")
    with pd.HDFStore(path, mode="r") as store:
        keys = store.keys()
        key = "table" if "/table" in keys else (keys[0] if len(keys) == 1 else None)
        if key is None:
            raise ValueError(f"{path} has keys {keys}; expected one table (key 'table')")
        n = store.get_storer(key).nrows or len(store.select(key))
        n = n if max_rows is None else min(n, max_rows)
        for start in range(0, n, chunksize):
            yield store.select(key, start=start, stop=min(start + chunksize, n))


def load_reference_top_tagging(path, max_jets: int | None = None, chunksize: int = 50_000,
                               n_constituents: int = STORED_CONSTITUENTS) -> dict:
    """Read a file of the public top-tagging dataset (arXiv:1902.09914, Zenodo 2603256).

    The file is pandas HDF5 with key ``table``, columns ``E_i, PX_i, PY_i, PZ_i``
    (i = 0..199, pt-ordered, zero-padded) and ``is_signal_new`` (1 = top); it is read in
    chunks of ``chunksize`` rows.  Returns the course's format (see :func:`load`):
    ``constituents`` ``(n, n_constituents, 3)`` of (pt, deta, dphi), ``label``, ``jet_pt``,
    ``jet_eta``, ``jet_phi``, ``jet_mass``, ``n_constituents``.  N-subjettiness is not
    computed here (use :func:`utils.jets.nsubjettiness` on a subset: it takes about 1 ms a jet).
    """
    from .jets import delta_phi, to_ptetaphim

    chunks = []
    for df in _hdf_chunks(path, chunksize, max_jets):
        missing = [c for c in ("E_0", "PX_0", "PY_0", "PZ_0", "is_signal_new") if c not in df.columns]
        if missing:
            raise ValueError(f"{path} is not in the top-tagging format: columns {missing} are missing")
        n_avail = sum(1 for c in df.columns if c.startswith("E_"))
        k = min(n_constituents, n_avail)
        p4 = np.stack([df[[f"{v}_{i}" for i in range(n_avail)]].to_numpy(np.float64) for v in ("E", "PX", "PY", "PZ")], -1)
        jet_pt, jet_eta, jet_phi, jet_mass = to_ptetaphim(p4.sum(axis=1))
        pt, eta, phi, _ = to_ptetaphim(p4[:, :k])
        real = p4[:, :k, 0] > 0
        constituents = np.zeros((len(df), n_constituents, 3), dtype=np.float32)
        constituents[:, :k, 0] = np.where(real, pt, 0)
        constituents[:, :k, 1] = np.where(real, eta - jet_eta[:, None], 0)
        constituents[:, :k, 2] = np.where(real, delta_phi(phi, jet_phi[:, None]), 0)
        chunks.append({
            "constituents": constituents, "label": df["is_signal_new"].to_numpy(np.int64),
            "jet_pt": jet_pt.astype(np.float32), "jet_eta": jet_eta.astype(np.float32),
            "jet_phi": jet_phi.astype(np.float32), "jet_mass": jet_mass.astype(np.float32),
            "n_constituents": (p4[..., 0] > 0).sum(axis=1).astype(np.int32),
        })
    if not chunks:
        raise ValueError(f"{path} holds no jets")
    return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}


LHCO_FEATURE_COLUMNS = ["pxj1", "pyj1", "pzj1", "mj1", "tau1j1", "tau2j1", "tau3j1",
                        "pxj2", "pyj2", "pzj2", "mj2", "tau1j2", "tau2j2", "tau3j2", "label"]


def load_reference_lhco(path, max_events: int | None = None, chunksize: int = 200_000) -> dict:
    """Read the LHC Olympics 2020 R&D high-level features file (arXiv:2101.08320; Zenodo 2629073,
    ``events_anomalydetection_v2.features.h5``): pandas HDF5 with columns
    ``pxj1 pyj1 pzj1 mj1 tau1j1 tau2j1 tau3j1`` (and the same for j2) and ``label``.
    Returns the same keys as ``load("dijet_anomaly")``.
    """
    from .jets import invariant_mass, to_ptetaphim

    parts = []
    for df in _hdf_chunks(path, chunksize, max_events):
        missing = [c for c in LHCO_FEATURE_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"{path} is not the LHCO R&D features file: columns {missing} are missing")
        out, p4 = {}, []
        for j in (1, 2):
            px, py, pz, m = (df[f"{v}j{j}"].to_numpy(np.float64) for v in ("px", "py", "pz", "m"))
            vec = np.stack([np.sqrt(px**2 + py**2 + pz**2 + m**2), px, py, pz], -1)
            p4.append(vec)
            pt, eta, _, _ = to_ptetaphim(vec)
            out.update({f"jet{j}_pt": pt, f"jet{j}_eta": eta, f"jet{j}_mass": m})
            out.update({f"jet{j}_tau{i}": df[f"tau{i}j{j}"].to_numpy(np.float64) for i in (1, 2, 3)})
        # the LHCO file lists its jets by mass; the course's files list them by pt
        swap = out["jet2_pt"] > out["jet1_pt"]
        for var in ("pt", "eta", "mass", "tau1", "tau2", "tau3"):
            a, b = out[f"jet1_{var}"].copy(), out[f"jet2_{var}"].copy()
            out[f"jet1_{var}"], out[f"jet2_{var}"] = np.where(swap, b, a), np.where(swap, a, b)
        out["mjj"] = invariant_mass(*p4)
        out["label"] = df["label"].to_numpy(np.int64)
        parts.append(out)
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    out = {k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in out.items()}
    return _with_derived("dijet_anomaly", out)


# --- generation command line ----------------------------------------------------------------
def _pack_for_shipping(sample: str, arrays: dict) -> dict:
    """Shrink a merged sample for the repository: float16 constituents, float32 elsewhere."""
    out = {}
    for key, value in arrays.items():
        if key == "constituents":
            out[key] = value[:, :STORED_CONSTITUENTS].astype(np.float16)
        elif sample.startswith("dijet") and key.endswith("_phi"):
            continue  # the azimuth of a dijet event is uniform: 6 MB saved, nothing lost
        elif sample.startswith("dijet") and "_tau" in key:
            out[key] = value.astype(np.float16)  # 0 < tau < 1: float16 keeps 3 significant digits
        elif value.dtype == np.float64:
            out[key] = value.astype(np.float32)
        else:
            out[key] = value
    return out


def _write_sample(sample: str, arrays: dict, metadata: dict) -> Path:
    arrays = _pack_for_shipping(sample, arrays)
    n_rows = len(next(v for k, v in arrays.items() if k != "n_generated"))
    metadata = {**metadata, "n_rows": n_rows, "stored_constituents": STORED_CONSTITUENTS
                if "constituents" in arrays else None}
    path = save_npz(data_dir() / f"{sample}.npz", arrays, metadata)
    manifest = read_manifest()
    manifest[path.name] = {
        "sha256": sha256(path), "size": path.stat().st_size, "n_rows": n_rows,
        "seed": metadata["seed"], "events_requested": metadata["events_requested"],
        "n_generated": metadata["n_generated"], "description": metadata["description"],
        "pythia_settings": metadata["pythia_settings"], "jets": metadata["jets"], "versions": metadata["versions"],
        "command": f"python -m utils.data generate {sample} --events {metadata['events_requested']} --seed {metadata['seed']}",
    }
    _manifest_path().write_text(json.dumps(dict(sorted(manifest.items())), indent=2) + "\n")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {n_rows} rows, sha256 {manifest[path.name]['sha256'][:12]}...)")
    return path


def _parse_shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard takes K/N, e.g. 3/10; got {text!r}") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"--shard K/N needs 1 <= K <= N; got {text!r}")
    return k, n


def main(argv=None) -> int:
    from . import generate as gen

    parser = argparse.ArgumentParser(prog="python -m utils.data", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="datasets, their files and whether they are present")
    sub.add_parser("verify", help="check every data file against the manifest")
    for cmd in ("generate", "merge"):
        p = sub.add_parser(cmd, help="generate a sample (needs .[generate])" if cmd == "generate"
                           else "join the chunks of a sharded run into the sample file")
        p.add_argument("sample", help=f"one of: {', '.join(gen.SAMPLES)}")
        p.add_argument("--events", type=int, default=None, help="generated events (default: the course's)")
        p.add_argument("--seed", type=int, default=1, help="base seed (default 1)")
        p.add_argument("--cache", type=Path, default=None, help="folder for chunk files (default data/cache)")
        if cmd == "generate":
            p.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
            p.add_argument("--shard", type=_parse_shard, default=None,
                           help="K/N: run only the K-th of N slices (a batch job); then `merge`")
    args = parser.parse_args(argv)

    if args.command == "list":
        manifest = read_manifest()
        for name, spec in DATASETS.items():
            print(f"{name}: {spec['description']}")
            for f in spec["files"]:
                present = (data_dir() / f"{f}.npz").exists()
                rows = manifest.get(f"{f}.npz", {}).get("n_rows", "?")
                print(f"    {f}.npz  {'present' if present else 'MISSING'}  {rows} rows")
        return 0
    if args.command == "verify":
        good = verify()
        if not good:
            print("some files are missing or corrupted: `git checkout -- data/` restores the shipped ones, "
                  "`make data` regenerates them", file=sys.stderr)
        return 0 if good else 1

    if args.sample not in gen.SAMPLES:
        parser.error(f"unknown sample {args.sample!r}; choose from {', '.join(gen.SAMPLES)}")
    events = args.events or gen.SAMPLES[args.sample]["default_events"]
    cache = args.cache or gen.default_cache_dir()
    if args.command == "generate":
        gen.run_chunks(args.sample, events, args.seed, cache, workers=args.workers, shard=args.shard or (1, 1))
        if args.shard and args.shard[1] > 1:
            print(f"shard {args.shard[0]}/{args.shard[1]} done; when all shards are, run "
                  f"`python -m utils.data merge {args.sample} --events {events} --seed {args.seed}`")
            return 0
    arrays, metadata = gen.merge_chunks(args.sample, events, args.seed, cache)
    _write_sample(args.sample, arrays, metadata)
    return 0


if __name__ == "__main__":
    sys.exit(main())
