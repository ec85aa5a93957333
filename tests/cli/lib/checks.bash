# Shared by the CLI test scripts (sourced, not a test itself: CTest runs only tests/cli/*.sh): pass/fail
# counting and the one-error-line check for bad input. The sourcing script sets $tmp first.
failed=0
passed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; }

# expect_error NAME COMMAND...: the command must exit non-zero with exactly one `llamascope: error:` line.
expect_error() {
  local name=$1
  shift
  "$@" > /dev/null 2> "$tmp/err"
  local rc=$?
  if [ $rc -ne 0 ] && [ "$(wc -l < "$tmp/err")" -eq 1 ] && grep -q '^llamascope: error: ' "$tmp/err"; then
    ok "$name (exit $rc: $(cat "$tmp/err"))"
  else
    fail "$name: exit $rc"; cat "$tmp/err"
  fi
}
