"""Run every notebook in full mode, one at a time, and tabulate runtime, memory and results.

``make benchmark`` (or ``python -m utils benchmark [NOTEBOOK ...]``) writes
``results/benchmark.json`` (this run) and, in full mode, the course's record of every
notebook: ``book/benchmark.json`` (committed), the book page ``book/benchmark.md`` and the
measured column of the README's notebook table, all three from the same rows.  Naming
notebooks re-measures only those and keeps the other rows, each with the date it was
measured.  Each notebook runs in its own process; its peak memory is that of its whole process tree (the kernel, which is a
child process, and whatever the kernel starts, such as DataLoader workers), summed over the
processes alive at the same time and sampled with psutil (:class:`TreeMemoryMonitor`).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECORD = ROOT / "book" / "benchmark.json"
PAGE = ROOT / "book" / "benchmark.md"
BUDGET_S = {"full": 300, "fast": 20}  # seconds a notebook may take on 2 cores (fast: COURSE_FAST=1)
BUDGET_MB = 4096


class TreeMemoryMonitor:
    """Peak resident memory of the descendants of a process (default: this one), summed, with psutil.

    A background thread adds up the RSS of every descendant alive at each sample (every
    ``interval`` seconds) and keeps the largest sum, so a kernel together with the worker
    processes it starts counts as one notebook.  Works wherever psutil does (Linux, macOS,
    Windows).  Use as a context manager; ``peak_bytes`` holds the result.
    """

    def __init__(self, pid: int | None = None, interval: float = 0.05):
        import psutil

        self._root = psutil.Process(pid)
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        """The summed RSS of the descendants now (bytes); updates ``peak_bytes``."""
        import psutil

        total = 0
        try:
            children = self._root.children(recursive=True)
        except psutil.Error:
            children = []
        for child in children:
            try:
                total += child.memory_info().rss
            except psutil.Error:  # ended between the listing and the reading
                pass
        self.peak_bytes = max(self.peak_bytes, total)
        return total

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False


def execute(notebook: Path, timeout: int = 600) -> dict:
    """Execute one notebook in this process (:func:`utils.tooling.execution.execute_notebook`); the peak
    memory of its process tree is measured.

    Returns ``{"ok", "wall_s", "peak_mb", "error"}``. Meant to run in a fresh process
    (``python -m utils.tooling.benchmark --one NOTEBOOK``) so that the tree belongs to this notebook.
    """
    from .execution import execute_notebook

    with TreeMemoryMonitor() as memory:
        _, wall, error = execute_notebook(notebook, timeout=timeout)
    return {"ok": error is None, "wall_s": round(wall, 1), "peak_mb": round(memory.peak_bytes / 2**20),
            "error": error}


def _run_in_subprocess(notebook: Path, fast: bool) -> dict:
    env = {**os.environ, "COURSE_FAST": "1" if fast else "0"}
    proc = subprocess.run([sys.executable, "-m", "utils.tooling.benchmark", "--one", str(notebook)],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"ok": False, "wall_s": None, "peak_mb": None, "error": proc.stderr.strip()[-500:]}


def _cpu_model() -> str:
    """The CPU's model name where the OS says it (Linux: /proc/cpuinfo; platform.processor() is empty there)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def environment(root: Path = ROOT) -> dict:
    """Where a row was measured: ``machine`` (architecture and processor), ``cores`` (those this process
    may use: its CPU affinity, not the machine's count), ``threads`` (the course's thread policy for the
    notebooks, :func:`utils.configure_threads`) and ``commit`` (the course's git commit, ``+`` if changed)."""
    from ..config import available_cores, default_threads

    try:
        commit = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
        commit += "+" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    processor = platform.processor() or _cpu_model() or platform.machine()
    return {"machine": f"{platform.machine()}, {processor}" if processor != platform.machine() else processor,
            "cores": available_cores(), "threads": default_threads(), "commit": commit}


def _over_budget(row: dict, mode: str) -> bool:
    """A run that passed but took longer or more memory than the course allows a notebook."""
    return row["ok"] and (row["wall_s"] > BUDGET_S[mode] or row["peak_mb"] > BUDGET_MB)


