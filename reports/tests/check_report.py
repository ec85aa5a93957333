#!/usr/bin/python3
"""Checks a report folder against the records it was made from (used by tests/cli/report_*.sh).

usage: check_report.py REPORT_DIR [--max-of-roof X] RECORD_FILE...
Every section the records feed has its figures as PNG + SVG + CSV, the CSV numbers equal the records'
(exact float equality: the report writes numbers with repr), and every image index.html and report.md
name exists. Exits 1 with one line per failure.
"""
import csv
import os
import re
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from llamascope_report import figures, loaders, profiles  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def read_csv(out, name):
    path = os.path.join(out, "figures", name + ".csv")
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def figure(out, name):
    base = os.path.join(out, "figures", name)
    for ext in (".png", ".svg", ".csv"):
        if not check(os.path.isfile(base + ext) and os.path.getsize(base + ext) > 0, f"missing {name}{ext}"):
            return False
    with open(base + ".png", "rb") as f:
        check(f.read(8) == b"\x89PNG\r\n\x1a\n", f"{name}.png is not a PNG")
    try:
        ET.parse(base + ".svg")
    except ET.ParseError as e:
        failures.append(f"{name}.svg is not XML: {e}")
    return True


def check_bench(out, inputs):
    if not figure(out, "kernels_tokens_per_second"):
        return
    rows = {(r["model"], r["test"], r["threads"], r["kernels"]): r for r in read_csv(out, "kernels_tokens_per_second")}
    for rec in inputs.bench:
        key = (rec["model"]["name"], rec["test"], str(rec["threads"]), rec["kernels"])
        row = rows.get(key)
        if not check(row is not None, f"kernels csv lacks {key}"):
            continue
        t = rec["tokens_per_second"]
        for col, val in (("median_tokens_per_second", t["median"]), ("min", t["min"]), ("max", t["max"]),
                         ("stddev", t["stddev"])):
            check(float(row[col]) == val, f"kernels csv {key} {col}: {row[col]} != {val}")
        check([float(s) for s in row["samples"].split(";")] == t["samples"], f"kernels csv {key} samples differ")
    if len({r["kernels"] for r in inputs.bench}) > 1:
        figure(out, "kernels_speedup")


def check_profiles(out, inputs, max_of_roof):
    if not inputs.profiles:
        return
    figure(out, "time_stacked")
    figure(out, "time_per_op")
    stacked = read_csv(out, "time_stacked")
    for p, label in zip(inputs.profiles, profiles.run_labels(inputs.profiles)):
        sums = {}
        for rec in p.layers:
            k = (rec["phase"], rec["op"])
            sums[k] = sums.get(k, 0) + rec["ns"]
        got = {(r["phase"], r["op"]): int(r["total_ns"]) for r in stacked if r["run"] == label}
        check(got == sums, f"time_stacked csv of {label} differs from the layer records")
        slug = figures.slug(label)
        if figure(out, "heatmap_" + slug):
            cells = {}
            for rec in p.layers:
                k = (rec["phase"], str(rec["layer"]), rec["op"])
                cells[k] = cells.get(k, 0) + rec["ns"]
            got = {(r["phase"], r["layer"], r["op"]): int(r["total_ns"]) for r in read_csv(out, "heatmap_" + slug)}
            check(got == cells, f"heatmap csv of {label} differs from the layer records")
        if figure(out, "roofline_" + slug):
            flops = {}
            for rec in p.layers:
                k = (rec["phase"], rec["op"])
                flops[k] = flops.get(k, 0.0) + rec["flops"]
            for r in read_csv(out, "roofline_" + slug):
                check(float(r["flops"]) == flops[(r["phase"], r["op"])], f"roofline csv {label} {r['op']} flops")
                if max_of_roof is not None and r["of_roof"]:
                    check(float(r["of_roof"]) <= max_of_roof,
                          f"{label} {r['phase']} {r['op']} at {float(r['of_roof']):.2f} of its roof "
                          f"({r['compute_roof']}/{r['memory_roof']})")


def check_golden(out, inputs):
    if not inputs.golden or not figure(out, "numerics_nmse"):
        return
    figure(out, "numerics_top1")
    rows = read_csv(out, "numerics_nmse")
    for rec in inputs.golden:
        for ph in ("prefill", "decode"):
            match = [r for r in rows if r["model"] == os.path.basename(rec["model"]) and r["kernels"] == rec["kernels"]
                     and r["phase"] == ph]
            if check(match, f"numerics csv lacks {rec['model']} {rec['kernels']} {ph}"):
                check(float(match[-1]["nmse"]) == rec[ph]["nmse"], f"numerics csv nmse of {rec['model']} {ph}")
                check(float(match[-1]["top1"]) == rec[ph]["top1"], f"numerics csv top1 of {rec['model']} {ph}")


def check_trend(out, inputs):
    revs = {r["environment"]["build"]["git"]["revision"] for r in inputs.bench}
    if len(revs) < 2 or not figure(out, "trend"):
        return
    rows = read_csv(out, "trend")
    check(len(rows) == len(inputs.bench), f"trend csv has {len(rows)} rows for {len(inputs.bench)} records")
    medians = sorted(r["tokens_per_second"]["median"] for r in inputs.bench)
    check(sorted(float(r["tokens_per_second"]) for r in rows) == medians, "trend csv tokens/s differ")


def check_pages(out):
    html = open(os.path.join(out, "index.html"), encoding="utf-8").read()
    md = open(os.path.join(out, "report.md"), encoding="utf-8").read()
    imgs = re.findall(r'<img src="([^"]+)"', html)
    check(imgs, "index.html has no images")
    for src in imgs + re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md) + re.findall(r'href="([^"#]+)"', html):
        check(os.path.isfile(os.path.join(out, src)), f"page names missing file {src}")
    check("http://" not in html and "https://" not in html, "index.html refers to the network")


def main(argv):
    out = argv[0]
    max_of_roof = None
    rest = argv[1:]
    if rest and rest[0] == "--max-of-roof":
        max_of_roof, rest = float(rest[1]), rest[2:]
    inputs = loaders.load_files(rest)
    check_bench(out, inputs)
    check_profiles(out, inputs, max_of_roof)
    check_golden(out, inputs)
    check_trend(out, inputs)
    check_pages(out)
    for f in failures:
        print("check_report: " + f)
    print(f"check_report: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
