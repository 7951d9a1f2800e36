import subprocess
import sys

import pytest

from utils.tooling import benchmark, course


def test_benchmark_page_flags_failures_and_budgets():
    rows = [
        {"notebook": "01_a", "date": "2026-11-23", "ok": True, "wall_s": 50.0, "peak_mb": 900, "error": None, "metrics": {"auc": 0.91234}},
        {"notebook": "02_b", "ok": True, "wall_s": 400.0, "peak_mb": 900, "error": None, "metrics": {"auc": 0.9}},
        {"notebook": "03_c", "ok": False, "wall_s": 3.0, "peak_mb": 100, "error": "AssertionError", "metrics": None},
    ]
    rows[0].update(machine="x86_64", cores=2, threads=1, commit="abc")
    page = benchmark._markdown(rows, "full")
    assert "| 01 a | ok | 50.0 | 900 | 2026-11-23 | x86_64 (2 cores, 1 threads, abc) |\n" in page
    assert "### `01_a`\n\nauc = 0.9123\n" in page  # the results below the table, a paragraph per notebook
    assert "over budget" in page and "FAILED: AssertionError" in page and "(nothing recorded" in page


@pytest.mark.slow
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


def test_a_partial_run_replaces_only_its_rows_and_keeps_where_each_was_measured():
    old = {"mode": "full", "machine": "x86_64, 2 CPU cores", "notebooks": [  # a record from before rows said where
        {"notebook": "00_a", "date": "2026-01-01", "ok": True, "wall_s": 10.0, "peak_mb": 500, "metrics": {}},
        {"notebook": "01_b", "date": "2026-01-01", "ok": True, "wall_s": 20.0, "peak_mb": 3000, "metrics": {}}]}
    new = [{"notebook": "01_b", "date": "2026-02-02", "machine": "arm64", "cores": 1, "threads": 1, "commit": "abc",
            "ok": True, "wall_s": 31.6, "peak_mb": 700, "metrics": {}}]
    rows = benchmark.merged_rows(old, new, "full")
    assert [(r["notebook"], r["date"], r["machine"]) for r in rows] == [
        ("00_a", "2026-01-01", "x86_64, 2 CPU cores"), ("01_b", "2026-02-02", "arm64")]  # old rows keep their machine
    assert benchmark.merged_rows({**old, "mode": "fast"}, new, "full") == new  # another mode is not mixed in
    page = benchmark._markdown(rows, "full")
    assert "| 01 b | ok | 31.6 | 700 | 2026-02-02 | arm64 (1 cores, 1 threads, abc) |\n" in page
    assert "| 00 a | ok | 10.0 | 500 | 2026-01-01 | x86_64, 2 CPU cores (? cores, ? threads, ?) |\n" in page


def test_a_row_records_the_cores_this_process_may_use(monkeypatch):
    import os

    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this system")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})  # as under `taskset -c 0` on a many-core machine
    monkeypatch.delenv("COURSE_THREADS", raising=False)
    where = benchmark.environment()
    assert where["cores"] == 1 and where["threads"] == 1 and where["commit"]


def test_readme_and_benchmark_page_agree_with_the_benchmark_record():
    # the measured column of the README and the book's page are written from book/benchmark.json, never by hand
    import json

    record = json.loads(benchmark.RECORD.read_text())
    assert benchmark._markdown(record["notebooks"], record["mode"]) == benchmark.PAGE.read_text(), \
        "run python -m utils benchmark"
    table = course.readme_table(course.load_course(), record["notebooks"])
    assert table in benchmark.ROOT.joinpath("README.md").read_text(), "run python -m utils sync"
    for row in record["notebooks"]:
        assert {"machine", "cores", "threads", "commit"} <= set(row), f"{row['notebook']}: where was it measured?"


def test_notebooks_are_named_by_path_name_or_number_and_unknown_names_say_what_exists():
    by_number = benchmark.resolve_notebooks(["13"])
    assert [p.name for p in by_number] == ["13_bubble_nucleation.ipynb"]
    assert benchmark.resolve_notebooks(["13_bubble_nucleation"]) == by_number
    assert benchmark.resolve_notebooks([str(by_number[0])]) == by_number
    with pytest.raises(ValueError, match="no single notebook matches.*99_nothing.*13_bubble_nucleation"):
        benchmark.resolve_notebooks(["99_nothing"])


def test_the_machine_names_the_cpu_where_the_os_says_it(monkeypatch):
    # platform.processor() is empty on Linux: rows measured on different CPUs must not all read "x86_64"
    monkeypatch.setattr(benchmark.platform, "processor", lambda: "")
    monkeypatch.setattr(benchmark, "_cpu_model", lambda: "Some CPU 9000")
    assert benchmark.environment()["machine"].endswith("Some CPU 9000")
