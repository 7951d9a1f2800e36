import subprocess
import sys
from pathlib import Path

from utils import benchmark


def test_benchmark_page_flags_failures_and_budgets():
    rows = [
        {"notebook": "01_a", "ok": True, "wall_s": 50.0, "peak_mb": 900, "error": None, "metrics": {"auc": 0.91234}},
        {"notebook": "02_b", "ok": True, "wall_s": 400.0, "peak_mb": 900, "error": None, "metrics": {"auc": 0.9}},
        {"notebook": "03_c", "ok": False, "wall_s": 3.0, "peak_mb": 100, "error": "AssertionError", "metrics": None},
    ]
    page = benchmark._markdown(rows, "full", "x86_64, 2 CPU cores")
    assert "| `01_a` | ok | 50.0 | 900 | auc = 0.9123 |" in page
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
    assert benchmark.refresh_book_cache(cache, root=tmp_path)  # no stamp yet: cleared, stamped
    cache.mkdir()
    (cache / "executed.ipynb").write_text("fresh")
    assert not benchmark.refresh_book_cache(cache, root=tmp_path)  # nothing changed: kept
    assert (cache / "executed.ipynb").read_text() == "fresh"
    (tmp_path / "utils" / "jets.py").write_text("X = 2\n")  # the code changed
    assert benchmark.refresh_book_cache(cache, root=tmp_path) and not cache.exists()
    cache.mkdir()
    assert not benchmark.refresh_book_cache(cache, root=tmp_path)
    (tmp_path / "data" / "manifest.json").write_text('{"top_jets.npz": {}}\n')  # the data changed
    assert benchmark.refresh_book_cache(cache, root=tmp_path)
    cache.mkdir()
    (tmp_path / "utils" / "new_module.py").write_text("Y = 1\n")  # a new module counts too
    assert benchmark.refresh_book_cache(cache, root=tmp_path) and not cache.exists()


def test_config_keeps_the_cache_where_make_book_clears_it():
    import yaml

    config = yaml.safe_load((Path(benchmark.ROOT) / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "cache"
    assert Path(config["execute"]["cache"]) == Path("_build/.jupyter_cache")  # refresh_book_cache's default
