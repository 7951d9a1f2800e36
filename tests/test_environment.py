"""The environment the course declares is the one it is tested with."""
import re
from pathlib import Path

import pytest
import yaml

from utils.tooling.environment import exact_pins, read_lock, requirement_name

ROOT = Path(__file__).resolve().parent.parent
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")


CONSTRAINTS = read_lock(ROOT)
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _declared():
    deps = list(PYPROJECT["dependencies"])
    for extra in PYPROJECT["optional-dependencies"].values():
        deps += extra
    return deps


def test_every_declared_package_is_locked():
    missing = [d for d in _declared() if requirement_name(d) not in CONSTRAINTS]
    assert not missing, f"add these to .ci/constraints.txt (pip freeze): {missing}"


def test_locked_versions_satisfy_the_declared_ranges():
    from packaging.requirements import Requirement

    bad = [f"{r} but locked {CONSTRAINTS[requirement_name(r)]}" for r in _declared()
           if not Requirement(r).specifier.contains(CONSTRAINTS[requirement_name(r)], prereleases=True)]
    assert not bad, bad


@pytest.mark.parametrize("path", ["environment.yml", ".binder/environment.yml"])
def test_conda_environments_pin_the_locked_versions(path):
    env = yaml.safe_load((ROOT / path).read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = exact_pins(pip)
    assert pins, f"{path} pins nothing"
    differ = {k: (v, CONSTRAINTS.get(k)) for k, v in pins.items() if CONSTRAINTS.get(k) != v}
    assert not differ, f"{path} and .ci/constraints.txt disagree: {differ}"
    runtime = {requirement_name(d) for d in PYPROJECT["dependencies"]}
    assert runtime <= set(pins), f"{path} lacks {sorted(runtime - set(pins))}"
    assert any("whl/cpu" in line for line in pip if isinstance(line, str)), "CPU torch index missing"


def test_binder_installs_the_package_after_the_copy():
    env = (ROOT / ".binder" / "environment.yml").read_text()
    assert "-e ." not in env, "repo2docker builds the environment before copying the repository"
    post = ROOT / ".binder" / "postBuild"
    assert "pip install" in post.read_text() and "-e ." in post.read_text()
    assert post.stat().st_mode & 0o111, "postBuild must be executable"


@pytest.mark.parametrize("feature,package,minimum", [
    ("np.trapezoid", "numpy", "2.0"),
    ("X_val=", "scikit-learn", "1.7"),
])
def test_lower_bounds_cover_what_the_code_calls(feature, package, minimum):
    from packaging.requirements import Requirement
    from packaging.version import Version

    sources = [p for p in [*ROOT.glob("utils/*.py"), *ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("tests/*.py")]
               if p.name != "test_environment.py"]
    if not any(feature in p.read_text() for p in sources):
        pytest.skip(f"nothing calls {feature} any more")
    spec = next(Requirement(d).specifier for d in PYPROJECT["dependencies"] if requirement_name(d) == package)
    floor = min((Version(s.version) for s in spec if s.operator in (">=", "==")), default=None)
    assert floor is not None and floor >= Version(minimum), f"{package} must require >= {minimum}: {spec}"


def test_makefile_installs_cpu_torch_with_a_fallback_and_the_lock():
    make = (ROOT / "Makefile").read_text()
    assert re.search(r"^TORCH_INDEX \?= https://download\.pytorch\.org/whl/cpu", make, re.M)
    assert "--index-url $(TORCH_INDEX)" in make and "||" in make
    assert "-c $(CONSTRAINTS)" in make


def test_browser_check_skips_with_advice_without_chromium_but_fails_in_ci(monkeypatch):
    import test_book

    monkeypatch.setattr(test_book, "CHROMIUM", None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        test_book._require_browser()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser check"):
        test_book._require_browser()
