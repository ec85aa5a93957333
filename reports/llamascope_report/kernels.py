"""Kernel comparison: tokens/s per kernel set for each model, test and thread count, with the spread of the
repetitions, and speed-ups against a baseline kernel set."""
import numpy as np

from . import figures
from .figures import plt
from .section import Section, Table, fmt_num

MAX_PANELS = 6  # tests drawn; every row is in the CSV


def group_key(r):
    m = r["model"]
    return (m.get("name", "?"), m.get("weight_types", "?"), r["test"], int(r["threads"]))


def latest_rows(bench):
    """The newest record of each (model, types, test, threads, kernels): a comparison of one state of the code."""
    latest = {}
    for r in bench:
        key = group_key(r) + (r["kernels"],)
        order = (r.get("time", ""), r.get("index", 0))
        if key not in latest or order >= latest[key][0]:
            latest[key] = (order, r)
    return [latest[k][1] for k in sorted(latest)]


def _test_order(test):
    return (0 if test.startswith("pp") and "+" not in test else 1 if test.startswith("tg") else 2, test)


def build(inputs, out_dir, options):
    if not inputs.bench:
        return None
    rows = latest_rows(inputs.bench)
    kernel_sets = sorted({r["kernels"] for r in rows})
    groups = sorted({group_key(r) for r in rows}, key=lambda g: (_test_order(g[2]), g[0], g[1], g[3]))
    by = {(group_key(r), r["kernels"]): r for r in rows}
    baseline = options.baseline
    sec = Section("kernels", "Kernel comparison")
    sec.paragraphs.append(
        f"Tokens per second (median of the repetitions; bars show min to max) for {len(kernel_sets)} kernel "
        f"set(s) over {len(groups)} (model, test, threads) combination(s); speed-ups are median / median of "
        f"the baseline `{baseline}`.")
    csv_rows = []
    for g in groups:
        for k in kernel_sets:
            r = by.get((g, k))
            if r is None:
                continue
            t = r["tokens_per_second"]
            base = by.get((g, baseline))
            speedup = t["median"] / base["tokens_per_second"]["median"] if base else None
            csv_rows.append([g[0], g[1], g[2], g[3], k, len(t.get("samples", [])), t["median"], t.get("mean"),
                             t.get("stddev"), t.get("min"), t.get("max"),
                             ";".join(repr(float(s)) for s in t.get("samples", [])), speedup, r["run_id"]])
    header = ["model", "weight_types", "test", "threads", "kernels", "repetitions", "median_tokens_per_second",
              "mean", "stddev", "min", "max", "samples", "speedup_vs_baseline", "run_id"]
    sec.figures.append(_bars(out_dir, groups, kernel_sets, by, header, csv_rows))
    if any((g, baseline) in by for g in groups) and len(kernel_sets) > 1:
        sec.figures.append(_speedups(out_dir, groups, kernel_sets, by, baseline, header, csv_rows))
    else:
        sec.paragraphs.append(f"No speed-up figure: the baseline kernel set `{baseline}` is not in the records.")
    sec.tables.append(Table(["model", "types", "test", "threads"] + [f"{k} tok/s" for k in kernel_sets]
                            + [f"{k} vs {baseline}" for k in kernel_sets if k != baseline],
                            [_table_row(g, kernel_sets, by, baseline) for g in groups]))
    return sec


def _table_row(g, kernel_sets, by, baseline):
    cells = [g[0], g[1], g[2], g[3]]
    for k in kernel_sets:
        r = by.get((g, k))
        cells.append(fmt_num(r["tokens_per_second"]["median"]) if r else "-")
    base = by.get((g, baseline))
    for k in kernel_sets:
        if k == baseline:
            continue
        r = by.get((g, k))
        cells.append(f"{r['tokens_per_second']['median'] / base['tokens_per_second']['median']:.3g}x"
                     if r and base else "-")
    return cells


def _label(g):
    return f"{g[0].removesuffix('.gguf')}\n{g[1]} t={g[3]}"


def _panels(groups):
    tests = sorted({g[2] for g in groups}, key=_test_order)
    return tests[:MAX_PANELS], tests


def _bars(out_dir, groups, kernel_sets, by, header, csv_rows):
    shown, tests = _panels(groups)
    fig, axes = plt.subplots(len(shown), 1, figsize=(10, 2.8 * len(shown) + 0.6), squeeze=False)
    for ax, test in zip(axes[:, 0], shown):
        gs = [g for g in groups if g[2] == test]
        x = np.arange(len(gs))
        width = 0.8 / len(kernel_sets)
        values = []
        for i, k in enumerate(kernel_sets):
            med, lo, hi = [], [], []
            for g in gs:
                t = by[(g, k)]["tokens_per_second"] if (g, k) in by else None
                med.append(t["median"] if t else np.nan)
                lo.append(t["median"] - t.get("min", t["median"]) if t else 0)
                hi.append(t.get("max", t["median"]) - t["median"] if t else 0)
            values += [v for v in med if v == v]
            ax.bar(x + (i - (len(kernel_sets) - 1) / 2) * width, med, width, yerr=[lo, hi], capsize=2,
                   label=k, color=figures.color(i))
        ax.set_xticks(x, [_label(g) for g in gs], fontsize=7, rotation=15, ha="right")
        ax.set_ylabel("tokens/s")
        ax.set_title(f"{test}: tokens/s per kernel set (median, min-max)")
        if figures.wants_log(values):
            ax.set_yscale("log")
        ax.legend(fontsize=7, ncol=min(len(kernel_sets), 4))
    if len(tests) > len(shown):
        fig.text(0.01, 0.005, f"{len(tests) - len(shown)} more tests in the CSV", fontsize=7)
    fig.tight_layout()
    return figures.save(fig, out_dir, "kernels_tokens_per_second", "Tokens/s per kernel set",
                        "Median tokens/s; error bars span the repetitions (min to max).", header, csv_rows)


def _speedups(out_dir, groups, kernel_sets, by, baseline, header, csv_rows):
    shown, _ = _panels(groups)
    others = [k for k in kernel_sets if k != baseline]
    fig, axes = plt.subplots(len(shown), 1, figsize=(10, 2.6 * len(shown) + 0.6), squeeze=False)
    for ax, test in zip(axes[:, 0], shown):
        gs = [g for g in groups if g[2] == test and (g, baseline) in by]
        x = np.arange(len(gs))
        width = 0.8 / max(len(others), 1)
        for i, k in enumerate(others):
            ratio = [by[(g, k)]["tokens_per_second"]["median"] / by[(g, baseline)]["tokens_per_second"]["median"]
                     if (g, k) in by else np.nan for g in gs]
            ax.bar(x + (i - (len(others) - 1) / 2) * width, ratio, width, label=k,
                   color=figures.color(kernel_sets.index(k)))
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(x, [_label(g) for g in gs], fontsize=7, rotation=15, ha="right")
        ax.set_ylabel(f"speed-up vs {baseline} (x)")
        ax.set_yscale("log")
        ax.set_title(f"{test}: median tokens/s relative to {baseline}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return figures.save(fig, out_dir, "kernels_speedup", f"Speed-up against {baseline}",
                        f"Median tokens/s divided by the baseline's ({baseline}); 1 = as fast, log scale.",
                        header, [r for r in csv_rows if r[12] is not None])
