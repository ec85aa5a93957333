#!/usr/bin/env bash
# docs/fleet.md's Kubernetes manifest parses as YAML (when PyYAML is installed) and its Slurm script as bash.
# Usage: fleet_docs.sh LLAMASCOPE GOLDEN_DIR
set -euo pipefail
doc="$(dirname "$0")/../../docs/fleet.md"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The n-th fenced block of a language, without its fences.
block() { awk -v lang="$1" -v want="$2" '
  /^```/ { if (inside) { inside = 0; next } if ($0 == "```" lang) { n++; if (n == want) { inside = 1; next } } }
  inside { print }' "$doc"; }
block yaml 1 > "$tmp/job.yaml"
block bash 1 > "$tmp/array.sh"
[ -s "$tmp/job.yaml" ] && [ -s "$tmp/array.sh" ] || { echo "FAIL: fleet.md lacks the yaml or bash block"; exit 1; }
grep -q 'completionMode: Indexed' "$tmp/job.yaml" || { echo "FAIL: not an indexed Job"; exit 1; }
grep -q '#SBATCH --array=' "$tmp/array.sh" || { echo "FAIL: not a Slurm array"; exit 1; }
bash -n "$tmp/array.sh"
if /usr/bin/python3 -c 'import yaml' 2>/dev/null; then
  /usr/bin/python3 - "$tmp/job.yaml" <<'PY'
import sys, yaml
job = yaml.safe_load(open(sys.argv[1]))
assert job["kind"] == "Job" and job["spec"]["completionMode"] == "Indexed", job
env = {e["name"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
assert {"JOB_COMPLETIONS", "LLAMASCOPE_HISTORY"} <= env, env
PY
else
  echo "PyYAML not installed: YAML syntax not checked"
fi
echo "ok"
