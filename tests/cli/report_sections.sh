#!/usr/bin/env bash
# llamascope report on records made by the real tools (bench, profile, golden, machine) with every available
# kernel set: each section's figures exist as PNG + SVG + CSV and the CSV numbers equal the records'
# (reports/tests/check_report.py), no op is above 100 % of its roof, two runs give the same bytes, a corrupt
# line and an unknown schema are reported once each with file:line and skipped, no usable records exits 1
# with one line and leaves any existing output folder as it was.
set -euo pipefail
bin=$1
golden=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
m=$golden/models
fail() { echo "FAIL: $*"; exit 1; }

kernels=$("$bin" kernels | awk '$2 == "available" {print $1}' | paste -sd, -)
[ "$(echo "$kernels" | tr ',' '\n' | wc -l)" -ge 2 ] || fail "fewer than two kernel sets: $kernels"
"$bin" bench -m "$m/synth-mini-Q4_0.gguf,$m/stories260K-f32.gguf" -k "$kernels" -t 1,2 -p 8 -n 4 -r 2 \
  -o jsonl --out "$tmp/bench.jsonl" > /dev/null 2>&1
# The same rows under another commit: the trend section needs two states of the code.
sed 's/"revision":"[^"]*"/"revision":"0000fixture0"/g' "$tmp/bench.jsonl" > "$tmp/bench-other-commit.jsonl"
for k in ${kernels//,/ }; do
  "$bin" profile -m "$m/synth-mini-Q4_0.gguf" -k "$k" -t 2 -p 8 -n 4 --jsonl "$tmp/profile-$k.jsonl" > /dev/null 2>&1
  "$bin" golden -k "$k" --filter Q4_0 --jsonl "$tmp/golden-$k.jsonl" > /dev/null 2>&1
done
"$bin" machine --json > "$tmp/machine.json"
records=("$tmp"/*.jsonl)

"$bin" report "${records[@]}" --machine "$tmp/machine.json" -o "$tmp/r1" > "$tmp/out1" 2> "$tmp/err1" ||
  fail "report failed: $(cat "$tmp/err1")"
[ ! -s "$tmp/err1" ] || fail "warnings on good records: $(cat "$tmp/err1")"
for s in kernels timing roofline numerics trend environment; do
  grep -q "<section id=\"$s\">" "$tmp/r1/index.html" || fail "section $s missing"
done
/usr/bin/python3 "$src/reports/tests/check_report.py" "$tmp/r1" --max-of-roof 1.0 "${records[@]}" ||
  fail "figures or CSVs disagree with the records"

"$bin" report "${records[@]}" --machine "$tmp/machine.json" -o "$tmp/r2" > /dev/null 2>&1
diff -r "$tmp/r1" "$tmp/r2" > "$tmp/diff" || fail "two runs differ: $(head -5 "$tmp/diff")"

# Bad input: a corrupt line (5) and an unknown schema (4) among good records.
{ head -3 "$tmp/bench.jsonl"; echo '{"schema":"llamascope.bench/9","run_id":"x"}'
  echo '{"schema": "llamascope.bench/1", "run_id": trunc'; sed -n 4,6p "$tmp/bench.jsonl"; } > "$tmp/bad.jsonl"
"$bin" report "$tmp/bad.jsonl" -o "$tmp/r3" > /dev/null 2> "$tmp/err3" || fail "good lines of a bad file unused"
[ "$(grep -c "bad.jsonl:4: unknown schema 'llamascope.bench/9'" "$tmp/err3")" = 1 ] || fail "line 4: $(cat "$tmp/err3")"
[ "$(grep -c "bad.jsonl:5: not JSON" "$tmp/err3")" = 1 ] || fail "line 5: $(cat "$tmp/err3")"
[ "$(wc -l < "$tmp/err3")" = 2 ] || fail "expected two warnings: $(cat "$tmp/err3")"

# No usable records: exit 1, one error line, the existing folder untouched, no temporary folder left.
printf 'garbage\n{"schema":"llamascope.golden/7"}\n' > "$tmp/junk.jsonl"
set +e
"$bin" report "$tmp/junk.jsonl" -o "$tmp/r1" > /dev/null 2> "$tmp/err4"
rc=$?
set -e
[ "$rc" = 1 ] || fail "no usable records: exit $rc"
[ "$(grep -c '^llamascope: error: no usable' "$tmp/err4")" = 1 ] || fail "error line: $(cat "$tmp/err4")"
diff -r "$tmp/r1" "$tmp/r2" > /dev/null || fail "a failed report changed the existing folder"
ls -a "$tmp" | grep -q '\.tmp-' && fail "a temporary folder was left behind"

# The trend from a results history instead of a second file: the other commit's rows stored in SQLite and read
# back through `history export`.
"$bin" history add "$tmp/bench-other-commit.jsonl" --db "$tmp/h.sqlite" > /dev/null
"$bin" report "$tmp/bench.jsonl" --history "$tmp/h.sqlite" -o "$tmp/r6" > /dev/null 2> "$tmp/err6" ||
  fail "report --history: $(cat "$tmp/err6")"
grep -q '<section id="trend">' "$tmp/r6/index.html" || fail "no trend section from the history"
grep -q 0000fixture0 "$tmp"/r6/figures/trend*.csv || fail "the history's rows are missing from the trend data"
if "$bin" report "$tmp/bench.jsonl" --history "$tmp/none.sqlite" -o "$tmp/r7" > /dev/null 2> "$tmp/err7"; then
  fail "a missing history database was accepted"
fi
[ "$(wc -l < "$tmp/err7")" -eq 1 ] || fail "missing history: $(cat "$tmp/err7")"
echo "report_sections: ok ($(ls "$tmp/r1/figures" | wc -l) figure files)"
