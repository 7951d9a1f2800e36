"""book/course.yml is the one source of the course's structure; `python -m utils sync` writes the rest."""
import json
import shutil
from pathlib import Path

import pytest

from utils.tooling import course

ROOT = Path(__file__).resolve().parents[1]


def test_the_files_written_from_course_yml_are_up_to_date():
    stale = course.sync(ROOT, check=True)
    assert not stale, f"out of date: {[str(p.relative_to(ROOT)) for p in stale]}; run `python -m utils sync`"


def test_course_yml_names_every_notebook_with_its_own_title():
    entries = course.load_course(ROOT)["notebooks"]
    on_disk = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert [nb["file"] for nb in entries] == on_disk, "every notebook needs one entry in book/course.yml, in order"
    for nb in entries:
        cells = json.loads((ROOT / "notebooks" / f"{nb['file']}.ipynb").read_text())["cells"]
        heading = "".join(cells[0]["source"]).splitlines()[0]
        assert heading == f"# {nb['number']} · {nb['title']}", f"{nb['file']}: title differs from the notebook's heading"


def _toy_course(root: Path, notebooks=("00_a", "01_b", "02_c")) -> None:
    (root / "book").mkdir(parents=True)
    (root / "notebooks").mkdir()
    (root / ".ci").mkdir()
    (root / ".binder").mkdir()
    for name in ("pyproject.toml", ".ci/constraints.txt"):  # the conda environments come from these
        shutil.copy2(ROOT / name, root / name)
    for name in notebooks:
        nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": [f"# {name[:2]} · {name}"]}],
              "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        (root / "notebooks" / f"{name}.ipynb").write_text(json.dumps(nb, indent=1, sort_keys=True) + "\n")
    entries = "\n".join(f"""  - number: "{n[:2]}"\n    file: {n}\n    part: "{'0' if n < '01' else 'I'}"\n"""
                        f"""    title: {n}\n    short: {n}\n    needs: []\n    budget_min: 5\n    summary: about {n}"""
                        for n in notebooks)
    (root / "book/course.yml").write_text(
        "front: [book/how_to_run]\nback: [book/data]\nparts:\n"
        '  - {id: "0", title: Start, toc_caption: Getting started, question: Why, colour: "#000000"}\n'
        '  - {id: I, title: Foundations, question: How, colour: "#1f77b4"}\n'
        f"notebooks:\n{entries}\n")
    for page, name in (("README.md", "notebook table"), ("book/intro.md", "parts table")):
        (root / page).write_text(f"# Title\n\n{course.BEGIN.format(name=name)}\nold\n{course.END.format(name=name)}\n\nmore\n")


def test_adding_a_notebook_takes_one_entry_and_one_command(tmp_path):
    _toy_course(tmp_path, ("00_a", "01_b"))
    course.sync(tmp_path)
    assert course.sync(tmp_path, check=True) == []  # a second run changes nothing
    _toy_course(shutil.rmtree(tmp_path) or tmp_path, ("00_a", "01_b", "02_c"))
    changed = {p.relative_to(tmp_path).as_posix() for p in course.sync(tmp_path)}
    assert {"_toc.yml", "README.md", "book/intro.md", "book/course_map.svg", "notebooks/02_c.ipynb"} <= changed
    toc = (tmp_path / "_toc.yml").read_text()
    assert "notebooks/02_c" in toc and toc.index("book/how_to_run") < toc.index("notebooks/00_a")
    assert "| `02_c.ipynb` | I foundations | about 02_c | 5 min | not yet measured |" in (tmp_path / "README.md").read_text()
    assert "{doc}`/notebooks/02_c`" in (tmp_path / "book/intro.md").read_text()
    footer = json.loads((tmp_path / "notebooks/01_b.ipynb").read_text())["cells"][-1]
    assert "next: [02 · 02_c](02_c.ipynb)" in "".join(footer["source"])
    assert "previous: [01 · 01_b](01_b.ipynb)" in "".join(
        json.loads((tmp_path / "notebooks/02_c.ipynb").read_text())["cells"][-1]["source"])
    assert (tmp_path / "README.md").read_text().endswith("\nmore\n")  # only the table between the markers changes


@pytest.mark.parametrize("mistake, message", [
    (('part: "I"', 'part: "IX"'), "part 'IX' is not one of"),
    (('needs: []\n    budget_min: 5\n    summary: about 01_b', 'needs: ["02"]\n    budget_min: 5\n    summary: about 01_b'),
     "not earlier notebooks"),
    (("budget_min: 5", "budget_min: 8"), "outside (0, 5] minutes"),
    (("file: 02_c", "file: 02_missing"), "02_missing.ipynb does not exist"),
])
def test_a_wrong_entry_says_what_to_fix(tmp_path, mistake, message):
    _toy_course(tmp_path)
    path = tmp_path / "book/course.yml"
    path.write_text(path.read_text().replace(*mistake, 1))
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("]", r"\]").replace("[", r"\[")):
        course.load_course(tmp_path)


def test_a_page_without_the_markers_says_where_they_go(tmp_path):
    _toy_course(tmp_path)
    (tmp_path / "README.md").write_text("# no table here\n")
    with pytest.raises(ValueError, match="README.md lacks the markers of the notebook table"):
        course.sync(tmp_path, check=True)


def test_the_instructor_guide_says_what_adding_a_notebook_takes():
    guide = (ROOT / "book" / "instructor_guide.md").read_text()
    assert "book/course.yml" in guide and "python -m utils sync" in guide
