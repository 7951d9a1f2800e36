"""The Colab path, for real: a notebook opened alone, in a fresh environment with the oldest versions
the course supports, fetches the course through its first cell and runs top to bottom.

A copy of this working tree stands in for the GitHub repository (``COURSE_REPOSITORY``), the
environment is a new virtual environment with numpy, scipy, scikit-learn, matplotlib,
ipywidgets, threadpoolctl and tqdm at the lower bounds of ``pyproject.toml`` and torch as pinned
(as on Colab, which brings its own), and ``google.colab`` is made importable, so that the
notebook's first cell does what it does on Colab: clone, install what is missing, import.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
NOTEBOOKS = ["01_logistic_regression.ipynb"]  # torch, scikit-learn, a slider; its first cell installs zuko
WORK = ROOT / "_build" / "test" / "colab"  # the copy of the repository and the fresh environment
OLDEST = ["numpy", "scipy", "matplotlib", "scikit-learn", "ipywidgets", "threadpoolctl", "tqdm"]

RUNNER = r'''
import importlib.util, json, sys, time
import nbformat

path, out, execution_py = sys.argv[1], sys.argv[2], sys.argv[3]
# the course's notebook client that cannot stall (utils/tooling/execution.py), loaded without the utils package,
# which the kernel must get from the fetched course, not from here
spec = importlib.util.spec_from_file_location("course_execution", execution_py)
execution = importlib.util.module_from_spec(spec)
spec.loader.exec_module(execution)
nb = nbformat.read(path, as_version=4)
fake_colab = nbformat.v4.new_code_cell("import sys, types\nsys.modules['google.colab'] = types.ModuleType('google.colab')")
report = nbformat.v4.new_code_cell(
    "import json, numpy, scipy, matplotlib, sklearn, ipywidgets, torch, utils\n"
    "print('@@' + json.dumps({'numpy': numpy.__version__, 'scipy': scipy.__version__,"
    " 'matplotlib': matplotlib.__version__, 'scikit-learn': sklearn.__version__, 'ipywidgets': ipywidgets.__version__,"
    " 'torch': torch.__version__, 'utils': utils.__file__}))")
nb.cells = [fake_colab] + nb.cells + [report]
start = time.perf_counter()
error = None
try:
    execution.PatientClient(nb, timeout=300, kernel_name="python3").execute()
except Exception as err:
    error = f"{type(err).__name__}: {str(err)[-3000:]}"
text = "".join(o.get("text", "") for o in nb.cells[-1].get("outputs", []))
versions = json.loads(text.split("@@", 1)[1]) if "@@" in text else None
json.dump({"error": error, "versions": versions, "seconds": time.perf_counter() - start}, open(out, "w"))
'''


def _lower_bounds() -> dict[str, str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    bounds = {}
    for dep in deps:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", dep.split(";")[0].strip())
        if match:
            bounds[match.group(1).lower()] = match.group(2)
    return bounds


def _torch_version() -> str:
    return re.search(r"^TORCH_VERSION := (\S+)", (ROOT / "Makefile").read_text(), re.M).group(1)


def _copy_of_the_repository(target: Path) -> Path:
    """The working tree's files (tracked and new, not ignored) as a git repository of one commit, on the
    branch of ``_config.yml`` (the ref the notebooks' first cell clones)."""
    import yaml

    branch = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["branch"]
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost"]
    for args in (["init", "-q", "-b", branch], ["add", "-A"], ["commit", "-q", "-m", "the course, standing in for GitHub"]):
        subprocess.run(git + args, cwd=target, check=True, capture_output=True)
    return target


def _fresh_environment(venv: Path, pins: list[str]) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    torch = f"torch=={_torch_version()}"
    index = re.search(r"^TORCH_INDEX \?= (\S+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    if subprocess.run(pip + ["--timeout", "15", "--retries", "1", torch, "--index-url", index]).returncode:
        subprocess.run(pip + [torch], check=True)  # where the CPU index cannot be reached (see the Makefile)
    subprocess.run(pip + pins + ["ipykernel", "nbclient", "nbformat"], check=True)
    return venv / "bin" / "python"


def prepare(work: Path = WORK) -> tuple[Path, Path]:
    """The copy of the repository and the fresh environment: ``(remote, python)``.

    Slow (pip installs torch and the oldest versions): under ``make test`` it runs on one worker while
    the test book is built and looked at on the other.
    """
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    bounds = _lower_bounds()
    remote = _copy_of_the_repository(work / "remote")
    python = _fresh_environment(work / "colab-env", [f"{name}=={bounds[name]}" for name in OLDEST])
    return remote, python


@pytest.fixture(scope="module")
def prepared():
    return prepare()


def test_a_notebook_opened_alone_on_colab_runs_with_the_oldest_supported_versions(prepared):
    remote, python = prepared
    bounds = _lower_bounds()
    alone = WORK / "downloads"  # the notebook, opened on its own: no course beside it
    shutil.rmtree(alone, ignore_errors=True)
    shutil.rmtree(WORK / "content", ignore_errors=True)
    alone.mkdir()
    (alone / "runner.py").write_text(RUNNER)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(COURSE_REPOSITORY=remote.as_uri(), COURSE_HOME=str(WORK / "content" / "course"), COURSE_FAST="1",
               PATH=f"{python.parent}:{env['PATH']}")
    for name in NOTEBOOKS:
        shutil.copy2(ROOT / "notebooks" / name, alone / name)
        result_file = alone / f"{name}.json"
        subprocess.run([str(python), "runner.py", name, str(result_file), str(ROOT / "utils" / "tooling" / "execution.py")],
                       cwd=alone, env=env, check=True)
        result = json.loads(result_file.read_text())
        assert result["error"] is None, f"{name} failed on the Colab path:\n{result['error']}"
        versions = result["versions"]
        for package in OLDEST[:5]:  # the first cell kept these as they were
            assert Version(versions[package]) == Version(bounds[package]), (package, versions)
        assert versions["torch"].startswith(_torch_version()), versions
        assert versions["utils"].startswith(env["COURSE_HOME"]), "utils must come from the fetched course"
        print(f"{name}: {result['seconds']:.0f} s on the Colab path with {versions}")
