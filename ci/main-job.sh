#!/usr/bin/env bash
# The main job: installs what is missing, builds, and benches the bundled model (tokens/s table).
# Extra arguments go to `llamascope bench` (e.g. -m MODEL.gguf -k scalar,simd -t 1,2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j "$(nproc)" --target llamascope
./build/llamascope bench "$@"
