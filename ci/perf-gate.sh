#!/usr/bin/env bash
# The CI performance gate: builds BASE_REV (default: the merge-base with main, or HEAD~1 when that is HEAD
# itself or there is no main) and HEAD in separate build folders, runs `llamascope gate --counter
# instructions` (Callgrind counts per op on the bundled models: deterministic, so a fast and noise-free
# check) and prints the Markdown summary. Exits with the gate's status: 0 nothing regressed, 1 a
# regression, 2 unusable input (e.g. a build that fails). docs/gate.md.
# Usage: ci/perf-gate.sh [BASE_REV]
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
head_rev=$(git rev-parse HEAD)
fail() { echo "perf-gate: error: $*" >&2; exit 2; }
if [ $# -ge 1 ]; then
  base_rev=$(git rev-parse --verify --quiet "$1^{commit}") || fail "no commit '$1'"
else
  base_rev=""
  for main in main origin/main; do
    base_rev=$(git merge-base HEAD "$main" 2>/dev/null) && break || base_rev=""
  done
  if [ -z "$base_rev" ] || [ "$base_rev" = "$head_rev" ]; then
    base_rev=$(git rev-parse --verify --quiet "HEAD~1^{commit}") ||
      fail "HEAD has no parent here (a shallow clone? fetch more history) and no merge-base with main"
  fi
fi
echo "perf-gate: base $(git log -1 --format='%h %s' "$base_rev" | cut -c1-80)"
echo "perf-gate: head $(git log -1 --format='%h %s' "$head_rev" | cut -c1-80)"

tmp=$(mktemp -d)
cleanup() {
  git worktree remove --force "$tmp/base/src" > /dev/null 2>&1 || true
  git worktree remove --force "$tmp/head/src" > /dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
launcher=()
if command -v ccache > /dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR=$tmp  # both trees hash alike (../src/...), so unchanged files hit the cache
fi
build() {  # REV NAME
  mkdir -p "$tmp/$2"
  git worktree add --detach --quiet "$tmp/$2/src" "$1"
  cmake -S "$tmp/$2/src" -B "$tmp/$2/build" -DCMAKE_BUILD_TYPE=Release -DLLAMASCOPE_TESTS=OFF \
    -DLLAMASCOPE_BENCHMARKS=OFF -DLLAMASCOPE_CUDA=OFF "${launcher[@]}" > "$tmp/$2/cmake.log" 2>&1 &&
    cmake --build "$tmp/$2/build" -j "$(nproc)" --target llamascope > "$tmp/$2/build.log" 2>&1 || {
    tail -20 "$tmp/$2/cmake.log" "$tmp/$2/build.log" 2>/dev/null
    fail "the $2 revision $1 does not build"
  }
}
build "$base_rev" base
build "$head_rev" head

models=golden/models/stories260K-f32.gguf,golden/models/synth-mini-Q4_0.gguf
set +e
"$tmp/head/build/llamascope" gate --run "$tmp/base/build/llamascope" --candidate "$tmp/head/build/llamascope" \
  --counter instructions -m "$models" --md "$tmp/summary.md" > /dev/null
status=$?
set -e
[ -f "$tmp/summary.md" ] && cat "$tmp/summary.md"
echo "perf-gate: exit $status"
exit $status
