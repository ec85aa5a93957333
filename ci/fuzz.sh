#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, ASan + UBSan, leak detection) and runs each for
# SECONDS (default 30), starting from its committed seeds. Fails on any crash, sanitizer report, leak,
# hang (-timeout) or memory blow-up (-rss_limit_mb). Usage: ci/fuzz.sh [SECONDS] [TARGET...]
# (TARGET = gguf, tokenizer_spm, ...; default all). New inputs collect in build-fuzz/corpus/TARGET, crash
# inputs in build-fuzz/artifacts/; a crash input belongs in tests/fuzz/regressions/TARGET/ once fixed. The
# committed grown corpus (tests/fuzz/grown/TARGET.tar.xz, unpacked by CMake) seeds each run too; to refresh it
# after a long run: TARGET -merge=1 into an empty folder from build-fuzz/corpus/TARGET, then tar + xz that folder.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true

export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
cxx=$(command -v clang++ || command -v clang++-14 || true)
[ -n "$cxx" ] || { echo "fuzz: needs clang++ (bash ci/install-deps.sh)"; exit 2; }
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" \
  -DLLAMASCOPE_FUZZ=ON -DLLAMASCOPE_TESTS=OFF -DLLAMASCOPE_BENCHMARKS=OFF -DLLAMASCOPE_ONEDNN=OFF -DLLAMASCOPE_CUDA=OFF > /dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for src in tests/fuzz/fuzz_*.cpp; do targets+=("$(basename "$src" .cpp | sed 's/^fuzz_//')"); done
fi
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
mkdir -p build-fuzz/artifacts build-fuzz/logs
failed=()
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t"
  seeds=()
  [ -d "tests/fuzz/corpus/$t" ] && seeds+=("tests/fuzz/corpus/$t")
  [ -d "tests/fuzz/regressions/$t" ] && seeds+=("tests/fuzz/regressions/$t")
  [ -d "build-fuzz/tests/fuzz/grown/$t" ] && seeds+=("build-fuzz/tests/fuzz/grown/$t")
  log="build-fuzz/logs/$t.log"
  echo "fuzz: $t for ${seconds}s"
  if ./build-fuzz/tests/fuzz/fuzz_"$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$t-" \
      "build-fuzz/corpus/$t" "${seeds[@]}" > "$log" 2>&1; then
    # The last status line: executions, coverage (cov: edges, ft: features), corpus, speed.
    grep -E '^#[0-9]+' "$log" | tail -1 | sed "s/^/fuzz: $t: /"
    grep -E 'stat::(number_of_executed_units|average_exec_per_sec)' "$log" | sed "s/^/fuzz: $t: /"
  else
    echo "fuzz: $t FAILED (log: $log)"
    grep -E 'ERROR|SUMMARY|==[0-9]+==|Test unit written' "$log" | head -20
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets clean"
