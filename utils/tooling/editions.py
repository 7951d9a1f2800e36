"""The student edition of the notebooks, made from the instructor edition (the repository's notebooks).

Each exercise is a pair of code cells: a stub tagged ``exercise`` that the student completes,
followed at once by its worked solution tagged ``solution`` (and ``hide-cell``, folded in the
book). The student edition (``make student``, or ``python -m utils student``)

- drops every ``solution`` cell,
- ends every ``exercise`` cell with ``raise NotImplementedError("Exercise ...")``, so that a
  student who runs the notebook top to bottom is stopped at the first exercise left undone,
- clears all outputs, and points each notebook's Colab link at the branch the edition is
  published on (the repository's URL itself comes from ``_config.yml``, the one setting).

:func:`check_pairs` checks that every exercise has its solution and every solution its exercise;
:func:`solution_names_used_later` that no later cell needs a name that only a solution defines
(then the student edition runs with only the exercise cells failing, which
:func:`run_student_edition` checks by running it).
"""
from __future__ import annotations

import ast
import copy
import re
from pathlib import Path

from .execution import ROOT, course_notebooks, execute_notebook

EXERCISE, SOLUTION = "exercise", "solution"
RAISE_MARK = "# (student edition)"

__all__ = ["check_pairs", "exercise_title", "solution_names_used_later", "student_notebook",
           "write_student_edition", "run_student_edition"]


def _tags(cell) -> list:
    return cell.get("metadata", {}).get("tags", [])


def check_pairs(nb) -> list[tuple[int, int]]:
    """The ``(exercise, solution)`` cell indices of a notebook; raises ValueError where they do not pair.

    Every ``exercise`` cell must be a code cell followed directly by a ``solution`` code cell, and
    every ``solution`` cell directly preceded by an ``exercise`` cell.
    """
    pairs, problems = [], []
    cells = nb["cells"]
    for i, cell in enumerate(cells):
        if EXERCISE in _tags(cell):
            if cell["cell_type"] != "code":
                problems.append(f"cell {i}: tagged '{EXERCISE}' but not a code cell")
            elif i + 1 >= len(cells) or SOLUTION not in _tags(cells[i + 1]):
                problems.append(f"cell {i}: an exercise without a solution cell right after it")
            else:
                pairs.append((i, i + 1))
        if SOLUTION in _tags(cell) and (i == 0 or EXERCISE not in _tags(cells[i - 1])):
            problems.append(f"cell {i}: a solution without an exercise cell right before it")
        if EXERCISE in _tags(cell) and SOLUTION in _tags(cell):
            problems.append(f"cell {i}: tagged both '{EXERCISE}' and '{SOLUTION}'")
    if problems:
        raise ValueError("exercises and solutions do not pair: " + "; ".join(problems))
    return pairs


def exercise_title(nb, index: int) -> str:
    """The heading of the exercise that cell ``index`` belongs to (the nearest one above it)."""
    for cell in reversed(nb["cells"][:index]):
        if cell["cell_type"] == "markdown":
            source = "".join(cell["source"])
            headings = re.findall(r"^#+\s*(Exercise\b.*)$", source, flags=re.M | re.I)
            if headings:
                return headings[-1].strip().rstrip(".")
    return "Exercise"


class _TopLevelBindings(ast.NodeVisitor):
    """Collects the names a cell binds in its own (module) scope: not inside functions, classes,
    lambdas or comprehensions, which have scopes of their own."""

    def __init__(self):
        self.names: set[str] = set()

    def visit_FunctionDef(self, node):
        self.names.add(node.name)

    visit_AsyncFunctionDef = visit_ClassDef = visit_FunctionDef

    def visit_Lambda(self, node):
        pass

    def visit_ListComp(self, node):
        pass

    visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_ListComp

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Store):
            self.names.add(node.id)

    def visit_Subscript(self, node):  # scores["CNN"] = ... changes `scores`: it counts as binding it
        if isinstance(node.ctx, ast.Store):
            base = node.value
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                base = base.value
            if isinstance(base, ast.Name):
                self.names.add(base.id)
        self.generic_visit(node)

    visit_Attribute = visit_Subscript

    def visit_Import(self, node):
        self.names.update((a.asname or a.name).split(".")[0] for a in node.names)

    visit_ImportFrom = visit_Import


