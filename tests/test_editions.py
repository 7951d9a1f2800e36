"""The student edition: solutions removed, exercises raising, every exercise paired with its solution."""
from pathlib import Path

import nbformat
import pytest

from utils.tooling import editions

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    for kind, source, tags in cells:
        make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        nb.cells.append(make(source, metadata={"tags": list(tags)} if tags else {}))
    return nb


TOY = _nb(
    ("markdown", "# Toy\n[Open in Colab](https://colab.research.google.com/github/org/course/blob/main/notebooks/t.ipynb)", ()),
    ("code", "x = 2", ()),
    ("markdown", "### Exercise 1: square it", ()),
    ("code", "def square(v):\n    ...  # your code", ("exercise",)),
    ("code", "def square(v):\n    return v * v\nanswer = square(x)", ("solution", "hide-cell")),
    ("code", "print(x + 1)", ()),
)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_has_its_solution_and_the_student_edition_can_run(path):
    nb = nbformat.read(path, as_version=4)
    assert len(editions.check_pairs(nb)) >= 2, "at least two exercises, each an 'exercise' + 'solution' pair"
    assert editions.solution_names_used_later(nb) == {}


def test_student_notebook_drops_solutions_and_raises_in_exercises():
    student = editions.student_notebook(TOY, branch="student")
    sources = [c["source"] for c in student["cells"]]
    assert not any("return v * v" in s for s in sources)
    exercise = next(c for c in student["cells"] if "exercise" in c["metadata"].get("tags", []))
    assert exercise["source"].rstrip().endswith(editions.RAISE_MARK)
    assert 'raise NotImplementedError("Exercise 1: square it (complete this cell' in exercise["source"]
    assert "/blob/student/notebooks/t.ipynb" in sources[0]
    assert len(student["cells"]) == len(TOY.cells) - 1
    assert "return v * v" in TOY.cells[4].source  # the instructor edition is not changed


def test_pairs_and_later_use_of_solution_names_are_checked():
    unpaired = _nb(("code", "pass", ("exercise",)), ("code", "pass", ()))
    with pytest.raises(ValueError, match="without a solution"):
        editions.check_pairs(unpaired)
    orphan = _nb(("code", "pass", ()), ("code", "pass", ("solution",)))
    with pytest.raises(ValueError, match="without an exercise"):
        editions.check_pairs(orphan)
    leaky = _nb(*[(c.cell_type, c.source, c.metadata.get("tags", ())) for c in TOY.cells],
                ("code", "print(answer)", ()))
    assert editions.solution_names_used_later(leaky) == {"answer": [6]}
    assert editions.solution_names_used_later(TOY) == {}  # `square` is also defined by the stub


@pytest.mark.slow
def test_the_student_edition_runs_with_only_the_exercise_failing(tmp_path):
    nbformat.write(TOY, tmp_path / "00_toy.ipynb")
    written = editions.write_student_edition([tmp_path / "00_toy.ipynb"], out_dir=tmp_path / "student")
    assert written == [tmp_path / "student" / "notebooks" / "00_toy.ipynb"]
    assert editions.run_student_edition(written, timeout=60, log=lambda line: None) == []
    broken = nbformat.read(written[0], as_version=4)
    broken.cells.append(nbformat.v4.new_code_cell("1 / 0"))
    nbformat.write(broken, written[0])
    problems = editions.run_student_edition(written, timeout=60, log=lambda line: None)
    assert len(problems) == 1 and "ZeroDivisionError" in problems[0]


def test_one_setting_moves_every_colab_link_and_first_cell(tmp_path):
    import shutil

    (tmp_path / "notebooks").mkdir()
    shutil.copy2(NOTEBOOKS[1], tmp_path / "notebooks" / NOTEBOOKS[1].name)
    config = (ROOT / "_config.yml").read_text().replace("https://github.com/ml-particle-physics/course",
                                                           "https://github.com/my-school/ml-course")
    config = config.replace("branch: main", "branch: v2027.1")  # a release tag: links and clone pinned to it
    (tmp_path / "_config.yml").write_text(config)
    assert editions.repository_setting(tmp_path) == ("https://github.com/my-school/ml-course", "v2027.1")
    assert editions.apply_repository_setting(root=tmp_path) == [tmp_path / "notebooks" / NOTEBOOKS[1].name]
    text = (tmp_path / "notebooks" / NOTEBOOKS[1].name).read_text()
    assert "ml-particle-physics" not in text
    assert f"colab.research.google.com/github/my-school/ml-course/blob/v2027.1/notebooks/{NOTEBOOKS[1].name}" in text
    assert '\\"COURSE_REPOSITORY\\", \\"https://github.com/my-school/ml-course\\"' in text
    assert '\\"COURSE_REF\\", \\"v2027.1\\"' in text  # the first cell clones the same ref
    assert editions.apply_repository_setting(root=tmp_path) == []  # nothing left to change
    assert editions.apply_repository_setting() == []  # the course's own notebooks follow its setting


def test_the_student_edition_clones_its_own_branch():
    nb = nbformat.read(NOTEBOOKS[1], as_version=4)
    student = editions.student_notebook(nb, branch="student-2027")
    cell = next(c["source"] for c in student["cells"] if c["cell_type"] == "code" and "google.colab" in c["source"])
    assert '("COURSE_REF", "student-2027")' in cell
