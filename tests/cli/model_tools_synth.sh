#!/usr/bin/env bash
# `llamascope synth` (issue 4): --list shows every preset with sizes that match the files written; synth
# files load, tokenize and generate varied text; the same seed writes the same bytes whatever the thread
# count, another seed other bytes; --vocab-from copies a tokenizer; quantize accepts a synth F32 file; the
# SIMD logits on synth Q8_0/Q4_0/F32 files meet golden/tolerances.json against the scalar reference path;
# bad input fails with one line on stderr and leaves no file behind.
set -euo pipefail
bin=$1
golden=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() {
  echo "FAIL $*"
  fail=1
}

# ---- --list ----
"$bin" synth --list >"$work/list.txt"  # read from the file: grep -q on a pipe would break it under pipefail
for p in stories15m stories42m stories110m smollm-135m tinyllama-1.1b llama-3.2-1b llama-2-7b mistral-7b \
  llama-3-8b; do
  grep -q "^$p " "$work/list.txt" || bad "--list lacks $p"
done
grep -q '^tinyllama-1.1b  *2048  *22  *32/4  *5632  *32000 .* 1.10B' "$work/list.txt" || bad "--list tinyllama row"
ok "--list shows the 9 presets"

# ---- write, load, generate ----
mib() { awk -v b="$(stat -c %s "$1")" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
for type in f32 q4_0 q8_0; do
  f=$work/s15-$type.gguf
  "$bin" synth --preset stories15m --type "$type" -o "$f" >/dev/null
  [[ $("$bin" info -m "$f") =~ vocab\ size:\ *32000 ]] || bad "$type: info"
  # --list's size for this type (columns F32 F16 Q8_0 Q4_0 Q4_K_M) is the file's size.
  col=$(case $type in f32) echo 9 ;; q8_0) echo 13 ;; q4_0) echo 15 ;; esac)
  listed=$(awk -v c="$col" '$1 == "stories15m" {print $c " " $(c + 1)}' "$work/list.txt")
  [ "$listed" = "$(mib "$f")" ] || bad "$type: --list says $listed, the file is $(mib "$f")"
  # Greedy text must not be one token repeated: at least 8 distinct ids among 24 generated.
  text=$("$bin" run -m "$f" -n 24 --temp 0 -p "Once upon a time" 2>/dev/null)
  distinct=$("$bin" tokenize -m "$f" --no-bos -p "$text" | tr -d '[] ' | tr ',' '\n' | sort -u | wc -l)
  if [ "$distinct" -ge 8 ]; then ok "$type: loads, generates $distinct distinct tokens"; else bad "$type: '$text'"; fi
done
"$bin" run -m "$work/s15-q4_0.gguf" -n 20 >/dev/null 2>&1 || bad "sampled run"

# ---- determinism ----
"$bin" synth --preset stories15m --type q4_0 -o "$work/again.gguf" -t 1 >/dev/null
if cmp -s "$work/s15-q4_0.gguf" "$work/again.gguf"; then ok "same seed, 1 thread: same bytes"; else bad "same seed differs"; fi
"$bin" synth --preset stories15m --type q4_0 --seed 7 -o "$work/seed7.gguf" >/dev/null
if cmp -s "$work/s15-q4_0.gguf" "$work/seed7.gguf"; then bad "another seed: same bytes"; else ok "another seed: other bytes"; fi

# ---- tokenizers ----
ids=$("$bin" tokenize -m "$work/s15-f32.gguf" -p "Once upon a time, there was a dog.")
n=$(echo "$ids" | tr ',' '\n' | wc -l)
if [[ $ids == "[1,"* ]] && [ "$n" -ge 6 ] && [ "$n" -lt 30 ]; then ok "synthetic vocab: $ids"; else bad "tokenize: $ids"; fi
src=$golden/models/stories260K-f32.gguf
"$bin" synth --preset stories15m --type q8_0 --vocab-from "$src" -o "$work/v.gguf" >/dev/null 2>"$work/v.err"
grep -q "512 tokens" "$work/v.err" || bad "--vocab-from: no note on the vocabulary size"
[[ $("$bin" info -m "$work/v.gguf") =~ vocab\ size:\ *512 ]] || bad "--vocab-from: vocab size"
for text in "Once upon a time" "The little dog ran to the park."; do
  [ "$("$bin" tokenize -m "$work/v.gguf" -p "$text")" = "$("$bin" tokenize -m "$src" -p "$text")" ] ||
    bad "--vocab-from: '$text' tokenizes differently"