def _defined(source: str) -> set[str]:
    """Names a cell binds at its top level (assignments, functions, classes, imports, loop targets)."""
    try:
        tree = ast.parse(_strip_magics(source))
    except SyntaxError:
        return set()
    visitor = _TopLevelBindings()
    visitor.visit(tree)
    return visitor.names


def _used(source: str) -> set[str]:
    """Names a cell reads that it does not bind itself anywhere (in any scope, or as a parameter)."""
    try:
        tree = ast.parse(_strip_magics(source))
    except SyntaxError:
        return set()
    loads, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loads if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
    return loads - bound


def _strip_magics(source: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def solution_names_used_later(nb) -> dict[str, list[int]]:
    """Names bound only by a solution cell (not by its exercise stub, not elsewhere before their use)
    that a later cell outside the solutions reads: ``{name: [cell indices]}``. Empty when the
    student edition can run with only its exercise cells failing."""
    pairs = check_pairs(nb)
    solution_cells = {s for _, s in pairs}
    cells = nb["cells"]
    only_in_solutions: dict[str, int] = {}
    bound_elsewhere: set[str] = set()
    problems: dict[str, list[int]] = {}
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        if i in solution_cells:
            for name in _defined(source) - bound_elsewhere:
                only_in_solutions.setdefault(name, i)
            continue
        if EXERCISE not in _tags(cell):  # an exercise cell raises in the student edition: its reads do not matter
            for name in _used(source) & set(only_in_solutions):
                problems.setdefault(name, []).append(i)
        for name in _defined(source):  # bound here too (in the stub or a later cell): no longer solution-only
            bound_elsewhere.add(name)
            only_in_solutions.pop(name, None)
    return problems


# a Colab link to a notebook on GitHub: .../github/<owner>/<repository>/blob/<branch>/...
_COLAB_LINK = re.compile(r"(colab\.research\.google\.com/github/)([^/\s)]+/[^/\s)]+)/blob/([^/\s)]+)/")


def _colab_links(source: str, branch: str, owner_repo: str | None = None) -> str:
    """``source`` with every Colab link pointed at ``branch`` (and at ``owner_repo`` when given)."""
    return _COLAB_LINK.sub(lambda m: f"{m[1]}{owner_repo or m[2]}/blob/{branch}/", source)


_COLAB_REF = re.compile(r'("COURSE_REF", )"[^"]+"')


def colab_cell_ref(source: str, ref: str) -> str:
    """The Colab cell ``source`` cloning ``ref`` (a branch or a tag): the notebook and its helpers then
    come from the same version of the course."""
    if not _COLAB_REF.search(source):
        raise ValueError("the Colab cell has no COURSE_REF setting: every notebook's first code cell clones "
                         "`--branch {REF}` with REF = os.environ.get(\"COURSE_REF\", \"<ref>\")")
    return _COLAB_REF.sub(rf'\g<1>"{ref}"', source)


def student_notebook(nb, branch: str = "student"):
    """The student edition of one notebook (an ``nbformat`` node or dict; the input is not changed)."""
    pairs = check_pairs(nb)
    nb = copy.deepcopy(nb)
    titles = {e: exercise_title(nb, e) for e, _ in pairs}
    drop = {s for _, s in pairs}
    cells = []
    for i, cell in enumerate(nb["cells"]):
        if i in drop:
            continue
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        source = "".join(cell["source"])
        if i in titles:
            message = f"{titles[i]} (complete this cell, then delete this line)".replace('"', "'")
            source = source.rstrip() + f"\n\nraise NotImplementedError(\"{message}\")  {RAISE_MARK}\n"
        if cell["cell_type"] == "markdown":
            source = _colab_links(source, branch)
        elif "google.colab" in source:
            source = colab_cell_ref(source, branch)
        cell["source"] = source
        cells.append(cell)
    nb["cells"] = cells
    return nb


def write_student_edition(notebooks=None, out_dir: Path | None = None, branch: str = "student") -> list[Path]:
    """Write the student edition of ``notebooks`` (default: all of ``notebooks/``) into
    ``out_dir/notebooks/`` (default ``_build/student``); returns the written paths."""
    import nbformat

    notebooks = notebooks or course_notebooks()
    out = Path(out_dir or ROOT / "_build" / "student") / "notebooks"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in map(Path, notebooks):
        nb = nbformat.read(path, as_version=4)
        problems = solution_names_used_later(nb)
        if problems:
            raise ValueError(f"{path.name}: later cells need names only a solution defines: {problems}; "
                             "define them in the exercise cell too (as a stub) or outside the solution")
        target = out / path.name
        nbformat.write(nbformat.from_dict(student_notebook(nb, branch)), target)
        written.append(target)
    return written


def run_student_edition(paths, timeout: int = 600, log=print) -> list[str]:
    """Run each student notebook top to bottom, letting cells fail; returns the problems found.

    A notebook passes when the cells that raised are exactly its exercise cells, each with the
    edition's ``NotImplementedError``.
    """
    problems = []
    for path in map(Path, paths):
        found = len(problems)
        nb, _, error = execute_notebook(path, timeout=timeout, allow_errors=True)
        if error:  # not a cell's error (those are in the outputs): a timeout or a dead kernel
            problems.append(f"{path.name}: {error}")
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            errors = [o for o in cell.outputs if o.output_type == "error"]
            is_exercise = RAISE_MARK in cell.source
            if is_exercise and not any(e.ename == "NotImplementedError" for e in errors):
                problems.append(f"{path.name} cell {i}: the exercise cell did not raise NotImplementedError")
            if not is_exercise and errors:
                problems.append(f"{path.name} cell {i}: {errors[0].ename}: {errors[0].evalue}")
        log(f"{path.name}: {'only the exercise cells fail' if len(problems) == found else 'PROBLEMS'}")
    return problems


def notebook_slice(nb, index: int):
    """The cells that cell ``index`` needs, and the cell itself: a copy of ``nb`` without the rest.

    Walks back from the cell: an earlier code cell is kept when it binds a name that a kept cell
    reads (exercise and solution cells are never kept); the setup cell (the one that applies the
    course's thread policy) is always kept. Markdown cells are dropped. Used by the browser test
    of the widgets, which runs only the cells its slider needs.
    """
    nb = copy.deepcopy(nb)
    cells = nb["cells"]
    needed = set(_used("".join(cells[index]["source"])))
    keep = [index]
    for i in range(index - 1, -1, -1):
        cell = cells[i]
        if cell["cell_type"] != "code" or {EXERCISE, SOLUTION} & set(_tags(cell)):
            continue
        source = "".join(cell["source"])
        if _defined(source) & needed or "configure_threads" in source:
            keep.append(i)
            needed |= _used(source)
    nb["cells"] = [cells[i] for i in sorted(keep)]
    for cell in nb["cells"]:
        cell["outputs"], cell["execution_count"] = [], None
    return nb


def repository_setting(root: Path = ROOT) -> tuple[str, str]:
    """``(url, branch)`` of the course's repository: ``repository`` in ``_config.yml``, the one setting.
    ``branch`` may be a branch or a tag: the Colab links open the notebooks there, and the notebooks'
    first cell clones the course from there, so that a notebook and its helpers never drift apart."""
    import yaml

    config = yaml.safe_load((Path(root) / "_config.yml").read_text())["repository"]
    return config["url"].rstrip("/"), config.get("branch", "main")


def apply_repository_setting(notebooks=None, root: Path = ROOT) -> list[Path]:
    """Rewrite every notebook's Colab link and first cell to the repository of ``_config.yml``.

    Run after changing ``repository.url`` or ``repository.branch`` (``python -m utils repository``);
    returns the notebooks that changed. Only the repository's address and ref in those two places
    are replaced: the Colab link's branch, and the first cell's repository and the ref it clones.
    """
    import nbformat

    url, branch = repository_setting(root)
    owner_repo = url.split("github.com/")[-1]
    changed = []
    for path in map(Path, notebooks or course_notebooks(root)):
        nb = nbformat.read(path, as_version=4)
        before = [c.source for c in nb.cells]
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = _colab_links(cell.source, branch, owner_repo)
            elif "google.colab" in cell.source:
                cell.source = re.sub(r'("COURSE_REPOSITORY", )"[^"]+"', rf'\g<1>"{url}"', cell.source)
                cell.source = colab_cell_ref(cell.source, branch)
        if [c.source for c in nb.cells] != before:
            nbformat.write(nb, path)
            changed.append(path)
    return changed
