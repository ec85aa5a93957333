#!/usr/bin/env bash
# The CUDA backend as a machine without a usable GPU sees it: `llamascope kernels` lists `cuda` with the
# reason it is unavailable, and asking for it is one clear error line and a non-zero exit (never a crash).
# In a build without the toolkit, `cuda` is not listed and `-k cuda` is an unknown backend. On a machine
# with a GPU, `cuda` must be listed as available.
# Usage: kernels_cuda.sh LLAMASCOPE GOLDEN_DIR
set -u
bin=$1
golden=$2
model=$golden/models/stories260K-f32.gguf
failed=0
fail() { echo "FAIL $*"; failed=1; }

listing=$("$bin" kernels) || fail "kernels exited non-zero"
line=$(grep '^cuda ' <<< "$listing")
err=$("$bin" run -m "$model" -n 4 --temp 0 -q -k cuda 2>&1 > /dev/null)
rc=$?
if [ -z "$line" ]; then
  echo "this build has no CUDA backend"
  [ "$rc" -ne 0 ] || fail "-k cuda succeeded in a build without CUDA"
  grep -q "^llamascope: error: .*unknown backend 'cuda'" <<< "$err" || fail "unexpected error: $err"
elif grep -q '^cuda  *available$' <<< "$line"; then
  echo "cuda is available here: $line"
  [ "$rc" -eq 0 ] || fail "-k cuda failed on a machine where cuda is available: $err"
else
  reason=$(sed -n 's/^cuda  *unavailable: //p' <<< "$line")
  echo "cuda unavailable: $reason"
  [ -n "$reason" ] || fail "cuda listed without a reason: $line"
  # The reason names what is missing: "no CUDA driver (...)", "no CUDA device", "driver too old (...)", ...
  grep -Eq '^(no CUDA driver|no CUDA device|driver too old|device sm_|CUDA unusable|cuBLAS not found)' <<< "$reason" ||
    fail "unexpected reason: $reason"
  [ "$rc" -ne 0 ] || fail "-k cuda succeeded although cuda is unavailable"
  [ "$(wc -l <<< "$err")" -eq 1 ] || fail "more than one error line: $err"
  grep -qF "llamascope: error: -k: backend 'cuda' is unavailable here: $reason" <<< "$err" ||
    fail "error does not carry the reason: $err"
  "$bin" kernels --check -k cuda > /dev/null 2>&1 && fail "kernels --check -k cuda succeeded without a device"
fi
[ "$failed" -eq 0 ] && echo ok
[ "$failed" -eq 0 ]
