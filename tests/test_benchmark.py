import subprocess
import sys
import time
from pathlib import Path

import pytest

from utils import benchmark, execution


def test_benchmark_page_flags_failures_and_budgets():
    rows = [
        {"notebook": "01_a", "date": "2026-11-23", "ok": True, "wall_s": 50.0, "peak_mb": 900, "error": None, "metrics": {"auc": 0.91234}},
        {"notebook": "02_b", "ok": True, "wall_s": 400.0, "peak_mb": 900, "error": None, "metrics": {"auc": 0.9}},
        {"notebook": "03_c", "ok": False, "wall_s": 3.0, "peak_mb": 100, "error": "AssertionError", "metrics": None},
    ]
    page = benchmark._markdown(rows, "full", "x86_64, 2 CPU cores")
    assert "| `01_a` | ok | 2026-11-23 | 50.0 | 900 | auc = 0.9123 |" in page
    assert "over budget" in page and "FAILED: AssertionError" in page


def test_peak_memory_counts_the_whole_process_tree():
    # a child that starts a grandchild: both hold about 150 MB at the same time; the peak must see
    # their sum (RUSAGE_CHILDREN's ru_maxrss sees one process at a time, in KB on Linux but bytes on macOS)
    code = (
        "import subprocess, sys, time\n"
        "hold = 'import time; b = bytearray(150 * 2**20); b[::4096] = b\"x\" * len(b[::4096]); time.sleep(3)'\n"
        "p = subprocess.Popen([sys.executable, '-c', hold])\n"
        "b = bytearray(150 * 2**20); b[::4096] = b'x' * len(b[::4096])\n"
        "time.sleep(3); p.wait()\n"
    )
    with benchmark.TreeMemoryMonitor(interval=0.05) as memory:
        subprocess.run([sys.executable, "-c", code], check=True)
    assert memory.peak_bytes > 280 * 2**20, memory.peak_bytes / 2**20


def _course_tree(root):
    (root / "utils").mkdir()
    (root / "data").mkdir()
    (root / "utils" / "jets.py").write_text("X = 1\n")
    (root / "data" / "manifest.json").write_text("{}\n")


def test_book_cache_is_cleared_when_utils_or_data_change(tmp_path):
    _course_tree(tmp_path)
    cache = tmp_path / "_build" / ".jupyter_cache"
    cache.mkdir(parents=True)
    (cache / "executed.ipynb").write_text("stale")
    assert execution.refresh_book_cache(cache, root=tmp_path)  # no stamp yet: cleared, stamped
    cache.mkdir()
    (cache / "executed.ipynb").write_text("fresh")
    assert not execution.refresh_book_cache(cache, root=tmp_path)  # nothing changed: kept
    assert (cache / "executed.ipynb").read_text() == "fresh"
    (tmp_path / "utils" / "jets.py").write_text("X = 2\n")  # the code changed
    assert execution.refresh_book_cache(cache, root=tmp_path) and not cache.exists()
    cache.mkdir()
    assert not execution.refresh_book_cache(cache, root=tmp_path)
    (tmp_path / "data" / "manifest.json").write_text('{"top_jets.npz": {}}\n')  # the data changed
    assert execution.refresh_book_cache(cache, root=tmp_path)
    cache.mkdir()
    (tmp_path / "utils" / "new_module.py").write_text("Y = 1\n")  # a new module counts too
    assert execution.refresh_book_cache(cache, root=tmp_path) and not cache.exists()


