#!/usr/bin/env bash
# Installs the Debian packages llamascope needs to build, test and plot, then oneDNN 3.x into .deps/onednn
# (ci/install-onednn.sh); skips what is already there.
set -euo pipefail

packages=(
  cmake g++ make ninja-build pkg-config clang-format
  libgtest-dev libgmock-dev libbenchmark-dev
  python3-pip libtbb-dev nlohmann-json3-dev libcli11-dev libfmt-dev
  python3-matplotlib python3-numpy
  libssl-dev clang-14 libclang-rt-14-dev
  chromium python3-pil
  libsqlite3-dev libpq-dev postgresql
  valgrind
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "install-deps: done"
fi
bash "$(dirname "$0")/install-onednn.sh"
