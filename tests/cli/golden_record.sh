#!/usr/bin/env bash
# `golden record` / `golden check`: references recorded from the scalar path for a model llama.cpp has no
# reference for (stories260K quantized to Q8_0 here), checked with every host kernel set; an injected fault
# fails the check and names its layer; a different model, a corrupt or truncated reference give one error line.
# Usage: golden_record.sh LLAMASCOPE GOLDEN_DIR
source "$(dirname "$0")/lib/checks.bash" "$@"

"$bin" quantize "$golden/models/stories260K-f32.gguf" "$tmp/st-q8.gguf" Q8_0 > /dev/null 2>&1
"$bin" golden record -m "$tmp/st-q8.gguf" -o "$tmp/ref" > "$tmp/out" 2>&1 || { fail "record"; cat "$tmp/out"; }
for f in reference.json logits.f32 logits.ref layers.f32; do [ -s "$tmp/ref/$f" ] || fail "record wrote no $f"; done
grep -q '"commit"' "$tmp/ref/reference.json" && grep -q '"sha256"' "$tmp/ref/reference.json" && ok "provenance recorded" ||
  fail "provenance"

for k in $("$bin" kernels | awk '$2 == "available" {print $1}'); do
  if "$bin" golden check "$tmp/ref" -k "$k" -t 2 > "$tmp/out" 2>&1; then ok "check -k $k"; else fail "check -k $k"; cat "$tmp/out"; fi
done
LLAMASCOPE_INJECT_FAULT=ffn_down:2:1 "$bin" golden check "$tmp/ref" -k scalar > "$tmp/out" 2>&1
rc=$?
# scalar is the reference path, but a check's run takes faults: the fault must be caught and placed.
[ $rc -eq 1 ] && grep -q "first out of tolerance: layer 2 op ffn_add" "$tmp/out" && ok "fault caught at layer 2" ||
  { fail "fault (exit $rc)"; cat "$tmp/out"; }

expect_error "another model" "$bin" golden check "$tmp/ref" -m "$golden/models/stories260K-f32.gguf"
cp -r "$tmp/ref" "$tmp/cut" && head -c 1000 "$tmp/ref/logits.f32" > "$tmp/cut/logits.f32"
expect_error "truncated logits" "$bin" golden check "$tmp/cut"
cp -r "$tmp/ref" "$tmp/bad" && echo '{"schema": "llamascope.recorded/1", "tokens": [1' > "$tmp/bad/reference.json"
expect_error "corrupt reference.json" "$bin" golden check "$tmp/bad"
expect_error "missing folder" "$bin" golden check "$tmp/none"

echo "golden_record: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
