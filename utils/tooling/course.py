"""The course's structure, from one file: ``book/course.yml``.

``python -m utils sync`` writes from it everything that lists the notebooks:

- ``_toc.yml``, the book's table of contents;
- the notebook table of ``README.md`` (with the measured column from ``book/benchmark.json``) and the
  parts table of ``book/intro.md``, each between two marker comments;
- ``book/course_map.svg``, the map of the parts and of which notebook builds on which;
- the navigation footer (the last cell) of every notebook;
- ``environment.yml`` and ``.binder/environment.yml``, from the lock (:mod:`utils.tooling.environment`).

``python -m utils sync --check`` writes nothing and lists what is out of date (``tests/test_course.py``
runs it). Adding a notebook therefore takes the notebook, one entry in ``book/course.yml``, its
references in ``book/references.bib``, and ``python -m utils sync``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COURSE_FILE = "book/course.yml"
MAP_FILE = "book/course_map.svg"
BENCHMARK_FILE = "book/benchmark.json"
NAV_MARK = "**Course navigation**"
BEGIN = "<!-- {name}: written by `python -m utils sync` from book/course.yml; edit that file, not this table -->"
END = "<!-- end of {name} -->"
_PART_KEYS = {"id", "title", "question", "colour"}
_NOTEBOOK_KEYS = {"number", "file", "part", "title", "short", "needs", "budget_min", "summary"}

__all__ = ["load_course", "toc_yaml", "readme_table", "intro_table", "draw_map", "footer", "sync"]


def load_course(root: Path = ROOT) -> dict:
    """``book/course.yml`` as a dict, checked: every key present, numbers unique and in order, every
    ``part`` and ``needs`` naming something that exists (and ``needs`` only earlier notebooks), every
    notebook file present, budgets within the course's 5 minutes. Raises ValueError saying what to fix."""
    import yaml

    path = Path(root) / COURSE_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: it holds the course's structure (git checkout -- {COURSE_FILE})")
    course = yaml.safe_load(path.read_text())
    problems = []
    part_ids = [str(p.get("id")) for p in course.get("parts", [])]
    for part in course.get("parts", []):
        missing = _PART_KEYS - set(part)
        if missing:
            problems.append(f"part {part.get('id')!r} lacks {sorted(missing)}")
    numbers = []
    for nb in course.get("notebooks", []):
        missing = _NOTEBOOK_KEYS - set(nb)
        if missing:
            problems.append(f"notebook {nb.get('number')!r} lacks {sorted(missing)}")
            continue
        number = str(nb["number"])
        if not re.fullmatch(r"\d\d", number) or not str(nb["file"]).startswith(number + "_"):
            problems.append(f"notebook {number!r}: number must be two digits and file must start with it "
                            f"(got file {nb['file']!r})")
        if str(nb["part"]) not in part_ids:
            problems.append(f"notebook {number}: part {nb['part']!r} is not one of {part_ids}")
        unknown = [n for n in nb["needs"] if str(n) not in numbers]
        if unknown:
            problems.append(f"notebook {number}: needs {unknown}, which are not earlier notebooks")
        if not 0 < nb["budget_min"] <= 5:
            problems.append(f"notebook {number}: budget_min {nb['budget_min']} outside (0, 5] minutes")
        if not (Path(root) / "notebooks" / f"{nb['file']}.ipynb").exists():
            problems.append(f"notebook {number}: notebooks/{nb['file']}.ipynb does not exist")
        numbers.append(number)
    if numbers != sorted(set(numbers)):
        problems.append(f"notebook numbers must be unique and in teaching order; got {numbers}")
    if problems:
        raise ValueError(f"{path}:\n  " + "\n  ".join(problems))
    for nb in course["notebooks"]:
        nb["number"], nb["part"], nb["needs"] = str(nb["number"]), str(nb["part"]), [str(n) for n in nb["needs"]]
    return course


def _by_part(course: dict) -> list[tuple[dict, list[dict]]]:
    return [(part, [nb for nb in course["notebooks"] if nb["part"] == str(part["id"])]) for part in course["parts"]]


def _caption(part: dict) -> str:
    return part.get("toc_caption") or f"Part {part['id']}: {part['title']}"


