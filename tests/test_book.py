"""Build the book (fast mode) and look at its pages in headless Chromium, offline.

Fails when a page leaves math unrendered, misses a figure, shows a widget cell without its
widget, links to a page that does not exist, or asks the network for anything.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml
from executed import CACHE, import_runs  # the test book's cache (never mixed with `make book`'s full-mode one)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "_build" / "test"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.slow


def build() -> subprocess.CompletedProcess:
    """Build the whole book in fast mode into ``_build/test``; the build itself executes nothing.

    The notebooks that nbval ran (``make test`` runs them first, in a pytest run of its own, and
    ``tests/executed.py`` stores each run) are put into the test book's execution cache; those it
    lacks (all of them when this test runs alone) are executed first with
    ``utils.tooling.execution.fill_book_cache``, as ``make book`` does.
    """
    from utils.tooling.execution import course_notebooks, fill_book_cache

    import_runs()
    OUT.mkdir(parents=True, exist_ok=True)
    errors = fill_book_cache(course_notebooks(), CACHE, log=lambda line: None)
    assert not errors, "notebooks failed:\n" + "\n".join(errors)
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["cache"] = str(CACHE)
    for stale in ("html", ".doctrees", "jupyter_execute"):  # Sphinx misses some config changes
        shutil.rmtree(OUT / "_build" / stale, ignore_errors=True)
    (OUT / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))  # order matters: require.js first
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(ROOT), "--path-output", str(OUT),
           "--config", str(OUT / "_config.yml"), "-W", "--keep-going"]
    with open(OUT / "build.log", "w") as log:
        return subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def html(request):
    """The built book (fast mode), from this session's nbval executions where there are any."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COURSE_FAST", "1")  # the kernels that fill_book_cache may start, and the build
        result = build()
    log = (OUT / "build.log").read_text()
    assert result.returncode == 0, f"the book build failed:\n{log[-6000:]}"
    assert "Executed notebook in" not in log, "the book build executed a notebook itself: the cache missed it"
    return OUT / "_build" / "html"


def _pages(html):
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part["chapters"]]
    return files


def test_every_toc_entry_became_a_page(html):
    for f in _pages(html):
        assert (html / f"{f}.html").exists(), f"{f}.html was not built"


def test_vendored_javascript_is_served_by_the_book(html):
    page = (html / "notebooks" / "01_logistic_regression.html").read_text()
    scripts = re.findall(r'<script[^>]*\ssrc="([^"]+)"', page)
    assert not [s for s in scripts if urlparse(s).scheme], f"scripts from the network: {scripts}"
    local = [s.split("?")[0] for s in scripts]
    assert "../_static/mathjax/tex-mml-chtml.js" in local
    assert local.index("../_static/require.js") < local.index("../_static/html-manager/embed-amd.js")
    assert (html / "_static" / "mathjax" / "tex-mml-chtml.js").exists()


def test_internal_links_resolve(html):
    broken = []
    for page in html.rglob("*.html"):
        if "_static" in page.relative_to(html).parts:  # theme templates, not pages
            continue
        for href in re.findall(r'(?:href|src)="([^"#?]+)[^"]*"', page.read_text()):
            if urlparse(href).scheme or href.startswith(("mailto:", "//")):
                continue
            target = (page.parent / unquote(href)).resolve()
            if not target.exists():
                broken.append(f"{page.relative_to(html)} -> {href}")
    assert not broken, "broken links:\n" + "\n".join(sorted(set(broken))[:30])


NO_BROWSER = ("no Chromium found, so the built pages and the sliders in JupyterLab were not looked at in a "
              "browser: install it (Debian/Ubuntu: sudo apt-get install chromium; macOS: brew install --cask chromium) "
              "and run make test again")


def _require_browser():
    """Skip on a student's or instructor's machine without Chromium; in CI a missing browser fails."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser check, but " + NO_BROWSER)
        pytest.skip(NO_BROWSER)


def test_pages_render_offline_in_chromium(html):
    _require_browser()
    from playwright.sync_api import sync_playwright

    notebooks = {p.stem: json.loads(p.read_text()) for p in (ROOT / "notebooks").glob("*.ipynb")}
    problems, external = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})

        def block(route):
            external.append(route.request.url)
            route.abort()

        page.route(re.compile(r"^https?://"), block)
        for f in _pages(html):
            page.goto((html / f"{f}.html").as_uri())
            page.wait_for_load_state("load")
            stem = Path(f).name
            source = ""
            if stem in notebooks:
                source = "".join("".join(c["source"]) for c in notebooks[stem]["cells"])
            # wait for MathJax to finish typesetting (its startup promise), not for a fixed time
            page.evaluate("async () => { if (window.MathJax && MathJax.startup && MathJax.startup.promise) "
                          "await MathJax.startup.promise; }")
            has_slider = "widgets.interact(" in source or "figure_slider(" in source
            if has_slider:  # the widget manager renders the stored widget state after load
                try:
                    page.wait_for_selector(".jupyter-widgets, .widget-slider", timeout=15_000)
                except Exception:
                    pass  # reported below
            state = page.evaluate("""() => {
                const main = document.querySelector('main') || document.body;
                const text = main.innerText;
                const imgs = [...main.querySelectorAll('img')];
                const wide = [...main.querySelectorAll('pre')].filter(p => p.scrollWidth > p.clientWidth + 1);
                return {
                    mathjax: document.querySelectorAll('mjx-container').length,
                    mathjax_errors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
                    raw_math: (text.match(/\\\\\\(|\\\\\\[|\\$\\$/g) || []).length,
                    images: imgs.length,
                    broken_images: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(-60)),
                    widgets: document.querySelectorAll('.jupyter-widgets, .widget-slider').length,
                    scrolling_code: wide.map(p => (p.innerText.trim().split('\\n')[0] || '').slice(0, 60)),
                };
            }""")
            if state["raw_math"]:
                problems.append(f"{f}: {state['raw_math']} equations left unrendered")
            if state["mathjax_errors"]:
                problems.append(f"{f}: {state['mathjax_errors']} equations MathJax could not typeset")
            if state["broken_images"]:
                problems.append(f"{f}: images not loaded {state['broken_images']}")
            if state["scrolling_code"]:
                problems.append(f"{f}: code wider than the column (a scroll bar): {state['scrolling_code'][:3]}")
            if source:
                if "$" in source and state["mathjax"] == 0:
                    problems.append(f"{f}: has math but MathJax rendered none")
                if "plt." in source and state["images"] == 0:
                    problems.append(f"{f}: makes plots but shows no figure")
                if has_slider and state["widgets"] == 0:
                    problems.append(f"{f}: has a slider but no widget rendered")
        browser.close()
    assert not problems, "\n".join(problems)
    assert not external, f"pages asked the network for {sorted(set(external))[:10]}"
