"""Static checks of every notebook: the conventions that nbval cannot see."""
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())


def _cells(path):
    return json.loads(path.read_text())["cells"]


def _source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_name_kernel_and_stripped_outputs(path):
    assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), "name notebooks NN_short_name.ipynb"
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    # the book highlights `!git` and `%pip` lines (the Colab cell) only with the IPython lexer
    assert nb["metadata"].get("language_info", {}).get("pygments_lexer") == "ipython3"
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, \
                "commit notebooks with outputs stripped"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_skeleton(path):
    cells = _cells(path)
    markdown = "\n".join(_source(c) for c in cells if c["cell_type"] == "markdown")
    code = "\n".join(_source(c) for c in cells if c["cell_type"] == "code")
    assert _source(cells[0]).startswith("# "), "the first cell is the title"
    colab = f"colab.research.google.com/github/{CONFIG['repository']['url'].split('github.com/')[1]}/blob/main/notebooks/{path.name}"
    assert colab in markdown, f"the Colab link must point at {colab} (python -m utils repository)"
    assert re.search(r"learning objectives", markdown, re.I)
    assert "google.colab" in code, "the Colab install guard is missing"
    for call in ("utils.set_seed(", "utils.fast_mode()"):
        assert call in code, f"the setup cell must call {call}"
    setup = next(_source(c) for c in cells if c["cell_type"] == "code" and "utils.set_seed(" in _source(c))
    torch_import = re.search(r"^(import torch|from torch)", setup, re.M)
    if re.search(r"^\s*(import torch|from torch)|\btorch\.", code, re.M):
        # set_seed seeds torch only if it is loaded: a notebook without torch does not pay for loading it
        assert torch_import and torch_import.start() < setup.index("utils.set_seed("), \
            "a notebook that uses torch imports it in the setup cell, before utils.set_seed"
        assert "utils.get_device()" in code, "the setup cell must call utils.get_device()"
    assert "arxiv.org/abs/" in markdown, "cite the papers behind the method (arXiv links)"
    assert re.search(r"exercise", markdown, re.I)
    assert re.search(r"summary", markdown, re.I) and re.search(r"what's next", markdown, re.I)
    assert "pickle" not in code or "allow_pickle=False" in code


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_have_hidden_solutions(path):
    cells = _cells(path)
    solutions = [c for c in cells if "solution" in c.get("metadata", {}).get("tags", [])]
    assert len(solutions) >= 2, "at least two exercises, each with a solution cell tagged 'solution'"
    for cell in solutions:
        assert "hide-cell" in cell["metadata"]["tags"], "hide solutions in the book with the 'hide-cell' tag"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_closing_checks_assert_and_record(path):
    code = [_source(c) for c in _cells(path) if c["cell_type"] == "code"]
    assert re.search(r"^\s*assert ", "\n".join(code), re.M), "end with checks on the headline numbers"
    assert re.search(rf"utils\.record_result\(\s*[\"']{path.stem}[\"']", "\n".join(code)), \
        f'record the headline numbers with utils.record_result("{path.stem}", ...)'


def test_every_notebook_is_in_the_table_of_contents():
    toc = (ROOT / "_toc.yml").read_text()
    for path in NOTEBOOKS:
        assert f"notebooks/{path.stem}" in toc, f"{path.name} is missing from _toc.yml"


def test_readme_starts_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert "make book" in first_block and "make test" in first_block
    for path in NOTEBOOKS:
        assert path.name in readme, f"list {path.name} in the README's table of notebooks"


def test_ci_runs_make_test_only():
    lines = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[-1].strip() == "make test"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_setup_applies_the_thread_policy_before_torch(path):
    code = "\n".join(_source(c) for c in _cells(path) if c["cell_type"] == "code" and "google.colab" not in _source(c))
    assert "utils.configure_threads()" in code, "call utils.configure_threads() in the setup cell"
    torch_at = code.find("import torch")
    if torch_at >= 0:
        assert code.find("utils.configure_threads()") < torch_at, "apply the thread policy before importing torch"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_speak_to_students_not_to_developers(path):
    # conventions: say what a number must reach and why, never "the issue" or "the ticket"
    text = "\n".join(_source(c) for c in _cells(path))
    found = re.findall(r".{0,40}\b(?:issue|ticket)s?\b.{0,40}", text, re.I)
    assert not found, f"development words a student should not see: {found}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_unsourced_literature_numbers(path):
    text = path.read_text()
    assert "0.967" not in text, "the 'jet mass + N-subjettiness: AUC 0.967' row has no exact source (issue 14)"


def test_notebook_01_chooses_on_validation_jets():
    code = "\n".join(_source(c) for c in _cells(ROOT / "notebooks" / "01_logistic_regression.ipynb")
                     if c["cell_type"] == "code")
    assert re.search(r"""load\w*\(\s*["']val["']""", code), "01 must load the validation split to make its choices"


def test_every_cited_paper_is_on_the_references_page():
    """The references page (book/references.bib, all entries) lists every arXiv paper a page links to."""
    bib = (ROOT / "book" / "references.bib").read_text()
    listed = set(re.findall(r"eprint\s*=\s*\{([^}]+)\}", bib))
    pages = [*NOTEBOOKS, *(ROOT / "book").glob("*.md"), ROOT / "README.md"]
    missing = {}
    for page in pages:
        for arxiv_id in re.findall(r"arxiv\.org/abs/([a-z-]+/\d{7}|\d{4}\.\d{4,5})", page.read_text()):
            if arxiv_id not in listed:
                missing.setdefault(arxiv_id, set()).add(page.name)
    assert not missing, f"add these to book/references.bib: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_colab_cell_clones_the_configured_repository_and_keeps_colabs_packages(path):
    cell = next(_source(c) for c in _cells(path) if c["cell_type"] == "code" and "google.colab" in _source(c))
    assert f'"{CONFIG["repository"]["url"]}"' in cell, \
        "the Colab cell must clone repository.url of _config.yml: run python -m utils repository"
    assert f'("COURSE_REF", "{CONFIG["repository"]["branch"]}")' in cell and "--branch {REF}" in cell, \
        "the Colab cell must clone the ref the book is built from (repository.branch): run python -m utils repository"
    installs = " ".join(line for line in cell.splitlines() if "pip install" in line)
    assert installs, "the Colab cell installs what Colab lacks"
    for package in ("torch", "numpy", "ipywidgets", "-e "):
        assert package not in installs, f"the Colab cell must not replace Colab's own {package.strip()}"
    same = _source(next(c for c in _cells(NOTEBOOKS[0]) if c["cell_type"] == "code" and "google.colab" in _source(c)))
    assert cell == same, "every notebook has the same Colab cell (tests/test_colab.py runs it)"
