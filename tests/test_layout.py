"""The layout of ``utils``: what students import at the top, the machinery in ``utils.tooling``, and
imports that run one way (tooling -> course modules, never back)."""
import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UTILS = ROOT / "utils"
COURSE_MODULES = sorted(p.stem for p in UTILS.glob("*.py") if p.stem not in ("__init__", "__main__"))


def _utils_imports(module: Path) -> set[str]:
    """The modules of ``utils`` that ``module`` imports, anywhere in it, as dotted names below ``utils``."""
    package = module.relative_to(ROOT).with_suffix("").parts[:-1]  # ("utils",) or ("utils", "tooling")
    found = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            names = [name] + [f"{name}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n.removeprefix("utils.") for n in names if n.startswith("utils.")}
    return found


def test_no_course_module_imports_the_tooling():
    for module in COURSE_MODULES:
        imported = _utils_imports(UTILS / f"{module}.py")
        assert not any(n == "tooling" or n.startswith("tooling.") for n in imported), \
            f"utils/{module}.py imports the machinery ({sorted(imported)}): imports run tooling -> course only"


def test_the_data_modules_import_one_way():
    allowed = {"storage": set(), "reference": {"jets", "storage"}, "data": {"reference", "storage", "jets"}}
    for name, ok in allowed.items():
        imported = {n.split(".")[0] for n in _utils_imports(UTILS / f"{name}.py")}
        assert imported <= ok, f"utils/{name}.py imports {sorted(imported - ok)}"


def test_main_is_a_thin_entry_point():
    imported = _utils_imports(UTILS / "__main__.py")
    assert {n.split(".")[0] for n in imported} == {"tooling"}, imported
    assert len((UTILS / "__main__.py").read_text().splitlines()) < 15


def test_every_course_module_is_what_notebooks_use():
    """A newcomer opening utils/ sees only what the notebooks import (directly, or through a module they import)."""
    code = "\n".join(p.read_text() for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
    used = set(re.findall(r"utils\.(\w+)", code)) | set(re.findall(r"from utils import ([\w, ]+)", code))
    used = {name.strip().split(" as ")[0] for group in used for name in group.split(",")}  # "from utils import x as y"
    reachable, todo = set(), [m for m in COURSE_MODULES if m in used]
    while todo:
        module = todo.pop()
        if module in reachable:
            continue
        reachable.add(module)
        todo += [n.split(".")[0] for n in _utils_imports(UTILS / f"{module}.py") if n.split(".")[0] in COURSE_MODULES]
    assert set(COURSE_MODULES) <= reachable | {"config", "results"}, \
        f"utils/ holds modules no notebook uses: {sorted(set(COURSE_MODULES) - reachable)}; machinery goes in utils/tooling"


def test_the_package_docstring_lists_every_course_module():
    doc = (UTILS / "__init__.py").read_text()
    for module in COURSE_MODULES:
        assert f":mod:`utils.{module}`" in doc, f"utils/__init__.py's table of contents lacks utils.{module}"


def test_command_line():
    proc = subprocess.run([sys.executable, "-m", "utils", "list"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "top_jets.npz" in proc.stdout and "COURSE_TOP_TAGGING_DIR" in proc.stdout
