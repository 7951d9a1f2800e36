"""The community's reference datasets, read in chunks into the course's format.

The notebooks switch to these files with one environment variable per dataset (see
:func:`utils.data.reference_dir`); this module only knows the file formats.  Every reader
streams: it counts the rows without reading them, checks the columns on a one-row read, then
reads ``chunk_size`` rows at a time, so the memory it needs beyond the arrays it returns does
not grow with the size of the file.

Files and where they are published
----------------------------------
* **Top tagging** (Kasieczka et al., arXiv:1902.09914; Zenodo record 2603256): ``train.h5``,
  ``val.h5``, ``test.h5`` (1.2M, 400k, 400k jets), pandas HDF5 in the *fixed* format, key
  ``table``, columns ``E_i, PX_i, PY_i, PZ_i`` for the 200 leading constituents (i = 0..199,
  pt-ordered, zero-padded), ``truthE``, ``truthPX``, ``truthPY``, ``truthPZ``, ``ttv`` and
  ``is_signal_new`` (1 = top).  Read by :func:`iter_top_tagging`.
* **LHC Olympics 2020 R&D** (Kasieczka et al., arXiv:2101.08320):

  - ``events_anomalydetection_v2.features.h5``, the high-level features (``pxj1 pyj1 pzj1 mj1
    tau1j1 tau2j1 tau3j1``, the same for j2, and ``label``) of the R&D events: Zenodo record
    4536377.  Read by :func:`iter_lhco_features`.
  - ``events_anomalydetection_v2.h5``, the events themselves: key ``df``, 1.1M rows (1M QCD
    dijets, 100k W' signal events) of 2101 columns, 700 massless particles x (pT, eta, phi),
    zero-padded, then the label: Zenodo record 6466204 (the original
    ``events_anomalydetection.h5``, in the same format, is in record 2629073).  Read by :func:`iter_lhco_events`,
    which clusters the particles into anti-kT R = 1.0 jets with FastJet.
"""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np

from . import jets as jet_tools
from .storage import atomic_write, cache_dir

__all__ = ["TOP_TAGGING_FILES", "LHCO_FEATURES_FILE", "LHCO_EVENTS_FILE", "LHCO_FEATURE_COLUMNS", "hdf_info",
           "iter_hdf", "iter_top_tagging", "read_top_tagging", "iter_lhco_features", "iter_lhco_events",
           "iter_lhco", "lhco_file", "write_top_tagging"]

TOP_TAGGING_FILES = {"train": "train.h5", "val": "val.h5", "test": "test.h5"}
TOP_TAGGING_CONSTITUENTS = 100  # kept per jet, as in the course's files
TOP_TAGGING_R = 0.8
LHCO_FEATURES_FILE = "events_anomalydetection_v2.features.h5"
LHCO_EVENTS_FILE = "events_anomalydetection_v2.h5"
LHCO_EVENTS_FILE_V1 = "events_anomalydetection.h5"  # the original R&D file (Zenodo 2629073), same format
LHCO_FEATURE_COLUMNS = ["pxj1", "pyj1", "pzj1", "mj1", "tau1j1", "tau2j1", "tau3j1",
                        "pxj2", "pyj2", "pzj2", "mj2", "tau1j2", "tau2j2", "tau3j2", "label"]
LHCO_PARTICLES = 700
LHCO_R = 1.0


# --- HDF5, streamed -------------------------------------------------------------------------
def _pandas():
    """pandas with PyTables, which the public files need; missing, an error that names the extra to install."""
    try:
        import pandas as pd
        import tables  # noqa: F401  (pandas reads HDF5 through it)
    except ImportError as err:
        raise ImportError(f"reading the public reference files needs pandas and PyTables ({err.name} is missing): "
                          "pip install -e \".[reference]\" (on Colab: %pip install tables)") from None
    return pd


def _open(path):
    pd = _pandas()

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"reference file {path} not found; download it yourself (see book/data.md)")
    store = pd.HDFStore(path, mode="r")
    keys = store.keys()
    key = "table" if "/table" in keys else (keys[0] if len(keys) == 1 else None)
    if key is None:
        store.close()
        raise ValueError(f"{path} has keys {keys}; expected one table (key 'table')")
    return store, key


