"""The sliders where students use them: in JupyterLab, driven by headless Chromium (Playwright).

For one slider of each kind the course uses, JupyterLab is started on loopback, a notebook made of
the slider's cell and the cells it needs (``utils.tooling.editions.notebook_slice``: only the cells the
test checks are run, in fast mode) is opened and run, the slider is moved, and the figure must
change. This catches what the book cannot: a slider that renders but whose callback fails or
never redraws with the kernel's versions of ipywidgets and matplotlib.
"""
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import test_book

from utils.tooling import editions

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

# The course's sliders work in one of two ways, and one slider of each kind is driven here (every
# Lab start and notebook slice costs the test suite 15-40 s; the test of all seven took 3 min):
# - ``widgets.interact``: the kernel calls the drawing function again for every value (most notebooks);
# - ``utils.anomaly.figure_slider``: figures drawn up front, the slider swaps the PNG (07, 08, 20).
# Every slider's cell also runs in nbval and in the book, at its initial value.
SLIDERS = [
    ("00_collider_data", "widgets.interact(show_injection"),
    ("07_autoencoder_anomaly", "figure_slider(draw_bottleneck"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on loopback over a folder of sliced notebooks; yields (url, folder)."""
    test_book._require_browser()  # skipped with advice without Chromium; in CI a missing browser fails
    folder = tmp_path_factory.mktemp("lab")
    settings = folder / ".settings"
    notification = settings / "user" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text('{"fetchNews": "false", "checkForUpdates": false}')  # no pop-ups over the notebook
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "COURSE_FAST": "1", "JUPYTERLAB_SETTINGS_DIR": str(settings / "user"),
           "JUPYTERLAB_WORKSPACES_DIR": str(settings / "workspaces")}
    lab_cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--ServerApp.port={port}",
               "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}",
               "--ServerApp.port_retries=0"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
        lab_cmd.append("--allow-root")
    log = open(folder / "lab.log", "w")
    proc = subprocess.Popen(lab_cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.terminate()
        pytest.fail("JupyterLab did not start:\n" + (folder / "lab.log").read_text()[-3000:])
    yield url, token, folder
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=test_book.CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


def _slice(name: str, marker: str, folder: Path) -> Path:
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and marker in c.source)
    sliced = editions.notebook_slice(nb, index)
    path = folder / "notebooks" / f"{name}_slider.ipynb"  # beside the data's relative paths, as the original
    path.parent.mkdir(exist_ok=True)
    nbformat.write(nbformat.from_dict(sliced), path)
    return path


# the images of the notebook's last cell (the slider's): the figure it shows
_IMAGES = """() => { const cells = document.querySelectorAll('.jp-Notebook .jp-Cell');
    return cells.length ? [...cells[cells.length - 1].querySelectorAll('img')].map(i => i.src) : []; }"""


@pytest.mark.parametrize("name,marker", SLIDERS, ids=[s[0] for s in SLIDERS])
def test_moving_the_slider_redraws_the_figure(lab, browser, name, marker):
    url, token, folder = lab
    path = _slice(name, marker, folder)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{url}/lab/tree/{path.relative_to(folder).as_posix()}?token={token}&reset")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        # the kernel is up when the status bar says so; then Run > Run All Cells, as a student would
        page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"Idle")).first.wait_for(timeout=60_000)
        for _ in range(3):
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
            try:  # execution started: a prompt shows [*] or a number
                page.wait_for_function("""() => [...document.querySelectorAll('.jp-InputPrompt')]
                    .some(p => /\\[(\\*|\\d+)\\]/.test(p.innerText))""", timeout=10_000)
                break
            except Exception:
                page.keyboard.press("Escape")
        handle = page.locator(".jp-Notebook .jp-Cell").last.locator(".noUi-handle").first
        handle.wait_for(timeout=120_000)
        page.wait_for_function(f"({_IMAGES})().length > 0", timeout=120_000)
        before = page.evaluate(_IMAGES)
        at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
        handle.focus()
        for _ in range(2):  # two steps of the slider, away from the end it starts at
            page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")
        page.wait_for_function(f"(before) => JSON.stringify(({_IMAGES})()) !== JSON.stringify(before)",
                               arg=before, timeout=120_000)
        tracebacks = page.locator(".jp-Notebook .jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")
        assert tracebacks.count() == 0, tracebacks.first.inner_text()[:2000]
    except Exception:
        shot = ROOT / "_build" / "test" / f"lab-{name}.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        print(f"JupyterLab as the test left it: {shot}")
        raise
    finally:
        page.close()
        _shut_down_kernels(url, token)


def _shut_down_kernels(url: str, token: str) -> None:
    """Stop every kernel of the server, so that the next notebook has the cores to itself."""
    import json
    import urllib.request

    headers = {"Authorization": f"token {token}"}
    with urllib.request.urlopen(urllib.request.Request(f"{url}/api/kernels", headers=headers), timeout=10) as r:
        kernels = json.load(r)
    for kernel in kernels:
        request = urllib.request.Request(f"{url}/api/kernels/{kernel['id']}", headers=headers, method="DELETE")
        urllib.request.urlopen(request, timeout=30).close()
