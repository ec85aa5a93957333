// The ISA-specific loops behind `llamascope machine` and the machine limits' FP32 peak
// (machine_roofs_avx2.cpp, machine_roofs_avx512.cpp, each compiled for its instruction set): callers check
// the CPU before calling them. The templates below are the loops' shared shape, instantiated by those files
// with their own vector types.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>

namespace llamascope::roofs {

// Reads `bytes` (a multiple of 256, 64-byte aligned) at `data` `passes` times with vector loads; the result
// only keeps the loads from being optimised away.
uint64_t read_avx2(const void* data, size_t bytes, int passes);
uint64_t read_avx512(const void* data, size_t bytes, int passes);

// Operations per second of one thread (2 per multiply-add), independent accumulator chains.
double int8_maddubs_avx2(int64_t iterations);  // vpmaddubsw + vpmaddwd + vpaddd, ymm
double int8_vnni_avx512(int64_t iterations);   // vpdpbusd zmm
double bf16_dot_avx512(int64_t iterations);    // vdpbf16ps zmm (needs AVX512_BF16)
double fma_avx2(int64_t iterations);           // vfmadd ymm, FP32
double fma_avx512(int64_t iterations);         // vfmadd zmm, FP32

// The read loop: kUnroll vectors V per step XORed (xor_load(acc, p)) into four accumulator chains, which
// are folded into one vector at the end.
template <int kUnroll, typename V, typename XorLoad, typename Xor>
V xor_read(const void* data, size_t bytes, int passes, V zero, XorLoad xor_load, Xor xor_vectors) {
  const V* p = static_cast<const V*>(data);
  const size_t n = bytes / sizeof(V);
  V acc[4] = {zero, zero, zero, zero};
  for (int pass = 0; pass < passes; ++pass)
    for (size_t i = 0; i + kUnroll <= n; i += kUnroll)
      for (int k = 0; k < kUnroll; ++k) acc[k % 4] = xor_load(acc[k % 4], p + i + k);
  return xor_vectors(xor_vectors(acc[0], acc[1]), xor_vectors(acc[2], acc[3]));
}

// Operations per second of kChains independent accumulator chains (throughput-bound, not latency-bound):
// `iterations` rounds of acc[i] = step(acc[i], i), each step ops_per_step operations. The chains are then
// folded with `add` and lane 0 of the sum (`lane0`) is looked at, so that none is optimised away.
template <int kChains, typename V, typename Step, typename Add, typename Lane0>
double chain_rate(int64_t iterations, V (&acc)[kChains], double ops_per_step, Step step, Add add,
                  Lane0 lane0) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = step(acc[i], i);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  V sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = add(sum, acc[i]);
  if (lane0(sum) == 42) std::fprintf(stderr, " ");
  return static_cast<double>(iterations) * kChains * ops_per_step / s;
}

}  // namespace llamascope::roofs