def _n_rows(store, key) -> int:
    """Rows of a pandas HDF5 frame, read from its metadata (nothing of the data is read)."""
    storer = store.get_storer(key)
    if storer.is_table:
        return int(storer.nrows)
    return int(storer.shape[0])  # fixed format: the shape of block0_values, from the HDF5 header


def hdf_info(path) -> tuple[int, list]:
    """(number of rows, column names) of a pandas HDF5 file, from its metadata and a one-row read."""
    store, key = _open(path)
    with store:
        return _n_rows(store, key), list(store.select(key, start=0, stop=1).columns)


def iter_hdf(path, chunk_size: int, max_rows: int | None = None, required=()):
    """Yield ``(start, DataFrame)`` of at most ``chunk_size`` rows, in file order, up to ``max_rows`` rows.

    The columns named in ``required`` are checked on a one-row read before anything else is
    read (a ValueError names the missing ones).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive; got {chunk_size}")
    store, key = _open(path)
    with store:
        n = _n_rows(store, key)
        columns = set(store.select(key, start=0, stop=1).columns) if n else set()
        missing = [c for c in required if c not in columns]
        if missing:
            raise ValueError(f"{path} is not in the expected format: columns {missing} are missing")
        n = n if max_rows is None else min(n, max_rows)
        for start in range(0, n, chunk_size):
            yield start, store.select(key, start=start, stop=min(start + chunk_size, n))


# --- top tagging ----------------------------------------------------------------------------
CACHE_FORMAT = 1  # bumped whenever a cached quantity changes for the same rows (its definition, R0, dtype, ...)
CACHE_BLOCK = 10_000  # rows of a file per cache file, whatever chunk size the caller reads with


def _cache_folder(path: Path) -> Path:
    """Folder of the quantities cached for one reference file (keyed on its path, size and modification time)."""
    stat = path.stat()
    tag = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return cache_dir() / "reference" / f"{path.stem}-{tag}"


class _BlockCache:
    """One quantity per row of a reference file (N-subjettiness, clustering order), cached on disk.

    The rows are cut into fixed blocks, ``[b * CACHE_BLOCK, (b + 1) * CACHE_BLOCK)``, one file
    each (``<name>_v<CACHE_FORMAT>_rows<first>-<end>.npy``), independent of the chunks the file
    is read in: reading with chunks of 2 000 or 20 000 jets, or only the first ``max_jets``,
    makes and finds the same files.  A file holds the leading rows of its block that have been
    computed so far (the readers go through a file from its first row); a read that goes
    further computes only the rows after them and rewrites the file, longer.  The format
    version in the name means a change of convention never serves stale values.
    """

    def __init__(self, path: Path, name: str, dtype):
        self.path, self.name, self.dtype = path, name, np.dtype(dtype)
        self.folder = None  # found on first use, once the reader has checked that the file exists
        self.block, self.rows = None, None  # the block in hand and its leading rows

    def _file(self, block: int) -> Path:
        if self.folder is None:
            self.folder = _cache_folder(self.path)
        first = block * CACHE_BLOCK
        return self.folder / f"{self.name}_v{CACHE_FORMAT}_rows{first}-{first + CACHE_BLOCK}.npy"

    def _load(self, block: int) -> np.ndarray | None:
        if self.block != block:
            self.block, self.rows = block, None
            try:
                self.rows = np.load(self._file(block), allow_pickle=False).astype(self.dtype, copy=False)
            except (OSError, ValueError, EOFError):  # not there yet (or unreadable): computed afresh
                pass
        return self.rows

    def get(self, start: int, inputs: np.ndarray, compute) -> np.ndarray:
        """The values of rows ``start .. start + len(inputs)`` of the file, whose inputs (one row per
        jet) are ``inputs``: read from the cache, and ``compute(inputs[lo:hi])`` where they are not."""
        stop = start + len(inputs)
        pieces = []
        for block in range(start // CACHE_BLOCK, (stop - 1) // CACHE_BLOCK + 1):
            first = block * CACHE_BLOCK
            lo, hi = max(start, first), min(stop, first + CACHE_BLOCK)  # rows of the file, in this block
            have = self._load(block)
            n_have = 0 if have is None else len(have)
            if hi - first <= n_have:  # all cached
                pieces.append(have[lo - first:hi - first])
                continue
            new = np.asarray(compute(inputs[max(lo, first + n_have) - start:hi - start])).astype(self.dtype, copy=False)
            if lo > first + n_have:  # a gap before these rows (a read that did not start at the block's first row)
                pieces.append(new)
                continue
            self.rows = new if have is None else np.concatenate([have, new])
            with atomic_write(self._file(block)) as f:  # unique temporary file: safe with concurrent readers
                np.save(f, self.rows, allow_pickle=False)
            pieces.append(self.rows[lo - first:hi - first])
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


def iter_top_tagging(path, chunk_size: int = 2_000, max_jets: int | None = None, constituents: bool = True,
                     taus: bool = True, cluster_order: bool = False, backend: str = "auto"):
    """Yield the jets of a top-tagging file (Zenodo 2603256) in chunks, in the course's format.

    Each chunk is a dict as :func:`utils.data.load` returns for ``top_tagging`` before the
    derived ratios: ``constituents`` ``(n, 100, 3)`` float32 of (pt, deta, dphi) relative to
    the jet axis (if ``constituents``), ``label``, ``jet_pt``, ``jet_eta``, ``jet_phi``,
    ``jet_mass`` (of the sum of all 200 constituents, massless as in the file),
    ``n_constituents``, ``tau1..3`` (if ``taus``: :func:`utils.jets.nsubjettiness_taus` on
    all 200 constituents, R0 = 0.8, with FastJet where installed) and ``cluster_order``
    (if ``cluster_order``: :func:`utils.jets.cluster_order`, needs FastJet). Both are computed
    once and cached on disk (``utils.storage.cache_dir() / "reference"``) in blocks of
    ``CACHE_BLOCK`` rows whatever ``chunk_size`` is, keyed on the file's path, size and
    modification time and on ``CACHE_FORMAT``: the next run reads them back, with any chunk size.
    """
    path = Path(path)
    required = ["E_0", "PX_0", "PY_0", "PZ_0", "is_signal_new"]
    method = jet_tools.resolve_backend(backend) if taus else None  # part of the tau cache's key
    if taus and backend != "fastjet" and not jet_tools.have_fastjet():
        n_rows = hdf_info(path)[0] if max_jets is None else max_jets
        if n_rows > 10_000:
            warnings.warn(f"FastJet is not installed: N-subjettiness of {n_rows} jets with the numpy clustering takes "
                          f"about {n_rows * 0.03 / 60:.0f} minutes; `pip install fastjet` makes it about 100 times faster",
                          stacklevel=2)
    tau_cache = _BlockCache(path, f"taus_{method}", np.float64) if taus else None
    order_cache = _BlockCache(path, "cluster_order", np.uint8) if constituents and cluster_order else None
    for start, df in iter_hdf(path, chunk_size, max_jets, required):
        n_avail = sum(1 for c in df.columns if str(c).startswith("E_"))
        k = min(TOP_TAGGING_CONSTITUENTS, n_avail)
        p4 = np.empty((len(df), n_avail, 4))
        for v, name in enumerate(("E", "PX", "PY", "PZ")):
            p4[..., v] = df[[f"{name}_{i}" for i in range(n_avail)]].to_numpy(np.float64)
        label = df["is_signal_new"].to_numpy(np.int64)
        del df
        jet_pt, jet_eta, jet_phi, jet_mass = jet_tools.to_ptetaphim(p4.sum(axis=1))
        real = p4[..., 0] > 0
        pt, eta, phi, _ = jet_tools.to_ptetaphim(p4)
        del p4
        relative = np.zeros(real.shape + (3,))
        relative[..., 0] = np.where(real, pt, 0.0)
        relative[..., 1] = np.where(real, eta - jet_eta[:, None], 0.0)
        relative[..., 2] = np.where(real, jet_tools.delta_phi(phi, jet_phi[:, None]), 0.0)
        del pt, eta, phi
        chunk = {"label": label, "jet_pt": jet_pt.astype(np.float32), "jet_eta": jet_eta.astype(np.float32),
                 "jet_phi": jet_phi.astype(np.float32), "jet_mass": jet_mass.astype(np.float32),
                 "n_constituents": real.sum(axis=1).astype(np.int32)}
        if taus:  # computed once per row of the file, then read from the cache (FastJet: about 0.3 ms a jet)
            values = tau_cache.get(start, relative, lambda rows: jet_tools.nsubjettiness_taus(
                rows, TOP_TAGGING_R, 3, backend=method))
            for i in (1, 2, 3):
                chunk[f"tau{i}"] = values[:, i - 1].astype(np.float32)
        kept = np.zeros((len(label), TOP_TAGGING_CONSTITUENTS, 3), dtype=np.float32)
        kept[:, :k] = relative[:, :k]
        del relative
        if constituents:
            chunk["constituents"] = kept
            if cluster_order:
                chunk["cluster_order"] = order_cache.get(start, kept, jet_tools.cluster_order).astype(np.int64)
        yield chunk


def write_top_tagging(path, jets: dict, n_columns: int = 200) -> Path:
    """Write course-format jets into a file in the format of the public top-tagging files.

    ``jets`` is a dict of :func:`utils.data.load` for ``top_tagging``: ``constituents``
    ``(n, k, 3)`` of (pt [GeV], deta, dphi) relative to the jet axis, ``jet_eta``, ``jet_phi``
    and ``label``.  The file has the columns of Zenodo 2603256 (``E_i, PX_i, PY_i, PZ_i`` of
    massless constituents for i < ``n_columns``, zero-padded; the ``truth*`` and ``ttv``
    columns as zeros; ``is_signal_new``), pandas *fixed* format, key ``table``.  So the
    reference path of every top-tagging notebook can be tried without the 8 GB download:
    ``COURSE_TOP_TAGGING_DIR`` set to a folder of such ``train.h5``, ``val.h5``, ``test.h5``.
    """
    pd = _pandas()

    c = np.asarray(jets["constituents"], dtype=np.float64)
    if c.ndim != 3 or c.shape[-1] != 3 or c.shape[1] > n_columns:
        raise ValueError(f"constituents must have shape (n, k <= {n_columns}, 3); got {c.shape}")
    n, k = c.shape[:2]
    p4 = np.zeros((n, n_columns, 4))
    p4[:, :k] = jet_tools.to_cartesian(c[..., 0], c[..., 1] + np.asarray(jets["jet_eta"], np.float64)[:, None],
                                       c[..., 2] + np.asarray(jets["jet_phi"], np.float64)[:, None])
    p4[:, :k][c[..., 0] <= 0] = 0.0
    columns = {f"{name}_{i}": p4[:, i, v] for v, name in enumerate(("E", "PX", "PY", "PZ")) for i in range(n_columns)}
    zeros = np.zeros(n)
    columns.update({"truthE": zeros, "truthPX": zeros, "truthPY": zeros, "truthPZ": zeros, "ttv": zeros,
                    "is_signal_new": np.asarray(jets["label"], dtype=np.int64)})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(columns).to_hdf(path, key="table", mode="w", format="fixed")
    return path


def read_top_tagging(path, max_jets: int | None = None, chunk_size: int = 2_000, **options) -> dict:
    """All (or the first ``max_jets``) jets of a top-tagging file as one dict (see :func:`iter_top_tagging`).

    The output arrays are allocated once, from the row count in the file's metadata, and filled
    chunk by chunk: the peak memory is the returned arrays plus one chunk's work.
    """
    n = hdf_info(path)[0]
    n = n if max_jets is None else min(n, max_jets)
    out, filled = None, 0
    for chunk in iter_top_tagging(path, chunk_size, max_jets, **options):
        if out is None:
            out = {key: np.empty((n,) + v.shape[1:], dtype=v.dtype) for key, v in chunk.items()}
        m = len(chunk["label"])
        for key, v in chunk.items():
            out[key][filled:filled + m] = v
        filled += m
    if out is None:
        raise ValueError(f"{path} holds no jets")
    return out


# --- LHC Olympics ---------------------------------------------------------------------------
def _pt_ordered(out: dict) -> dict:
    """Swap jet1 and jet2 row by row where jet2 has the larger pt, so that jet1 is the harder jet."""
    swap = out["jet2_pt"] > out["jet1_pt"]
    for var in ("pt", "eta", "phi", "mass", "tau1", "tau2", "tau3"):
        if f"jet1_{var}" in out:
            a, b = out[f"jet1_{var}"], out[f"jet2_{var}"]
            out[f"jet1_{var}"], out[f"jet2_{var}"] = np.where(swap, b, a), np.where(swap, a, b)
    return out


def _select_label(out: dict, label: int | None) -> dict:
    if label is None:
        return out
    keep = out["label"] == label
    return {k: v[keep] for k, v in out.items()}


def iter_lhco_features(path, chunk_size: int = 200_000, max_events: int | None = None, label: int | None = None):
    """Yield the LHCO R&D high-level features file (Zenodo 4536377) in chunks, in the course's format.

    Keys as the course's ``dijet_anomaly`` sample files: ``mjj``, ``jet1_*``/``jet2_*``
    (``pt``, ``eta``, ``phi``, ``mass``, ``tau1..3``; jet1 the harder jet) and ``label``.
    ``max_events`` counts rows of the file; ``label`` (0 or 1) keeps only those events.
    """
    for _, df in iter_hdf(path, chunk_size, max_events, LHCO_FEATURE_COLUMNS):
        out, p4 = {}, []
        for j in (1, 2):
            px, py, pz, m = (df[f"{v}j{j}"].to_numpy(np.float64) for v in ("px", "py", "pz", "m"))
            vec = np.stack([np.sqrt(px**2 + py**2 + pz**2 + m**2), px, py, pz], -1)
            p4.append(vec)
            pt, eta, phi, _ = jet_tools.to_ptetaphim(vec)
            out.update({f"jet{j}_pt": pt, f"jet{j}_eta": eta, f"jet{j}_phi": phi, f"jet{j}_mass": m})
            out.update({f"jet{j}_tau{i}": df[f"tau{i}j{j}"].to_numpy(np.float64) for i in (1, 2, 3)})
        out["mjj"] = jet_tools.invariant_mass(*p4)
        out["label"] = df["label"].to_numpy(np.int64)
        out = {k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in _pt_ordered(out).items()}
        yield _select_label(out, label)


def _cluster_events(pt, eta, phi, radius: float):
    """The two leading anti-kT jets of each event (FastJet, vectorised): their four-momenta and constituents."""
    fastjet, ak = jet_tools._import_fastjet("clustering the LHCO events")
    mask = pt > 0
    p4 = jet_tools.to_cartesian(pt, eta, phi)
    flat = p4[mask]
    particles = ak.unflatten(ak.zip({"px": flat[:, 1], "py": flat[:, 2], "pz": flat[:, 3], "E": flat[:, 0]},
                                    with_name="Momentum4D"), mask.sum(axis=1))
    sequence = fastjet.ClusterSequence(particles, fastjet.JetDefinition(fastjet.antikt_algorithm, radius))
    found = sequence.inclusive_jets()
    members = sequence.constituents()
    jet_pt = np.hypot(found["px"], found["py"])
    order = ak.argsort(jet_pt, axis=1, ascending=False)
    found, members = found[order][:, :2], members[order][:, :2]
    n_jets = ak.to_numpy(ak.num(found))
    jet_p4 = np.zeros((len(pt), 2, 4))
    for k, name in enumerate(("E", "px", "py", "pz")):
        values = ak.to_numpy(ak.fill_none(ak.pad_none(found[name], 2, axis=1), 0.0))
        jet_p4[..., k] = values
    parts = []
    for j in range(2):
        has = n_jets > j
        jet_members = members[has][:, j]
        counts = ak.to_numpy(ak.num(jet_members))
        width = max(int(counts.max()) if len(counts) else 1, 1)
        c = np.zeros((len(pt), width, 4))
        for k, name in enumerate(("E", "px", "py", "pz")):
            padded = ak.to_numpy(ak.fill_none(ak.pad_none(jet_members[name], width, axis=1), 0.0))
            c[has, :, k] = padded
        parts.append(c)
    return jet_p4, parts, n_jets


def iter_lhco_events(path, chunk_size: int = 5_000, max_events: int | None = None, label: int | None = None,
                     backend: str = "fastjet"):
    """Yield the LHCO R&D events file (``events_anomalydetection_v2.h5``, Zenodo 6466204) in the course's format.

    The 700 massless particles of each event are clustered with FastJet into anti-kT R = 1.0
    jets (needs ``pip install fastjet``); the two leading jets by pt give ``mjj``,
    ``jet1_*``/``jet2_*`` (``pt``, ``eta``, ``phi``, ``mass``, ``tau1..3`` with R0 = 1.0, as
    the course's dijet files) and ``label``.  Events with fewer than two jets are dropped.
    No trigger or pt cut is applied beyond the file's own (a leading jet above 1.2 TeV).
    """
    jet_tools._import_fastjet("reading the LHCO events file")  # a clear error before anything is read
    n_columns = 3 * LHCO_PARTICLES + 1
    for _, df in iter_hdf(path, chunk_size, max_events):
        if df.shape[1] != n_columns:
            raise ValueError(f"{path} is not the LHCO R&D events file: {df.shape[1]} columns, expected {n_columns} "
                             f"(700 particles x (pT, eta, phi) and the label)")
        values = df.to_numpy(np.float64)
        del df
        event_label = values[:, -1].astype(np.int64)
        pt, eta, phi = values[:, 0:-1:3], values[:, 1:-1:3], values[:, 2:-1:3]
        jet_p4, parts, n_jets = _cluster_events(pt, eta, phi, LHCO_R)
        del values, pt, eta, phi
        out = {"mjj": jet_tools.invariant_mass(jet_p4[:, 0], jet_p4[:, 1])}
        for j in range(2):
            jpt, jeta, jphi, jm = jet_tools.to_ptetaphim(jet_p4[:, j])
            cpt, ceta, cphi, _ = jet_tools.to_ptetaphim(parts[j])
            real = cpt > 0
            relative = np.stack([np.where(real, cpt, 0.0), np.where(real, ceta - jeta[:, None], 0.0),
                                 np.where(real, jet_tools.delta_phi(cphi, jphi[:, None]), 0.0)], axis=-1)
            # each jet's constituents pt-ordered, as the course stores them
            order = np.argsort(-relative[..., 0], axis=1, kind="stable")
            relative = np.take_along_axis(relative, order[..., None], axis=1)
            taus = jet_tools.nsubjettiness_taus(relative, LHCO_R, 3, backend=backend)
            out.update({f"jet{j + 1}_pt": jpt, f"jet{j + 1}_eta": jeta, f"jet{j + 1}_phi": jphi, f"jet{j + 1}_mass": jm})
            out.update({f"jet{j + 1}_tau{i}": taus[:, i - 1] for i in (1, 2, 3)})
        out["label"] = event_label
        keep = n_jets >= 2
        out = {k: (v.astype(np.float32) if v.dtype == np.float64 else v)[keep] for k, v in out.items()}
        yield _select_label(out, label)


def lhco_file(folder) -> Path:
    """The LHCO file to read in ``folder``: the features file if present, else the events file (v2, else v1)."""
    folder = Path(folder)
    for name in (LHCO_FEATURES_FILE, LHCO_EVENTS_FILE, LHCO_EVENTS_FILE_V1):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(f"{folder} holds neither {LHCO_FEATURES_FILE} (Zenodo 4536377) nor {LHCO_EVENTS_FILE} "
                            f"(Zenodo 6466204); see book/data.md")


def iter_lhco(path, chunk_size: int | None = None, max_events: int | None = None, label: int | None = None):
    """Either LHCO file, recognised by its columns (the features file has ``mj1``)."""
    _, columns = hdf_info(path)
    if "mj1" in columns:
        yield from iter_lhco_features(path, chunk_size or 200_000, max_events, label)
    else:
        yield from iter_lhco_events(path, chunk_size or 5_000, max_events, label)
