"""Roofline: every op of a profile run as a point (FLOPs per byte, achieved GFLOP/s) under the machine's
measured roofs: the compute peak matching the op's arithmetic and the bandwidth of each memory level.
Roofs come from the layer records (`roof`, written by profile), else from the run's or a given
`llamascope machine --json` object with the same rule as harness/machine_roofs.cpp."""
import numpy as np

from . import figures, profiles
from .figures import plt
from .section import Section, Table

QUANTIZED = ("Q4_0", "Q8_0", "Q4_K", "Q5_K", "Q6_K")


def compute_kind(rec):
    if rec.get("op_kind") == "matmul" and "simd" in rec.get("backend", ""):
        if any(t in (rec.get("weight_type") or "") for t in QUANTIZED):
            return "int8_dot"
    return "fp32_fma"


def roof_for(roofs, kind, nbytes, weight_bytes, weight_stream_bytes, threads):
    """harness/machine_roofs.cpp's roof_for, for records written before profile recorded its roofs."""
    n = max(roofs.get("threads", 1), 1)
    t = min(max(threads, 1), n)

    def rate(one, all_):
        return min(all_, one * t)

    def level_for(ws):
        for m in roofs["memory"]:
            if m["level"] == "DRAM" or ws <= m["capacity_bytes"] * (t / min(m["shared_by"], t)):
                return m
        return roofs["memory"][-1]
    out = {}
    for c in roofs["compute"]:
        if c["name"] == kind or (not out and c["name"] == "fp32_fma"):
            out.update(compute=c["name"], compute_gflops=rate(c["gflops_1"], c["gflops_n"]))
    weight_bytes = min(max(weight_bytes, 0.0), nbytes)
    rest = nbytes - weight_bytes
    w = level_for(max(weight_bytes, weight_stream_bytes)) if weight_bytes > 0 else None
    a = level_for(rest) if rest > 0 or w is None else None
    seconds = (weight_bytes / (rate(w["gbps_1"], w["gbps_n"]) * 1e9) if w else 0.0) + (
        rest / (rate(a["gbps_1"], a["gbps_n"]) * 1e9) if a else 0.0)
    name = w["level"] if w else a["level"]
    if w and a and a is not w:
        name += "+" + a["level"]
    out.update(memory=name, memory_gbps=nbytes / seconds / 1e9 if seconds else rate(a["gbps_1"], a["gbps_n"]),
               weight_bytes=weight_bytes)
    return out


def _machine_for(p, inputs):
    if p.run.get("roofs"):
        return p.run["roofs"]
    return inputs.machines[0] if inputs.machines else None


def _fill_roofs(p, machine):
    threads = p.run.get("threads", 1)
    weights = p.run.get("model", {}).get("weight_bytes", 0)
    for rec in p.layers:
        if "roof" not in rec and machine:
            # Such records do not say which of their bytes are weights: all are, for an op with a weight.
            wb = rec["bytes"] if rec.get("weight_name") else 0.0
            rec["roof"] = roof_for(machine, compute_kind(rec), rec["bytes"], wb, weights, threads)


