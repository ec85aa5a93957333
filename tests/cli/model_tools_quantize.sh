#!/usr/bin/env bash
# `llamascope quantize` on the golden synth-mini F32 model: every type's pooled weight NMSE within 1.05x of
# llama.cpp's quantizer on the same file (issue 4, criterion 1), the output loads and generates, and bad
# input fails cleanly without leaving a file behind.
set -euo pipefail
bin=$1
golden=$2
src=$golden/models/synth-mini-F32.gguf
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# llama.cpp's pooled NMSE on this file, per type (from the issue).
declare -A ref=([f16]=4.3e-8 [bf16]=2.8e-6 [q8_0]=2.9e-5 [q4_0]=7.3e-3 [q4_1]=6.1e-3 [q5_0]=1.8e-3
  [q5_1]=1.4e-3 [q2_k]=8.7e-2 [q3_k]=2.3e-2 [q4_k]=5.1e-3 [q5_k]=1.3e-3 [q6_k]=3.1e-4)
fail=0
for type in "${!ref[@]}"; do
  nmse=$("$bin" quantize "$src" "$work/out.gguf" "$type" --pure | awk '/^pooled weight nmse/ {print $NF}')
  if awk -v a="$nmse" -v r="${ref[$type]}" 'BEGIN {exit !(a > 0 && a <= 1.05 * r)}'; then
    echo "ok   $type nmse $nmse (limit 1.05 x ${ref[$type]})"
  else
    echo "FAIL $type nmse '$nmse' (limit 1.05 x ${ref[$type]})"
    fail=1
  fi
done

"$bin" quantize "$src" "$work/mix.gguf" q4_k_m >/dev/null
"$bin" run -m "$work/mix.gguf" -n 8 >/dev/null

for bad in "$src $work/bad.gguf q9_9" "$golden/models/synth-mini-Q4_0.gguf $work/bad.gguf q8_0" \
  "$src $work/missing-dir/bad.gguf q8_0"; do
  # shellcheck disable=SC2086
  if "$bin" quantize $bad >/dev/null 2>&1; then echo "FAIL accepted: $bad"; fail=1; fi
done
if ls "$work"/bad.gguf* >/dev/null 2>&1; then echo "FAIL partial output left behind"; fail=1; fi
exit $fail
