#!/usr/bin/env bash
# The op checker's cases as a user re-runs one: every line of `kernels --check -v` carries the case's
# descriptor in single quotes, and that text pasted back with --case runs that case alone with the same
# result; descriptor text that does not parse (or asks for too much) is one error line and exit 2.
# Usage: kernels_case.sh LLAMASCOPE GOLDEN_DIR
source "$(dirname "$0")/lib/checks.bash" "$@"

backends=scalar
"$bin" kernels | grep -q '^simd .*available$' && backends="scalar simd"
for k in $backends; do
  all=$tmp/all.$k
  if ! "$bin" kernels --check -k "$k" -v > "$all" 2>&1; then
    fail "kernels --check -k $k -v"; tail -5 "$all"; continue
  fi
  # Every case line (ok, FAIL, skip) names its case in quotes; the count closes the list.
  cases=$(grep -Ec "^(ok  |FAIL|skip) $k +'[a-z]+ [^']+' " "$all")
  passed_n=$(sed -n 's/^op check: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped.*/\1 \2 \3/p' "$all")
  read -r p f s <<< "$passed_n"
  if [ -n "$passed_n" ] && [ "$cases" -eq $((p + f + s)) ] && [ "$cases" -gt 300 ]; then
    ok "$k: all $cases case lines carry a quoted descriptor"
  else
    fail "$k: $cases quoted case lines against the count '$passed_n'"
  fi
  # One case of each op, grouped matmuls and an F16 cache among them, pasted back.
  for pattern in 'matmul type=Q4_K rows=67' 'matmuls type=Q6_K' 'embed type=Q5_1' 'rmsnorm cols=255' \
      'swiglu' 'add cols=7 n=3' 'rope heads=6 kv_heads=3 head_dim=40 n=4 pos0=17 factors=1' 'attention kv=F16'; do
    line=$(grep -m1 "^ok   $k  *'$pattern" "$all")
    if [ -z "$line" ]; then fail "$k: no line for '$pattern'"; continue; fi
    text=$(sed -E "s/^ok   $k +'([^']*)'.*/\1/" <<< "$line")
    "$bin" kernels --check -k "$k" -v --case "$text" > "$tmp/one" 2>&1
    rc=$?
    if [ $rc -eq 0 ] && [ "$(head -1 "$tmp/one")" = "$line" ] && [ "$(tail -1 "$tmp/one")" = "1 passed, 0 failed" ] &&
        [ "$(grep -c "^ok  " "$tmp/one")" -eq 1 ]; then
      ok "$k: --case '$text' re-runs it alone, same result"
    else
      fail "$k: --case '$text' (exit $rc)"; echo "  want: $line"; cat "$tmp/one"
    fi
  done
done

# Bad descriptor text: one error line, and a command-line error's exit status.
bad_case() {  # NAME ARGS...
  local name=$1
  shift
  expect_error "$name" "$bin" kernels --check -k scalar "$@"
  "$bin" kernels --check -k scalar "$@" > /dev/null 2>&1
  local rc=$?
  if [ $rc -eq 2 ]; then ok "$name: exit 2"; else fail "$name: exit $rc, want 2"; fi
}
bad_case "unknown op" --case 'frobnicate cols=4 n=1'
bad_case "empty case" --case ''
bad_case "width not whole blocks" --case 'matmul type=Q4_0 rows=1 cols=33 n=1'
bad_case "missing key" --case 'rope heads=8 kv_heads=2 head_dim=64 n=1 factors=0'
bad_case "key of another op" --case 'add cols=7 n=1 heads=2'
bad_case "too large to check" --case 'matmul type=F32 rows=65536 cols=65536 n=1'
bad_case "--case with --filter" --case 'add cols=7 n=1' --filter add

echo "kernels_case: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
