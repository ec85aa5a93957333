"""Reading record files: JSONL (bench, profile, step, layer, golden) and `llamascope machine --json`.

A line that is not JSON, not an object, or carries an unknown schema is reported once (file:line) on stderr
and skipped. History databases come in through one hook, `load_history`.
"""
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field

KNOWN_SCHEMAS = {
    "llamascope.bench/1": "bench",
    "llamascope.profile/1": "profile",
    "llamascope.step/1": "step",
    "llamascope.layer/2": "layer",
    "llamascope.golden/1": "golden",
    "llamascope.machine/1": "machine",
}
MAX_WARNINGS_PER_FILE = 20


@dataclass
class Inputs:
    bench: list = field(default_factory=list)
    profiles: list = field(default_factory=list)  # ProfileRun
    golden: list = field(default_factory=list)
    machines: list = field(default_factory=list)
    history: list = field(default_factory=list)  # bench records from a results history (load_history)
    files: list = field(default_factory=list)  # (path, {kind: count})
    skipped: int = 0

    def usable(self):
        return bool(self.bench or self.profiles or self.golden or self.history)


@dataclass
class ProfileRun:
    run: dict
    source: str
    steps: list = field(default_factory=list)
    layers: list = field(default_factory=list)


def _records(path, warn):
    """(line number, dict) for every record of a file; a whole-file JSON object is one record."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    stripped = text.lstrip()
    if stripped.startswith("{") and "\n" in stripped.rstrip():
        try:
            whole = json.loads(text)
            if isinstance(whole, dict):
                yield 1, whole
                return
        except ValueError:
            pass  # JSONL: one object per line
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as e:
            warn(number, f"not JSON ({e.msg})")
            continue
        if not isinstance(record, dict):
            warn(number, "not a JSON object")
            continue
        yield number, record


def load_files(paths):
    inputs = Inputs()
    for path in paths:
        counts = {}
        warned = [0]

        def warn(number, what, path=path):
            inputs.skipped += 1
            warned[0] += 1
            if warned[0] <= MAX_WARNINGS_PER_FILE:
                print(f"llamascope report: warning: {path}:{number}: {what}; skipped", file=sys.stderr)

        open_runs = {}
        for number, record in _records(path, warn):
            schema = record.get("schema")
            kind = KNOWN_SCHEMAS.get(schema)
            if kind is None:
                warn(number, f"unknown schema {schema!r}")
                continue
            if not _valid(kind, record):
                warn(number, f"{schema} record without its required fields")
                continue
            counts[kind] = counts.get(kind, 0) + 1
            record["_source"] = path
            if kind == "bench":
                inputs.bench.append(record)
            elif kind == "golden":
                inputs.golden.append(record)
            elif kind == "machine":
                inputs.machines.append(record)
            elif kind == "profile":
                run = ProfileRun(record, path)
                open_runs[record["run_id"]] = run
                inputs.profiles.append(run)
            else:
                run = open_runs.get(record.get("run_id"))
                if run is None:
                    warn(number, f"{schema} record of no profile run in this file")
                    continue
                (run.steps if kind == "step" else run.layers).append(record)
        if warned[0] > MAX_WARNINGS_PER_FILE:
            print(f"llamascope report: warning: {path}: {warned[0] - MAX_WARNINGS_PER_FILE} more bad lines skipped",
                  file=sys.stderr)
        inputs.files.append((path, counts))
    inputs.profiles = [p for p in inputs.profiles if p.layers]
    return inputs


REQUIRED = {
    "bench": ("run_id", "test", "kernels", "threads", "tokens_per_second", "model", "environment"),
    "profile": ("run_id", "kernels", "threads", "model", "n_gen"),
    "step": ("run_id", "phase", "step", "ns"),
    "layer": ("run_id", "phase", "step", "layer", "op", "ns", "bytes", "flops"),
    "golden": ("model", "weight_types", "kernels", "prefill", "decode", "limits"),
    "machine": ("memory", "compute", "threads"),
}


NUMBERS = {
    "layer": ("ns", "bytes", "flops", "step", "layer"),
    "step": ("ns", "step"),
    "bench": ("threads",),
    "profile": ("threads", "n_gen"),
}


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


def _valid(kind, record):
    """Required fields present, with the types the sections compute with."""
    if not all(k in record for k in REQUIRED[kind]):
        return False
    if not all(_is_number(record[k]) for k in NUMBERS.get(kind, ())):
        return False
    if kind == "bench":
        t = record["tokens_per_second"]
        return (isinstance(t, dict) and _is_number(t.get("median")) and isinstance(record["model"], dict)
                and isinstance(record["environment"], dict) and isinstance(record["test"], str))
    if kind == "golden":
        return all(isinstance(record[k], dict) for k in ("prefill", "decode", "limits"))
    if kind == "profile":
        return isinstance(record["model"], dict)
    if kind == "machine":
        return isinstance(record["memory"], list) and isinstance(record["compute"], list) and bool(record["memory"])
    return True


def load_history(url):
    """The single hook for a results history (`llamascope history`: a SQLite file or postgresql://...).

    Reads it through `llamascope history export --format jsonl --schema llamascope.bench/1` (the binary from
    $LLAMASCOPE_BINARY, which `llamascope report` sets to itself, else `llamascope` on PATH), so the report
    depends on the store's export format, not on its tables. Returns bench records, as load_files() does.
    """
    if "://" not in url and not os.path.exists(url):
        raise FileNotFoundError(url)
    binary = os.environ.get("LLAMASCOPE_BINARY") or "llamascope"
    cmd = [binary, "history", "export", "--format", "jsonl", "--schema", "llamascope.bench/1", "--db", url]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as e:
        raise HistoryError(f"cannot run {binary}: {e.strerror}") from e
    if done.returncode != 0:
        raise HistoryError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"{binary} failed")
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


class HistoryError(Exception):
    """The history store could not be read (the message is the store tool's one error line)."""
