#!/usr/bin/env bash
# `golden layers`: with no fault every op of simd and onednn is within tolerance of the scalar path on two
# models; with LLAMASCOPE_INJECT_FAULT=OP:LAYER it names exactly that layer and op (three faults per model);
# records are in forward order with the documented fields; bad input gives one error line.
# Usage: golden_layers.sh LLAMASCOPE GOLDEN_DIR
source "$(dirname "$0")/lib/checks.bash" "$@"

kernel_sets=()
for k in simd onednn; do "$bin" kernels | grep -q "^$k .*available$" && kernel_sets+=("$k"); done
[ ${#kernel_sets[@]} -gt 0 ] || kernel_sets=(scalar)

declare -A faults=(
  [synth-mini-Q4_0]="ffn_down:2 attn_qkv:0 swiglu:3"
  [stories260K-f32]="attn:4 attn_norm:1 rope:0"
)
for model in synth-mini-Q4_0 stories260K-f32; do
  file=$golden/models/$model.gguf
  for k in "${kernel_sets[@]}"; do
    if "$bin" golden layers -m "$file" -k "$k" -t 2 --ops --jsonl "$tmp/clean.jsonl" > "$tmp/out" 2>&1; then
      ok "$model -k $k: every op within tolerance ($(tail -1 "$tmp/out" | sed 's/.*: //'))"
    else
      fail "$model -k $k without a fault"; tail -5 "$tmp/out"
    fi
  done
  for fault in ${faults[$model]}; do
    op=${fault%%:*}
    layer=${fault##*:}
    LLAMASCOPE_INJECT_FAULT=$fault "$bin" golden layers -m "$file" -k "${kernel_sets[0]}" -t 2 --ops \
      --jsonl "$tmp/fault.jsonl" > "$tmp/out" 2> "$tmp/err"
    rc=$?
    if [ $rc -eq 1 ] && grep -q "first out of tolerance: layer $layer op $op (" "$tmp/out" &&
        grep -q "fault injection on: LLAMASCOPE_INJECT_FAULT=$fault" "$tmp/err"; then
      ok "$model fault $fault named"
    else
      fail "$model fault $fault (exit $rc)"; tail -2 "$tmp/out"
    fi
  done
done

# Records: the documented fields, forward order (layer -1 embed first, output last), the failing one marked.
if "$py" - "$tmp/clean.jsonl" "$tmp/fault.jsonl" <<'PY'
import json, sys
clean = [json.loads(l) for l in open(sys.argv[1])]
fault = [json.loads(l) for l in open(sys.argv[2])]
for r in clean + fault:
    assert r["schema"] == "llamascope.layercheck/1", r
    for k in ("run_id", "kernels", "reference", "layer", "op", "values", "nmse", "max_abs_diff", "tolerance", "pass"):
        assert k in r, k
assert clean[0]["op"] == "embed" and clean[0]["layer"] == -1 and clean[-1]["op"] == "output"
layers = [r["layer"] for r in clean if r["layer"] >= 0]
assert layers == sorted(layers), "not in forward order"
assert all(r["pass"] for r in clean)
first = next(r for r in fault if not r["pass"])
assert (first["op"], first["layer"]) == ("rope", 0), first
PY
then ok "records"; else fail "records"; fi

# Without --ops: the hidden state after each layer; a fault large enough to move the residual stream (noise
# of 1x the output RMS: a 10% one on ffn_down alone is diluted below the limit there) shows at its ffn_add.
LLAMASCOPE_INJECT_FAULT=ffn_down:2:1 "$bin" golden layers -m "$golden/models/synth-mini-Q4_0.gguf" -k "${kernel_sets[0]}" \
  > "$tmp/out" 2>/dev/null
grep -q "first out of tolerance: layer 2 op ffn_add (" "$tmp/out" && ok "layer states name layer 2" ||
  { fail "layer states"; tail -2 "$tmp/out"; }

# profile --check-layers: the timed prefill's own outputs against scalar, records beside the timings.
"$bin" profile -m "$golden/models/synth-mini-Q4_0.gguf" -k "${kernel_sets[0]}" -t 2 -p 16 -n 2 --check-layers \
  --jsonl "$tmp/profile.jsonl" > "$tmp/out" 2>&1 && grep -q "op outputs of the prefill within tolerance" "$tmp/out" &&
  [ "$(grep -c '"llamascope.layercheck/1"' "$tmp/profile.jsonl")" -gt 40 ] && ok "profile --check-layers" ||
  { fail "profile --check-layers"; tail -3 "$tmp/out"; }
LLAMASCOPE_INJECT_FAULT=ffn_gate_up:3 "$bin" profile -m "$golden/models/synth-mini-Q4_0.gguf" -k "${kernel_sets[0]}" \
  -t 2 -p 16 -n 2 --check-layers > "$tmp/out" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q "first out of tolerance: layer 3 op ffn_gate_up (" "$tmp/out" &&
  ok "profile --check-layers names an injected fault" || { fail "profile fault (exit $rc)"; tail -2 "$tmp/out"; }

m=$golden/models/stories260K-f32.gguf
expect_error "bad fault spec" env LLAMASCOPE_INJECT_FAULT=ffn_down "$bin" golden layers -m "$m"
expect_error "bad fault size" env LLAMASCOPE_INJECT_FAULT=ffn_down:1:-2 "$bin" golden layers -m "$m"
expect_error "token outside the vocabulary" "$bin" golden layers -m "$m" --tokens "1 99999"
expect_error "tokens and prompt" "$bin" golden layers -m "$m" --tokens "1 2" -p hi
expect_error "missing model" "$bin" golden layers -m "$tmp/none.gguf"

echo "golden_layers: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
