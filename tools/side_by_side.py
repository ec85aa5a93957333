#!/usr/bin/env python3
"""Side-by-side speed of llamascope and llama.cpp's llama-bench on the same GGUF files.

For each model the two tools run the same tests (ppP and tgN, T threads, R repetitions after a
warm-up) back to back, alternating which goes first from round to round, so that the slow drift of a
shared machine hits both alike. Raw outputs are kept next to the table; the table gives medians of the
per-repetition tokens/s and the ratio llamascope / llama.cpp for each round.

Only the standard library is used, so any python3 runs it. It runs a llama-bench you built yourself;
it never builds llama.cpp.

    tools/side_by_side.py --llama-bench ~/llama.cpp/build/bin/llama-bench \
        --llamascope build/llamascope -t 2 -p 128 -n 64 -r 5 --rounds 2 --out /tmp/sbs MODEL.gguf ...
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def fail(message):
    sys.exit(f"side_by_side: error: {message}")


def run_tool(cmd):
    """stdout of cmd; a failing tool ends the comparison with one line naming it and its last error line."""
    try:
        result = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        fail(f"cannot run {cmd[0]}: {e.strerror}")
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no message)"])[-1]
        fail(f"{os.path.basename(cmd[0])} exited with {result.returncode} on {cmd[cmd.index('-m') + 1]}: {last}")
    return result.stdout


def run_llama_bench(exe, model, threads, n_prompt, n_gen, reps):
    """Returns {test name: [tokens/s per repetition]} from llama-bench's JSON output."""
    cmd = [exe, "-m", model, "-t", str(threads), "-p", str(n_prompt), "-n", str(n_gen), "-r", str(reps), "-o", "json"]
    out = run_tool(cmd)
    results = {}
    try:
        for row in json.loads(out):
            test = f"pp{row['n_prompt']}" if row["n_gen"] == 0 else f"tg{row['n_gen']}"
            results[test] = list(row["samples_ts"])
    except (ValueError, KeyError, TypeError):
        fail(f"{exe} printed no llama-bench JSON for {model}")
    return cmd, out, results


def run_llamascope(exe, model, kernels, threads, n_prompt, n_gen, reps):
    """Returns {test name: [tokens/s per repetition]} and the peak RSS per test from `bench -o jsonl`."""
    cmd = [exe, "bench", "-m", model, "-k", kernels, "-t", str(threads), "-p", str(n_prompt), "-n", str(n_gen),
           "-r", str(reps), "-o", "jsonl", "--no-progress"]
    out = run_tool(cmd)
    results, rss, bandwidth = {}, {}, {}
    try:
        for line in filter(str.strip, out.splitlines()):
            row = json.loads(line)
            results[row["test"]] = list(row["tokens_per_second"]["samples"])
            rss[row["test"]] = row["memory"]["peak_rss_bytes"]
            bandwidth[row["test"]] = row.get("bandwidth", {}).get("fraction")
    except (ValueError, KeyError, TypeError):
        fail(f"{exe} printed no llamascope.bench/1 records for {model}")
    return cmd, out, results, rss, bandwidth


def write_atomically(path, text):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", help="GGUF files")
    ap.add_argument("--llama-bench", required=True, help="path to llama.cpp's llama-bench")
    ap.add_argument("--llamascope", default="build/llamascope")
    ap.add_argument("-k", "--kernels", default="simd")
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("-p", "--n-prompt", type=int, default=128)
    ap.add_argument("-n", "--n-gen", type=int, default=64)
    ap.add_argument("-r", "--repetitions", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=1, help="repeat the whole comparison, alternating the order")
    ap.add_argument("--out", required=True, help="directory for raw outputs and table.md")
    args = ap.parse_args()

    for path in [args.llama_bench, args.llamascope] + args.models:
        if not os.path.exists(path):
            fail(f"no such file: {path}")
    os.makedirs(args.out, exist_ok=True)

    rows = []  # (model, test, round, llama.cpp t/s, llamascope t/s, peak RSS, bandwidth fraction)
    for rnd in range(args.rounds):
        for model in args.models:
            name = os.path.basename(model)
            order = ["llama.cpp", "llamascope"] if rnd % 2 == 0 else ["llamascope", "llama.cpp"]
            measured = {}
            for tool in order:
                if tool == "llama.cpp":
                    cmd, out, res = run_llama_bench(args.llama_bench, model, args.threads, args.n_prompt, args.n_gen,
                                                    args.repetitions)
                    measured[tool] = (res, None, None)
                else:
                    cmd, out, res, rss, bw = run_llamascope(args.llamascope, model, args.kernels, args.threads,
                                                            args.n_prompt, args.n_gen, args.repetitions)
                    measured[tool] = (res, rss, bw)
                raw = f"{name}.{tool}.round{rnd + 1}"
                write_atomically(os.path.join(args.out, raw + ".txt"), "$ " + " ".join(cmd) + "\n" + out)
                print(f"round {rnd + 1} {name} {tool}: " +
                      ", ".join(f"{t} {statistics.median(s):.2f} t/s" for t, s in sorted(res.items())), flush=True)
            ref, _, _ = measured["llama.cpp"]
            ours, rss, bw = measured["llamascope"]
            for test in sorted(set(ref) & set(ours)):
                rows.append((name, test, rnd + 1, ref[test], ours[test], rss.get(test), bw.get(test)))

    lines = [
        f"threads {args.threads}, {args.repetitions} repetitions, kernels `{args.kernels}`; tokens/s are medians "
        "over the repetitions; ratio = llamascope / llama.cpp",
        "",
        "| model | test | round | llama.cpp t/s | llamascope t/s | ratio | llamascope peak RSS | of bandwidth |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, test, rnd, ref, ours, rss, bw in rows:
        ratio = statistics.median(ours) / statistics.median(ref)
        rss_text = f"{rss / 2**20:.0f} MiB" if rss else ""
        bw_text = f"{bw * 100:.0f} %" if bw is not None and test.startswith("tg") else ""
        lines.append(f"| {name} | {test} | {rnd} | {statistics.median(ref):.2f} | {statistics.median(ours):.2f} | "
                     f"{ratio:.2f}x | {rss_text} | {bw_text} |")
    lines.append("")
    lines.append("Raw tokens/s per repetition (llama.cpp / llamascope):")
    for name, test, rnd, ref, ours, _, _ in rows:
        lines.append(f"- {name} {test} round {rnd}: " + " ".join(f"{x:.1f}" for x in ref) + " / " +
                     " ".join(f"{x:.1f}" for x in ours))
    table = "\n".join(lines) + "\n"
    write_atomically(os.path.join(args.out, "table.md"), table)
    print(table)


if __name__ == "__main__":
    main()
