// AVX-512 loops for the machine's roofs (see machine_roofs_isa.h).
#include <immintrin.h>

#include <chrono>
#include <cstdio>

#include "harness/machine_roofs_isa.h"

namespace llamascope::roofs {

uint64_t read_avx512(const void* data, size_t bytes, int passes) {
  const __m512i* p = static_cast<const __m512i*>(data);
  const size_t n = bytes / sizeof(__m512i);
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  for (int pass = 0; pass < passes; ++pass)
    for (size_t i = 0; i + 4 <= n; i += 4) {
      a0 = _mm512_xor_si512(a0, _mm512_load_si512(p + i));
      a1 = _mm512_xor_si512(a1, _mm512_load_si512(p + i + 1));
      a2 = _mm512_xor_si512(a2, _mm512_load_si512(p + i + 2));
      a3 = _mm512_xor_si512(a3, _mm512_load_si512(p + i + 3));
    }
  const __m512i s = _mm512_xor_si512(_mm512_xor_si512(a0, a1), _mm512_xor_si512(a2, a3));
  return static_cast<uint64_t>(_mm512_reduce_add_epi64(s));
}

double int8_vnni_avx512(int64_t iterations) {
  constexpr int kChains = 12;
  __m512i acc[kChains];
  const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(5);
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_epi32(i);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  __m512i sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_epi32(sum, acc[i]);
  if (_mm512_reduce_add_epi32(sum) == 42) std::fprintf(stderr, " ");
  return iterations * kChains * 64.0 * 2 / s;
}

__attribute__((target("avx512bf16"))) double bf16_dot_avx512(int64_t iterations) {
  constexpr int kChains = 12;
  __m512 acc[kChains];
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(0.25f));
  const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-6f), _mm512_set1_ps(1e-7f));
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(0.001f * i);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  __m512 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_ps(sum, acc[i]);
  if (_mm512_reduce_add_ps(sum) == 42.0f) std::fprintf(stderr, " ");
  return iterations * kChains * 32.0 * 2 / s;
}

}  // namespace llamascope::roofs