def toc_yaml(course: dict) -> str:
    """The text of ``_toc.yml``: the front pages and part 0, then one caption per part, then the back pages."""
    lines = ["# Table of contents (Jupyter Book 1), written by `python -m utils sync` from book/course.yml.",
             "format: jb-book", "root: book/intro", "parts:"]
    for i, (part, notebooks) in enumerate(_by_part(course)):
        files = (course.get("front", []) if i == 0 else []) + [f"notebooks/{nb['file']}" for nb in notebooks]
        lines += [f"  - caption: {json.dumps(_caption(part))}", "    chapters:"]
        lines += [f"      - file: {f}" for f in files]
    lines += ["  - caption: Reference", "    chapters:"] + [f"      - file: {f}" for f in course.get("back", [])]
    return "\n".join(lines) + "\n"


def _part_label(part: dict) -> str:
    return part["title"].lower() if str(part["id"]) == "0" else f"{part['id']} {part['title'].lower()}"


def readme_table(course: dict, benchmark_rows: list[dict] | None = None) -> str:
    """The README's notebook table; the last column is each notebook's full-mode wall time from
    ``book/benchmark.json`` (``make benchmark``), or "not yet measured"."""
    seconds = {r["notebook"]: r["wall_s"] for r in (benchmark_rows or []) if r.get("ok")}
    parts = {str(p["id"]): p for p in course["parts"]}
    lines = ["| notebook | part | what it teaches | budget (full mode) | measured on 2 cores |",
             "|---|---|---|---|---:|"]
    for nb in course["notebooks"]:
        measured = f"{seconds[nb['file']]:.0f} s" if nb["file"] in seconds else "not yet measured"
        lines.append(f"| `{nb['file']}.ipynb` | {_part_label(parts[nb['part']])} | {nb['summary']} | "
                     f"{nb['budget_min']} min | {measured} |")
    return "\n".join(lines) + "\n"


def intro_table(course: dict) -> str:
    """The parts table of ``book/intro.md``: each part, its notebooks (links), its physics question."""
    lines = ["| part | notebooks | the physics question |", "|---|---|---|"]
    for part, notebooks in _by_part(course):
        links = ", ".join(f"{{doc}}`/notebooks/{nb['file']}`" for nb in notebooks)
        lines.append(f"| **{part['id']}. {part['title']}** | {links} | {part['question']} |")
    return "\n".join(lines) + "\n"


def footer(course: dict, number: str) -> str:
    """The navigation footer (a markdown cell) of notebook ``number``: previous, next, the map."""
    notebooks = course["notebooks"]
    index = [nb["number"] for nb in notebooks].index(number)
    links = []
    if index > 0:
        prev = notebooks[index - 1]
        links.append(f"previous: [{prev['number']} · {prev['title']}]({prev['file']}.ipynb)")
    if index + 1 < len(notebooks):
        nxt = notebooks[index + 1]
        links.append(f"next: [{nxt['number']} · {nxt['title']}]({nxt['file']}.ipynb)")
    links.append("[the map of the course](../book/intro.md)")
    return f"---\n{NAV_MARK} · " + " · ".join(links)


MAP_PARTS_PER_BAND = 5  # parts side by side on the map; more parts continue in a band below