done
"$bin" run -m "$work/v.gguf" -n 16 >/dev/null 2>&1 || bad "--vocab-from: run"
ok "--vocab-from copies the tokenizer"

# ---- quantize accepts synth output ----
if "$bin" quantize "$work/s15-f32.gguf" "$work/q.gguf" q4_k_m >/dev/null 2>&1 &&
  "$bin" run -m "$work/q.gguf" -n 8 >/dev/null 2>&1; then
  ok "quantize of a synth F32 file"
else
  bad "quantize of a synth F32 file"
fi

# ---- SIMD vs the scalar reference path on the same file (golden/tolerances.json limits) ----
# Files written by synth in three types, and quantize's Q4_K_M mix of the synth F32 file.
cp "$work/q.gguf" "$work/s15-q4_k_m.gguf"
tokens="1 $(seq -s ' ' 300 997 23)"
for type in f32 q8_0 q4_0 q4_k_m; do
  f=$work/s15-$type.gguf
  "$bin" logits -m "$f" --tokens "$tokens" -k scalar -o "$work/ref.f32"
  "$bin" logits -m "$f" --tokens "$tokens" -k simd -o "$work/ours.f32"
  verdict=$(python3 - "$work/ref.f32" "$work/ours.f32" "$type" "$golden/tolerances.json" <<'EOF'
import array, json, sys
ref, ours = array.array("f"), array.array("f")
ref.frombytes(open(sys.argv[1], "rb").read())
ours.frombytes(open(sys.argv[2], "rb").read())
tol = json.load(open(sys.argv[4]))
lim = tol["types"].get(sys.argv[3].upper(), tol["types"]["default_quantized"])
vocab = 32000
err = sum((a - b) ** 2 for a, b in zip(ours, ref))
nmse = err / sum(b * b for b in ref)
agree = 0
n = len(ref) // vocab
for p in range(n):
    r, o = ref[p * vocab:(p + 1) * vocab], ours[p * vocab:(p + 1) * vocab]
    agree += r[max(range(vocab), key=o.__getitem__)] >= max(r) - tol["top1_tie_margin"]
top1 = agree / n
good = nmse <= lim["nmse"] and top1 >= lim["top1"]
print(f"{'ok  ' if good else 'FAIL'} nmse {nmse:.2e} (limit {lim['nmse']:g}), top1 {top1:.3f} (limit {lim['top1']:g})")
EOF
  )
  echo "$verdict" | grep -q '^ok' || fail=1
  echo "${verdict:0:4} $type simd vs scalar: ${verdict:5}"
done

# ---- bad input: non-zero exit, one line on stderr, no file ----
cases=("--preset llama-9-9b --type q4_0 -o $work/bad.gguf"
  "--preset stories15m --type q9_9 -o $work/bad.gguf"
  "--preset stories15m --type q4_0 -o /nonexistent-dir/bad.gguf"
  "--preset stories15m --type q4_0 --vocab-from $work/missing.gguf -o $work/bad.gguf"
  "--preset stories15m --type q4_0 --vocab-from $golden/models/stories260K.bin -o $work/bad.gguf"
  "--preset stories15m -o $work/bad.gguf")
for args in "${cases[@]}"; do
  # shellcheck disable=SC2086
  if "$bin" synth $args >/dev/null 2>"$work/err.txt"; then
    bad "accepted: $args"
  elif [ "$(wc -l <"$work/err.txt")" -ne 1 ]; then
    bad "not one line on stderr: $args: $(cat "$work/err.txt")"
  else
    ok "rejected: $(cat "$work/err.txt")"
  fi
done
if ls "$work"/bad.gguf* /nonexistent-dir/bad.gguf* >/dev/null 2>&1; then bad "partial output left behind"; fi
exit $fail
