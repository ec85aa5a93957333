#!/usr/bin/env bash
# Installs oneDNN 3.x (Intel's `onednn-devel` wheel from PyPI: headers, libdnnl.so.3 and the SYCL/OpenCL CPU
# runtime it runs on) into the project-local prefix .deps/onednn, which CMake looks in (kernels/onednn).
# Debian ships only oneDNN 2.6, without the grouped weight scales the quantized matmuls need; docs/kernels.md
# says why this wheel and not another. Skips the download when the prefix already holds the wanted version.
# Usage: ci/install-onednn.sh [PREFIX]   (LLAMASCOPE_SKIP_ONEDNN=1 skips; the backend is then not built)
set -euo pipefail
cd "$(dirname "$0")/.."
wheel_version=2026.1.0  # = oneDNN 3.13.2
prefix=${1:-.deps/onednn}
stamp="$prefix/.llamascope-onednn-devel-$wheel_version"

if [ "${LLAMASCOPE_SKIP_ONEDNN:-0}" = 1 ]; then
  echo "install-onednn: skipped (LLAMASCOPE_SKIP_ONEDNN=1); the onednn backend will not be built"
  exit 0
fi
if [ -f "$stamp" ] && [ -f "$prefix/include/oneapi/dnnl/dnnl.hpp" ]; then
  echo "install-onednn: onednn-devel $wheel_version present in $prefix"
  exit 0
fi

echo "install-onednn: installing onednn-devel $wheel_version from PyPI into $prefix (~2 GB, ~15 s)"
rm -rf "$prefix"
mkdir -p "$prefix"
# Debian's pip refuses to touch a system prefix (PEP 668); this one is ours alone.
/usr/bin/python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
  --root-user-action=ignore --break-system-packages --prefix "$(cd "$prefix" && pwd)" "onednn-devel==$wheel_version"
# Debian's pip installs under PREFIX/local/ (its posix_local scheme); flatten that.
if [ -d "$prefix/local/include" ]; then
  mv "$prefix"/local/* "$prefix"/
  rmdir "$prefix/local"
fi
[ -f "$prefix/include/oneapi/dnnl/dnnl.hpp" ] && [ -e "$prefix/lib/libdnnl.so.3" ] ||
  { echo "install-onednn: error: onednn-devel installed no oneapi/dnnl/dnnl.hpp or libdnnl.so.3 in $prefix" >&2; exit 1; }
touch "$stamp"
echo "install-onednn: done ($(du -sh "$prefix" | cut -f1) in $prefix)"
