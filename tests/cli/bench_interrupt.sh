#!/usr/bin/env bash
# Ctrl-C during `llamascope bench` ends the run cleanly: exit status 130, a stderr line saying how many
# records were kept, and --out holding exactly the finished rows as valid JSONL.
# Usage: bench_interrupt.sh LLAMASCOPE GOLDEN_DIR
set -euo pipefail
bin=$1
golden=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME=$tmp/cache

# Many small tests, so the first rows finish quickly and the run is still going when interrupted.
"$bin" bench -m "$golden/models/stories260K-f32.gguf" -k scalar -t 1 -p 0 -n 4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20 \
  -r 200 --bandwidth 20 --no-progress -o jsonl --out "$tmp/out.jsonl" > "$tmp/table.md" 2> "$tmp/err.txt" &
pid=$!
for _ in $(seq 1 600); do
  [ -s "$tmp/out.jsonl" ] && break
  sleep 0.1
done
[ -s "$tmp/out.jsonl" ] || { echo "FAIL: no record written within 60 s"; kill "$pid"; exit 1; }
kill -INT "$pid"
status=0
wait "$pid" || status=$?
[ "$status" -eq 130 ] || { echo "FAIL: exit status $status, expected 130"; cat "$tmp/err.txt"; exit 1; }
grep -q "interrupted; kept [0-9][0-9]* of 17 records" "$tmp/err.txt" || { echo "FAIL: no 'kept' line"; cat "$tmp/err.txt"; exit 1; }
kept=$(grep -o "kept [0-9]*" "$tmp/err.txt" | grep -o "[0-9]*")
lines=$(wc -l < "$tmp/out.jsonl")
[ "$kept" -eq "$lines" ] || { echo "FAIL: stderr says $kept kept, the file has $lines lines"; exit 1; }
[ "$lines" -lt 17 ] || { echo "FAIL: the run finished before the interrupt; nothing was tested"; exit 1; }
python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    assert r["schema"] == "llamascope.bench/1", r["schema"]
    assert len(r["tokens_per_second"]["samples"]) == 200, "a kept row has every repetition"
' "$tmp/out.jsonl"
[ ! -e "$tmp/out.jsonl.tmp" ] || { echo "FAIL: temporary file left behind"; exit 1; }
echo "ok: interrupted after $lines of 17 rows, exit 130"
