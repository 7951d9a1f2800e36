"""Keep nbval's executions: each notebook is run once per test session, and the book is built from that run.

nbval runs every notebook cell by cell in a kernel and keeps each cell's outputs on its test item
(``item.test_outputs``). This pytest plugin (``-p executed`` in pyproject.toml) collects them, asks
the kernel for the state of its widgets once the last cell has run, and writes the executed notebook
to ``_build/test/executed/NAME.ipynb`` (one file per notebook, written atomically, so that pytest-xdist's
workers never share a file). ``make test`` builds the test book afterwards, in a pytest run of its own:
:func:`import_runs` puts these files into the book's execution cache (jupyter-cache, the one myst-nb
reads), and the book renders these outputs instead of running the notebooks again.

A run stores the digest of the course's code and data it ran with; a run made with other code or
data is not imported. A notebook with a failing cell is not stored: the book test executes it
itself (and fails).
"""
from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "_build" / "test" / ".jupyter_cache"  # the test book's execution cache (see tests/test_book.py)
RUNS = ROOT / "_build" / "test" / "executed"          # nbval's executed notebooks, one file each
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# printed by the kernel after the last cell: the state of every live widget, for the book's pages
_STATE_CODE = (
    "import json as _json, sys as _sys\n"
    "_w = _sys.modules.get('ipywidgets')\n"
    "print('@@widgets@@' + _json.dumps(_w.Widget.get_manager_state(drop_defaults=False) if _w else None))\n"
)


def _ends_with_semicolon(source: str) -> bool:
    """IPython's rule for a silenced result: the cell's last token is ';'."""
    from IPython.core.displayhook import DisplayHook

    try:
        return DisplayHook.semicolon_at_end_of_expression(source)
    except Exception:  # a cell that does not tokenize (magics): keep the result
        return False


def _is_nbval_cell(item) -> bool:
    return type(item).__name__ == "IPyNbCell" and hasattr(item, "cell_num")


class ExecutedNotebooks:
    """Pytest plugin: the executed copy of each notebook that nbval runs, cached for the book."""

    def __init__(self, runs_dir: Path):
        self.runs_dir = Path(runs_dir)
        self.runs: dict[str, dict] = {}  # notebook path -> {"nb", "failed", "start"}
        self.stored: list[str] = []      # notebooks written to runs_dir during this session

    # --- collecting outputs ---------------------------------------------------------------------
    def _run(self, item) -> dict:
        path = str(item.parent.fspath)
        if path not in self.runs:
            nb = copy.deepcopy(item.parent.nb)
            for cell in nb.cells:
                if cell.cell_type == "code":
                    cell.outputs, cell.execution_count = [], None
            self.runs[path] = {"nb": nb, "failed": False, "start": time.perf_counter(), "count": 0}
        return self.runs[path]

    def record(self, item, passed: bool) -> None:
        """Store the outputs nbval collected for this cell in the executed copy of its notebook."""
        run = self._run(item)
        code_cells = [c for c in run["nb"].cells if c.cell_type == "code"]
        cell = code_cells[item.cell_num]
        run["count"] += 1
        cell.execution_count = run["count"]
        outputs = []
        quiet = _ends_with_semicolon(cell.source)
        for out in item.test_outputs or []:
            out = nbformat.from_dict(dict(out))
            if out.output_type == "execute_result":
                if quiet:  # IPython hides it (nbval runs cells without history, so its kernel does not)
                    continue
                out.execution_count = run["count"]
            outputs.append(out)
        # `interact` draws its first figure before it displays the widget; a notebook front end shows that
        # figure inside the widget, below the slider: put the widget first, as the reader expects
        views = [o for o in outputs if o.output_type == "display_data" and WIDGET_VIEW in o.get("data", {})]
        cell.outputs = views + [o for o in outputs if not any(o is v for v in views)]
        run["failed"] |= not passed

    # --- the end of a notebook ------------------------------------------------------------------
    def widget_state(self, item) -> dict | None:
        """The widget state held by the notebook's kernel (None when it holds none or cannot say)."""
        kernel = getattr(item.parent, "kernel", None)
        if kernel is None or not kernel.is_alive():
            return None
        try:
            msg_id = kernel.execute_cell_input(_STATE_CODE, allow_stdin=False)
            kernel.await_reply(msg_id, timeout=60)
            text = ""
            while True:
                msg = item.parent.get_kernel_message(timeout=10)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "stream":
                    text += msg["content"]["text"]
                elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    break
        except Exception:  # the book then shows the widgets as text, and its browser test says so
            return None
        marker = text.rfind("@@widgets@@")
        if marker < 0:
            return None
        state = json.loads(text[marker + len("@@widgets@@"):].splitlines()[0])
        return state if state and state.get("state") else None

    def finish(self, item) -> None:
        """After a notebook's last cell: add its widget state and store it in the execution cache."""
        path = str(item.parent.fspath)
        run = self.runs.pop(path, None)
        if run is None or run["failed"]:
            return
        nb = run["nb"]
        state = self.widget_state(item)
        if state is not None:
            nb.metadata["widgets"] = {WIDGET_STATE: state}
        from utils.tooling.execution import course_inputs_digest

        nb.metadata["course_run"] = {"execution_seconds": time.perf_counter() - run["start"],
                                     "inputs_sha256": course_inputs_digest(ROOT), "source": path}
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        target = self.runs_dir / Path(path).name
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        nbformat.write(nb, tmp)
        os.replace(tmp, target)
        self.stored.append(path)

    # --- pytest hooks ---------------------------------------------------------------------------
    def pytest_runtest_makereport(self, item, call):
        if _is_nbval_cell(item) and call.when == "call":
            self.record(item, passed=call.excinfo is None or call.excinfo.typename == "Skipped")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item, nextitem):
        # runs before the notebook's kernel is stopped (nbval stops it when its file is torn down)
        if _is_nbval_cell(item) and (nextitem is None or getattr(nextitem, "parent", None) is not item.parent):
            self.finish(item)


def import_runs(runs_dir: Path = RUNS, cache_dir: Path = CACHE, root: Path = ROOT) -> list[str]:
    """Put the stored runs made with the present code and data into a fresh execution cache ``cache_dir``;
    returns the notebook paths imported. Runs whose notebook source changed since are not matched by the
    cache (it keys on the code cells), so the book test executes those notebooks again."""
    import shutil

    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    from utils.tooling.execution import course_inputs_digest

    shutil.rmtree(cache_dir, ignore_errors=True)
    cache, digest, imported = get_cache(str(cache_dir)), course_inputs_digest(root), []
    for path in sorted(Path(runs_dir).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        info = nb.metadata.pop("course_run", {})
        if info.get("inputs_sha256") != digest:
            continue
        cache.cache_notebook_bundle(
            CacheBundleIn(nb, info["source"], data={"execution_seconds": info["execution_seconds"],
                                                    "executed_by": "nbval"}),
            check_validity=False, overwrite=True)
        imported.append(info["source"])
    return imported


def pytest_configure(config):
    """Registered for every pytest run by ``-p executed`` (pyproject.toml), also when only notebooks run,
    and in each pytest-xdist worker."""
    config._course_executed = ExecutedNotebooks(RUNS)
    config.pluginmanager.register(config._course_executed, "course-executed-notebooks")
