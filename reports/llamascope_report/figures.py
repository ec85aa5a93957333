"""Figure output: every figure is written as PNG and SVG with a CSV of the numbers behind it, byte for byte
the same for the same input (fixed SVG hash salt, no dates or software stamps, numbers written with repr)."""
import csv
import os
import warnings
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

matplotlib.rcParams.update({
    "svg.hashsalt": "llamascope-report",
    "svg.fonttype": "path",
    "font.size": 9,
    "axes.titlesize": 10,
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "axes.grid": True,
    "grid.alpha": 0.3,
})

# A crowded figure keeps matplotlib's default spacing; that is no reason for a warning on stderr, where bad
# input lines are reported.
warnings.filterwarnings("ignore", message="Tight layout not applied")

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173"]


def color(i):
    return PALETTE[i % len(PALETTE)]


@dataclass
class Figure:
    name: str  # file stem under figures/
    title: str
    caption: str


def _cell(v):
    if isinstance(v, float):
        return repr(v)
    return "" if v is None else str(v)


def save(fig, out_dir, name, title, caption, header, rows):
    """Writes figures/NAME.png, .svg and .csv; closes the figure."""
    folder = os.path.join(out_dir, "figures")
    os.makedirs(folder, exist_ok=True)
    base = os.path.join(folder, name)
    fig.savefig(base + ".png", metadata={"Software": None})
    fig.savefig(base + ".svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    with open(base + ".csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow([_cell(v) for v in row])
    return Figure(name, title, caption)


def wants_log(values, ratio=30.0):
    vals = [v for v in values if v and v > 0]
    return bool(vals) and max(vals) / min(vals) > ratio


def slug(text):
    out = "".join(c if c.isalnum() else "-" for c in text.lower())
    while "--" in out:
        out = out.replace("--", "-")
    return out.strip("-")[:60] or "x"
