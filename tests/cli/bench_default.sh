#!/usr/bin/env bash
# `llamascope bench` with no -m benches the bundled model (the README's main job) and prints the table,
# from any working directory.
# Usage: bench_default.sh LLAMASCOPE GOLDEN_DIR
set -euo pipefail
bin=$(realpath "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME=$tmp/cache
cd "$tmp"  # no golden/ here: the bundled model must be found through the source tree
"$bin" bench -p 16 -n 8 -r 2 --bandwidth 20 --no-progress > table.md 2> err.txt || { cat err.txt; exit 1; }
cat table.md
head -1 table.md | grep -q '^| model | size | params |.*| t/s |' || { echo "FAIL: no table header"; exit 1; }
# Default threads are 1 and the logical CPUs: a pp16 and a tg8 row for each.
threads=$( [ "$(nproc)" -gt 1 ] && echo 2 || echo 1 )
[ "$(grep -c 'stories260K-f32.gguf' table.md)" -eq $((2 * threads)) ] || { echo "FAIL: expected pp16 and tg8 rows per thread count"; exit 1; }
grep -q '| pp16 |' table.md && grep -q '| tg8 |' table.md || { echo "FAIL: test names missing"; exit 1; }
echo "ok"
