#!/usr/bin/env bash
# `golden kld` against llama-perplexity --kl-divergence (golden/llamacpp/kld_gpl-2.0_ctx128.json): the base
# perplexity within 0.5% and the mean KLD within 15% for every recorded type; compact references within 1%
# of the full computation with a truncation bound under 1% of the KLD (on synth-mini, whose flat
# distributions keep whole rows, and on stories260K, whose trained ones are truncated); bad input.
# Usage: golden_kld.sh LLAMASCOPE GOLDEN_DIR
source "$(dirname "$0")/lib/checks.bash" "$@"

kernels=scalar
"$bin" kernels | grep -q '^simd .*available$' && kernels=simd
text=$golden/text/gpl-2.0.txt
ref_json=$golden/llamacpp/kld_gpl-2.0_ctx128.json

# field FILE.jsonl DOTTED.PATH -> the number
field() { "$py" -c 'import json,sys; r=json.loads(open(sys.argv[1]).readline())
for k in sys.argv[2].split("."): r=r[k]
print(r)' "$1" "$2"; }
# within A B FRACTION: |A - B| <= FRACTION * |B|
within() { "$py" -c 'import sys; a,b,f=map(float,sys.argv[1:]); sys.exit(0 if abs(a-b) <= f*abs(b) else 1)' "$1" "$2" "$3"; }

for type in Q8_0 Q6_K Q4_K Q4_0; do
  out=$tmp/$type.jsonl
  save=()
  [ "$type" = Q4_0 ] && save=(--save-ref "$tmp/synth.ref")
  if ! "$bin" golden kld --base "$golden/models/synth-mini-F32.gguf" -m "$golden/models/synth-mini-$type.gguf" \
      -f "$text" --ctx 128 -k $kernels -t 2 --jsonl "$out" "${save[@]}" > "$tmp/$type.txt" 2>&1; then
    fail "golden kld $type ran"; cat "$tmp/$type.txt"; continue
  fi
  ours_ppl=$(field "$out" ppl.base)
  ours_kld=$(field "$out" kld.mean)
  read -r lc_ppl lc_kld < <("$py" -c 'import json,sys; c=json.load(open(sys.argv[1]))["cases"][sys.argv[2]]
print(c["ppl_base"], c["kld_mean"])' "$ref_json" "$type")
  within "$ours_ppl" "$lc_ppl" 0.005 && ok "$type ppl.base $ours_ppl vs llama.cpp $lc_ppl" ||
    fail "$type ppl.base $ours_ppl vs llama.cpp $lc_ppl"
  within "$ours_kld" "$lc_kld" 0.15 && ok "$type kld.mean $ours_kld vs llama.cpp $lc_kld" ||
    fail "$type kld.mean $ours_kld vs llama.cpp $lc_kld"
  [ "$(field "$out" schema)" = llamascope.kld/1 ] && ok "$type record schema" || fail "$type record schema"
done

# A compact reference against the full computation: KLD within 1%, truncation bound under 1% of the KLD.
check_ref() {  # name ref model full.jsonl
  if ! "$bin" golden kld --ref "$2" -m "$3" -k $kernels -t 2 --jsonl "$tmp/ref.jsonl" > /dev/null 2>&1; then
    fail "$1: --ref ran"; return
  fi
  local full ref bound
  full=$(field "$4" kld.mean)
  ref=$(field "$tmp/ref.jsonl" kld.mean)
  bound=$(field "$tmp/ref.jsonl" kld.truncation_bound)
  within "$ref" "$full" 0.01 && ok "$1: --ref KLD $ref vs full $full" || fail "$1: --ref KLD $ref vs full $full"
  "$py" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 0.01*float(sys.argv[2]) else 1)' "$bound" "$full" &&
    ok "$1: truncation bound $bound < 1% of the KLD" || fail "$1: truncation bound $bound vs KLD $full"
}
check_ref "synth-mini Q4_0" "$tmp/synth.ref" "$golden/models/synth-mini-Q4_0.gguf" "$tmp/Q4_0.jsonl"
check_ref "synth-mini Q8_0" "$tmp/synth.ref" "$golden/models/synth-mini-Q8_0.gguf" "$tmp/Q8_0.jsonl"

# stories260K is trained: its distributions are peaked, so the reference keeps part of each row.
"$bin" quantize "$golden/models/stories260K-f32.gguf" "$tmp/st-q8.gguf" Q8_0 > /dev/null 2>&1
"$bin" golden kld --base "$golden/models/stories260K-f32.gguf" -m "$tmp/st-q8.gguf" -f "$text" --ctx 128 \
  --chunks 30 -k $kernels -t 2 --jsonl "$tmp/st.jsonl" --save-ref "$tmp/st.ref" > "$tmp/st.txt" 2>&1 ||
  fail "stories260K golden kld ran"
full_bytes=$((30 * 63 * 512 * 8))
size=$(stat -c %s "$tmp/st.ref")
[ "$size" -lt "$full_bytes" ] && ok "stories260K reference is truncated ($size bytes)" ||
  fail "stories260K reference $size bytes is not smaller than whole rows"
check_ref "stories260K Q8_0" "$tmp/st.ref" "$tmp/st-q8.gguf" "$tmp/st.jsonl"
"$bin" golden kld --ref "$tmp/st.ref" -m "$tmp/st-q8.gguf" -f "$text" -k $kernels > /dev/null 2>&1 &&
  ok "--ref with the text it was made from" || fail "--ref with the text it was made from"

# Bad input: one line on stderr, exit 1 (2 for a command-line error), no crash.
expect_error() {  # name expected-exit args...
  local name=$1 want=$2
  shift 2
  "$bin" golden kld "$@" > "$tmp/out" 2> "$tmp/err"
  local rc=$?
  if [ $rc -eq "$want" ] && [ "$(wc -l < "$tmp/err")" -eq 1 ] && grep -q '^llamascope: error: ' "$tmp/err"; then
    ok "$name (exit $rc: $(cat "$tmp/err"))"
  else
    fail "$name: exit $rc"; cat "$tmp/err"
  fi
}
head -c 1000 "$tmp/st.ref" > "$tmp/cut.ref"
expect_error "truncated reference" 1 --ref "$tmp/cut.ref" -m "$tmp/st-q8.gguf"
expect_error "missing reference" 1 --ref "$tmp/none.ref" -m "$tmp/st-q8.gguf"
expect_error "both --base and --ref" 1 --base "$golden/models/synth-mini-F32.gguf" --ref "$tmp/st.ref" -m "$tmp/st-q8.gguf"
expect_error "no text" 1 --base "$golden/models/synth-mini-F32.gguf" -m "$golden/models/synth-mini-Q8_0.gguf"
expect_error "text shorter than a chunk" 1 --base "$golden/models/synth-mini-F32.gguf" \
  -m "$golden/models/synth-mini-Q8_0.gguf" -f "$golden/llama2c/stories260K_greedy_robot_n256.txt" --ctx 512
expect_error "another vocabulary" 1 --base "$golden/models/llama-2-tiny-random.gguf" \
  -m "$golden/models/synth-mini-Q8_0.gguf" -f "$text"
expect_error "reference of another text" 1 --ref "$tmp/st.ref" -m "$tmp/st-q8.gguf" \
  -f "$golden/llama2c/stories260K_greedy_from_bos_n256.txt"
expect_error "bad flag" 2 --ctx nope -m x

echo "golden_kld: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
