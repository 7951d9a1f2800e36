"""The course's environments from one lock: ``.ci/constraints.txt``.

``make lock`` regenerates the lock in a fresh virtual environment (CPU torch first, then the course with
all its extras, then ``pip freeze``); ``python -m utils sync`` writes ``environment.yml`` (a JupyterHub)
and ``.binder/environment.yml`` (Binder) from it, pinning the packages a student's environment needs
at the locked versions. Nothing is pinned by hand anywhere else.
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCK = ".ci/constraints.txt"
# what a student's environment holds, in this order: the course's runtime dependencies (pyproject.toml's
# `dependencies`), JupyterLab to run the notebooks, and the reader of the public reference files
STUDENT_EXTRA = ["jupyterlab", "ipykernel"]
CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu  # CPU-only torch, not the CUDA build"


def requirement_name(requirement: str) -> str:
    """The normalised name of a requirement: ``"scikit-learn>=1.7"`` -> ``"scikit-learn"``."""
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def exact_pins(lines) -> dict[str, str]:
    """``{package name: exact version}`` of the ``name==version`` lines among ``lines`` (a lock's, or
    the pip section of a conda environment); comments and options (``-e .``, ``--extra-index-url``) are skipped."""
    pins = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if "==" in line and not line.startswith("-"):
            name, version = line.split("==")
            pins[requirement_name(name)] = version.strip()
    return pins


def read_lock(root: Path = ROOT) -> dict[str, str]:
    """``{package name: exact version}`` from the lock."""
    return exact_pins((Path(root) / LOCK).read_text().splitlines())


def student_packages(root: Path = ROOT) -> list[str]:
    """The packages of a student's environment: the runtime dependencies, the reference extra, JupyterLab."""
    import tomllib

    project = tomllib.loads((Path(root) / "pyproject.toml").read_text())["project"]
    names = [requirement_name(d) for d in project["dependencies"]]
    names += [requirement_name(d) for d in project["optional-dependencies"].get("reference", [])]
    names += STUDENT_EXTRA
    return list(dict.fromkeys(["torch", *names]))  # torch first: from the CPU index


def conda_environment(root: Path = ROOT, binder: bool = False) -> str:
    """The text of ``environment.yml`` (``binder=False``) or ``.binder/environment.yml``, pinned from the lock."""
    pins, packages = read_lock(root), student_packages(root)
    missing = [name for name in packages if name not in pins]
    if missing:
        raise ValueError(f"{LOCK} lacks {missing}: regenerate it with `make lock`")
    if binder:
        head = ["# Binder (repo2docker) builds this environment before it copies the repository, so it cannot",
                "# install the course package itself: .binder/postBuild does that."]
    else:
        head = ["# Conda environment for a JupyterHub: Python from conda-forge, the course's packages from pip at",
                "# the versions CI tests.",
                "#   conda env create -f environment.yml && conda activate mlpp-course",
                "# (Binder uses .binder/, which installs the course package after the repository is copied.)"]
    head.append(f"# Written by `python -m utils sync` from the lock, {LOCK} (`make lock`); do not edit.")
    lines = head + ["name: mlpp-course", "channels:", "  - conda-forge", "dependencies:", "  - python=3.11",
                    "  - pip", "  - pip:", f"      - {CPU_INDEX}"]
    lines += [f"      - {name}=={pins[name]}" for name in packages]
    if not binder:
        lines.append("      - -e .")
    return "\n".join(lines) + "\n"
