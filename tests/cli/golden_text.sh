#!/usr/bin/env bash
# The engine issue's text checks: llama2.c's greedy output reproduced byte for byte, from the llama2.c
# checkpoint and from the GGUF conversion of the same model, with every host kernel set.
# Usage: golden_text.sh LLAMASCOPE GOLDEN_DIR
set -u
bin=$1
golden=$2
models=$golden/models
ref_bos=$golden/llama2c/stories260K_greedy_from_bos_n256.txt
ref_robot=$golden/llama2c/stories260K_greedy_robot_n256.txt
robot="Once upon a time, there was a little robot"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
passed=0

check_exact() {  # name expected actual
  if cmp -s "$2" "$3"; then
    passed=$((passed + 1)); echo "ok   $1"
  else
    failed=$((failed + 1)); echo "FAIL $1"; diff <(fold -w 100 "$2") <(fold -w 100 "$3") | head -5
  fi
}

check_prefix() {  # name expected actual: actual must begin with expected's text (minus its final newline)
  head -c -1 "$2" > "$tmp/prefix"
  if [ "$(head -c "$(stat -c %s "$tmp/prefix")" "$3" | md5sum)" = "$(md5sum < "$tmp/prefix")" ]; then
    passed=$((passed + 1)); echo "ok   $1"
  else
    failed=$((failed + 1)); echo "FAIL $1"; head -c 300 "$3"; echo
  fi
}

kernel_sets=("scalar -t 1")
if "$bin" kernels | grep -q '^simd .*available$'; then
  kernel_sets+=("simd -t 1" "simd -t 2" "simd,matmul=scalar -t 2")
fi
if "$bin" kernels | grep -q '^cuda  *available$'; then  # only where a GPU is usable
  kernel_sets+=("cuda -t 1")
fi

for ks in "${kernel_sets[@]}"; do
  # shellcheck disable=SC2086
  "$bin" run -m "$models/stories260K.bin" -z "$models/tok512.bin" -n 255 --temp 0 -q -k $ks > "$tmp/a" 2> "$tmp/err" || cat "$tmp/err"
  check_exact "llama2c checkpoint, from BOS [$ks]" "$ref_bos" "$tmp/a"
  # shellcheck disable=SC2086
  "$bin" run -m "$models/stories260K-f32.gguf" -n 255 --temp 0 -q -k $ks > "$tmp/b" 2> "$tmp/err" || cat "$tmp/err"
  check_exact "gguf, from BOS [$ks]" "$ref_bos" "$tmp/b"
  # shellcheck disable=SC2086
  "$bin" run -m "$models/stories260K.bin" -z "$models/tok512.bin" -p "$robot" -n 300 --temp 0 -q -k $ks > "$tmp/c" 2> "$tmp/err" || cat "$tmp/err"
  check_exact "llama2c checkpoint, robot prompt, stops at token 1 [$ks]" "$ref_robot" "$tmp/c"
  # shellcheck disable=SC2086
  "$bin" run -m "$models/stories260K-f32.gguf" -p "$robot" -n 300 --temp 0 -q -k $ks > "$tmp/d" 2> "$tmp/err" || cat "$tmp/err"
  check_prefix "gguf, robot prompt, begins with llama2.c's text [$ks]" "$ref_robot" "$tmp/d"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