def draw_map(course: dict, path: Path) -> Path:
    """Draw the map of the course into ``path`` (SVG, the same bytes every time): one column per part,
    its notebooks from top to bottom, arrows within a part, "after NN" for a prerequisite of an
    earlier part; at most :data:`MAP_PARTS_PER_BAND` parts side by side, the next ones in a band below."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    columns = _by_part(course)
    bands = [columns[i: i + MAP_PARTS_PER_BAND] for i in range(0, len(columns), MAP_PARTS_PER_BAND)]
    band_rows = [max(len(nbs) for _, nbs in band) for band in bands]
    band_height = [1.45 + 1.05 * rows for rows in band_rows]  # part caption, then the notebooks
    width = min(len(columns), MAP_PARTS_PER_BAND)
    needs = {nb["number"]: nb["needs"] for nb in course["notebooks"]}
    with matplotlib.rc_context({"svg.hashsalt": "course-map"}):  # stable ids: the same file every time
        fig, ax = plt.subplots(figsize=(1.75 * width, 0.35 + 1.1 * sum(band_height)))
        bottom = -sum(band_height) - 0.2
        ax.set(xlim=(-0.55, width - 0.45), ylim=(bottom - 0.25, 0.2))
        ax.axis("off")
        part_of, where = {}, {}
        top = 0.0
        for band, height in zip(bands, band_height):
            for col, (part, notebooks) in enumerate(band):
                colour = part["colour"]
                title = textwrap.fill(part["title"], 16)
                ax.text(col, top - 0.45, f"{part['id']}\n{title}", ha="center", va="center", fontsize=9.5,
                        fontweight="bold", color=colour, linespacing=1.15)
                for row, nb in enumerate(notebooks):
                    y = top - 1.3 - 1.05 * row
                    where[nb["number"]], part_of[nb["number"]] = (col, y), part["id"]
                    ax.add_patch(FancyBboxPatch((col - 0.44, y - 0.34), 0.88, 0.68, boxstyle="round,pad=0.02",
                                                facecolor=colour, alpha=0.15, edgecolor=colour, linewidth=1.5))
                    ax.text(col, y + 0.19, nb["number"], ha="center", va="center", fontsize=11, fontweight="bold")
                    ax.text(col, y - 0.03, textwrap.fill(nb["short"], 20), ha="center", va="center", fontsize=7.5,
                            linespacing=1.0)
                    earlier = [n for n in nb["needs"] if n not in where or part_of[n] != part["id"]]
                    if earlier:
                        ax.text(col, y - 0.24, "after " + ", ".join(earlier), ha="center", va="center",
                                fontsize=7.5, color="0.35", style="italic")
            top -= height
        for nb, required in needs.items():  # arrows inside a part; prerequisites from other parts are written
            for need in required:
                (x0, y0), (x1, y1) = where[need], where[nb]
                if part_of[need] != part_of[nb] or y0 - y1 > 1.1:  # another part, or implied by the chain
                    continue
                ax.add_patch(FancyArrowPatch((x0, y0 - 0.36), (x1, y1 + 0.36), arrowstyle="-|>", mutation_scale=10,
                                             color="0.45", linewidth=1.0, shrinkA=0, shrinkB=0))
        ax.text(-0.55, bottom, "arrows: read in this order within a part; \"after 03\": builds on notebook 03 of "
                "an earlier part", fontsize=8, color="0.35")
        fig.tight_layout()
        fig.savefig(path, format="svg", metadata={"Date": None, "Creator": None})
        plt.close(fig)
    return Path(path)


def _replace_between_markers(text: str, name: str, table: str, where: str) -> str:
    begin, end = BEGIN.format(name=name), END.format(name=name)
    pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"{where} lacks the markers of the {name}: put the two lines\n{begin}\n{end}\n"
                         "where the table belongs, then run `python -m utils sync`")
    return pattern.sub(lambda _: f"{begin}\n{table}{end}", text, count=1)


def _notebook_with_footer(path: Path, text: str) -> str | None:
    """The notebook file's new text with ``text`` as its footer cell, or None if it already has it.
    The JSON is written as nbformat writes it (indent 1, a final newline), touching nothing else."""
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    source = text.splitlines(keepends=True)
    last = cells[-1] if cells else None
    if last and last["cell_type"] == "markdown" and "".join(last["source"]).startswith(f"---\n{NAV_MARK}"):
        if "".join(last["source"]) == text:
            return None
        last["source"] = source
    else:
        cells.append({"cell_type": "markdown", "metadata": {}, "source": source})
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def expected_files(root: Path = ROOT) -> dict[Path, str | bytes]:
    """Every file ``sync`` writes, with the content it writes (only the notebooks whose footer changes)."""
    import tempfile

    root = Path(root)
    course = load_course(root)
    record = root / BENCHMARK_FILE
    rows = json.loads(record.read_text())["notebooks"] if record.exists() else []
    files: dict[Path, str | bytes] = {root / "_toc.yml": toc_yaml(course)}
    files[root / "README.md"] = _replace_between_markers((root / "README.md").read_text(), "notebook table",
                                                         readme_table(course, rows), "README.md")
    files[root / "book/intro.md"] = _replace_between_markers((root / "book/intro.md").read_text(), "parts table",
                                                             intro_table(course), "book/intro.md")
    with tempfile.TemporaryDirectory() as tmp:
        files[root / MAP_FILE] = draw_map(course, Path(tmp) / "map.svg").read_bytes()
    from .environment import conda_environment

    files[root / "environment.yml"] = conda_environment(root)
    files[root / ".binder/environment.yml"] = conda_environment(root, binder=True)
    for nb in course["notebooks"]:
        path = root / "notebooks" / f"{nb['file']}.ipynb"
        new = _notebook_with_footer(path, footer(course, nb["number"]))
        if new is not None:
            files[path] = new
    return files


def sync(root: Path = ROOT, check: bool = False) -> list[Path]:
    """Write every file that lists the notebooks from ``book/course.yml``; return those that changed.
    ``check=True`` writes nothing: the returned files are those that are out of date."""
    changed = []
    for path, content in expected_files(root).items():
        current = path.read_bytes() if path.exists() else None
        data = content.encode() if isinstance(content, str) else content
        if current != data:
            changed.append(path)
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
    return changed
