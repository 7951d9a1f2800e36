"""The reference setting, for real: notebooks 04-06 run unchanged on files in the format of the
public top-tagging dataset (Zenodo 2603256), named by ``COURSE_TOP_TAGGING_DIR``.

The public files (1.2M, 400k, 400k jets, 8 GB) cannot be downloaded here. Their format can be
written: ``utils.reference.write_top_tagging`` turns the course's own jets into ``train.h5``,
``val.h5``, ``test.h5`` with the public columns (E_i, PX_i, PY_i, PZ_i of 200 constituents,
``is_signal_new``, pandas fixed format), as many jets as fast mode reads. The notebooks then read
them through the reference path of ``utils.data`` (four-vectors to the course's coordinates,
N-subjettiness and the clustering order with FastJet) and must pass their own checks. Notebook 04
runs with its memory limit lowered, so that every split's images go to disk as they would for
the 1.2M public jets, and are read back a batch at a time.
"""
import json

import nbformat
import pytest

from utils import data, reference
from utils.execution import course_notebooks, execute_notebook

pytestmark = pytest.mark.slow
pytest.importorskip("tables")
pytest.importorskip("fastjet")
FAST_MODE_JETS = {"train": 8_000, "val": 4_000, "test": 12_000}  # what 04-06 read at most in fast mode
NOTEBOOKS = {"04": {"MEMORY_LIMIT_GB = 2.0 ": "MEMORY_LIMIT_GB = 0.001 "}, "05": {}, "06": {}}


@pytest.fixture(scope="module")
def public_format_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("top_tagging_reference")
    for split, n in FAST_MODE_JETS.items():
        reference.write_top_tagging(folder / reference.TOP_TAGGING_FILES[split], data.load("top_tagging", split, max_events=n))
    return folder


@pytest.mark.parametrize("number", sorted(NOTEBOOKS))
def test_notebook_runs_unchanged_on_the_public_format(number, public_format_folder, tmp_path, monkeypatch):
    source = next(p for p in course_notebooks() if p.name.startswith(number))
    nb = nbformat.read(source, as_version=4)
    for old, new in NOTEBOOKS[number].items():
        cells = [c for c in nb.cells if c.cell_type == "code" and old in c.source]
        assert len(cells) == 1, f"{source.name}: expected one cell with {old!r}"
        cells[0].source = cells[0].source.replace(old, new)
    path = tmp_path / source.name
    nbformat.write(nb, path)
    monkeypatch.setenv("COURSE_FAST", "1")
    monkeypatch.setenv("COURSE_TOP_TAGGING_DIR", str(public_format_folder))
    # one cache for the three: N-subjettiness of the reference jets is computed by the first notebook only
    monkeypatch.setenv("COURSE_CACHE_DIR", str(public_format_folder.parent / "cache"))
    monkeypatch.setenv("COURSE_RESULTS_DIR", str(tmp_path / "results"))
    executed, seconds, error = execute_notebook(path, timeout=300)
    assert error is None, f"{source.name} on the public format failed after {seconds:.0f} s: {error}"
    text = "\n".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "all checks passed" in text, f"{source.name}: its final checks did not run"
    record = json.loads((tmp_path / "results" / f"{source.stem}.json").read_text())
    assert record["metrics"], record
    if number == "04":  # the images of every split went to disk and were read from there
        assert text.count(" on disk") == 3, [line for line in text.splitlines() if "images" in line][:3]
