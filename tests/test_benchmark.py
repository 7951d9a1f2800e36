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
