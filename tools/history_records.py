#!/usr/bin/env python3
"""Many bench records for measuring `llamascope history add` (docs/history.md, "Import speed").

Usage: tools/history_records.py TEMPLATE.jsonl N OUT.jsonl
The first record of TEMPLATE (a line of `llamascope bench -o jsonl`) repeated N times: 100 rows per run,
each run with its own run_id, and varied times and medians, so every record is distinct.
"""
import json
import sys


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        template = json.loads(f.readline())
    n = int(sys.argv[2])
    with open(sys.argv[3], "w") as out:
        for i in range(n):
            r = dict(template)
            r["run_id"] = "20261130T%06dZ-%08x" % (i // 100 % 240000, i // 100)
            r["index"] = i % 100
            r["time"] = "2026-11-%02dT%02d:%02d:00Z" % (1 + i // 100 % 28, i % 24, i % 60)
            tps = dict(r["tokens_per_second"])
            tps["median"] = tps["median"] * (1 + (i % 997) / 1e4)
            r["tokens_per_second"] = tps
            out.write(json.dumps(r, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
