#!/usr/bin/env bash
# Checks that project includes go one way: harness -> engine -> kernels -> base (docs/design.md, "Layers").
# Usage: tools/check_layering.sh [SOURCE_ROOT]. Prints each include against the arrows; exit 1 if any.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
# For each layer, the layers it must not include.
declare -A forbidden=(
  [base]="kernels engine harness"
  [kernels]="engine harness"
  [engine]="harness"
)
bad=0
for layer in base kernels engine; do
  [ -d "$root/$layer" ] || continue
  for above in ${forbidden[$layer]}; do
    # Quoted includes only: project headers are always included as "layer/file.h".
    while IFS= read -r hit; do
      echo "layering: ${hit#"$root"/} (${layer}/ must not include ${above}/)"
      bad=1
    done < <(grep -rnE "^[[:space:]]*#[[:space:]]*include[[:space:]]*\"${above}/" "$root/$layer" \
               --include='*.h' --include='*.hpp' --include='*.cpp' --include='*.cu' --include='*.cuh' \
               --include='*.inl' || true)
  done
done
if [ "$bad" = 0 ]; then echo "layering: ok (harness -> engine -> kernels -> base)"; fi
exit "$bad"
