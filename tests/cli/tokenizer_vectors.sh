#!/usr/bin/env bash
# The engine issue's tokenizer check as a user runs it: `llamascope tokenize --no-bos -f FILE` on every
# string of llama.cpp's .inp vectors must print exactly the ids of the matching .out line.
# Usage: tokenizer_vectors.sh LLAMASCOPE GOLDEN_DIR
set -u
bin=$1
dir=$2/tokenizer
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
for vocab in ggml-vocab-llama-spm ggml-vocab-gpt-2 ggml-vocab-phi-3 ggml-vocab-mpt; do
  # Split the .inp on "\n__ggml_vocab_test__\n" into one file per string, bytes kept exactly.
  awk -v out="$tmp/$vocab." 'BEGIN { n = 0; RS = "\n__ggml_vocab_test__\n"; ORS = "" } { print $0 > (out n); close(out n); n++ }' "$dir/$vocab.gguf.inp"
  i=0
  while IFS= read -r expected || [ -n "$expected" ]; do
    input="$tmp/$vocab.$i"
    [ -f "$input" ] || : > "$input"
    got=$("$bin" tokenize -m "$dir/$vocab.gguf" --no-bos -f "$input" | tr -d '[],')
    if [ "$(echo $got)" = "$(echo $expected)" ]; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
      echo "FAIL $vocab #$i: input $(od -c "$input" | head -2 | tr -s ' ')"
      echo "     expected [$expected] got [$got]"
    fi
    i=$((i + 1))
  done < "$dir/$vocab.gguf.out"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