def test_config_keeps_the_cache_where_make_book_clears_it():
    import yaml

    config = yaml.safe_load((Path(benchmark.ROOT) / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "cache"
    assert Path(config["execute"]["cache"]) == Path("_build/.jupyter_cache")  # refresh_book_cache's default


def test_patient_channel_checks_every_second_and_keeps_the_callers_timeout():
    import asyncio
    from queue import Empty

    calls = []

    async def get_msg(timeout=None):  # a channel whose message is only found by the third check
        calls.append(timeout)
        if len(calls) < 3:
            raise Empty
        return {"msg_type": "execute_reply"}

    patient = execution._patient(get_msg, step=0.01)
    assert asyncio.run(patient(timeout=None)) == {"msg_type": "execute_reply"}
    assert calls == [0.01, 0.01, 0.01]  # never one long wait

    async def never(timeout=None):
        await asyncio.sleep(timeout)
        raise Empty

    started = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(execution._patient(never, step=0.01)(timeout=0.05))
    assert 0.04 < time.monotonic() - started < 1.0


def test_fill_book_cache_executes_once_and_keeps_widget_state(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell("import ipywidgets as widgets\n"
                                          "widgets.interact(lambda x=1: print(x * 2), x=widgets.IntSlider(value=3));"),
                nbformat.v4.new_code_cell("print('done')")]
    path = tmp_path / "01_toy.ipynb"
    nbformat.write(nb, path)
    cache = tmp_path / "cache"
    lines = []
    assert execution.fill_book_cache([path], cache, timeout=60, log=lines.append) == []
    assert lines[-1].startswith("01_toy.ipynb: executed")
    assert execution.fill_book_cache([path], cache, log=lines.append) == [] and lines[-1] == "01_toy.ipynb: cached"
    from jupyter_cache import get_cache

    executed = get_cache(str(cache)).merge_match_into_notebook(nbformat.read(path, as_version=4))[1]
    assert executed.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert "done" in executed.cells[1].outputs[0]["text"]
    broken = tmp_path / "02_broken.ipynb"
    nb.cells = [nbformat.v4.new_code_cell("1 / 0")]
    nbformat.write(nb, broken)
    errors = execution.fill_book_cache([broken], cache, timeout=60, log=lines.append)
    assert len(errors) == 1 and "ZeroDivisionError" in errors[0]


def test_a_partial_run_replaces_only_its_rows_and_the_readme_follows():
    old = {"mode": "full", "notebooks": [
        {"notebook": "00_a", "date": "2026-01-01", "ok": True, "wall_s": 10.0, "peak_mb": 500, "metrics": {}},
        {"notebook": "01_b", "date": "2026-01-01", "ok": True, "wall_s": 20.0, "peak_mb": 3000, "metrics": {}}]}
    new = [{"notebook": "01_b", "date": "2026-02-02", "ok": True, "wall_s": 31.6, "peak_mb": 700, "metrics": {}}]
    rows = benchmark.merged_rows(old, new, "full")
    assert [(r["notebook"], r["date"]) for r in rows] == [("00_a", "2026-01-01"), ("01_b", "2026-02-02")]
    assert benchmark.merged_rows({**old, "mode": "fast"}, new, "full") == new  # another mode is not mixed in
    readme = ("| `00_a.ipynb` | I | x | 2 min | 9 s |\n| `01_b.ipynb` | I | y | 5 min | 20 s |\n"
              "(peak memory at most 2.9 GB)\n")
    assert benchmark.readme_with_measured(readme, rows) == (
        "| `00_a.ipynb` | I | x | 2 min | 10 s |\n| `01_b.ipynb` | I | y | 5 min | 32 s |\n(peak memory at most 0.7 GB)\n")
    assert "| `01_b` | ok | 2026-02-02 | 31.6 | 700 |" in benchmark._markdown(rows, "full", "x86_64")


def test_readme_and_benchmark_page_agree_with_the_benchmark_record():
    # the measured column of the README and the book's page are written from book/benchmark.json, never by hand
    import json

    record = json.loads(benchmark.RECORD.read_text())
    readme = benchmark.README.read_text()
    assert benchmark.readme_with_measured(readme, record["notebooks"]) == readme, "run python -m utils.benchmark"
    assert benchmark._markdown(record["notebooks"], record["mode"], record["machine"]) == benchmark.PAGE.read_text()
    assert {r["notebook"] for r in record["notebooks"]} == {p.stem for p in execution.course_notebooks()}
