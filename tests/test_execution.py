import time
from pathlib import Path

import pytest

from utils.tooling import execution


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

    config = yaml.safe_load((Path(execution.ROOT) / "_config.yml").read_text())
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


@pytest.mark.slow
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




@pytest.mark.slow
def test_fill_book_cache_runs_notebooks_side_by_side(tmp_path):
    import nbformat
    from jupyter_cache import get_cache

    paths = []
    for name in ("01_one", "02_two"):
        nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                               "language": "python"}})
        nb.cells = [nbformat.v4.new_code_cell("import time; start = time.time(); time.sleep(3); print(start, time.time())")]
        paths.append(tmp_path / f"{name}.ipynb")
        nbformat.write(nb, paths[-1])
    lines = []
    cache = tmp_path / "cache"
    assert execution.fill_book_cache(paths, cache, timeout=120, log=lines.append, workers=2) == []
    assert sum("executed" in line for line in lines) == 2
    spans = []
    for path in paths:  # when each notebook's cell ran, as it printed it
        executed = get_cache(str(cache)).merge_match_into_notebook(nbformat.read(path, as_version=4))[1]
        spans.append([float(x) for x in executed.cells[0].outputs[0]["text"].split()])
    (a0, a1), (b0, b1) = spans
    assert a0 < b1 and b0 < a1, f"the two notebooks ran one after the other: {spans}"
