"""Numerics: NMSE and top-1 agreement against llama.cpp's logits per model type and kernel set, with the
tolerances the golden records carry; KL divergence when a record has it."""
import os

import numpy as np

from . import figures
from .figures import plt
from .section import Section, Table, fmt_num

PHASES = ("prefill", "decode")


def build(inputs, out_dir, options):
    recs = inputs.golden
    if not recs:
        return None
    header = ["model", "weight_types", "kernels", "threads", "phase", "nmse", "nmse_limit", "top1",
              "top1_strict", "top1_limit", "kld", "passed"]
    rows = []
    for r in recs:
        for ph in PHASES:
            c = r[ph]
            rows.append([os.path.basename(r["model"]), r["weight_types"], r["kernels"], r.get("threads"), ph,
                         c.get("nmse"), r["limits"].get("nmse"), c.get("top1"), c.get("top1_strict"),
                         r["limits"].get("top1"), c.get("kld"), r.get("passed")])
    cases = list(dict.fromkeys((row[0], row[1]) for row in rows))
    kernel_sets = sorted({row[2] for row in rows})
    sec = Section("numerics", "Numerics")
    failed = [r for r in recs if not r.get("passed", True)]
    sec.paragraphs.append(
        f"{len(recs)} golden case(s) over {len(kernel_sets)} kernel set(s): {len(recs) - len(failed)} within "
        "tolerance, " + f"{len(failed)} outside. NMSE = sum of squared logit differences / sum of squared "
        "reference logits; black marks are each type's limit.")
    sec.figures.append(_plot(out_dir, rows, cases, kernel_sets, 5, "nmse", "NMSE (log)", True, header))
    sec.figures.append(_plot(out_dir, rows, cases, kernel_sets, 7, "top1", "top-1 agreement", False, header))
    if any(row[10] is not None for row in rows):
        sec.figures.append(_plot(out_dir, rows, cases, kernel_sets, 10, "kld", "KL divergence (log)", True, header))
    sec.tables.append(Table(["model", "types", "kernels", "nmse prefill", "nmse decode", "limit", "top1 min",
                             "verdict"],
                            [[os.path.basename(r["model"]), r["weight_types"], r["kernels"],
                              fmt_num(r["prefill"].get("nmse")), fmt_num(r["decode"].get("nmse")),
                              fmt_num(r["limits"].get("nmse")),
                              fmt_num(min(r["prefill"].get("top1", 1), r["decode"].get("top1", 1))),
                              "ok" if r.get("passed") else "FAIL"] for r in recs]))
    return sec


def _plot(out_dir, rows, cases, kernel_sets, col, name, ylabel, log, header):
    limit_col = {5: 6, 7: 9}.get(col)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), squeeze=False)
    for ax, ph in zip(axes[0], PHASES):
        width = 0.8 / len(kernel_sets)
        for i, k in enumerate(kernel_sets):
            vals = []
            for case in cases:
                match = [row for row in rows if (row[0], row[1]) == case and row[2] == k and row[4] == ph]
                v = match[-1][col] if match else None
                vals.append(np.nan if v is None else max(v, 1e-16) if log else v)
            ax.bar(np.arange(len(cases)) + (i - (len(kernel_sets) - 1) / 2) * width, vals, width, label=k,
                   color=figures.color(i))
        if limit_col is not None:
            for j, case in enumerate(cases):
                lims = [row[limit_col] for row in rows if (row[0], row[1]) == case and row[4] == ph]
                if lims and lims[-1] is not None:
                    ax.plot([j - 0.45, j + 0.45], [lims[-1]] * 2, color="black", linewidth=1.5)
        ax.set_xticks(range(len(cases)), [f"{c[0].removesuffix('.gguf')}\n{c[1]}" for c in cases], fontsize=6,
                      rotation=30, ha="right")
        if log:
            ax.set_yscale("log")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{ph}: {name} per weight type")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return figures.save(fig, out_dir, f"numerics_{name}", f"Numerics: {name}",
                        f"{ylabel} per model type and kernel set; black lines are the tolerances.", header, rows)
