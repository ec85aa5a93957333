"""Where the time goes: per op and per layer, prefill and decode, as stacked bars, ops side by side across
kernel sets, and a layer x op heat map per run."""
import numpy as np

from . import figures, profiles
from .figures import plt
from .section import Section, Table

PHASES = ("prefill", "decode")


def _per_unit(p, phase):
    """Divisor turning a phase's total into 'per step': decode totals per token, prefill per prompt."""
    return profiles.decode_steps(p) if phase == "decode" else 1


def build(inputs, out_dir, options):
    runs = inputs.profiles
    if not runs:
        return None
    labels = profiles.run_labels(runs)
    ops = profiles.op_order([rec for p in runs for rec in p.layers])
    sec = Section("timing", "Where the time goes")
    sec.paragraphs.append(
        "Per-op wall time from `llamascope profile` (backend synchronised around each op): prefill is the "
        "whole prompt step, decode is per generated token (total over the decode steps / steps).")
    header = ["run", "kernels", "threads", "model", "phase", "op", "calls", "total_ns", "ms_per_step"]
    rows = []
    per = {}
    for p, label in zip(runs, labels):
        for (phase, op), t in profiles.totals(p, lambda r: (r["phase"], r["op"])).items():
            ms = t["ns"] / 1e6 / _per_unit(p, phase)
            per[(label, phase, op)] = ms
            rows.append([label, p.run["kernels"], p.run["threads"], p.run["model"].get("name"), phase, op,
                         t["calls"], t["ns"], ms])
    phases = [ph for ph in PHASES if any(k[1] == ph for k in per)]
    sec.figures.append(_stacked(out_dir, labels, phases, ops, per, header, rows))
    sec.figures.append(_side_by_side(out_dir, labels, phases, ops, per, header, rows))
    for p, label in zip(runs, labels):
        sec.figures.append(_heatmap(out_dir, p, label, ops))
    sec.tables.append(Table(["run", "phase", "top ops (share of the step)"],
                            [[label, ph, _top(per, label, ph)] for label in labels for ph in phases]))
    return sec


def _top(per, label, phase):
    items = sorted(((ms, op) for (l, ph, op), ms in per.items() if l == label and ph == phase), reverse=True)
    total = sum(ms for ms, _ in items) or 1
    return ", ".join(f"{op} {100 * ms / total:.0f}%" for ms, op in items[:4])


def _stacked(out_dir, labels, phases, ops, per, header, rows):
    width = max(5.5, 0.3 * len(labels))
    fig, axes = plt.subplots(1, len(phases), figsize=(width * len(phases), 4.2), squeeze=False)
    for ax, phase in zip(axes[0], phases):
        bottom = np.zeros(len(labels))
        for i, op in enumerate(ops):
            vals = np.array([per.get((l, phase, op), 0.0) for l in labels])
            ax.bar(range(len(labels)), vals, bottom=bottom, label=op, color=figures.color(i))
            bottom += vals
        ax.set_xticks(range(len(labels)), [l.replace(" ", "\n", 2) for l in labels], fontsize=7)
        ax.set_ylabel("ms per prompt step" if phase == "prefill" else "ms per token")
        ax.set_title(f"{phase}: time per op")
    axes[0][-1].legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    return figures.save(fig, out_dir, "time_stacked", "Time per op (stacked)",
                        "Each bar is one profile run; segments are ops summed over all layers.", header, rows)


def _side_by_side(out_dir, labels, phases, ops, per, header, rows):
    per_panel = max(3.2, 0.16 * len(labels))  # room for a legend entry per run
    fig, axes = plt.subplots(len(phases), 1, figsize=(12, per_panel * len(phases)), squeeze=False)
    for ax, phase in zip(axes[:, 0], phases):
        width = 0.8 / len(labels)
        vals_all = []
        for i, label in enumerate(labels):
            vals = [per.get((label, phase, op), np.nan) for op in ops]
            vals_all += [v for v in vals if v == v]
            ax.bar(np.arange(len(ops)) + (i - (len(labels) - 1) / 2) * width, vals, width, label=label,
                   color=figures.color(i))
        ax.set_xticks(range(len(ops)), ops, fontsize=7, rotation=30, ha="right")
        ax.set_ylabel("ms per prompt step" if phase == "prefill" else "ms per token")
        if figures.wants_log(vals_all):
            ax.set_yscale("log")
        ax.set_title(f"{phase}: each op, runs side by side")
        ax.legend(fontsize=6, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    return figures.save(fig, out_dir, "time_per_op", "Ops side by side across runs",
                        "The same op in each run (kernel set, threads) next to each other.", header, rows)


def _heatmap(out_dir, p, label, ops):
    t = profiles.totals(p, lambda r: (r["phase"], r["layer"], r["op"]))
    layers = sorted({k[1] for k in t})
    phases = [ph for ph in PHASES if any(k[0] == ph for k in t)]
    header = ["phase", "layer", "op", "calls", "total_ns", "ms_per_step"]
    rows = [[ph, layer, op, v["calls"], v["ns"], v["ns"] / 1e6 / _per_unit(p, ph)] for (ph, layer, op), v in t.items()]
    fig, axes = plt.subplots(1, len(phases), figsize=(6 * len(phases), 1.2 + 0.28 * len(layers)), squeeze=False)
    for ax, phase in zip(axes[0], phases):
        m = np.full((len(layers), len(ops)), np.nan)
        for (ph, layer, op), v in t.items():
            if ph == phase:
                m[layers.index(layer), ops.index(op)] = v["ns"] / 1e3 / _per_unit(p, ph)
        im = ax.imshow(m, aspect="auto", cmap="viridis", interpolation="nearest")
        ax.set_xticks(range(len(ops)), ops, fontsize=6, rotation=45, ha="right")
        ax.set_yticks(range(len(layers)), ["out" if l < 0 else str(l) for l in layers], fontsize=6)
        ax.set_ylabel("layer (out = outside the layers)")
        ax.set_title(f"{phase}: {label}", fontsize=8)
        fig.colorbar(im, ax=ax, label="µs per prompt step" if phase == "prefill" else "µs per token")
    fig.tight_layout()
    return figures.save(fig, out_dir, "heatmap_" + figures.slug(label), f"Layer x op: {label}",
                        "Time per layer and op; blank cells: the op does not run in that layer.", header, rows)
