"""Executing the notebooks outside a browser: for the book (``make book``) and the benchmark.

Two things live here:

- :func:`execute_notebook`: run a notebook top to bottom with nbclient, as Jupyter Book does, but
  with a client that cannot stall. nbclient's asyncio client sometimes misses the wake-up for a
  message that has already arrived (seen here after cells that create widgets, such as
  ``ipywidgets.interact``, about once in twenty runs on a busy machine; jupyter/nbclient#312,
  jupyter/nbconvert#2029): it then waits for the cell's whole timeout, ten minutes, before it
  notices the reply. :class:`PatientClient` waits in steps of one second instead, so a missed
  wake-up costs at most a second.
- The book's execution cache (jupyter-cache, read by myst-nb): :func:`refresh_book_cache` clears
  it when the course's code or data changed, :func:`fill_book_cache` executes every notebook
  that is not in it, so that ``jupyter-book build`` only renders.
"""
from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOOK_CACHE = ROOT / "_build" / ".jupyter_cache"  # as `execute.cache` in _config.yml

__all__ = ["PatientClient", "course_notebooks", "run_groups", "execute_notebook", "course_inputs_digest", "refresh_book_cache",
           "fill_book_cache"]


def course_notebooks(root: Path = ROOT) -> list[Path]:
    """The course's notebooks, ``notebooks/NN_name.ipynb``, in teaching order."""
    return sorted((Path(root) / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def run_groups(notebooks) -> list[list[Path]]:
    """The notebooks in groups that must run one after the other, in teaching order: a notebook that reads
    another's recorded results (its code names that notebook, e.g. ``read_results("04_cnn_top_tagging")``)
    runs after it, in the same group. Different groups may run at the same time (``make book``, and
    ``make test``'s pytest-xdist workers, ``tests/conftest.py``)."""
    import json

    paths = [Path(p) for p in notebooks]
    group = {p.stem: {p.stem} for p in paths}
    for path in paths:
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        for other in paths:
            if other.stem != path.stem and f'"{other.stem}"' in code and group[other.stem] is not group[path.stem]:
                merged = group[path.stem] | group[other.stem]
                for stem in merged:
                    group[stem] = merged
    seen, out = set(), []
    for path in paths:
        if path.stem not in seen:
            members = group[path.stem]
            seen |= members
            out.append([p for p in paths if p.stem in members])
    return out


def _patient(get_msg, step: float = 1.0):
    """Wrap a channel's async ``get_msg`` so that it checks the socket at least every ``step`` seconds.

    A poll that times out looks at the socket once more without waiting, which finds a message
    whose wake-up was missed; only the caller's own timeout raises ``queue.Empty``.
    """
    from queue import Empty

    async def get_msg_in_steps(timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = step if deadline is None else min(step, max(0.0, deadline - time.monotonic()))
            try:
                return await get_msg(timeout=wait)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    return get_msg_in_steps


def PatientClient(*args, **kwargs):
    """An ``nbclient.NotebookClient`` whose shell and IOPub channels never wait more than a second
    between checks (see the module's docstring). Same arguments as ``NotebookClient``."""
    from nbclient import NotebookClient

    class _PatientClient(NotebookClient):
        async def async_start_new_kernel_client(self):
            kc = await super().async_start_new_kernel_client()
            for channel in (kc.shell_channel, kc.iopub_channel):
                channel.get_msg = _patient(channel.get_msg)
            return kc

    return _PatientClient(*args, **kwargs)


def execute_notebook(path, timeout: int = 600, allow_errors: bool = False):
    """Execute the notebook at ``path`` in its own folder; returns ``(notebook, seconds, error)``.

    ``notebook`` is the executed ``nbformat`` node (outputs and widget state filled in, up to the
    failing cell if one failed), ``seconds`` the wall time, ``error`` None or a one-line message
    naming the failing cell. ``timeout``: seconds a single cell may take. ``allow_errors``: run
    every cell even after one failed (the errors are then only in the cells' outputs).
    """
    import nbformat
    from nbclient.exceptions import CellExecutionError

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    # store_widget_state: nbclient needs it for cells that create widgets (without it they fail with a KeyError)
    client = PatientClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                           allow_errors=allow_errors, resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    error = None
    try:
        client.execute()
    except CellExecutionError as err:
        error = f"{err.ename}: {err.evalue}"
    except Exception as err:  # a timeout, a dead kernel: report it, never hang or crash the caller
        text = str(err).strip()
        error = f"{type(err).__name__}: {text.splitlines()[-1] if text else ''}"
    return nb, time.perf_counter() - start, error


# --- the book's execution cache -------------------------------------------------------------
def course_inputs_digest(root: Path = ROOT) -> str:
    """sha256 over the course's code (``utils/*.py``) and data (``data/manifest.json``, which holds
    every data file's sha256): what the notebooks' outputs depend on besides their own source."""
    digest = hashlib.sha256()
    paths = sorted((Path(root) / "utils").glob("*.py")) + [Path(root) / "data" / "manifest.json"]
    for path in paths:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() if path.exists() else b"(missing)")
        digest.update(b"\0")
    return digest.hexdigest()


def refresh_book_cache(cache_dir: Path | None = None, root: Path = ROOT) -> bool:
    """Clear the book's execution cache if the course's code or data changed since it was filled.

    The cache (``_build/.jupyter_cache`` by default, as in ``_config.yml``) gets a stamp file
    holding :func:`course_inputs_digest`; when the digest differs, or there is no stamp, the
    whole cache is removed and a new stamp written.  Returns True if the cache was cleared.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else Path(root) / "_build" / ".jupyter_cache"
    stamp = cache_dir.parent / f"{cache_dir.name}.inputs-sha256"
    digest = course_inputs_digest(root)
    if stamp.exists() and stamp.read_text().strip() == digest:
        return False
    cleared = cache_dir.exists()
    if cleared:
        shutil.rmtree(cache_dir)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(digest + "\n")
    return cleared


def _outputs_into(source, executed):
    """``source`` with the outputs, execution counts and widget state of ``executed``.

    The cache is keyed on the code cells with their metadata and on the kernelspec; execution
    adds timing metadata to each cell, so the run is stored on an unchanged copy of the source.
    """
    import copy

    merged = copy.deepcopy(source)
    for cell, run in zip(merged.cells, executed.cells):
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = run.get("outputs", []), run.get("execution_count")
    for key in ("language_info", "widgets"):
        if key in executed.metadata:
            merged.metadata[key] = executed.metadata[key]
    return merged


def _recorded_seconds(root: Path = ROOT) -> dict[str, float]:
    """Each notebook's full-mode wall time as ``make benchmark`` recorded it (``book/benchmark.json``), or {}."""
    import json

    record = Path(root) / "book" / "benchmark.json"
    try:
        return {r["notebook"]: r["wall_s"] or 0 for r in json.loads(record.read_text())["notebooks"]}
    except (OSError, ValueError, KeyError):
        return {}


def fill_book_cache(notebooks, cache_dir: Path | None = None, timeout: int = 600, log=print,
                    workers: int = 1) -> list[str]:
    """Execute each notebook that the execution cache does not hold yet, and store the run there.

    ``notebooks``: paths of ``.ipynb`` files; ``cache_dir``: default ``_build/.jupyter_cache``.
    ``workers``: how many notebooks run at the same time, each in its own kernel (``make book`` runs
    two, with one thread each: ``COURSE_THREADS=1``); the cache itself is written by this thread only.
    A notebook that fails is not stored (the book build then reports it). Returns the errors,
    one line per failed notebook (empty when every notebook is cached).
    """
    from concurrent.futures import ThreadPoolExecutor, as_completed

    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(cache_dir or BOOK_CACHE))
    errors, todo = [], []
    notebooks = [Path(p) for p in notebooks]
    for path in notebooks:
        source = nbformat.read(path, as_version=4)
        try:
            cache.match_cache_notebook(source)
            log(f"{path.name}: cached")
        except KeyError:
            todo.append((path, source))
    todo_paths = {path for path, _ in todo}
    sources = dict(todo)

    def run_group(paths):  # a group's notebooks one after the other (one reads another's results)
        done = []
        for path in paths:
            log(f"{path.name}: executing ...")
            done.append((path, *execute_notebook(path, timeout)))
        return done

    groups = [[p for p in group if p in todo_paths] for group in run_groups(notebooks)]
    groups = sorted(filter(None, groups), key=lambda g: -sum(_recorded_seconds().get(p.stem, 0) for p in g))
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:  # the longest groups first
        running = [pool.submit(run_group, group) for group in groups]
        for future in as_completed(running):
            for path, nb, seconds, error in future.result():
                if error:
                    errors.append(f"{path.name}: {error}")
                    log(f"{path.name}: FAILED after {seconds:.0f} s: {error}")
                    continue
                cache.cache_notebook_bundle(CacheBundleIn(_outputs_into(sources[path], nb), str(path.resolve()),
                                                          data={"execution_seconds": seconds}),
                                            check_validity=False, overwrite=True)
                log(f"{path.name}: executed in {seconds:.0f} s")
    return sorted(errors)
