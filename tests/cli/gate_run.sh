#!/usr/bin/env bash
# `llamascope gate --run`: two builds (here the same one, the candidate with a 60 % matmul slowdown
# injected through --candidate-env, a null injection through --baseline-env as the control) in
# alternating bench processes, judged pair by pair; the slowdown is caught (exit 1) and named; `--calibrate` writes a calibration file that a later gate reads.
# Usage: gate_run.sh LLAMASCOPE GOLDEN_DIR
source "$(dirname "$0")/lib/checks.bash" "$@"
set -eo pipefail
cd "$tmp"
model=$golden/models/stories260K-f32.gguf
bench=(-m "$model" -t 1 -p 16 -n 0 -r 3 --warmup 1)

run_status run.md "$bin" gate --run "$bin" --candidate "$bin" "${bench[@]}" --budget 60s \
  --baseline-env LLAMASCOPE_INJECT_SLOWDOWN=matmul:0.000001 \
  --candidate-env LLAMASCOPE_INJECT_SLOWDOWN=matmul:0.6 --json run.json
cat run.md
[ $rc -eq 1 ] || { cat "$tmp/err"; fail "60 % matmul slowdown: exit $rc, expected 1"; }
grep -q 'interleaved process pairs (A B, B A, ...)' run.md || fail "mode line missing"
grep -q 'paired: per-pair ratios, Wilcoxon signed-rank' run.md || fail "paired analysis not named"
grep -q 'baseline env: LLAMASCOPE_INJECT_SLOWDOWN=matmul:0.000001' run.md || fail "baseline env not named"
grep -q '^| regression | (whole model) | stories260K-f32.gguf simd t=1 pp16 |' run.md || fail "pp16 not flagged"
/usr/bin/python3 -c "
import json
j = json.load(open('run.json'))
assert j['paired'] is True and j['alpha'] == 0.01, j
c = j['comparisons'][0]
assert c['test'] == 'wilcoxon-signed-rank', c['test']
assert len(c['baseline_samples']) >= 8 and len(c['baseline_samples']) == len(c['candidate_samples'])
assert c['ratio'] > 1.1, c['ratio']
" || fail "run JSON"

"$bin" gate --calibrate --run "$bin" "${bench[@]}" --runs 4 --calibration cal.json > cal.md 2> "$tmp/err" \
  || { cat "$tmp/err"; fail "calibrate"; }
cat cal.md
/usr/bin/python3 -c "
import json
j = json.load(open('cal.json'))
assert j['schema'] == 'llamascope.gate-calibration/1' and j['processes'] == 4
(b,) = j['benchmarks'].values()
assert len(b['samples']) == 4 and b['cv'] >= 0 and 0 <= b['false_alarm_rate'] <= 1 and b['required_samples'] >= 5
" || fail "calibration file"
# A later gate reads it (and says so).
run_status later.md "$bin" gate --run "$bin" --candidate "$bin" "${bench[@]}" --budget 5s --calibration cal.json
[ $rc -le 1 ] || { cat "$tmp/err"; fail "gate with calibration: exit $rc"; }
grep -q 'calibration cal.json' later.md || fail "the calibration is not used"
# A binary that does not run is unusable input.
run_status /dev/null "$bin" gate --run /nonexistent/llamascope --candidate "$bin" "${bench[@]}"
[ $rc -eq 2 ] && grep -q '^llamascope: error: cannot run /nonexistent/llamascope' "$tmp/err" || { cat "$tmp/err"; fail "missing binary: exit $rc"; }
echo "gate_run: $failed failed"
[ "$failed" -eq 0 ]
