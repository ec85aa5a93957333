# Shared by the CLI test scripts (sourced, not a test itself: CTest runs only tests/cli/*.sh) as
# `source "$(dirname "$0")/lib/checks.bash" "$@"`: the script's arguments (bin = the llamascope binary,
# golden = the golden folder), py (Debian's python with numpy), a temporary folder $tmp removed on exit,
# pass/fail counting and the one-error-line check for bad input.
set -u
bin=$(realpath "$1")
golden=$(realpath "$2")
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
passed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; }

# run_status OUT COMMAND...: runs the command (stdout to OUT, stderr to $tmp/err), under `set -e` too, and
# leaves its exit status in $rc.
run_status() {
  local out=$1
  shift
  rc=0
  "$@" > "$out" 2> "$tmp/err" || rc=$?
}

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
