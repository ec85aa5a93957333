#!/usr/bin/env bash
# tools/side_by_side.py against a stand-in llama-bench that prints llama-bench's JSON with known samples:
# the table must pair each test's medians, give llamascope / llama.cpp as the ratio, keep the raw outputs,
# and refuse a missing llama-bench with one error line.
# Usage: side_by_side.sh LLAMASCOPE GOLDEN_DIR
set -euo pipefail
bin=$(realpath "$1")
golden=$(realpath "$2")
tool=$(dirname "$(realpath "$0")")/../../tools/side_by_side.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME=$tmp/cache

# llama-bench's JSON output for one pp and one tg test; medians 100 and 10 tokens/s.
cat > "$tmp/llama-bench" <<'EOF'
#!/usr/bin/env bash
cat <<'JSON'
[
  {"n_prompt": 8, "n_gen": 0, "samples_ts": [90.0, 100.0, 130.0]},
  {"n_prompt": 0, "n_gen": 4, "samples_ts": [10.0, 9.0, 11.0]}
]
JSON
EOF
chmod +x "$tmp/llama-bench"

model=$golden/models/stories260K-f32.gguf
python3 "$tool" --llama-bench "$tmp/llama-bench" --llamascope "$bin" -t 1 -p 8 -n 4 -r 3 --rounds 2 \
  --out "$tmp/out" "$model" > "$tmp/stdout.txt"
cat "$tmp/out/table.md"
for test in pp8 tg4; do
  [ "$(grep -c "| stories260K-f32.gguf | $test |" "$tmp/out/table.md")" -eq 2 ] ||
    { echo "FAIL: expected one $test row per round"; exit 1; }
done
# Each ratio is llamascope's median over llama.cpp's: recompute it from the printed medians.
python3 - "$tmp/out/table.md" <<'EOF'
import sys
rows = [l.split("|") for l in open(sys.argv[1]) if l.startswith("| stories260K")]
for r in rows:
    ref, ours, ratio = float(r[4]), float(r[5]), float(r[6].strip().rstrip("x"))
    expected_ref = 100.0 if r[2].strip() == "pp8" else 10.0
    assert ref == expected_ref, f"llama.cpp median {ref}, expected {expected_ref}"
    assert ours > 0, "llamascope median missing"
    assert abs(ratio - ours / ref) < 0.01, f"ratio {ratio} != {ours} / {ref}"
print("ratios ok")
EOF
ls "$tmp/out" | grep -q 'stories260K-f32.gguf.llamascope.round2.txt' || { echo "FAIL: raw output missing"; exit 1; }

# A missing llama-bench: one error line, non-zero exit, no table.
if python3 "$tool" --llama-bench "$tmp/nope" --llamascope "$bin" --out "$tmp/out2" "$model" 2> "$tmp/err.txt"; then
  echo "FAIL: accepted a missing llama-bench"; exit 1
fi
[ "$(wc -l < "$tmp/err.txt")" -eq 1 ] && grep -q 'no such file' "$tmp/err.txt" || { cat "$tmp/err.txt"; exit 1; }
[ ! -e "$tmp/out2/table.md" ] || { echo "FAIL: table written"; exit 1; }

# A llama-bench that fails (here: on a file it cannot load) ends the run with one line naming it.
printf '#!/usr/bin/env bash\necho "main: error: failed to load model" >&2\nexit 1\n' > "$tmp/failing-bench"
chmod +x "$tmp/failing-bench"
if python3 "$tool" --llama-bench "$tmp/failing-bench" --llamascope "$bin" --out "$tmp/out3" "$model" 2> "$tmp/err.txt"; then
  echo "FAIL: accepted a failing llama-bench"; exit 1
fi
[ "$(wc -l < "$tmp/err.txt")" -eq 1 ] && grep -q 'failing-bench exited with 1 .*failed to load model' "$tmp/err.txt" ||
  { cat "$tmp/err.txt"; exit 1; }
echo "ok"
