#!/usr/bin/env bash
# The onednn backend on a CPU where oneDNN has no optimized matmul for most types (ONEDNN_MAX_CPU_ISA=AVX2:
# no AVX-512 BF16 or int4 brgemm): those weights go to the scalar backend with one note per type, never to
# oneDNN's reference implementation (seconds per call), and every op-checker case still passes.
# Usage: onednn_fallback.sh LLAMASCOPE GOLDEN_DIR
source "$(dirname "$0")/lib/checks.bash" "$@"

if ! "$bin" kernels | grep -q '^onednn .*available$'; then
  echo "onednn_fallback: onednn backend not built or not available here: nothing to check"
  exit 0
fi
if ONEDNN_MAX_CPU_ISA=AVX2 "$bin" kernels --check -k onednn -t 2 > "$tmp/out" 2>&1; then
  ok "kernels --check -k onednn passes with oneDNN limited to AVX2"
else
  fail "kernels --check -k onednn under ONEDNN_MAX_CPU_ISA=AVX2"; tail -5 "$tmp/out"
fi
notes=$(grep -c "oneDNN offers only its reference matmul for .* using the scalar backend" "$tmp/out")
if [ "$notes" -ge 1 ] && grep -q "for BF16 weights" "$tmp/out"; then
  ok "$notes types fell back to scalar, one note each, BF16 among them"
else
  fail "expected a fallback note for BF16 weights; got $notes notes"; grep note "$tmp/out" | head -5
fi
dupes=$(grep "oneDNN offers only" "$tmp/out" | sort | uniq -d | wc -l)
[ "$dupes" -eq 0 ] && ok "no note repeated" || fail "$dupes notes repeated"

echo "onednn_fallback: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
