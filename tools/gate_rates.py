#!/usr/bin/python3
"""Runs `llamascope gate --run` many times on one configuration and tabulates what the gates decided.

This is how docs/gate.md's wall-clock table is measured: the false-alarm rate of A/A gates (a build
against itself) and the detection rate of an injected slowdown (LLAMASCOPE_INJECT_SLOWDOWN through
--candidate-env, with a null injection on the baseline through --baseline-env as the control, so both
sides pay the injection hook's own cost and differ only by the injected fraction).

Usage: tools/gate_rates.py --gates N --label TEXT [--jsonl OUT] -- GATE_ARGS...
GATE_ARGS are passed to `llamascope gate` as they are (they must include --run and --candidate).
Prints one Markdown row per benchmark and appends every gate's summary to OUT when given.
"""
import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def run_gate(binary, gate_args):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "gate.json")
        start = time.monotonic()
        proc = subprocess.run([binary, "gate", *gate_args, "--json", out], capture_output=True, text=True)
        seconds = time.monotonic() - start
        if proc.returncode not in (0, 1):
            sys.exit(f"gate_rates: gate exited {proc.returncode}: {proc.stderr.strip()}")
        with open(out) as f:
            summary = json.load(f)
    return proc.returncode, seconds, summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gates", type=int, required=True, help="how many gates to run")
    parser.add_argument("--label", required=True, help="the row's name in the table")
    parser.add_argument("--jsonl", help="append each gate's result to this file")
    parser.add_argument("--binary", default="build/llamascope", help="the llamascope that runs the gate")
    parser.add_argument("gate_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    gate_args = args.gate_args[1:] if args.gate_args[:1] == ["--"] else args.gate_args
    if "--run" not in gate_args:
        sys.exit("gate_rates: GATE_ARGS must include --run BINARY --candidate BINARY")

    failed = 0
    seconds = []
    by_benchmark = collections.defaultdict(lambda: {"verdicts": collections.Counter(), "ratios": [], "n": []})
    for i in range(args.gates):
        rc, took, summary = run_gate(args.binary, gate_args)
        failed += rc == 1
        seconds.append(took)
        for c in summary["comparisons"]:
            b = by_benchmark[c["benchmark"].split(" ")[-1]]
            b["verdicts"][c["verdict"]] += 1
            b["ratios"].append(c["ratio"])
            b["n"].append(len(c["baseline_samples"]))
        print(f"gate_rates: {args.label}: gate {i + 1}/{args.gates}: exit {rc} in {took:.0f} s: "
              + ", ".join(f"{c['benchmark'].split(' ')[-1]} {c['verdict']} {c['ratio']:.3f}"
                          for c in summary["comparisons"]), file=sys.stderr, flush=True)
        if args.jsonl:
            with open(args.jsonl, "a") as f:
                f.write(json.dumps({"label": args.label, "gate": i + 1, "exit": rc, "seconds": took,
                                    "summary": summary}) + "\n")

    for test, b in sorted(by_benchmark.items()):
        verdicts = ", ".join(f"{n} {v}" for v, n in b["verdicts"].most_common())
        print(f"| {args.label} | {test} | {args.gates} | {failed} | {verdicts} | "
              f"{statistics.median(b['ratios']):.3f} ({min(b['ratios']):.3f}-{max(b['ratios']):.3f}) | "
              f"{statistics.median(b['n']):.0f} ({min(b['n'])}-{max(b['n'])}) | "
              f"{statistics.median(seconds):.0f} ({min(seconds):.0f}-{max(seconds):.0f}) |")


if __name__ == "__main__":
    main()
