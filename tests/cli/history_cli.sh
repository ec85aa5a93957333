#!/usr/bin/env bash
# `llamascope history` as a user runs it: bench into the default store (LLAMASCOPE_HISTORY), list, show,
# export as JSONL (equal to what bench wrote) and CSV, trend, baseline, and one-line errors.
# Usage: history_cli.sh LLAMASCOPE GOLDEN_DIR
set -euo pipefail
bin=$(realpath "$1")
golden=$(realpath "$2")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME=$tmp/cache
cd "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
"$bin" bench -m "$golden/models/stories260K-f32.gguf" -k scalar -t 1 -p 8 -n 4 -r 2 --bandwidth 20 \
  --no-progress -o jsonl --out bench.jsonl > /dev/null
"$bin" history add bench.jsonl > add.txt
grep -q '^bench.jsonl: 2 records, 2 new$' add.txt || fail "add: $(cat add.txt)"
[ -f llamascope-history.sqlite ] || fail "no default store in the working folder"
export LLAMASCOPE_HISTORY=$tmp/other.sqlite
"$bin" history add bench.jsonl bench.jsonl > add2.txt
grep -q '2 of 2 files imported .*: 4 records, 2 new$' add2.txt || fail "add twice: $(cat add2.txt)"
[ -f other.sqlite ] || fail "LLAMASCOPE_HISTORY not used"
run=$(head -1 bench.jsonl | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["run_id"])')
rev=$(head -1 bench.jsonl | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["environment"]["build"]["git"]["revision"] or "")')
"$bin" history list | grep -q "| $run | bench |" || fail "list"
"$bin" history show "${run:0:20}" | grep -q '| llamascope.bench/1 | stories260K-f32.gguf | scalar | 1 | tg4 |' || fail "show"
"$bin" history export --format jsonl -o export.jsonl
/usr/bin/python3 - bench.jsonl export.jsonl <<'PY' || fail "export differs from the bench output"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
sys.exit(0 if a == b else 1)
PY
[ "$("$bin" history export --format csv --test tg4 | wc -l)" -eq 2 ] || fail "csv export: header + 1 row"
"$bin" history trend --model stories260K-f32.gguf --test tg4 | grep -q "| $rev |" || fail "trend"
"$bin" history trend --model stories260K-f32.gguf --test tg4 --json | /usr/bin/python3 -c '
import json, sys; t = json.load(sys.stdin); assert len(t["series"]) == 1 and len(t["series"][0]["points"]) == 1' || fail "trend --json"
if [ -n "$rev" ]; then
  "$bin" history baseline --commit "$rev" -o base.jsonl 2> /dev/null
  [ "$(wc -l < base.jsonl)" -eq 2 ] || fail "baseline"
fi
# The committed trend over 5 commits of main (docs/history.md): five points, in git order with --commits.
src=$(dirname "$golden")
"$bin" history add "$src/docs/data/trend-5-commits.jsonl" --db trend.sqlite > /dev/null
"$bin" history trend --model synth-mini-Q4_0.gguf --test tg32 --db trend.sqlite > trend.md
[ "$(grep -c '^| [0-9a-f]\{12\} |' trend.md)" -eq 5 ] || fail "trend over 5 commits: $(cat trend.md)"
if git -C "$src" cat-file -e '6ba04bc^{commit}' 2> /dev/null && git -C "$src" cat-file -e '6e33bb4^{commit}' 2> /dev/null; then
  (cd "$src" && "$bin" history trend --model synth-mini-Q4_0.gguf --test tg32 --db "$tmp/trend.sqlite" \
    --commits 6ba04bc~1..6e33bb4) | grep -o '^| [0-9a-f]\{12\}' | tr -d '| ' > order.txt
  [ "$(tr '\n' ' ' < order.txt)" = "6ba04bc98acd 959b3575a38a 7642194875b6 888f26ecdd65 6e33bb447e6c " ] ||
    fail "trend --commits order: $(cat order.txt)"
fi
# Errors: one line, non-zero.
set +e
"$bin" history export --format xml > /dev/null 2> err.txt; rc=$?
set -e
[ $rc -ne 0 ] && [ "$(wc -l < err.txt)" -eq 1 ] && grep -q '^llamascope: error: ' err.txt || fail "bad --format: rc $rc, $(cat err.txt)"
echo "ok"
