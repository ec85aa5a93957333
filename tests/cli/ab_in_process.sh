#!/usr/bin/env bash
# In-process A/B (`bench --ab A --vs B`, `profile --ab A --vs B`): both kernel sets run in one process step
# by step; bench records carry each side's row plus the speed-up of B over A with its interval; a set whose
# matmul runs on the scalar backend is found slower, and the per-op profile names matmul as the op kind
# that changed; A against itself shares one backend instance (one copy of the weights); bad input gives one
# error line.
# Usage: ab_in_process.sh LLAMASCOPE GOLDEN_DIR
source "$(dirname "$0")/lib/checks.bash" "$@"

base=simd
"$bin" kernels | grep -q '^simd .*available$' || base=scalar
slow=$base,matmul=scalar
[ "$base" = scalar ] && slow=scalar,attention=testref  # no SIMD here: any set that differs will do
m=$golden/models/stories260K-f32.gguf

if "$bin" bench -m "$m" --ab "$base" --vs "$slow" -t 1 -p 16 -n 8 -r 4 -o jsonl --no-progress \
    > "$tmp/ab.jsonl" 2> "$tmp/err" &&
  $py - "$tmp/ab.jsonl" "$base" "$slow" <<'PY'
import json, sys
records = [json.loads(l) for l in open(sys.argv[1])]
a, b = sys.argv[2], sys.argv[3]
assert [(r["test"], r["ab"]["role"]) for r in records] == [("pp16", "A"), ("pp16", "B"), ("tg8", "A"), ("tg8", "B")], records
for r in records:
    assert r["schema"] == "llamascope.bench/1" and r["ab"]["a"] == a and r["ab"]["b"] == b
    assert r["kernels"] == (a if r["ab"]["role"] == "A" else b), r["kernels"]
    s = r["speedup"]
    assert s["ci_low"] <= s["median"] <= s["ci_high"], s
    assert 0 < s["ci_level"] <= 1 and 0 <= s["p_value"] <= 1
    assert len(r["tokens_per_second"]["samples"]) == 4
    assert "--ab" in r["repro"] and "--vs" in r["repro"]
tg = records[3]["speedup"]
assert tg["pairs"] == 4 * 8, tg
assert records[1]["speedup"]["pairs"] == 4
PY
then ok "bench --ab records: both rows, speed-up with interval"; else fail "bench --ab records"; cat "$tmp/err"; fi

if [ "$base" = simd ]; then
  # The scalar matmul is several times slower than the SIMD one: B's speed-up is well below 1.
  if $py -c "
import json, sys
s = [json.loads(l) for l in open('$tmp/ab.jsonl')][3]['speedup']
assert s['ci_high'] < 1, s
print(s)" > "$tmp/out"; then ok "scalar matmul found slower: $(cat "$tmp/out")"; else fail "scalar matmul not found slower"; fi
  # A against itself: the two sets share the backend and its prepared weights (one copy in memory).
  if "$bin" bench -m "$golden/models/synth-mini-Q4_0.gguf" --ab simd --vs simd -t 1 -p 8 -n 4 -r 2 -o jsonl \
      --no-progress > "$tmp/aa.jsonl" 2> "$tmp/err" &&
    $py -c "
import json
a, b = [json.loads(l) for l in open('$tmp/aa.jsonl')][:2]
assert a['memory']['prepared_bytes'] == b['memory']['prepared_bytes'] > 0, (a['memory'], b['memory'])
"; then ok "A/A: runs, both sides report the shared prepared weights"; else fail "A/A"; cat "$tmp/err"; fi
fi

if "$bin" profile -m "$m" --ab "$base" --vs "$slow" -t 1 -p 16 -n 8 --rounds 2 --jsonl "$tmp/p.jsonl" \
    > "$tmp/p.md" 2> "$tmp/err" &&
  $py - "$tmp/p.jsonl" "$base" <<'PY'
import json, sys
records = [json.loads(l) for l in open(sys.argv[1])]
run, ops = records[0], records[1:]
assert run["schema"] == "llamascope.profile_ab/1" and run["rounds"] == 2, run
assert all(r["schema"] == "llamascope.op_ab/1" and r["run_id"] == run["run_id"] for r in ops)
by = {(r["phase"], r["op"]): r for r in ops}
for phase in ("prefill", "decode"):
    assert (phase, "(whole step)") in by and (phase, "all matmul ops") in by
    for r in ops:
        s = r["speedup"]
        assert s["ci_low"] <= s["median"] <= s["ci_high"]
if sys.argv[2] == "simd":
    m = by[("decode", "all matmul ops")]
    assert m["verdict"] == "slower", m
    kinds = [r for r in ops if r["phase"] == "decode" and r["op"].startswith("all ")]
    assert max(kinds, key=lambda r: abs(r["delta_ns"]))["op"] == "all matmul ops", kinds
PY
then ok "profile --ab: per-op records; matmul is the op kind that changed most"; else fail "profile --ab"; cat "$tmp/err"; tail -5 "$tmp/p.md"; fi
if [ "$base" = simd ]; then
  if grep -q '^decode: .*largest first: matmul' "$tmp/p.md"; then ok "summary names matmul first"; else fail "summary line"; fi
fi

expect_error "--ab without --vs" "$bin" bench -m "$m" --ab simd -r 2
expect_error "--ab with -k" "$bin" bench -m "$m" --ab simd --vs simd -k scalar -r 2
expect_error "--ab with one repetition" "$bin" bench -m "$m" --ab simd --vs simd -r 1
expect_error "--ab unknown backend" "$bin" bench -m "$m" --ab simd --vs nosuch -r 2 --no-progress
expect_error "profile --ab with --trace" "$bin" profile -m "$m" --ab simd --vs simd --trace "$tmp/t.json"
expect_error "profile --ab one round" "$bin" profile -m "$m" --ab simd --vs simd --rounds 1

echo "ab_in_process: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
