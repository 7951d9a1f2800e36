import json

import numpy as np
import pytest

import utils
from utils.results import read_results


def test_record_result_writes_plain_json(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    path = utils.record_result("99_demo", auc=np.float32(0.91), n=np.int64(3), ok=True)
    data = json.loads(path.read_text())
    assert data == {"notebook": "99_demo", "fast_mode": True, "metrics": {"auc": pytest.approx(0.91), "n": 3, "ok": True}}
    assert read_results("99_demo")["metrics"]["n"] == 3


@pytest.mark.parametrize("kwargs,match", [({}, "at least one"), ({"auc": float("nan")}, "finite"),
                                          ({"auc": [1, 2]}, "number")])
def test_record_result_rejects_bad_metrics(kwargs, match):
    with pytest.raises(ValueError, match=match):
        utils.record_result("99_demo", **kwargs)


def test_record_result_wants_the_notebook_stem():
    with pytest.raises(ValueError, match="stem"):
        utils.record_result("notebooks/01_x.ipynb", auc=0.5)


def test_read_results_missing():
    with pytest.raises(FileNotFoundError, match="run the notebook"):
        read_results("98_never_run")
