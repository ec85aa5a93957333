#!/usr/bin/env bash
# `llamascope gate --counter instructions`: the build against itself under Callgrind gives identical
# counts (exit 0, nothing flagged); the same build with LLAMASCOPE_INJECT_SLOWDOWN=matmul:0.02 in the
# candidate's environment is flagged (exit 1) and the regression names the matmul ops.
# Usage: gate_counter.sh LLAMASCOPE GOLDEN_DIR
source "$(dirname "$0")/lib/checks.bash" "$@"
set -eo pipefail
cd "$tmp"
command -v valgrind > /dev/null || { fail "valgrind is not installed (ci/install-deps.sh installs it)"; exit 1; }
model=$golden/models/stories260K-f32.gguf

run_status aa.md "$bin" gate --run "$bin" --candidate "$bin" --counter instructions -m "$model" -p 8 -n 4 --json aa.json
cat aa.md
[ $rc -eq 0 ] || { cat "$tmp/err"; fail "A/A exit $rc"; }
grep -q 'Valgrind has no AVX-512: the SIMD backend ran its AVX2 path' aa.md || fail "the AVX2 note is missing"
/usr/bin/python3 -c "
import json
j = json.load(open('aa.json'))
assert j['mode'] == 'instructions'
assert all(c['verdict'] == 'unchanged' for c in j['comparisons'])
# Every op's instruction counts are identical. The estimated cycles also count simulated cache misses,
# which follow heap addresses: the records' timing strings differ in length from run to run (more under a
# loaded machine), shifting later allocations, and a ctest run in parallel once saw -30 cycles per call on
# swiglu. So cycles must agree within 1 %, instructions exactly.
ops = [c for c in j['comparisons'] if not c['op'].startswith('(')]
assert ops and all(c['note'].startswith(('instructions +0.00%', 'instructions -0.00%')) for c in ops), 'A/A op instructions differ'
assert all(abs(c['ratio'] - 1) < 1e-2 for c in j['comparisons']), 'A/A cycles differ by 1 % or more'
assert any(c['op'] == 'attn_qkv' for c in j['comparisons'])
" || fail "A/A counts are not identical"

run_status inj.md "$bin" gate --run "$bin" --candidate "$bin" --counter instructions -m "$model" -p 8 -n 4 \
  --candidate-env LLAMASCOPE_INJECT_SLOWDOWN=matmul:0.02
cat inj.md
[ $rc -eq 1 ] || { cat "$tmp/err"; fail "injected matmul slowdown: exit $rc, expected 1"; }
grep -q '^- \*\*regression in all matmul ops\*\* (stories260K-f32.gguf simd t=1 decode' inj.md || fail "matmul not named"
grep -q '^- \*\*regression in ffn_down\*\*' inj.md || fail "ffn_down not named"
! grep -qE '^\| regression \| (attn|rope|swiglu|attn_norm|ffn_norm|output_norm|embed|attn_add|ffn_add) ' inj.md \
  || fail "an op without a matmul was flagged"
echo "gate_counter: $failed failed"
[ "$failed" -eq 0 ]