def _markdown(rows: list[dict], mode: str) -> str:
    """The book's benchmark page: one table of runtimes and memory, then each notebook's recorded
    results as a paragraph of its own (in the table they made every row a narrow column many lines tall)."""
    lines = [
        "# Benchmark: runtime, memory and results of every notebook",
        "",
        f"Written by `make benchmark`, each notebook run alone in **{mode} mode**. Budgets: "
        f"{BUDGET_S[mode]} s and {BUDGET_MB} MB per notebook on 2 CPU cores. Each row says "
        "where and when it was measured: the machine, the cores the run could use, the threads of the "
        "course's thread policy, and the course's commit (`+`: with uncommitted changes). Below the table, "
        "the numbers each notebook records with `utils.record_result` after its closing checks pass.",
        "",
        "| notebook | status | wall time [s] | peak memory [MB] | measured | where (cores, threads, commit) |",
        "|---|---|---:|---:|---|---|",
    ]
    for r in rows:
        status = "over budget" if _over_budget(r, mode) else "ok" if r["ok"] else f"FAILED: {r['error']}"
        where = (f"{r.get('machine', 'not recorded')} ({r.get('cores', '?')} cores, {r.get('threads', '?')} "
                 f"threads, {r.get('commit', '?')})")
        name = r["notebook"].replace("_", " ")  # words wrap in a narrow column; an identifier does not
        lines.append(f"| {name} | {status} | {r['wall_s']} | {r['peak_mb']} | {r.get('date', '')} | {where} |")
    lines += ["", "## Recorded results"]
    for r in rows:
        metrics = r.get("metrics") or {}
        shown = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in metrics.items())
        lines += ["", f"### `{r['notebook']}`", "", shown or "(nothing recorded: the run did not pass its checks)"]
    return "\n".join(lines) + "\n"


def merged_rows(previous: dict | None, rows: list[dict], mode: str) -> list[dict]:
    """The rows of ``previous`` (a record of the same mode) with those of ``rows`` replacing them, by name."""
    kept = previous["notebooks"] if previous and previous.get("mode") == mode else []
    if previous and "machine" in previous:  # a record from before rows said where they were measured
        kept = [{"machine": previous["machine"], **row} for row in kept]
    by_name = {r["notebook"]: r for r in [*kept, *rows]}  # a new row replaces the old one of its notebook
    return [by_name[name] for name in sorted(by_name)]


def resolve_notebooks(names) -> list[Path]:
    """The notebook files meant by ``names``: paths, or names in ``notebooks/`` given by their stem
    (``18_lattice_flows``) or number (``18``).  Raises ValueError naming what matches nothing."""
    folder = ROOT / "notebooks"
    found, unknown = [], []
    for name in names:
        path = Path(name)
        candidates = [path] if path.suffix == ".ipynb" and path.exists() else \
            sorted(folder.glob(f"{path.stem}.ipynb")) or sorted(folder.glob(f"{path.stem}_*.ipynb"))
        if len(candidates) == 1:
            found.append(candidates[0])
        else:
            unknown.append(str(name))
    if unknown:
        known = ", ".join(p.stem for p in sorted(folder.glob("[0-9][0-9]_*.ipynb")))
        raise ValueError(f"no single notebook matches {unknown}: give a path, a name or a number of: {known}")
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils benchmark", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="paths, names or numbers (18, 18_lattice_flows); "
                        "default: every notebook of book/course.yml")
    parser.add_argument("--fast", action="store_true", help="run in fast mode (COURSE_FAST=1)")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(execute(args.one.resolve())))
        return 0

    from ..results import results_dir
    from .execution import course_notebooks

    mode = "fast" if args.fast else "full"
    try:
        notebooks = resolve_notebooks(args.notebooks) if args.notebooks else course_notebooks()
    except ValueError as err:
        parser.error(str(err))
    rows, today, where = [], time.strftime("%Y-%m-%d"), environment()
    for nb in notebooks:
        nb = Path(nb).resolve()
        result_file = results_dir() / f"{nb.stem}.json"
        result_file.unlink(missing_ok=True)  # never report a stale number
        print(f"{nb.name}: running in {mode} mode ...", flush=True)
        row = {"notebook": nb.stem, "date": today, **where, **_run_in_subprocess(nb, args.fast)}
        row["metrics"] = json.loads(result_file.read_text())["metrics"] if result_file.exists() else None
        if row["ok"] and row["metrics"] is None:
            row["ok"], row["error"] = False, "ran, but recorded no results (utils.record_result)"
        verdict = "over budget" if _over_budget(row, mode) else "ok" if row["ok"] else "FAILED"
        print(f"    {verdict}  {row['wall_s']} s  {row['peak_mb']} MB  {row['error'] or ''}")
        rows.append(row)
    out = results_dir() / "benchmark.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"mode": mode, "notebooks": rows}, indent=2) + "\n")
    print(f"wrote {out}")
    if mode == "full":  # the course's record: every notebook's latest full-mode measurement
        from .course import sync

        previous = json.loads(RECORD.read_text()) if RECORD.exists() else None
        record = merged_rows(previous, rows, mode)
        RECORD.write_text(json.dumps({"mode": mode, "notebooks": record}, indent=2) + "\n")
        PAGE.write_text(_markdown(record, mode))
        sync()  # the README's measured column comes from the record
        print(f"wrote {RECORD.relative_to(ROOT)}, {PAGE.relative_to(ROOT)} and the measured column of README.md")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
