#!/usr/bin/env bash
# The CUDA backend's verification on a lent GPU machine, in one run of under 8 minutes: the op checker
# (and compute-sanitizer memcheck on it), golden logits, llama2.c's greedy texts byte for byte, decode and
# prefill speed on LLaMA-3-8B shapes (random weights written there by `synth`: large models cannot
# travel), and a per-op profile. Run from the repository root after tools/gpu_pack.sh filled CARRY_DIR;
# results go to $OUT (the device tool brings back at most 8 files), else ./gpu-check-out.
# Usage: tools/gpu_check.sh [CARRY_DIR=.gpu]
#   GPU_CHECK_BUDGET=seconds (450), GPU_CHECK_SPEED=0 skips the speed runs, GPU_CHECK_PRESET=stories15m
#   makes them small (a dry run of the script's flow on a machine without a GPU).
set -u
cd "$(dirname "$0")/.."
carry=$(cd "${1:-.gpu}" && pwd)
out=${OUT:-$PWD/gpu-check-out}
mkdir -p "$out"
log=$out/gpu_check.log
bin=$carry/llamascope
golden=$PWD/golden
work=${GPU_CHECK_WORK:-/tmp/llamascope-gpu}
budget=${GPU_CHECK_BUDGET:-450}  # seconds for everything; a step that would start too late is skipped
t0=$(date +%s)
exec > >(tee -a "$log") 2>&1

# cuBLAS lives on the machine (the toolkit, or the Python wheels of its PyTorch); the carried libraries first.
cublas=""
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-13*/lib64 \
  /opt/torch/.venv/lib/python3*/site-packages/nvidia/cu13/lib /opt/torch/.venv/lib/python3*/site-packages/nvidia/cublas/lib \
  /usr/local/lib/python3*/dist-packages/nvidia/cu13/lib /usr/lib/x86_64-linux-gnu; do
  if [ -e "$d/libcublas.so.13" ] && [ -e "$d/libcublasLt.so.13" ]; then cublas=$d; break; fi
done
[ -n "$cublas" ] || cublas=$(dirname "$(find / -xdev -name 'libcublasLt.so.13' 2> /dev/null | head -1)" 2> /dev/null)
export LD_LIBRARY_PATH=$carry/lib${cublas:+:$cublas}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2> /dev/null | head -1)

failures=0
step() {  # name seconds command...: runs it under a time limit, logs its status and time
  local name=$1 secs=$2
  shift 2
  local now left
  now=$(date +%s)
  left=$((budget - (now - t0)))
  if [ "$left" -lt 20 ]; then
    echo "=== $name: SKIPPED (time budget spent)"
    failures=$((failures + 1))
    return
  fi
  [ "$secs" -gt "$left" ] && secs=$left
  echo "=== $name (limit ${secs}s)"
  local s=$(date +%s)
  timeout --signal=KILL "$secs" "$@"
  local rc=$?
  echo "=== $name: rc=$rc in $(($(date +%s) - s))s"
  [ "$rc" -eq 0 ] || failures=$((failures + 1))
}

{
  echo "date $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "carried: $(cat "$carry/COMMIT" 2> /dev/null)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv 2>&1
  echo "cuBLAS from: ${cublas:-not found}"
  echo "compute-sanitizer: ${sanitizer:-not found}"
  ldd "$bin"
} > "$out/environment.txt" 2>&1
cat "$out/environment.txt"

# The 8B models are written by the CPU (about a minute each, measured from a 1.1B model on 2 cores) while
# the GPU checks run: started first, waited for before the speed runs.
mkdir -p "$work"
types="Q4_0 Q8_0 F16"
[ "${GPU_CHECK_SPEED:-1}" = 0 ] && types=""  # GPU_CHECK_SPEED=0: a dry run of the script, no 8B models
synth_threads=$(($(nproc) > 4 ? $(nproc) - 2 : $(nproc)))
preset=${GPU_CHECK_PRESET:-llama-3-8b}  # a small preset (stories15m) tries the script's flow anywhere
(
  for type in $types; do
    f=$work/$preset-$type.gguf
    [ -s "$f" ] && continue
    s=$(date +%s)
    "$bin" synth --preset "$preset" --type "$type" -t "$synth_threads" -o "$f" || echo "synth $type failed"
    echo "synth $preset $type: $(($(date +%s) - s))s"
  done
) > "$work/synth.log" 2>&1 &
synth_pid=$!

step "kernels" 30 "$bin" kernels
step "kernels --check -k cuda" 90 "$bin" kernels --check -k cuda
# golden -k cuda over the models that travelled (a call carries 64 MiB: docs/cuda.md says which to leave
# behind), one model at a time so that a missing one costs only its own case.
golden_cuda() {
  local rc=0 ref name
  # "$@": extra golden flags (--kv-type f16 for the half cache).
  for ref in "$golden"/llamacpp/*.logits.f32; do
    name=$(basename "$ref" .logits.f32)
    if [ ! -e "$golden/models/$name.gguf" ]; then
      echo "golden: $name.gguf did not travel: not checked"
      continue
    fi
    "$bin" golden -k cuda "$@" --dir "$golden" --filter "/$name.gguf" || rc=1
  done
  return $rc
}
export bin golden
export -f golden_cuda
step "golden -k cuda" 120 bash -c golden_cuda
step "golden -k cuda --kv-type f16" 120 bash -c 'golden_cuda --kv-type f16'
# llama2.c greedy texts byte for byte; the script adds -k cuda when cuda is available.
step "llama2.c texts" 90 bash tests/cli/golden_text.sh "$bin" "$golden"

# Last of the correctness checks (slowest; the 8B models are still being written meanwhile).
if [ -n "$sanitizer" ]; then
  step "compute-sanitizer memcheck: kernels --check -k cuda" 150 \
    "$sanitizer" --tool memcheck --leak-check no --error-exitcode 3 --log-file "$out/memcheck.txt" \
    "$bin" kernels --check -k cuda
else
  echo "=== compute-sanitizer not found: memcheck not run"
  failures=$((failures + 1))
fi

# Speed on LLaMA-3-8B shapes: 4.2 GiB (Q4_0), 7.9 GiB (Q8_0), 15 GiB (F16) on local disk.
echo "=== waiting for synth"
while kill -0 "$synth_pid" 2> /dev/null && [ $(($(date +%s) - t0)) -lt $((budget - 150)) ]; do sleep 2; done
pkill -P "$synth_pid" 2> /dev/null  # a synth still running past its share of the budget
kill "$synth_pid" 2> /dev/null
tr '\r' '\n' < "$work/synth.log" | grep -v '^synth: '  # without the progress lines
models=()
for type in $types; do
  f=$work/$preset-$type.gguf
  [ -s "$f" ] && models+=("$f")
done
if [ "${#models[@]}" -gt 0 ]; then
  list=$(IFS=,; echo "${models[*]}")
  step "bench -k cuda -p 512 -n 128 -r 5" 180 "$bin" bench -m "$list" -k cuda -t 1 -p 512 -n 128 -r 5 \
    -o jsonl --out "$out/bench.jsonl" --no-progress
  step "profile -k cuda (Q4_0)" 60 "$bin" profile -m "${models[0]}" -k cuda -p 512 -n 32 \
    --jsonl "$out/profile.jsonl" --trace "$work/trace.json"
  [ -s "$work/trace.json" ] && gzip -c "$work/trace.json" > "$out/profile_trace.json.gz"
fi

echo "=== done in $(($(date +%s) - t0))s, $failures step(s) failed or skipped"
[ "$failures" -eq 0 ]
