#!/usr/bin/env bash
# The common case in one command: benches and profiles the bundled models on every available kernel set,
# checks their numerics against llama.cpp, measures the machine's roofs, and writes the report.
#   bash ci/report-demo.sh [OUT_DIR] [--example DIR]
# OUT_DIR defaults to build/report-demo (records in OUT_DIR-records/); LLAMASCOPE names the binary (default
# build/llamascope). --example DIR also writes a small copy (report.md + palette-reduced PNGs, no SVG, CSV or
# raw data) for committing, as docs/report-example/ is.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${LLAMASCOPE:-build/llamascope}
out=build/report-demo
example=
while [ $# -gt 0 ]; do
  case $1 in
    --example) example=$2; shift 2 ;;
    *) out=$1; shift ;;
  esac
done
[ -x "$bin" ] || { echo "report-demo: $bin not built (cmake --build build)" >&2; exit 2; }
records=$out-records
rm -rf "$records"
mkdir -p "$records"
m=golden/models
models="$m/synth-mini-Q4_0.gguf,$m/synth-mini-Q8_0.gguf,$m/synth-mini-Q4_K.gguf,$m/synth-mini-F32.gguf,$m/stories260K-f32.gguf"
kernels=$("$bin" kernels | awk '$2 == "available" {print $1}' | paste -sd, -)
threads=$(nproc)
echo "report-demo: kernel sets $kernels, threads 1,$threads"

"$bin" bench -m "$models" -k "$kernels" -t "1,$threads" -p 64 -n 32 -r 3 -o jsonl --out "$records/bench.jsonl" > /dev/null
for k in ${kernels//,/ }; do
  "$bin" profile -m "$m/synth-mini-Q4_0.gguf" -k "$k" -t "$threads" -p 64 -n 16 --jsonl "$records/profile-$k.jsonl" > /dev/null
  # A failed golden case belongs in the report, not in this script's exit status.
  "$bin" golden -k "$k" --jsonl "$records/golden-$k.jsonl" > /dev/null || true
done
"$bin" machine --json > "$records/machine.json"
"$bin" report "$records"/*.jsonl --machine "$records/machine.json" -o "$out" --baseline simd

if [ -n "$example" ]; then
  rm -rf "$example"
  mkdir -p "$example/figures"
  /usr/bin/python3 - "$out" "$example" <<'PY'
import re, sys
from PIL import Image
src, dst = sys.argv[1:3]
md = open(f"{src}/report.md", encoding="utf-8").read()
md = re.sub(r" \(\[SVG\]\([^)]*\), \[data\]\([^)]*\)\)", "", md)
md = re.sub(r"\n- \[[^\]]*\]\(data/[^)]*\)", "", md).replace("Raw data (copies of the inputs):\n", "")
open(f"{dst}/report.md", "w", encoding="utf-8").write(md)
for name in re.findall(r"\(figures/([^)]+\.png)\)", md):
    Image.open(f"{src}/figures/{name}").convert("RGB").quantize(64).save(f"{dst}/figures/{name}", optimize=True)
PY
  echo "report-demo: example in $example ($(du -sk "$example" | cut -f1) KiB)"
fi
