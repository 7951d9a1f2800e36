"""Draw the map of the course: its parts, their notebooks, and which notebook needs which.

    python book/course_map.py        # writes book/course_map.svg (the figure of book/intro.md)

``NEEDS`` is the one list of prerequisites; ``tests/test_notebooks.py`` checks that it names every
notebook and that the committed figure is what this script draws from it.
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SVG = HERE / "course_map.svg"

PARTS = [  # (caption, notebooks, colour)
    ("0 · Collider data", ["00"], "#6b6b6b"),
    ("I · Foundations", ["01", "02", "03"], "#1f77b4"),
    ("II · Top tagging", ["04", "05", "06"], "#ff7f0e"),
    ("III · Searches for the unknown", ["07", "08"], "#2ca02c"),
    ("IV · Generation", ["09", "10"], "#d62728"),
    ("V · Robustness", ["11"], "#9467bd"),
    ("VI · Networks as solvers", ["12", "13"], "#8c564b"),
]
SHORT = {
    "00": "collider data", "01": "logistic regression", "02": "boosted trees", "03": "neural networks",
    "04": "CNN, jet images", "05": "RNN, sequences", "06": "particle networks", "07": "autoencoder",
    "08": "CWoLa, bump hunt", "09": "GAN", "10": "normalizing flows", "11": "adversarial decorrelation",
    "12": "ODE/PDE solvers", "13": "bubble nucleation",
}
# which earlier notebooks each one builds on (read them first)
NEEDS = {
    "00": [], "01": ["00"], "02": ["01"], "03": ["01", "02"],
    "04": ["02", "03"], "05": ["04"], "06": ["04", "05"],
    "07": ["03", "04"], "08": ["02", "07"],
    "09": ["00", "03"], "10": ["09"],
    "11": ["03", "08"],
    "12": ["03"], "13": ["12"],
}


def draw(path: Path = SVG) -> Path:
    """Draw the map into ``path`` (SVG, reproducible byte for byte) and return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    matplotlib.rcParams["svg.hashsalt"] = "course-map"  # stable ids: the same file every time
    fig, ax = plt.subplots(figsize=(11, 4.6))
    ax.set(xlim=(-0.55, len(PARTS) - 0.45), ylim=(-3.3, 0.95))
    ax.axis("off")
    part_of = {nb: col for col, (_, notebooks, _) in enumerate(PARTS) for nb in notebooks}
    where = {}
    for col, (caption, notebooks, colour) in enumerate(PARTS):
        ax.text(col, 0.55, caption.replace(" · ", "\n", 1).replace(" for ", "\nfor "), ha="center", va="center",
                fontsize=9.5, fontweight="bold", color=colour)
        for row, nb in enumerate(notebooks):
            y = -0.45 - 1.05 * row
            where[nb] = (col, y)
            ax.add_patch(FancyBboxPatch((col - 0.42, y - 0.34), 0.84, 0.68, boxstyle="round,pad=0.02",
                                        facecolor=colour, alpha=0.15, edgecolor=colour, linewidth=1.5))
            ax.text(col, y + 0.17, nb, ha="center", va="center", fontsize=11, fontweight="bold")
            ax.text(col, y - 0.04, SHORT[nb], ha="center", va="center", fontsize=7.5)
            earlier = [n for n in NEEDS[nb] if part_of[n] != col]
            if earlier:
                ax.text(col, y - 0.22, "after " + ", ".join(earlier), ha="center", va="center", fontsize=7.5,
                        color="0.35", style="italic")
    for nb, needs in NEEDS.items():  # arrows inside a part; prerequisites from other parts are written
        for need in needs:
            (x0, y0), (x1, y1) = where[need], where[nb]
            if part_of[need] != part_of[nb] or y0 - y1 > 1.1:  # another part, or implied by the chain
                continue
            ax.add_patch(FancyArrowPatch((x0, y0 - 0.36), (x1, y1 + 0.36), arrowstyle="-|>", mutation_scale=10,
                                         color="0.45", linewidth=1.0, shrinkA=0, shrinkB=0))
    ax.text(-0.55, -3.2, "arrows: read in this order within a part; \"after 03\": builds on notebook 03 of an "
            "earlier part", fontsize=8, color="0.35")
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return path


if __name__ == "__main__":
    print(f"wrote {draw(Path(sys.argv[1]) if len(sys.argv) > 1 else SVG)}")
