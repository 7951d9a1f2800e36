"""Checked files: the data folder, the sha256 manifest and bit-reproducible ``.npz`` files.

This module knows nothing about physics: it reads and writes dicts of numpy arrays, checks a
file against ``data/manifest.json`` the first time a process opens it, and says how to restore
a missing or damaged file.  :mod:`utils.data` (the datasets) and :mod:`utils.tooling.generate` (the
generator) both build on it; it imports neither.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

__all__ = ["data_dir", "cache_dir", "manifest_path", "read_manifest", "write_manifest_entry", "sha256", "save_npz",
           "load_npz", "checked_path", "verify", "regenerate_hint", "atomic_write"]


def data_dir() -> Path:
    """Folder with the data files: ``$COURSE_DATA_DIR`` if set, else ``data/`` beside ``utils/``."""
    return Path(os.environ.get("COURSE_DATA_DIR", Path(__file__).resolve().parent.parent / "data"))


def cache_dir() -> Path:
    """Folder for files that can be remade (generator chunks, computed orders): ``$COURSE_CACHE_DIR``
    if set, else ``cache/`` in :func:`data_dir` (ignored by git)."""
    return Path(os.environ.get("COURSE_CACHE_DIR", data_dir() / "cache"))


def manifest_path() -> Path:
    """``manifest.json`` in :func:`data_dir`."""
    return data_dir() / "manifest.json"


def read_manifest() -> dict:
    """The manifest as a dict ``{file name: entry}``; empty if there is none yet."""
    path = manifest_path()
    if not path.exists():
        return {}
    return json.loads(path.read_text())


@contextmanager
def atomic_write(path):
    """Write a file all at once: ``with atomic_write(path) as f: f.write(...)``.

    Yields a binary file open on a new temporary file in the same folder, with a unique name
    (``<name>.<random>.tmp``, so that two processes writing the same file never share one);
    when the block ends without an error it replaces ``path`` in one step (``os.replace``).
    A reader therefore sees the old file or the new one, never half of one, and the last
    writer wins.  On an error the temporary file is removed and ``path`` is left as it was.
    The folder is created if needed; the file gets the usual permissions (0666 less the umask).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        umask = os.umask(0o022)  # (the only way to read the umask is to set it)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files: give the permissions open() would
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


try:
    import fcntl
except ImportError:  # Windows: no advisory locks; concurrent writers of the manifest are then not serialised
    fcntl = None


@contextmanager
def _locked(path: Path):
    """Hold an exclusive lock on ``<path>.lock`` (a file beside ``path``, kept) for the block; best effort
    where ``fcntl`` is missing.  Every read-modify-write of ``path`` takes it, so two processes (a
    notebook and ``make data``) cannot lose each other's changes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:  # "a": writable, as NFS needs for locks
        if fcntl is not None:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def write_manifest_entry(file_name: str, entry: dict) -> None:
    """Add or replace one file's entry of the manifest (sorted by file name, stable JSON).

    Safe with several processes at once: the read, change and write happen under a lock on
    ``manifest.json.lock`` beside the manifest, and the new manifest replaces the old one in
    one step (:func:`atomic_write`), so readers never see a half-written file.
    """
    path = manifest_path()
    with _locked(path):
        manifest = read_manifest()
        manifest[file_name] = entry
        with atomic_write(path) as f:
            f.write((json.dumps(dict(sorted(manifest.items())), indent=2) + "\n").encode())


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
    entries = {**arrays, "metadata": np.array(json.dumps(metadata, sort_keys=True))}
    with atomic_write(path) as f, zipfile.ZipFile(f, "w") as zf:  # a unique temporary file, then one os.replace
        for name in sorted(entries):
            buf = io.BytesIO()
            array = np.asarray(entries[name])  # (np.ascontiguousarray would turn 0-d arrays into 1-d)
            np.lib.format.write_array(buf, array if array.flags.c_contiguous else array.copy(), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=6)
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


def regenerate_hint(sample: str) -> str:
    """How to restore or remake ``data/<sample>.npz``, for error messages."""
    entry = read_manifest().get(f"{sample}.npz")
    if entry:
        return (f"restore it with `git checkout -- data/{sample}.npz` (or `git lfs pull`), or regenerate it with "
                f"`python -m utils generate {sample} --events {entry['events_requested']} --seed {entry['seed']}` "
                f"after `pip install -e \".[generate]\"`")
    return f"generate it with `make data` (or `python -m utils generate {sample}`)"


def checked_path(sample: str) -> Path:
    """Path of ``<sample>.npz`` after checking its size and sha256 against the manifest (once per process).

    Raises FileNotFoundError (missing or unlisted file) or ValueError (corrupted or truncated),
    both saying how to restore the file.
    """
    path = data_dir() / f"{sample}.npz"
    if not path.exists():
        raise FileNotFoundError(f"data file {path} is missing: {regenerate_hint(sample)}")
    if path in _VERIFIED:
        return path
    entry = read_manifest().get(path.name)
    if entry is None:
        raise FileNotFoundError(
            f"{path.name} is not listed in {manifest_path()}, so it cannot be checked; {regenerate_hint(sample)}")
    if path.stat().st_size != entry["size"] or sha256(path) != entry["sha256"]:
        raise ValueError(
            f"data file {path} is corrupted or truncated: its size/sha256 ({path.stat().st_size} bytes) do not "
            f"match the manifest ({entry['size']} bytes, sha256 {entry['sha256'][:12]}...); {regenerate_hint(sample)}")
    _VERIFIED.add(path)
    return path


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
