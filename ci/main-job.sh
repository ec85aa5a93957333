#!/usr/bin/env bash
# The main job: installs what is missing, builds, and benches the bundled model (tokens/s table).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j "$(nproc)" --target llamascope
if ./build/llamascope bench --help > /dev/null 2>&1; then
  ./build/llamascope bench "$@"
else
  ./build/llamascope run -m golden/models/stories260K.bin -z golden/models/tok512.bin -n 200 --temp 0 "$@"
fi