def build(inputs, out_dir, options):
    runs = [p for p in inputs.profiles if any("roof" in r for r in p.layers) or _machine_for(p, inputs)]
    if not runs:
        return None
    labels = profiles.run_labels(runs)
    sec = Section("roofline", "Roofline")
    sec.paragraphs.append(
        "Each point is one op of a run summed over its layers and steps: x = FLOPs / bytes (the records' "
        "lower-bound byte counts), y = achieved GFLOP/s. Horizontal lines: compute peaks for the run's "
        "thread count (FP32 FMA, int8 dot products, BF16); diagonals: read bandwidth of each cache level "
        "and DRAM. `of roof` = time the op would take at its own roofs (its arithmetic's peak, the fastest "
        "level its working set fits in) / its measured time.")
    header = ["run", "phase", "op", "calls", "bytes", "flops", "total_ns", "flops_per_byte", "gflops",
              "gbps", "compute_roof", "compute_roof_gflops", "memory_roof", "memory_roof_gbps", "of_roof"]
    worst = []
    for p, label in zip(runs, labels):
        _fill_roofs(p, _machine_for(p, inputs))
        rows = []
        for (phase, op), t in profiles.totals(p, lambda r: (r["phase"], r["op"])).items():
            s = t["ns"] * 1e-9
            frac = max(t["memory_roof_s"], t["compute_roof_s"]) / s if s else None
            roof = t["roof"] or (None, None, None, None)
            rows.append([label, phase, op, t["calls"], t["bytes"], t["flops"], t["ns"],
                         t["flops"] / t["bytes"] if t["bytes"] else None, t["flops"] / s / 1e9 if s else None,
                         t["bytes"] / s / 1e9 if s else None, roof[0], roof[1], roof[2], roof[3], frac])
            if frac is not None:
                worst.append((frac, label, phase, op))
        sec.figures.append(_plot(out_dir, p, label, _machine_for(p, inputs), header, rows))
    worst.sort(reverse=True)
    over = [w for w in worst if w[0] > 1.0]
    sec.paragraphs.append(
        f"{len(over)} op(s) above 100 % of their roof." + (" Above: " + ", ".join(
            f"{w[3]} ({w[2]}, {w[1]}) {100 * w[0]:.0f}%" for w in over[:5]) if over else ""))
    sec.tables.append(Table(["run", "phase", "op", "of roof"],
                            [[w[1], w[2], w[3], f"{100 * w[0]:.1f}%"] for w in worst[:8]],
                            "Ops closest to their roofs"))
    return sec


def _roof_lines(machine, threads, records):
    """[(label, gflops)] compute roofs and [(label, gbps)] memory roofs for a run's thread count."""
    compute, memory = {}, {}
    if machine:
        n = max(machine.get("threads", 1), 1)
        t = min(max(threads, 1), n)
        for c in machine["compute"]:
            compute[c["name"]] = min(c["gflops_n"], c["gflops_1"] * t)
        for m in machine["memory"]:
            memory[m["level"]] = min(m["gbps_n"], m["gbps_1"] * t)
    for rec in records if not machine else []:
        r = rec.get("roof") or {}
        if r.get("compute"):
            compute.setdefault(r["compute"], r["compute_gflops"])
        if r.get("memory"):
            memory.setdefault(r["memory"], r["memory_gbps"])
    return sorted(compute.items(), key=lambda kv: kv[1]), sorted(memory.items(), key=lambda kv: -kv[1])


def _plot(out_dir, p, label, machine, header, rows):
    compute, memory = _roof_lines(machine, p.run.get("threads", 1), p.layers)
    fig, ax = plt.subplots(figsize=(8, 5.5))
    pts = [r for r in rows if r[7] and r[8]]
    xs = [r[7] for r in pts]
    lo = min(xs + [0.05]) / 3
    hi = max(xs + [50.0]) * 3
    x = np.geomspace(lo, hi, 200)
    top = max([g for _, g in compute] + [1.0])
    for i, (name, gbps) in enumerate(memory):
        ax.plot(x, np.minimum(x * gbps, top), linestyle="--", linewidth=1, color=figures.color(8 + i),
                label=f"{name} read {gbps:.0f} GB/s")
    for i, (name, gflops) in enumerate(compute):
        ax.axhline(gflops, linestyle="-", linewidth=1.2, color=figures.color(5 + i),
                   label=f"{name} peak {gflops:.0f} GFLOP/s")
    ops = list(dict.fromkeys(r[2] for r in pts))
    for r in pts:
        ax.scatter(r[7], r[8], s=28, marker="o" if r[1] == "decode" else "^",
                   color=figures.color(ops.index(r[2])), edgecolors="black", linewidths=0.3, zorder=3)
        ax.annotate(r[2], (r[7], r[8]), fontsize=5.5, xytext=(3, 2), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_xlabel("arithmetic intensity (FLOPs per byte)")
    ax.set_ylabel("achieved GFLOP/s (int8 ops count as FLOPs)")
    ax.set_title(f"Roofline: {label} (o decode, ^ prefill)")
    ax.legend(fontsize=6.5, loc="lower right")
    fig.tight_layout()
    return figures.save(fig, out_dir, "roofline_" + figures.slug(label), f"Roofline: {label}",
                        "Ops under the measured roofs; ops with no FLOPs (embed) are in the CSV only.", header, rows)
