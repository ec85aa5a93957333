#!/usr/bin/env bash
# Runs every test: installs what is missing, builds (Release, and the broken-file suite under
# AddressSanitizer + UndefinedBehaviorSanitizer), then CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-deps.sh
jobs=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j "$jobs"
(cd build && ctest --output-on-failure -j "$jobs")

# Sanitizer build: the loaders, formats and corrupt-file suite (and the CLI they drive) under ASan+UBSan.
# Without the CUDA backend: nvcc would add minutes, and ASan does not see device code.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLLAMASCOPE_SANITIZE=ON -DLLAMASCOPE_BENCHMARKS=OFF -DLLAMASCOPE_CUDA=OFF > /dev/null
cmake --build build-asan -j "$jobs" --target llamascope llamascope_tests
(cd build-asan && ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ctest --output-on-failure -j "$jobs" -R 'Corrupt|Gguf|Alignments|Llama2c|EditedStories|SharedAndSeparate|Tokenizer|Utf8|Unicode|Quant|OpCheck|cli\.' \
    -E 'cli\.gate_counter')  # Valgrind cannot run an ASan binary; the Release run covers it

# Fuzzing: every tests/fuzz target for 30 s under ASan/UBSan with leak detection (LLAMASCOPE_SKIP_FUZZ=1 skips).
if [ "${LLAMASCOPE_SKIP_FUZZ:-0}" != 1 ]; then
  bash ci/fuzz.sh 30
fi

# Performance gate: HEAD against its base, deterministic counts under Callgrind (docs/gate.md). Skip with
# LLAMASCOPE_SKIP_PERF_GATE=1.
if [ "${LLAMASCOPE_SKIP_PERF_GATE:-0}" != 1 ]; then
  bash ci/perf-gate.sh
fi
