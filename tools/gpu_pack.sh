#!/usr/bin/env bash
# Builds llamascope for the lent GPU machine (sm_90a machine code, no oneDNN: it would add its library to
# what travels) and assembles the folder that travels with a device command: the stripped binary and the
# shared libraries it needs that such a machine lacks (from ldd; glibc, libstdc++ and the CUDA libraries
# are there: tools/gpu_check.sh finds cuBLAS on the machine). Prints the folder's size and what the
# whole call would carry (tracked tree + folder) against the 64 MiB limit.
# Usage: tools/gpu_pack.sh [CARRY_DIR=.gpu] [BUILD_DIR=build-gpu]
set -euo pipefail
cd "$(dirname "$0")/.."
carry=${1:-.gpu}
build=${2:-build-gpu}
limit=$((64 << 20))

export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_DIR=${CCACHE_DIR:-$HOME/.ccache}
launcher=()
command -v ccache > /dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DLLAMASCOPE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a-real \
  -DLLAMASCOPE_ONEDNN=OFF -DLLAMASCOPE_BENCHMARKS=OFF -DLLAMASCOPE_TESTS=OFF "${launcher[@]}" > /dev/null
grep -q 'LLAMASCOPE_HAVE_CUDA' "$build/CMakeFiles/llamascope_core.dir/flags.make" ||
  { echo "gpu_pack: the CUDA toolkit was not found (nvcc on PATH or /usr/local/cuda)" >&2; exit 2; }
start=$(date +%s)
cmake --build "$build" -j "$(nproc)" --target llamascope
echo "gpu_pack: build took $(($(date +%s) - start)) s"

rm -rf "$carry"
mkdir -p "$carry/lib"
cp "$build/llamascope" "$carry/llamascope"
strip "$carry/llamascope"
# Libraries every machine (or the GPU image) has, or that the check script finds there.
system='^(linux-vdso|ld-linux|libc\.|libm\.|libpthread|libdl\.|librt\.|libgcc_s|libstdc\+\+|libcublas|libcudart|libcuda\.)'
ldd "$build/llamascope" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | while read -r name path; do
  if [[ $name =~ $system ]]; then continue; fi
  cp -L "$path" "$carry/lib/$name"
done
git rev-parse HEAD > "$carry/COMMIT"
{
  echo "commit $(git rev-parse HEAD)$(git diff --quiet HEAD || echo ' (with uncommitted changes)')"
  echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n), nvcc $(nvcc --version 2> /dev/null | sed -n 's/.*release \([0-9.]*\).*/\1/p' || true)"
  ls -l "$carry/llamascope" "$carry"/lib/* 2> /dev/null | awk '{print $5, $9}'
} > "$carry/MANIFEST"

carry_bytes=$(du -sb "$carry" | cut -f1)
tree_bytes=$(git ls-files -z | xargs -0 stat -c %s 2> /dev/null | awk '{s += $1} END {print s}')
total=$((carry_bytes + tree_bytes))
awk -v c="$carry_bytes" -v t="$tree_bytes" -v d="$carry" 'BEGIN {
  printf "gpu_pack: %s holds %.1f MiB; tracked tree %.1f MiB; together %.1f MiB of the 64 MiB a call carries\n",
    d, c / 1048576, t / 1048576, (c + t) / 1048576 }'
if [ "$total" -gt "$limit" ]; then
  echo "gpu_pack: over the limit: before the device call, take tracked files the check does not need out of the" \
    "working tree (docs/cuda.md, 'Running the GPU check')" >&2
fi
