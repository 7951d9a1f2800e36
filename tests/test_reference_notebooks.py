"""The reference setting, for real: notebooks 04-06 run unchanged on files in the format of the
public top-tagging dataset (Zenodo 2603256), named by ``COURSE_TOP_TAGGING_DIR``.

The public files (1.2M, 400k, 400k jets, 8 GB) cannot be downloaded here. Their format can be
written: ``utils.reference.write_top_tagging`` turns the course's own jets into ``train.h5``,
``val.h5``, ``test.h5`` with the public columns (E_i, PX_i, PY_i, PZ_i of 200 constituents,
``is_signal_new``, pandas fixed format), as many jets as fast mode reads. The notebooks then read
them through the reference path of ``utils.data`` (four-vectors to the course's coordinates,
N-subjettiness and the clustering order with FastJet).

* Notebook 04 runs top to bottom and must pass its own checks, with its memory limit lowered so
  that every split's images go to disk, as they would for the 1.2M public jets, and are read
  back a batch at a time by training, prediction and the saliency maps.
* Notebooks 05 and 06 touch the files in one cell only (everything after it works on the arrays
  it makes): that cell, and the cells it needs, must give on the reference path the same arrays
  (names, dtypes, shapes per jet, number of jets) as on the course's files. The whole of 05 and
  06 on this folder takes a minute more and passes too (run this module with ``REFERENCE_ALL=1``).
"""
import json
import os

import nbformat
import pytest

from utils import data, reference
from utils.tooling import editions
from utils.tooling.execution import course_notebooks, execute_notebook

pytestmark = pytest.mark.slow
import fastjet  # noqa: F401
import tables  # noqa: F401

FAST_MODE_JETS = {"train": 8_000, "val": 4_000, "test": 12_000}  # what 04-06 read at most in fast mode
FEW_JETS = {"train": 600, "val": 300, "test": 400}  # enough to compare what the data cells make
DATA_CELL = "# ---------------- "  # the banner of each notebook's only cell that reads jets
SPLITS = {"05": "data", "06": '{"train": train, "val": val, "test": test}'}  # the arrays the data cell makes


def _notebook(number):
    return next(p for p in course_notebooks() if p.name.startswith(number))


def _write_folder(folder, sizes):
    for split, n in sizes.items():
        reference.write_top_tagging(folder / reference.TOP_TAGGING_FILES[split], data.load("top_tagging", split, max_events=n))
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Public-format folders: as many jets as fast mode reads, and a few."""
    return {"fast": _write_folder(tmp_path_factory.mktemp("reference_fast"), FAST_MODE_JETS),
            "few": _write_folder(tmp_path_factory.mktemp("reference_few"), FEW_JETS)}


@pytest.fixture
def reference_setting(folders, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    monkeypatch.setenv("COURSE_RESULTS_DIR", str(tmp_path / "results"))
    # one cache for the module: N-subjettiness of the reference jets is computed once per file
    monkeypatch.setenv("COURSE_CACHE_DIR", str(folders["fast"].parent / "cache"))

    def use_reference_files(which: str | None):
        if which:
            monkeypatch.setenv("COURSE_TOP_TAGGING_DIR", str(folders[which]))
        else:
            monkeypatch.delenv("COURSE_TOP_TAGGING_DIR", raising=False)

    return use_reference_files


def _run(nb, path):
    nbformat.write(nb, path)
    executed, seconds, error = execute_notebook(path, timeout=300)
    assert error is None, f"{path.name} on the public format failed after {seconds:.0f} s: {error}"
    return "\n".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))


def test_04_runs_unchanged_on_the_public_format_with_its_images_on_disk(reference_setting, tmp_path):
    reference_setting("fast")
    source = _notebook("04")
    nb = nbformat.read(source, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "MEMORY_LIMIT_GB = 2.0 " in c.source]
    assert len(cells) == 1, f"{source.name}: expected one cell that sets MEMORY_LIMIT_GB"
    cells[0].source = cells[0].source.replace("MEMORY_LIMIT_GB = 2.0 ", "MEMORY_LIMIT_GB = 0.001 ")
    text = _run(nb, tmp_path / source.name)
    assert "all checks passed" in text, f"{source.name}: its final checks did not run"
    assert text.count(" on disk") == 3, [line for line in text.splitlines() if "images (" in line]
    record = json.loads((tmp_path / "results" / f"{source.stem}.json").read_text())
    assert {"auc_bdt", "auc_cnn_minimal", "auc_cnn"} <= set(record["metrics"])


@pytest.mark.parametrize("number", sorted(SPLITS))
def test_data_cell_gives_the_same_arrays_on_the_public_format(number, reference_setting, tmp_path):
    source = _notebook(number)
    nb = nbformat.read(source, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.startswith(DATA_CELL))
    sliced = editions.notebook_slice(nb, index)
    sliced.cells.append(nbformat.v4.new_code_cell(
        "import json as _json\n"
        f"print('@@' + _json.dumps({{split: {{key: [str(v.dtype), list(v.shape)] for key, v in d.items()}}"
        f" for split, d in ({SPLITS[number]}).items()}}))"))
    summaries = {}
    for on in (False, True):
        reference_setting("few" if on else None)
        text = _run(sliced, tmp_path / f"{'reference' if on else 'course'}-{source.name}")
        summaries[on] = json.loads(text.split("@@", 1)[1].splitlines()[0])
    course, public = summaries[False], summaries[True]
    assert set(course) == set(public) == {"train", "val", "test"}
    for split in course:
        assert set(public[split]) == set(course[split]), (split, set(course[split]) ^ set(public[split]))
        for key, (dtype, shape) in course[split].items():
            assert public[split][key][0] == dtype, (split, key, public[split][key], dtype)
            assert public[split][key][1][1:] == shape[1:], (split, key, public[split][key], shape)
        n_public = public[split]["label"][1][0]
        assert n_public == min(course[split]["label"][1][0], FEW_JETS[split]), (split, n_public)


@pytest.mark.skipif(not os.environ.get("REFERENCE_ALL"), reason="the whole of 05 and 06: set REFERENCE_ALL=1")
@pytest.mark.parametrize("number", sorted(SPLITS))
def test_whole_notebook_runs_unchanged_on_the_public_format(number, reference_setting, tmp_path):
    reference_setting("fast")
    source = _notebook(number)
    text = _run(nbformat.read(source, as_version=4), tmp_path / source.name)
    assert "all checks passed" in text, f"{source.name}: its final checks did not run"
