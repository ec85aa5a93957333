"""Command line of the report generator. Exit status: 0 written, 1 no usable records, 2 unusable arguments.
The output folder is built under a temporary name beside DIR and renamed into place when complete."""
import argparse
import os
import shutil
import sys
import tempfile

from . import environment, kernels, loaders, numerics, render, roofline, timing, trend


def parse(argv):
    ap = argparse.ArgumentParser(prog="llamascope report",
                                 description="HTML + Markdown report from llamascope records")
    ap.add_argument("inputs", nargs="+", help="bench/profile/golden JSONL files, machine JSON")
    ap.add_argument("-o", "--out", required=True, help="output folder")
    ap.add_argument("--baseline", default="simd", help="kernel set speed-ups are measured against")
    ap.add_argument("--history", help="results history (SQLite file or postgresql://...) for the trend section")
    ap.add_argument("--machine", action="append", default=[], help="`llamascope machine --json` output")
    ap.add_argument("--title", default="llamascope kernel report")
    return ap.parse_args(argv)


def error(msg, status):
    print(f"llamascope: error: {msg}", file=sys.stderr)
    return status


def generate(inputs, out_dir, opts):
    links = environment.copy_inputs(inputs, out_dir)
    sections = [s for s in (kernels.build(inputs, out_dir, opts), timing.build(inputs, out_dir, opts),
                            roofline.build(inputs, out_dir, opts), numerics.build(inputs, out_dir, opts),
                            trend.build(inputs, out_dir, opts)) if s is not None]
    sections.append(environment.build(inputs, out_dir, opts, links))
    counts = (f"{len(inputs.bench)} bench, {len(inputs.profiles)} profile run(s), {len(inputs.golden)} golden, "
              f"{len(inputs.machines)} machine record(s)")
    summary = f"From {len(inputs.files)} file(s): {counts}" + (
        f"; {inputs.skipped} bad line(s) skipped." if inputs.skipped else ".")
    render.write_html(os.path.join(out_dir, "index.html"), opts.title, summary, sections)
    render.write_markdown(os.path.join(out_dir, "report.md"), opts.title, summary, sections)
    return sections


def main(argv):
    opts = parse(argv)
    paths = list(opts.inputs) + list(opts.machine)
    for p in paths:
        if not os.path.isfile(p):
            return error(f"{p}: no such file", 2)
    try:
        inputs = loaders.load_files(paths)
    except OSError as e:
        return error(f"cannot read {e.filename}: {e.strerror}", 2)
    if opts.history:
        try:
            inputs.history = loaders.load_history(opts.history)
        except FileNotFoundError:
            return error(f"{opts.history}: no such history database", 2)
        except loaders.HistoryError as e:
            return error(f"{opts.history}: {e}", 2)
    if not inputs.usable():
        return error("no usable bench, profile or golden records in " + ", ".join(paths), 1)
    out = os.path.abspath(opts.out)
    parent = os.path.dirname(out)
    try:
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix="." + os.path.basename(out) + ".tmp-", dir=parent)
    except OSError as e:
        return error(f"cannot write beside {out}: {e.strerror}", 2)
    try:
        try:
            sections = generate(inputs, tmp, opts)
        except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError) as e:
            shutil.rmtree(tmp, ignore_errors=True)
            return error(f"could not write the report: {type(e).__name__}: {e}", 3)
        os.chmod(tmp, 0o755)
        old = None
        if os.path.exists(out):
            old = tempfile.mkdtemp(prefix="." + os.path.basename(out) + ".old-", dir=parent)
            os.rename(out, os.path.join(old, "x"))
        os.rename(tmp, out)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    nfig = sum(len(s.figures) for s in sections)
    print(f"report: {out}/index.html ({len(sections)} sections, {nfig} figures)")
    return 0
