#!/usr/bin/env bash
# The report generator's Python unit tests (loaders, the roof rule) under Debian's Python.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
cd "$src/reports"
/usr/bin/python3 -m unittest discover -s tests -p 'test_*.py' -v 2>&1
