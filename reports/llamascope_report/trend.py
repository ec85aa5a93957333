"""Trend: tokens/s of each benchmark over commits, from several bench files (one state of the code each) or
from a history database (loaders.load_history), with the gate's verdicts marked when the rows carry them."""
from . import figures
from .figures import plt
from .section import Section

MAX_PANELS = 6


def _rows_from_bench(bench):
    out = []
    for r in bench:
        git = r["environment"].get("build", {}).get("git", {})
        rev = git.get("revision") or "unknown"
        if git.get("dirty"):
            rev += "+dirty"
        out.append({"model": r["model"].get("name"), "weight_types": r["model"].get("weight_types"),
                    "test": r["test"], "threads": r["threads"], "kernels": r["kernels"], "revision": rev,
                    "time": r.get("time", ""), "tokens_per_second": r["tokens_per_second"]["median"],
                    "verdict": r.get("verdict")})
    return out


def build(inputs, out_dir, options):
    rows = _rows_from_bench(inputs.bench) + _rows_from_bench(inputs.history)
    first_seen = {}
    for r in sorted(rows, key=lambda r: (r["time"] or "", r["revision"])):
        first_seen.setdefault(r["revision"], len(first_seen))
    if len(first_seen) < 2:
        return None
    revisions = sorted(first_seen, key=first_seen.get)
    series = {}
    for r in rows:
        key = (r["test"], r["model"], r["weight_types"], r["kernels"], r["threads"])
        series.setdefault(key, []).append(r)
    tests = sorted({k[0] for k in series})[:MAX_PANELS]
    sec = Section("trend", "Trend over commits")
    sec.paragraphs.append(f"Median tokens/s of each benchmark at {len(revisions)} commits, in the order the "
                          "commits were first measured; x marks a row the regression gate failed.")
    header = ["revision", "time", "model", "weight_types", "test", "threads", "kernels", "tokens_per_second",
              "verdict"]
    csv_rows = [[r["revision"], r["time"], r["model"], r["weight_types"], r["test"], r["threads"], r["kernels"],
                 r["tokens_per_second"], r["verdict"]]
                for r in sorted(rows, key=lambda r: (first_seen[r["revision"]], r["test"], r["model"] or "",
                                                     r["kernels"], r["threads"], r["time"] or ""))]
    fig, axes = plt.subplots(len(tests), 1, figsize=(12, 3 * len(tests) + 0.5), squeeze=False)
    for ax, test in zip(axes[:, 0], tests):
        values = []
        for i, key in enumerate(k for k in sorted(series, key=str) if k[0] == test):
            pts = sorted(series[key], key=lambda r: (first_seen[r["revision"]], r["time"] or ""))
            xs = [first_seen[r["revision"]] for r in pts]
            ys = [r["tokens_per_second"] for r in pts]
            values += ys
            ax.plot(xs, ys, marker="o", markersize=3, color=figures.color(i),
                    label=f"{key[1]} {key[2]} {key[3]} t={key[4]}")
            bad = [(x, y) for x, y, r in zip(xs, ys, pts) if (r.get("verdict") or "").lower() in ("fail", "regression")]
            if bad:
                ax.scatter(*zip(*bad), marker="x", s=60, color="red", zorder=4)
        step = max(1, len(revisions) // 20)  # at most ~20 commit labels
        ticks = list(range(0, len(revisions), step))
        ax.set_xticks(ticks, [revisions[i][:12] for i in ticks], fontsize=6, rotation=30, ha="right")
        ax.set_xlabel("commit (in the order first measured)")
        ax.set_ylabel("tokens/s" + (" (log)" if figures.wants_log(values) else ""))
        if figures.wants_log(values):
            ax.set_yscale("log")
        ax.set_title(f"{test}: tokens/s over commits")
        ax.legend(fontsize=6, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    sec.figures.append(figures.save(fig, out_dir, "trend", "Tokens/s over commits",
                                    "One line per benchmark (model, kernels, threads).", header, csv_rows))
    return sec
